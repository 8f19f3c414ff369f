//! Domain values to wire values and back, for what travels on more than one
//! wire: messages, channels and users go to clients (`/ws`, Socket.IO) and
//! messages and channels also between nodes (the bus). One place, so the two
//! can never disagree. Errors and event payloads that only one edge speaks
//! are converted at that edge (`server::convert`).

use super::{
    AttachmentInfo, ChannelInfo, DeletedBy, MessageInfo, QuoteInfo, ReactionInfo, SystemInfo, UserInfo,
};
use crate::model::{
    Attachment, ChannelId, ChannelKind, ChannelView, Deletion, FileId, Mentions, Message, MessageId,
    NotifyLevel, Quote, Reaction, Rev, Seq, SystemEvent, SystemKind, User, UserId,
};

pub fn user_info(user: &User) -> UserInfo {
    UserInfo { id: user.id.0, name: user.name.clone(), guest: user.guest }
}

pub fn channel_kind(kind: ChannelKind) -> super::ChannelKind {
    match kind {
        ChannelKind::Public => super::ChannelKind::Public,
        ChannelKind::Private => super::ChannelKind::Private,
        ChannelKind::Direct => super::ChannelKind::Dm,
    }
}

pub fn channel_kind_from(kind: super::ChannelKind) -> ChannelKind {
    match kind {
        super::ChannelKind::Public => ChannelKind::Public,
        super::ChannelKind::Private => ChannelKind::Private,
        super::ChannelKind::Dm => ChannelKind::Direct,
    }
}

pub fn channel_info(view: &ChannelView) -> ChannelInfo {
    ChannelInfo {
        id: view.channel.id.0,
        name: view.channel.name.clone(),
        kind: channel_kind(view.channel.kind),
        last_seq: view.last_seq.0,
        last_rev: view.last_rev.0,
        unread: view.unread,
        mentions: view.mentions,
        notify: notify_level(view.notify),
        read_seq: view.read_seq.0,
        member: view.member,
        members: view.dm_members.clone(),
        added_by: view.added_by.clone(),
        topic: view.about.topic.clone(),
        description: view.about.description.clone(),
        archived: view.about.archived,
    }
}

/// A system line's wire form; `actor` is the message's sender.
pub fn system_info(event: &SystemEvent, actor: &str) -> SystemInfo {
    let (kind, by) = match event.kind {
        SystemKind::Joined => (super::SystemKind::Joined, None),
        // Removed by someone else (an admin): who did it.
        SystemKind::Left if event.user_name != actor => (super::SystemKind::Left, Some(actor.to_owned())),
        SystemKind::Left => (super::SystemKind::Left, None),
        SystemKind::Added => (super::SystemKind::Added, Some(actor.to_owned())),
    };
    SystemInfo { kind, user: event.user_name.clone(), by }
}

pub fn system_event(info: &SystemInfo) -> SystemEvent {
    let kind = match info.kind {
        super::SystemKind::Joined => SystemKind::Joined,
        super::SystemKind::Left => SystemKind::Left,
        super::SystemKind::Added => SystemKind::Added,
    };
    SystemEvent { kind, user_name: info.user.clone() }
}

pub fn message_info(message: &Message) -> MessageInfo {
    MessageInfo {
        channel: message.channel.0,
        id: message.id.0,
        seq: message.seq.0,
        sender: message.sender_name.clone(),
        body: message.body.clone(),
        ts: message.ts,
        client_id: message.client_id.clone(),
        system: message.system.as_ref().map(|event| system_info(event, &message.sender_name)),
        rev: message.rev.0,
        edited_at: message.edited_at,
        deleted: message.deleted.map(|deletion| match deletion {
            Deletion::BySender => DeletedBy::Sender,
            Deletion::ByAdmin => DeletedBy::Admin,
        }),
        reactions: message
            .reactions
            .iter()
            .map(|reaction| ReactionInfo {
                emoji: reaction.emoji.clone(),
                count: reaction.count,
                users: reaction.users.clone(),
            })
            .collect(),
        reply_to: message.reply_to.as_ref().map(|quote| QuoteInfo {
            seq: quote.seq.0,
            sender: quote.sender.clone(),
            excerpt: quote.excerpt.clone(),
            deleted: quote.excerpt.is_empty(),
        }),
        mentions: message.mentions.users.clone(),
        mentions_channel: message.mentions.channel,
        files: message.files.iter().map(attachment_info).collect(),
    }
}

pub fn attachment_info(file: &Attachment) -> AttachmentInfo {
    AttachmentInfo {
        id: file.id.as_str().to_owned(),
        name: file.name.clone(),
        size: file.size,
        content_type: file.content_type.clone(),
        width: file.dimensions.map(|(width, _)| width),
        height: file.dimensions.map(|(_, height)| height),
        thumb: file.thumbnail,
    }
}

/// An attachment received from another node; `None` for an id that is not
/// one (a node never sends such, so the file is left out).
fn attachment_from_info(info: AttachmentInfo) -> Option<Attachment> {
    Some(Attachment {
        id: FileId::parse(&info.id)?,
        name: info.name,
        size: info.size,
        content_type: info.content_type,
        dimensions: info.width.zip(info.height),
        thumbnail: info.thumb,
    })
}

pub fn notify_level(level: NotifyLevel) -> super::NotifyLevel {
    match level {
        NotifyLevel::All => super::NotifyLevel::All,
        NotifyLevel::Mentions => super::NotifyLevel::Mentions,
        NotifyLevel::None => super::NotifyLevel::None,
    }
}

pub fn notify_level_from(level: super::NotifyLevel) -> NotifyLevel {
    match level {
        super::NotifyLevel::All => NotifyLevel::All,
        super::NotifyLevel::Mentions => NotifyLevel::Mentions,
        super::NotifyLevel::None => NotifyLevel::None,
    }
}

/// A message received from another node; the wire form lacks the sender's
/// id, which the bus carries beside it.
pub fn message_from_info(info: MessageInfo, sender: UserId) -> Message {
    Message {
        id: MessageId(info.id),
        channel: ChannelId(info.channel),
        seq: Seq(info.seq),
        sender,
        sender_name: info.sender,
        client_id: info.client_id,
        body: info.body,
        ts: info.ts,
        system: info.system.as_ref().map(system_event),
        rev: Rev(info.rev),
        edited_at: info.edited_at,
        deleted: info.deleted.map(|deleted| match deleted {
            DeletedBy::Sender => Deletion::BySender,
            DeletedBy::Admin => Deletion::ByAdmin,
        }),
        reactions: info
            .reactions
            .into_iter()
            .map(|reaction| Reaction { emoji: reaction.emoji, count: reaction.count, users: reaction.users })
            .collect(),
        reply_to: info.reply_to.map(|quote| Quote {
            seq: Seq(quote.seq),
            sender: quote.sender,
            // A deleted message's excerpt is empty, as every other's is not.
            excerpt: if quote.deleted { String::new() } else { quote.excerpt },
        }),
        mentions: Mentions { users: info.mentions, channel: info.mentions_channel },
        files: info.files.into_iter().filter_map(attachment_from_info).collect(),
    }
}
