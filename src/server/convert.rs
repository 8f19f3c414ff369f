//! Domain to wire: the one place where hub and store values become protocol
//! messages, and hub errors become protocol error codes.

use crate::hub::{Event, HubError};
use crate::model::{ChannelKind, ChannelView, Message, User};
use crate::protocol::{self, ChannelInfo, ErrorCode, MessageInfo, ServerMessage, UserInfo};

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
    }
}

/// The native-protocol frame of a hub event.
pub(super) fn native_frame(event: &Event) -> String {
    let message = match event {
        Event::Message(message) => ServerMessage::Message(message_info(message)),
        Event::Presence { user, online } => ServerMessage::Presence { user: user.clone(), online: *online },
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
        HubError::RateLimited => ErrorCode::RateLimited,
        HubError::LimitReached(_) => ErrorCode::LimitReached,
        HubError::Unavailable => ErrorCode::Unavailable,
    }
}
