//! The rows both backends read alike: the column lists their queries select
//! and how those columns become model types, so a message, a user or a
//! channel view is decoded the same way on SQLite and PostgreSQL.
//!
//! A backend adapts its row type to [`Columns`]; the SQL around the column
//! lists, and anything only one backend selects, stays in the backend.

use crate::model::{
    Channel, ChannelId, ChannelKind, ChannelView, Deletion, Message, MessageId, Rev, Seq, SystemEvent,
    SystemKind, User, UserId,
};

/// Typed access to one row's columns by index.
pub(super) trait Columns {
    type Error;
    fn int(&self, index: usize) -> Result<i64, Self::Error>;
    fn optional_int(&self, index: usize) -> Result<Option<i64>, Self::Error>;
    fn text(&self, index: usize) -> Result<String, Self::Error>;
    fn optional_text(&self, index: usize) -> Result<Option<String>, Self::Error>;
    fn flag(&self, index: usize) -> Result<bool, Self::Error>;
    /// The error for a column that decoded but holds nothing natter knows.
    fn invalid(&self, index: usize, what: String) -> Self::Error;
}

/// A message with its sender's name and, for a system line, the name of
/// whom it is about; `m` is `messages`, `u` the sender's `users` row.
pub(super) const MESSAGE_COLUMNS: &str = "m.id, m.channel_id, m.seq, m.sender_id, u.name, m.client_id, m.body, m.ts, \
     m.system_kind, (SELECT name FROM users WHERE id = m.system_user), m.rev, m.edited_at, m.deleted";

/// Decodes [`MESSAGE_COLUMNS`].
pub(super) fn message<R: Columns>(row: &R) -> Result<Message, R::Error> {
    let system = match row.optional_text(8)?.as_deref().and_then(SystemKind::from_db) {
        Some(kind) => Some(SystemEvent { kind, user_name: row.optional_text(9)?.unwrap_or_default() }),
        None => None,
    };
    Ok(Message {
        id: MessageId(row.int(0)?),
        channel: ChannelId(row.int(1)?),
        seq: Seq(row.int(2)?),
        sender: UserId(row.int(3)?),
        sender_name: row.text(4)?,
        client_id: row.text(5)?,
        body: row.text(6)?,
        ts: row.int(7)?,
        system,
        rev: Rev(row.int(10)?),
        edited_at: row.optional_int(11)?,
        deleted: Deletion::from_db(row.int(12)?),
    })
}

/// Decodes a user's `id, name, guest`.
pub(super) fn user<R: Columns>(row: &R) -> Result<User, R::Error> {
    Ok(User { id: UserId(row.int(0)?), name: row.text(1)?, guest: row.flag(2)? })
}

/// Decodes a channel's `id, name, kind`.
pub(super) fn channel<R: Columns>(row: &R) -> Result<Channel, R::Error> {
    let kind = row.text(2)?;
    let kind = ChannelKind::from_db(&kind)
        .ok_or_else(|| row.invalid(2, format!("unknown channel kind {kind:?}")))?;
    Ok(Channel { id: ChannelId(row.int(0)?), name: row.text(1)?, kind })
}

/// A channel as one user sees it; `c` is `channels`, `m` the user's
/// `members` row (left-joined: all NULL when they are not a member).
pub(super) const VIEW_COLUMNS: &str = "c.id, c.name, c.kind, c.last_seq, m.read_seq, \
     (SELECT name FROM users WHERE id = m.added_by), m.joined_at, c.last_rev";

/// [`VIEW_COLUMNS`] decoded: all of a [`ChannelView`] but the members of a
/// direct-message channel, which take a query of their own.
pub(super) struct ViewRow {
    pub(super) channel: Channel,
    last_seq: Seq,
    last_rev: Rev,
    /// `None` when the viewer is not a member.
    read_seq: Option<i64>,
    added_by: Option<String>,
    joined_at: Option<i64>,
}

/// Decodes [`VIEW_COLUMNS`].
pub(super) fn view<R: Columns>(row: &R) -> Result<ViewRow, R::Error> {
    Ok(ViewRow {
        channel: channel(row)?,
        last_seq: Seq(row.int(3)?),
        last_rev: Rev(row.int(7)?),
        read_seq: row.optional_int(4)?,
        added_by: row.optional_text(5)?,
        joined_at: row.optional_int(6)?,
    })
}

impl ViewRow {
    /// Whether the view lists the channel's members: only direct messages do.
    pub(super) fn needs_dm_members(&self) -> bool {
        self.channel.kind == ChannelKind::Direct
    }

    /// The view, with the members' names when [`needs_dm_members`](Self::needs_dm_members).
    pub(super) fn into_view(self, dm_members: Vec<String>) -> ChannelView {
        ChannelView {
            channel: self.channel,
            last_seq: self.last_seq,
            last_rev: self.last_rev,
            read_seq: Seq(self.read_seq.unwrap_or(0)),
            member: self.read_seq.is_some(),
            dm_members,
            added_by: self.added_by,
            joined_at: self.joined_at.unwrap_or(0),
        }
    }
}
