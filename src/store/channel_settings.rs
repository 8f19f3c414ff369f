//! Changing a channel: its name, topic, description and archival. Who may
//! do what is decided here once ([`check`]), on what each backend read in
//! the same job ([`UpdateProbe`]); the backends (`channel_settings.rs` in
//! each) do the reading and writing.

use super::{StoreError, StoreResult};
use crate::model::{ChannelId, ChannelKind, ChannelName, UserId};

/// A change of a channel, by `by`; each `None` leaves that part alone.
#[derive(Debug, Clone)]
pub struct ChannelUpdate {
    pub channel: ChannelId,
    pub by: UserId,
    pub name: Option<ChannelName>,
    pub topic: Option<String>,
    pub description: Option<String>,
    pub archived: Option<bool>,
}

/// What the rules need to know, read in the update's job.
#[derive(Debug, Clone, Copy)]
pub(super) struct UpdateProbe {
    pub(super) kind: ChannelKind,
    pub(super) created_by: Option<UserId>,
    pub(super) archived: bool,
    pub(super) member: bool,
    /// An active admin.
    pub(super) admin: bool,
}

/// The channel every user is in (`model::GENERAL`), which cannot be
/// renamed or archived: the tutorial's clients know it by name.
const GENERAL_ID: ChannelId = ChannelId(1);

/// Who may change what:
/// - a private channel or DM the changer is not in does not exist for
///   them (admins included), as everywhere;
/// - DMs have no settings;
/// - topic and description: members, and admins;
/// - the name: the channel's creator while a member, and admins; never
///   General's;
/// - archiving: the creator while a member, and admins; unarchiving:
///   admins; never General;
/// - an archived channel changes only by being unarchived.
pub(super) fn check(update: &ChannelUpdate, probe: &UpdateProbe) -> StoreResult<()> {
    let visible = probe.kind == ChannelKind::Public || probe.member;
    if !visible {
        return Err(StoreError::NoSuchChannel);
    }
    if probe.kind == ChannelKind::Direct {
        return Err(StoreError::NotAllowed("direct messages have no name, topic or archive to change"));
    }
    // A creator who left (or was removed) is a creator no more.
    let creator = probe.created_by == Some(update.by) && probe.member;
    let renames_or_describes =
        update.name.is_some() || update.topic.is_some() || update.description.is_some();
    if probe.archived && (renames_or_describes || update.archived != Some(false)) {
        return Err(StoreError::Archived);
    }
    if (update.topic.is_some() || update.description.is_some()) && !(probe.member || probe.admin) {
        return Err(StoreError::NotMember);
    }
    if update.name.is_some() {
        if update.channel == GENERAL_ID {
            return Err(StoreError::NotAllowed("General keeps its name"));
        }
        if !(creator || probe.admin) {
            return Err(StoreError::NotAllowed("only its creator or an admin may rename a channel"));
        }
    }
    match update.archived {
        Some(_) if update.channel == GENERAL_ID => Err(StoreError::NotAllowed("General cannot be archived")),
        Some(true) if !(creator || probe.admin) => {
            Err(StoreError::NotAllowed("only its creator or an admin may archive a channel"))
        }
        Some(false) if probe.archived && !probe.admin => {
            Err(StoreError::NotAllowed("only an admin may unarchive a channel"))
        }
        _ => Ok(()),
    }
}
