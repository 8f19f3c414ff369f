//! Events to bus frames (`protocol::bus`) and back.

use crate::bus::BusEvent;
use crate::model::{Channel, ChannelAbout, ChannelId, ReadMarker, Seq, UserId};
use crate::protocol::{self, bus as wire};

/// What a frame from another node asks of this one.
pub(super) enum Decoded {
    Event(BusEvent),
    PresenceChanged,
}

/// What a frame from another node asks; `None` for our own echo and for
/// frames this version cannot read.
pub(super) fn decode(payload: &[u8], node: &str) -> Option<Decoded> {
    match wire::Frame::from_json(payload) {
        Ok(frame) if frame.node == node => None,
        Ok(frame) => Some(match from_wire(frame.event) {
            Some(event) => Decoded::Event(event),
            None => Decoded::PresenceChanged,
        }),
        Err(error) => {
            tracing::warn!(%error, "unreadable bus frame");
            None
        }
    }
}

pub(super) fn to_wire(event: &BusEvent) -> Option<wire::Event> {
    Some(match event {
        BusEvent::Message(m) => {
            wire::Event::Message { message: protocol::convert::message_info(m), sender_id: m.sender.0 }
        }
        BusEvent::Joined { channel, user } => wire::Event::Joined { channel: channel.0, user: user.0 },
        BusEvent::SettingsChanged { channel, user } => {
            wire::Event::SettingsChanged { channel: channel.0, user: user.0 }
        }
        BusEvent::Left { channel, user } => wire::Event::Left { channel: channel.0, user: user.0 },
        BusEvent::Typing { channel, user, name } => {
            wire::Event::Typing { channel: channel.0, user: user.0, name: name.clone() }
        }
        BusEvent::Read { channel, user, marker } => wire::Event::Read {
            channel: channel.0,
            user: user.0,
            seq: marker.seq.0,
            unread: marker.unread,
            mentions: marker.mentions,
            last_seq: marker.last_seq.0,
        },
        BusEvent::ChannelCreated(channel) => wire::Event::ChannelCreated {
            id: channel.id.0,
            name: channel.name.clone(),
            kind: protocol::convert::channel_kind(channel.kind),
        },
        BusEvent::ChannelChanged { channel, about, renamed } => wire::Event::ChannelChanged {
            id: channel.id.0,
            name: channel.name.clone(),
            kind: protocol::convert::channel_kind(channel.kind),
            topic: about.topic.clone(),
            description: about.description.clone(),
            archived: about.archived,
            renamed: *renamed,
        },
        BusEvent::Deactivated { user } => wire::Event::Deactivated { user: user.0 },
        BusEvent::SessionsEnded { sessions } => {
            wire::Event::SessionsEnded { sessions: sessions.iter().map(hex_of).collect() }
        }
        BusEvent::Resync | BusEvent::RemotePresence(_) => return None,
    })
}

/// The hub's event for a frame's; `None` for the presence signal, which the
/// bus handles itself.
pub(super) fn from_wire(event: wire::Event) -> Option<BusEvent> {
    Some(match event {
        wire::Event::Message { message, sender_id } => {
            BusEvent::Message(Box::new(protocol::convert::message_from_info(message, UserId(sender_id))))
        }
        wire::Event::Joined { channel, user } => {
            BusEvent::Joined { channel: ChannelId(channel), user: UserId(user) }
        }
        wire::Event::SettingsChanged { channel, user } => {
            BusEvent::SettingsChanged { channel: ChannelId(channel), user: UserId(user) }
        }
        wire::Event::Left { channel, user } => {
            BusEvent::Left { channel: ChannelId(channel), user: UserId(user) }
        }
        wire::Event::Typing { channel, user, name } => {
            BusEvent::Typing { channel: ChannelId(channel), user: UserId(user), name }
        }
        wire::Event::Read { channel, user, seq, unread, mentions, last_seq } => BusEvent::Read {
            channel: ChannelId(channel),
            user: UserId(user),
            marker: ReadMarker { seq: Seq(seq), unread, mentions, last_seq: Seq(last_seq) },
        },
        wire::Event::ChannelCreated { id, name, kind } => BusEvent::ChannelCreated(Channel {
            id: ChannelId(id),
            name,
            kind: protocol::convert::channel_kind_from(kind),
        }),
        wire::Event::ChannelChanged { id, name, kind, topic, description, archived, renamed } => {
            BusEvent::ChannelChanged {
                channel: Channel {
                    id: ChannelId(id),
                    name,
                    kind: protocol::convert::channel_kind_from(kind),
                },
                about: ChannelAbout { topic, description, archived },
                renamed,
            }
        }
        wire::Event::Deactivated { user } => BusEvent::Deactivated { user: UserId(user) },
        wire::Event::SessionsEnded { sessions } => BusEvent::SessionsEnded {
            // A key that is not 32 bytes of hex names no session: dropped.
            sessions: sessions.iter().filter_map(|key| key_of(key)).collect(),
        },
        wire::Event::PresenceChanged => return None,
    })
}

