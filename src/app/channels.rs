//! Creating channels, finding them by name, and listing them.

use super::{App, RequestError, names};
use crate::bus::BusEvent;
use crate::model::{Channel, ChannelId, ChannelKind, ChannelName, ChannelView, User};
use crate::store::{ChannelPage, StoreError};

impl App {
    /// Creates a channel and makes `user` its first member. An existing one
    /// of that name (compared by key) that `user` can see is never joined or
    /// handed over silently: the creator may believe the channel is new (and
    /// private) when someone else made it.
    pub async fn create_channel(
        &self,
        user: &User,
        name: &ChannelName,
        private: bool,
    ) -> Result<ChannelView, RequestError> {
        let kind = if private { ChannelKind::Private } else { ChannelKind::Public };
        match self.store.create_channel(name, kind, user.id, self.limits.channels_per_user).await {
            Ok(channel) => {
                tracing::info!(channel = channel.id.0, "channel created");
                if channel.kind == ChannelKind::Public {
                    // Announced before the creator's join, so a client that is
                    // told both hears of the channel before it is put in it.
                    self.hub.announce_channel(channel.clone());
                    self.bus.publish(BusEvent::ChannelCreated(channel.clone()));
                }
                self.joined(user.id, channel.id).await
            }
            Err(StoreError::ChannelExists(existing)) => Err(RequestError::ChannelExists(existing)),
            Err(StoreError::LimitReached) => {
                Err(RequestError::LimitReached("you have created the most channels allowed"))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// The channel a name means to `user` (see [`names`]): `name #id` for
    /// one of several of that name, the bare name for the one it belongs
    /// to. `NotFound` when the user can see no such channel.
    pub async fn resolve_channel_name(&self, user: &User, raw: &str) -> Result<Channel, RequestError> {
        let (name, wanted) = match names::split_id_suffix(raw) {
            Some((name, id)) => (name, Some(id)),
            None => (raw, None),
        };
        let name = ChannelName::parse(name).map_err(RequestError::InvalidName)?;
        let same_key = self.store.channels_named(&name, user.id).await?;
        let found = match wanted {
            Some(id) => same_key.iter().find(|view| view.channel.id == id),
            None => names::plain_owner(&same_key),
        };
        if let Some(view) = found {
            return Ok(view.channel.clone());
        }
        // A name the first release allowed may itself end in " #12": try it
        // whole before saying no.
        if wanted.is_some() {
            let whole = ChannelName::parse_stored(raw).map_err(RequestError::InvalidName)?;
            let same_key = self.store.channels_named(&whole, user.id).await?;
            if let Some(view) = names::plain_owner(&same_key) {
                return Ok(view.channel.clone());
            }
        }
        Err(RequestError::NotFound)
    }

    /// The channels `user` belongs to, as they see them.
    pub async fn channels_of(&self, user: &User) -> Result<Vec<ChannelView>, RequestError> {
        Ok(self.store.channels_of(user.id).await?)
    }

    /// A page of public channels for browsing, in name order: up to
    /// `limit` + 1 (the extra one tells the caller more exist) whose names
    /// start with `prefix` (compared by key), after the channel `after`.
    pub async fn public_channels(
        &self,
        user: &User,
        prefix: &str,
        after: Option<(String, ChannelId)>,
        limit: u32,
    ) -> Result<Vec<ChannelView>, RequestError> {
        use unicode_normalization::UnicodeNormalization;
        let prefix: String = prefix.nfkc().collect();
        let page = ChannelPage {
            prefix: crate::model::name_key(prefix.trim_start()),
            after,
            limit: limit.saturating_add(1),
        };
        Ok(self.store.public_channels(user.id, page).await?)
    }

    /// The channels `user` can name, each with the name it has for them
    /// (see [`names`]): the channels they are in (but DMs) and public ones,
    /// up to `limit` public ones in name order, listed oldest first.
    pub async fn visible_channels(
        &self,
        user: &User,
        limit: u32,
    ) -> Result<Vec<(Channel, String)>, RequestError> {
        let mut views: Vec<ChannelView> = self
            .store
            .channels_of(user.id)
            .await?
            .into_iter()
            .filter(|view| view.channel.kind != ChannelKind::Direct)
            .collect();
        let page = ChannelPage { limit, ..ChannelPage::default() };
        for view in self.store.public_channels(user.id, page).await? {
            if !views.iter().any(|known| known.channel.id == view.channel.id) {
                views.push(view);
            }
        }
        views.sort_by_key(|view| view.channel.id);
        let names = names::display_names(&views, |view| {
            vec![crate::model::name_key(&view.channel.name), crate::model::look_key(&view.channel.name)]
        });
        Ok(views.into_iter().map(|view| view.channel).zip(names).collect())
    }
}
