//! Hub events to frames and payloads (native and Socket.IO), and hub and
//! account errors to the protocol's error codes: what only the client edges
//! speak. Values that also cross the bus convert in `protocol::convert`.

use crate::app::RequestError;
use crate::auth::AuthError;
use std::sync::{Arc, OnceLock};

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;

use crate::hub::{Event, OnlinePage, PresenceChange};
use crate::model::Message;
use crate::protocol::{ErrorCode, MessageInfo, ServerMessage, socketio};

use super::session::Shown;

pub(super) use crate::protocol::convert::{channel_info, message_info, user_info};

/// The slot of each edge's encoding in a shared `hub::Delivery`.
pub(super) const NATIVE_SLOT: usize = 0;
pub(super) const SOCKETIO_SLOT: usize = 1;
const _: () = assert!(SOCKETIO_SLOT < crate::hub::ENCODING_SLOTS);

/// A channel's `channel_updated` frame.
pub(super) fn channel_updated(
    channel: &crate::model::Channel,
    about: &crate::model::ChannelAbout,
    reference: Option<crate::protocol::Ref>,
) -> ServerMessage {
    ServerMessage::ChannelUpdated {
        channel: channel.id.0,
        name: channel.name.clone(),
        topic: about.topic.clone(),
        description: about.description.clone(),
        archived: about.archived,
        reference,
    }
}

/// The native-protocol frame of a hub event. Channel announcements have none:
/// native connections never register for them, and `ws.rs` skips them. A
/// presence batch is several frames: [`native_presence_frames`].
pub(super) fn native_frame(event: &Event) -> String {
    let message = match event {
        Event::ChannelCreated(_) | Event::Presence(_) => return String::new(),
        Event::Message { message, .. } => ServerMessage::Message(message_info(message)),
        Event::Typing { channel, user } => ServerMessage::Typing { channel: channel.0, user: user.clone() },
        Event::Joined(view) | Event::Settings(view) => {
            ServerMessage::Channel { channel: channel_info(view), reference: None }
        }
        Event::Left(channel) => ServerMessage::Left { channel: channel.0, reference: None },
        Event::ChannelChanged(changed) => channel_updated(&changed.0, &changed.1, None),
        Event::Read { channel, marker } => ServerMessage::Read {
            channel: channel.0,
            seq: marker.seq.0,
            unread: marker.unread,
            mentions: marker.mentions,
            last_seq: marker.last_seq.0,
        },
        Event::OnlinePage { page, names_changed } => {
            ServerMessage::OnlinePage { users: names_changed.then(|| page.names.clone()), total: page.total }
        }
    };
    message.to_json()
}

/// A change's two native frames, each encoded on first use and shared by
/// all its recipients: `message` for those to whom the message is new,
/// `update` for those who hold it (see `session::Cursors::record`).
#[derive(Default)]
pub(super) struct ChangeFrames {
    new: OnceLock<Utf8Bytes>,
    update: OnceLock<Utf8Bytes>,
}

impl ChangeFrames {
    pub(super) fn frame(&self, shown: Shown, message: &Message) -> Utf8Bytes {
        let (frame, wrap): (_, fn(MessageInfo) -> ServerMessage) = match shown {
            Shown::New => (&self.new, ServerMessage::Message),
            Shown::Update => (&self.update, ServerMessage::Update),
        };
        frame.get_or_init(|| wrap(message_info(message)).to_json().into()).clone()
    }
}

/// The online list's first page as a native frame, names included.
pub(super) fn online_page_frame(page: &OnlinePage) -> ServerMessage {
    ServerMessage::OnlinePage { users: Some(page.names.clone()), total: page.total }
}

/// A presence batch as native frames, one `presence` frame per change.
pub(super) fn native_presence_frames(changes: &[PresenceChange]) -> Arc<[Utf8Bytes]> {
    changes
        .iter()
        .map(|change| {
            let frame = ServerMessage::Presence { user: change.name.clone(), online: change.online };
            Utf8Bytes::from(frame.to_json())
        })
        .collect()
}

/// A presence batch as Socket.IO payloads, one per change: a name for the
/// tutorial's `new user`; for its `user has left`, everyone online right
/// after that departure (`online_after` reads it from the hub).
pub(super) fn socketio_presence_payloads(
    changes: &[PresenceChange],
    online_after: impl Fn(u64) -> Vec<String>,
) -> Arc<[Bytes]> {
    changes
        .iter()
        .map(|change| {
            let encoded = if change.online {
                serde_json::to_string(&change.name)
            } else {
                serde_json::to_string(&online_users(online_after(change.version).iter()))
            };
            Bytes::from(encoded.expect("Socket.IO payloads always serialize"))
        })
        .collect()
}