/// A session key as the bus carries it: 64 lower-case hex digits.
fn hex_of(key: &[u8; 32]) -> String {
    key.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The key [`hex_of`] wrote; `None` for anything else.
fn key_of(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()).collect();
    bytes?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChannelKind, Message, MessageId};

    fn frame(node: &str, event: &BusEvent) -> Vec<u8> {
        wire::Frame { node: node.into(), event: to_wire(event).unwrap() }.to_json().into_bytes()
    }

    #[test]
    fn events_survive_the_wire_and_own_echo_is_dropped() {
        let message = Message {
            id: MessageId(7),
            channel: ChannelId(3),
            seq: Seq(42),
            sender: UserId(5),
            sender_name: "alice".into(),
            client_id: "c-1".into(),
            body: "hi \"there\"".into(),
            ts: 1_700_000_000_000,
            system: None,
            rev: crate::model::Rev(44),
            edited_at: Some(1_700_000_000_500),
            deleted: Some(crate::model::Deletion::ByAdmin),
            reactions: vec![crate::model::Reaction {
                emoji: "🎉".into(),
                count: 2,
                users: vec!["bob".into()],
            }],
            reply_to: Some(crate::model::Quote {
                seq: Seq(40),
                sender: "bob".into(),
                excerpt: "the plan".into(),
            }),
            mentions: crate::model::Mentions { users: vec!["carol".into()], channel: true },
            files: Vec::new(),
        };
        let line = Message {
            seq: Seq(43),
            client_id: "sys-1".into(),
            body: "alice added carol".into(),
            system: Some(crate::model::SystemEvent {
                kind: crate::model::SystemKind::Added,
                user_name: "carol".into(),
            }),
            ..message.clone()
        };
        let events = [
            BusEvent::Message(Box::new(message)),
            BusEvent::Message(Box::new(line)),
            BusEvent::Joined { channel: ChannelId(3), user: UserId(5) },
            BusEvent::SettingsChanged { channel: ChannelId(3), user: UserId(5) },
            BusEvent::Left { channel: ChannelId(3), user: UserId(5) },
            BusEvent::Typing { channel: ChannelId(3), user: UserId(5), name: "alice".into() },
            BusEvent::Read {
                channel: ChannelId(3),
                user: UserId(5),
                marker: crate::model::ReadMarker { seq: Seq(9), unread: 4, mentions: 1, last_seq: Seq(13) },
            },
            BusEvent::ChannelCreated(Channel {
                id: ChannelId(4),
                name: "x".into(),
                kind: ChannelKind::Public,
            }),
            BusEvent::Deactivated { user: UserId(5) },
            BusEvent::ChannelChanged {
                channel: Channel { id: ChannelId(4), name: "y".into(), kind: ChannelKind::Private },
                about: ChannelAbout { topic: "t".into(), description: "d\ne".into(), archived: true },
                renamed: true,
            },
            BusEvent::SessionsEnded { sessions: vec![[7; 32], [9; 32]] },
        ];
        for event in &events {
            let Some(Decoded::Event(decoded)) = decode(&frame("other", event), "me") else {
                panic!("an event from another node")
            };
            assert_eq!(format!("{decoded:?}"), format!("{event:?}"));
            assert!(decode(&frame("me", event), "me").is_none(), "own echo");
        }
        assert!(decode(b"not json", "me").is_none());
        assert!(to_wire(&BusEvent::Resync).is_none(), "resync is local");
        let presence = wire::Frame { node: "other".into(), event: wire::Event::PresenceChanged }.to_json();
        assert!(matches!(decode(presence.as_bytes(), "me"), Some(Decoded::PresenceChanged)));
    }
}
