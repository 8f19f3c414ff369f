//! Where every connection goes, decided before any of them connects: rooms
//! of `room_size`, publishers first in each room, non-readers last, and the
//! groups of connections that share one user.

use std::sync::OnceLock;

use super::Settings;
use crate::target::Target;

pub(super) struct Room {
    pub(super) name: String,
    /// Publishers in this room; they are its first members.
    pub(super) publishers: u32,
    /// Members that read: the copies every message should produce.
    pub(super) readers: u64,
    /// natter: the channel id, set by the room's creator.
    pub(super) channel: OnceLock<i64>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct ConnSpec {
    pub(super) index: usize,
    pub(super) room: usize,
    /// Number within the room's publishers, and within all publishers.
    pub(super) publisher: Option<(u32, usize)>,
    pub(super) reader: bool,
}

/// A user's connections in one room, set up one after the other.
pub(super) struct Group {
    pub(super) room: usize,
    pub(super) user: usize,
    pub(super) connections: std::ops::Range<usize>,
    pub(super) creates_room: bool,
}

/// Rooms of `room_size`, publishers spread evenly and placed first in each
/// room, non-readers last, and natter users of `connections_per_user`
/// consecutive members.
pub(super) fn lay_out(settings: &Settings) -> (Vec<Room>, Vec<ConnSpec>, Vec<Group>) {
    let room_size = settings.room_size.clamp(1, settings.connections.max(1));
    let room_count = settings.connections.div_ceil(room_size);
    let single_room = room_count == 1;
    let mut rooms = Vec::with_capacity(room_count);
    let mut specs = Vec::with_capacity(settings.connections);
    let mut groups = Vec::new();
    let mut publisher_global = 0;
    let per_user = if settings.target == Target::Natter { settings.connections_per_user.max(1) } else { 1 };
    for room in 0..room_count {
        let first = room * room_size;
        let members = room_size.min(settings.connections - first);
        // Publishers: an even share, the remainder to the first rooms.
        let share = settings.publishers / room_count + usize::from(room < settings.publishers % room_count);
        let publishers = share.min(members);
        let non_readers =
            ((members - publishers) as f64 * settings.non_readers_percent / 100.0).round() as usize;
        let name = match (settings.target, single_room) {
            // The hot room is where everyone already is: natter's General
            // (every user is a member) and the tutorial's default channel.
            (Target::Natter | Target::Socketio, true) => "General".to_owned(),
            _ => format!("r{}-{room}", settings.tag),
        };
        let channel = OnceLock::new();
        if settings.target == Target::Natter && single_room {
            channel.set(1).expect("a fresh cell");
        }
        for member in 0..members {
            let index = first + member;
            let publisher = (member < publishers).then(|| {
                publisher_global += 1;
                (member as u32, publisher_global - 1)
            });
            specs.push(ConnSpec { index, room, publisher, reader: member < members - non_readers });
        }
        let needs_creator = match settings.target {
            Target::Natter => !single_room,
            Target::Socketio => !single_room,
            Target::Floor => false,
        };
        let users_in_room = members.div_ceil(per_user);
        for user_in_room in 0..users_in_room {
            let start = first + user_in_room * per_user;
            let end = (start + per_user).min(first + members);
            groups.push(Group {
                room,
                user: groups.len(),
                connections: start..end,
                creates_room: needs_creator && user_in_room == 0,
            });
        }
        rooms.push(Room {
            name,
            publishers: publishers as u32,
            readers: (members - non_readers) as u64,
            channel,
        });
    }
    (rooms, specs, groups)
}