/// The code of a refused request, the same on `/ws` and Socket.IO.
pub(super) fn error_code(error: &RequestError) -> ErrorCode {
    match error {
        RequestError::NotFound => ErrorCode::NotFound,
        RequestError::NotMember => ErrorCode::NotMember,
        RequestError::NoSuchMessage | RequestError::NoSuchParent => ErrorCode::NotFound,
        RequestError::NoSuchFile => ErrorCode::NoSuchFile,
        RequestError::TooManyFiles => ErrorCode::TooManyFiles,
        RequestError::Conflict(_) => ErrorCode::Conflict,
        RequestError::UnknownUser => ErrorCode::UnknownUser,
        RequestError::NoSuchInvite => ErrorCode::NotFound,
        RequestError::Archived => ErrorCode::Archived,
        RequestError::BadRequest(_) => ErrorCode::BadRequest,
        RequestError::Forbidden(_) => ErrorCode::Forbidden,
        RequestError::InvalidName(_) => ErrorCode::InvalidName,
        RequestError::ChannelExists(_) => ErrorCode::ChannelExists,
        RequestError::AlreadyMember(_) => ErrorCode::AlreadyMember,
        RequestError::RateLimited => ErrorCode::RateLimited,
        RequestError::LimitReached(_) => ErrorCode::LimitReached,
        RequestError::InvalidQuery(_) => ErrorCode::InvalidQuery,
        RequestError::Unavailable => ErrorCode::Unavailable,
    }
}

/// A stored message as the Socket.IO protocol shows it. The channel's name is
/// the caller's: messages carry only the channel id.
pub(super) fn chat_message(message: &Message, channel_name: &str) -> socketio::ChatMessage {
    socketio::ChatMessage {
        sender: message.sender_name.clone(),
        message: text_for_socketio(message),
        channel: channel_name.to_owned(),
        id: message.id.0,
        seq: message.seq.0,
        ts: message.ts,
    }
}

/// What a tutorial client, which knows nothing of files, shows of a
/// message: its body, or for one that carries only files, their names.
fn text_for_socketio(message: &Message) -> String {
    if !message.body.is_empty() || message.files.is_empty() {
        return message.body.clone();
    }
    let names: Vec<String> = message.files.iter().map(|file| format!("\u{1F4CE} {}", file.name)).collect();
    names.join(", ")
}

/// An edited or deleted message for Socket.IO's `message updated`.
pub(super) fn message_updated(message: &Message, channel_name: &str) -> socketio::MessageUpdated {
    socketio::MessageUpdated {
        channel: channel_name.to_owned(),
        id: message.id.0,
        seq: message.seq.0,
        message: message.body.clone(),
        edited: message.edited_at.is_some(),
        deleted: message.deleted.is_some(),
    }
}

/// The online users in the tutorial's shape: names as keys, `true` as values.
pub(super) fn online_users<'a>(names: impl IntoIterator<Item = &'a String>) -> socketio::OnlineUsers {
    names.into_iter().map(|name| (name.clone(), true)).collect()
}

/// The JSON payload a hub event is emitted with over Socket.IO; the event's
/// name is the session's choice. `channel_name` names a message's channel.
/// A presence batch is several payloads: [`socketio_presence_payloads`].
/// Events Socket.IO sessions never emit encode to `null`.
pub(super) fn socketio_payload(event: &Event, channel_name: &str) -> String {
    let encoded = match event {
        Event::Message { message, .. } => serde_json::to_string(&chat_message(message, channel_name)),
        Event::ChannelCreated(channel) => serde_json::to_string(&channel.name),
        Event::Presence(_)
        | Event::OnlinePage { .. }
        | Event::Typing { .. }
        | Event::Joined(_)
        | Event::Settings(_)
        | Event::Left(_)
        | Event::ChannelChanged(_)
        | Event::Read { .. } => Ok("null".to_owned()),
    };
    encoded.expect("Socket.IO payloads always serialize")
}

/// The code of an account error (a Socket.IO guest's `new user`).
pub(super) fn auth_error_code(error: &AuthError) -> ErrorCode {
    match error {
        AuthError::InvalidUsername(_) => ErrorCode::InvalidUsername,
        AuthError::NameTaken => ErrorCode::NameTaken,
        AuthError::NameInUse => ErrorCode::NameInUse,
        AuthError::GuestsDisabled => ErrorCode::GuestsDisabled,
        AuthError::RateLimited => ErrorCode::RateLimited,
        // A guest's `new user` never signs up with a password: these do
        // not arise there, and say no more than "unauthorized" if they did.
        AuthError::InvalidPassword(_)
        | AuthError::InvalidCredentials
        | AuthError::Deactivated
        | AuthError::RegistrationClosed(_)
        | AuthError::InvalidInvite
        | AuthError::InvalidReset => ErrorCode::Unauthorized,
        AuthError::Unavailable => ErrorCode::Unavailable,
    }
}
