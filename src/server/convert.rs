//! Domain to wire: the one place where hub and store values become protocol
//! messages (native and Socket.IO), and hub errors become each protocol's
//! error codes.

use crate::auth::AuthError;
use crate::hub::{Event, HubError};
use crate::model::{ChannelKind, ChannelView, Message, User};
use crate::protocol::{
    self, ChannelInfo, ErrorCode, MessageInfo, ServerMessage, SystemInfo, UserInfo, socketio,
};

pub(super) fn user_info(user: &User) -> UserInfo {
    UserInfo { id: user.id.0, name: user.name.clone(), guest: user.guest }
}

pub(super) fn channel_info(view: &ChannelView) -> ChannelInfo {
    ChannelInfo {
        id: view.channel.id.0,
        name: view.channel.name.clone(),
        kind: match view.channel.kind {
            ChannelKind::Public => protocol::ChannelKind::Public,
            ChannelKind::Private => protocol::ChannelKind::Private,
            ChannelKind::Direct => protocol::ChannelKind::Dm,
        },
        last_seq: view.last_seq.0,
        read_seq: view.read_seq.0,
        member: view.member,
        members: view.dm_members.clone(),
        added_by: view.added_by.clone(),
    }
}

pub(super) fn message_info(message: &Message) -> MessageInfo {
    MessageInfo {
        channel: message.channel.0,
        id: message.id.0,
        seq: message.seq.0,
        sender: message.sender_name.clone(),
        body: message.body.clone(),
        ts: message.ts,
        client_id: message.client_id.clone(),
        system: message.system.as_ref().map(|event| SystemInfo::from_event(event, &message.sender_name)),
    }
}

/// The native-protocol frame of a hub event. Channel announcements have none:
/// native connections never register for them, and `ws.rs` skips them.
pub(super) fn native_frame(event: &Event) -> String {
    let message = match event {
        Event::ChannelCreated(_) => return String::new(),
        Event::Message(message) => ServerMessage::Message(message_info(message)),
        Event::Presence { user, online, .. } => {
            ServerMessage::Presence { user: user.clone(), online: *online }
        }
        Event::Typing { channel, user } => ServerMessage::Typing { channel: channel.0, user: user.clone() },
        Event::Joined(view) => ServerMessage::Channel { channel: channel_info(view), reference: None },
        Event::Left(channel) => ServerMessage::Left { channel: channel.0, reference: None },
        Event::Read { channel, seq } => ServerMessage::Read { channel: channel.0, seq: seq.0 },
    };
    message.to_json()
}

pub(super) fn error_code(error: &HubError) -> ErrorCode {
    match error {
        HubError::NotFound => ErrorCode::NotFound,
        HubError::NotMember => ErrorCode::NotMember,
        HubError::UnknownUser => ErrorCode::UnknownUser,
        HubError::Forbidden(_) => ErrorCode::Forbidden,
        HubError::InvalidName(_) => ErrorCode::InvalidName,
        HubError::ChannelExists(_) => ErrorCode::ChannelExists,
        HubError::AlreadyMember(_) => ErrorCode::AlreadyMember,
        HubError::RateLimited => ErrorCode::RateLimited,
        HubError::LimitReached(_) => ErrorCode::LimitReached,
        HubError::Unavailable => ErrorCode::Unavailable,
    }
}

/// A stored message as the Socket.IO protocol shows it. The channel's name is
/// the caller's: messages carry only the channel id.
pub(super) fn chat_message(message: &Message, channel_name: &str) -> socketio::ChatMessage {
    socketio::ChatMessage {
        sender: message.sender_name.clone(),
        message: message.body.clone(),
        channel: channel_name.to_owned(),
        id: message.id.0,
        seq: message.seq.0,
        ts: message.ts,
    }
}

/// The online users in the tutorial's shape: names as keys, `true` as values.
pub(super) fn online_users<'a>(names: impl IntoIterator<Item = &'a String>) -> socketio::OnlineUsers {
    names.into_iter().map(|name| (name.clone(), true)).collect()
}

/// The JSON payload a hub event is emitted with over Socket.IO; the event's
/// name is the session's choice. `channel_name` names a message's channel.
/// Events Socket.IO sessions never emit encode to `null`.
pub(super) fn socketio_payload(event: &Event, channel_name: &str) -> String {
    let encoded = match event {
        Event::Message(message) => serde_json::to_string(&chat_message(message, channel_name)),
        Event::Presence { user, online: true, .. } => serde_json::to_string(user),
        Event::Presence { online: false, online_now, .. } => {
            serde_json::to_string(&online_users(online_now.iter()))
        }
        Event::ChannelCreated(channel) => serde_json::to_string(&channel.name),
        Event::Typing { .. } | Event::Joined(_) | Event::Left(_) | Event::Read { .. } => {
            Ok("null".to_owned())
        }
    };
    encoded.expect("Socket.IO payloads always serialize")
}

pub(super) fn socketio_error_code(error: &HubError) -> socketio::ErrorCode {
    match error {
        HubError::NotFound => socketio::ErrorCode::NotFound,
        HubError::NotMember => socketio::ErrorCode::NotMember,
        HubError::UnknownUser => socketio::ErrorCode::NotFound,
        HubError::Forbidden(_) => socketio::ErrorCode::Forbidden,
        HubError::InvalidName(_) => socketio::ErrorCode::InvalidName,
        HubError::ChannelExists(_) => socketio::ErrorCode::ChannelExists,
        HubError::AlreadyMember(_) => socketio::ErrorCode::AlreadyMember,
        HubError::RateLimited => socketio::ErrorCode::RateLimited,
        HubError::LimitReached(_) => socketio::ErrorCode::LimitReached,
        HubError::Unavailable => socketio::ErrorCode::Unavailable,
    }
}

pub(super) fn socketio_auth_error_code(error: &AuthError) -> socketio::ErrorCode {
    match error {
        AuthError::InvalidUsername(_) => socketio::ErrorCode::InvalidUsername,
        AuthError::NameTaken => socketio::ErrorCode::NameTaken,
        AuthError::NameInUse => socketio::ErrorCode::NameInUse,
        AuthError::GuestsDisabled => socketio::ErrorCode::GuestsDisabled,
        AuthError::RateLimited => socketio::ErrorCode::RateLimited,
        AuthError::InvalidPassword(_) | AuthError::InvalidCredentials => socketio::ErrorCode::Unauthorized,
        AuthError::Unavailable => socketio::ErrorCode::Unavailable,
    }
}
