//! Changing a channel: rename, topic, description, archive. The store
//! decides who may (`store::channel_settings`); this tells the channel's
//! connections here (`Hub::channel_changed`) and the other nodes.

use super::{App, RequestError};
use crate::bus::BusEvent;
use crate::model::{Channel, ChannelAbout, ChannelId, ChannelName, User, parse_description, parse_topic};
use crate::store::{ChannelUpdate, StoreError};

/// What a client asked to change, unchecked.
#[derive(Debug, Default)]
pub struct ChannelChange {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub description: Option<String>,
    pub archived: Option<bool>,
}

impl App {
    /// Applies a change of a channel and tells everyone in it.
    pub async fn update_channel(
        &self,
        user: &User,
        channel: ChannelId,
        change: ChannelChange,
    ) -> Result<(Channel, ChannelAbout), RequestError> {
        let name =
            change.name.as_deref().map(ChannelName::parse).transpose().map_err(RequestError::InvalidName)?;
        let topic = change.topic.as_deref().map(parse_topic).transpose().map_err(RequestError::BadRequest)?;
        let description = change
            .description
            .as_deref()
            .map(parse_description)
            .transpose()
            .map_err(RequestError::BadRequest)?;
        if name.is_none() && topic.is_none() && description.is_none() && change.archived.is_none() {
            return Err(RequestError::BadRequest("say what to change: name, topic, description or archived"));
        }
        let renamed = name.is_some();
        let update =
            ChannelUpdate { channel, by: user.id, name, topic, description, archived: change.archived };
        let (channel, about) = match self.store.update_channel(update).await {
            Ok(updated) => updated,
            // Only a channel the renamer may see clashes (`store::channel_settings`).
            Err(StoreError::ChannelExists(existing)) => return Err(RequestError::ChannelExists(existing)),
            Err(error) => return Err(error.into()),
        };
        self.hub.channel_changed(channel.clone(), about.clone(), renamed);
        self.bus.publish(BusEvent::ChannelChanged {
            channel: channel.clone(),
            about: about.clone(),
            renamed,
        });
        tracing::info!(
            channel = channel.id.0,
            by = user.id.0,
            renamed,
            archived = about.archived,
            "channel changed"
        );
        Ok((channel, about))
    }
}
