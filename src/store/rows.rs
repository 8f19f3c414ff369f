//! The rows both backends read alike: the column lists their queries select
//! and how those columns become model types, so a message, a user or a
//! channel view is decoded the same way on SQLite and PostgreSQL.
//!
//! A backend adapts its row type to [`Columns`]; the SQL around the column
//! lists, and anything only one backend selects, stays in the backend.

use crate::model::{
    Attachment, Channel, ChannelAbout, ChannelId, ChannelKind, ChannelView, Deletion, FileId, Invite,
    Mentions, Message, MessageId, NotifyLevel, Quote, Reaction, Rev, Seq, SystemEvent, SystemKind, User,
    UserId,
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
/// whom it is about, and for a reply the replied-to message's sender and
/// the start of its body (or its files) as they stand now; `m` is `messages`, `u` the
/// sender's `users` row.
pub(super) const MESSAGE_COLUMNS: &str = "m.id, m.channel_id, m.seq, m.sender_id, u.name, m.client_id, m.body, m.ts, \
     m.system_kind, (SELECT name FROM users WHERE id = m.system_user), m.rev, m.edited_at, m.deleted, \
     m.reactions, m.reply_to, \
     (SELECT substr(p.body, 1, 400) FROM messages p WHERE p.channel_id = m.channel_id AND p.seq = m.reply_to), \
     (SELECT pu.name FROM messages p JOIN users pu ON pu.id = p.sender_id \
      WHERE p.channel_id = m.channel_id AND p.seq = m.reply_to), \
     m.mentioned, m.mentions_channel, m.files, \
     (SELECT p.files FROM messages p WHERE p.channel_id = m.channel_id AND p.seq = m.reply_to)";

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
        reactions: reactions_from_db(row.optional_text(13)?.as_deref()),
        reply_to: match row.optional_int(14)? {
            Some(seq) => Some(Quote {
                seq: Seq(seq),
                sender: row.optional_text(16)?.unwrap_or_default(),
                excerpt: quote_excerpt(
                    &row.optional_text(15)?.unwrap_or_default(),
                    row.optional_text(20)?.as_deref(),
                ),
            }),
            None => None,
        },
        mentions: Mentions {
            users: row.optional_text(17)?.map_or_else(Vec::new, |names| mentioned_from_db(&names)),
            channel: row.flag(18)?,
        },
        files: files_from_db(row.optional_text(19)?.as_deref()),
    })
}

/// What a reply quotes of a message: the start of its body, or for one
/// that carries only files (`files`, its `files` column), the first's name.
pub(super) fn quote_excerpt(body: &str, files: Option<&str>) -> String {
    if !body.trim().is_empty() {
        return Quote::excerpt_of(body);
    }
    files_from_db(files).first().map(|file| Quote::excerpt_of_file(&file.name)).unwrap_or_default()
}

/// One attachment as a message's `files` column holds it (JSON), kept
/// beside the `files` table, which is the truth, so reading a message
/// never joins it.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredAttachment {
    id: String,
    name: String,
    size: u64,
    #[serde(rename = "type")]
    content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dimensions: Option<(u32, u32)>,
    #[serde(default)]
    thumb: bool,
}

/// A message's attachments for its `files` column; NULL for none.
pub(super) fn files_to_db(files: &[Attachment]) -> Option<String> {
    if files.is_empty() {
        return None;
    }
    let stored: Vec<StoredAttachment> = files
        .iter()
        .map(|file| StoredAttachment {
            id: file.id.as_str().to_owned(),
            name: file.name.clone(),
            size: file.size,
            content_type: file.content_type.clone(),
            dimensions: file.dimensions,
            thumb: file.thumbnail,
        })
        .collect();
    Some(serde_json::to_string(&stored).expect("attachments always serialize"))
}

/// Reads [`files_to_db`]'s column; a column natter did not write (which
/// only a hand edit makes) reads as no files rather than failing the page.
pub(super) fn files_from_db(column: Option<&str>) -> Vec<Attachment> {
    let Some(column) = column else { return Vec::new() };
    let stored: Vec<StoredAttachment> = serde_json::from_str(column).unwrap_or_default();
    stored
        .into_iter()
        .filter_map(|file| {
            Some(Attachment {
                id: FileId::parse(&file.id)?,
                name: file.name,
                size: file.size,
                content_type: file.content_type,
                dimensions: file.dimensions,
                thumbnail: file.thumb,
            })
        })
        .collect()
}

/// A file's columns as [`attachment`] decodes them (`files` unaliased).
pub(super) const ATTACHMENT_COLUMNS: &str = "id, name, size, content_type, width, height, thumbnail";

/// Decodes [`ATTACHMENT_COLUMNS`] from `first` on.
pub(super) fn attachment<R: Columns>(row: &R, first: usize) -> Result<Attachment, R::Error> {
    let id = row.text(first)?;
    let id = FileId::parse(&id).ok_or_else(|| row.invalid(first, format!("file id {id:?}")))?;
    let dimension = |index: usize| -> Result<Option<u32>, R::Error> {
        Ok(row.optional_int(index)?.and_then(|value| u32::try_from(value).ok()))
    };
    Ok(Attachment {
        id,
        name: row.text(first + 1)?,
        size: u64::try_from(row.int(first + 2)?).unwrap_or(0),
        content_type: row.text(first + 3)?,
        dimensions: dimension(first + 4)?.zip(dimension(first + 5)?),
        thumbnail: row.flag(first + 6)?,
    })
}

/// The names a message mentions as its `mentioned` column holds them:
/// comma-separated usernames (which hold no comma); NULL for none.
pub(super) fn mentioned_to_db(names: &[String]) -> Option<String> {
    (!names.is_empty()).then(|| names.join(","))
}

fn mentioned_from_db(column: &str) -> Vec<String> {
    column.split(',').filter(|name| !name.is_empty()).map(str::to_owned).collect()
}

/// A message's reactions as its `reactions` column holds them: one line per
/// emoji, `emoji TAB count TAB name,name,...`; NULL for none. Names are
/// usernames, which hold no tab, comma or line break; emoji hold none
/// either. Kept beside the `reactions` table, which is the truth, so that
/// reading a message never joins it.
pub(super) fn reactions_to_db(reactions: &[Reaction]) -> Option<String> {
    let lines: Vec<String> = reactions
        .iter()
        .map(|reaction| format!("{}\t{}\t{}", reaction.emoji, reaction.count, reaction.users.join(",")))
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

pub(super) fn reactions_from_db(column: Option<&str>) -> Vec<Reaction> {
    let Some(column) = column else { return Vec::new() };
    column
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let (emoji, count, users) = (fields.next()?, fields.next()?, fields.next()?);
            let users = users.split(',').filter(|name| !name.is_empty()).map(str::to_owned).collect();
            Some(Reaction { emoji: emoji.to_owned(), count: count.parse().ok()?, users })
        })
        .collect()
}

/// Decodes a user's `id, name, guest`.
pub(super) fn user<R: Columns>(row: &R) -> Result<User, R::Error> {
    Ok(User { id: UserId(row.int(0)?), name: row.text(1)?, guest: row.flag(2)? })
}

/// An account's columns as admins see it (`users` unaliased).
pub(super) const ACCOUNT_COLUMNS: &str =
    "id, name, guest, admin, deactivated_at IS NOT NULL, created_at, last_login_at";

/// Decodes [`ACCOUNT_COLUMNS`].
pub(super) fn account<R: Columns>(row: &R) -> Result<super::Account, R::Error> {
    Ok(super::Account {
        user: user(row)?,
        admin: row.flag(3)?,
        deactivated: row.flag(4)?,
        created_ms: row.int(5)?,
        last_login_ms: row.optional_int(6)?,
    })
}

/// An invite link's columns, with its maker's name; `i` is `invites`, `u`
/// its maker's `users` row (a LEFT JOIN: setup links have none).
pub(super) const INVITE_COLUMNS: &str = "i.id, u.name, i.created_at, i.expires_at, i.max_uses, i.uses, \
     i.revoked_at IS NOT NULL, i.makes_admin";

/// Decodes [`INVITE_COLUMNS`].
pub(super) fn invite<R: Columns>(row: &R) -> Result<Invite, R::Error> {
    let count = |index| {
        let value = row.int(index)?;
        u32::try_from(value).map_err(|_| row.invalid(index, format!("invite count {value} out of range")))
    };
    Ok(Invite {
        id: row.int(0)?,
        created_by: row.optional_text(1)?,
        created_ms: row.int(2)?,
        expires_ms: row.optional_int(3)?,
        max_uses: count(4)?,
        uses: count(5)?,
        revoked: row.flag(6)?,
        makes_admin: row.flag(7)?,
    })
}

/// Decodes a channel's `id, name, kind`.
pub(super) fn channel<R: Columns>(row: &R) -> Result<Channel, R::Error> {
    let kind = row.text(2)?;
    let kind = ChannelKind::from_db(&kind)
        .ok_or_else(|| row.invalid(2, format!("unknown channel kind {kind:?}")))?;
    Ok(Channel { id: ChannelId(row.int(0)?), name: row.text(1)?, kind })
}

/// A channel as one user sees it; `c` is `channels`, `m` the user's
/// `members` row (left-joined: all NULL when they are not a member). The
/// unread and mention counts look at the 1,000 messages after the read
/// marker only, so a view costs a bounded read however far behind its
/// reader is; past that a client knows the counts are partial, from
/// `last_seq - read_seq` (docs/protocol.md).
pub(super) const VIEW_COLUMNS: &str = "c.id, c.name, c.kind, c.last_seq, m.read_seq, \
     (SELECT name FROM users WHERE id = m.added_by), m.joined_at, c.last_rev, \
     (SELECT COUNT(*) FROM messages x WHERE x.channel_id = c.id \
      AND x.seq > m.read_seq AND x.seq <= m.read_seq + 1000 \
      AND x.sender_id <> m.user_id AND x.deleted = 0 AND x.system_kind IS NULL), \
     (SELECT COUNT(*) FROM messages x WHERE x.channel_id = c.id \
      AND x.seq > m.read_seq AND x.seq <= m.read_seq + 1000 AND x.deleted = 0 \
      AND (EXISTS (SELECT 1 FROM mentions n WHERE n.user_id = m.user_id AND n.message_id = x.id) \
           OR (x.mentions_channel AND x.sender_id <> m.user_id))), \
     m.notify, c.topic, c.description, c.archived_at IS NOT NULL";

/// [`VIEW_COLUMNS`] decoded: all of a [`ChannelView`] but the members of a
/// direct-message channel, which take a query of their own.
pub(super) struct ViewRow {
    pub(super) channel: Channel,
    last_seq: Seq,
    last_rev: Rev,
    unread: u32,
    mentions: u32,
    notify: NotifyLevel,
    /// `None` when the viewer is not a member.
    read_seq: Option<i64>,
    added_by: Option<String>,
    joined_at: Option<i64>,
    about: ChannelAbout,
}

/// Decodes [`VIEW_COLUMNS`].
pub(super) fn view<R: Columns>(row: &R) -> Result<ViewRow, R::Error> {
    Ok(ViewRow {
        channel: channel(row)?,
        last_seq: Seq(row.int(3)?),
        last_rev: Rev(row.int(7)?),
        unread: u32::try_from(row.optional_int(8)?.unwrap_or(0)).unwrap_or(u32::MAX),
        mentions: u32::try_from(row.optional_int(9)?.unwrap_or(0)).unwrap_or(u32::MAX),
        notify: row.optional_text(10)?.map_or(NotifyLevel::All, |level| NotifyLevel::from_db(&level)),
        read_seq: row.optional_int(4)?,
        added_by: row.optional_text(5)?,
        joined_at: row.optional_int(6)?,
        about: ChannelAbout {
            topic: row.optional_text(11)?.unwrap_or_default(),
            description: row.optional_text(12)?.unwrap_or_default(),
            archived: row.flag(13)?,
        },
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
            unread: self.unread,
            mentions: self.mentions,
            notify: self.notify,
            read_seq: Seq(self.read_seq.unwrap_or(0)),
            member: self.read_seq.is_some(),
            dm_members,
            added_by: self.added_by,
            joined_at: self.joined_at.unwrap_or(0),
            about: self.about,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_count_looks_1000_messages_past_the_marker() {
        let bound = "x.seq <= m.read_seq + 1000 ";
        assert_eq!(VIEW_COLUMNS.matches(bound).count(), 2, "{VIEW_COLUMNS}");
    }

    #[test]
    fn reactions_survive_their_column() {
        let reactions = vec![
            Reaction { emoji: "👍🏽".into(), count: 3, users: vec!["alice".into(), "bob.b-c_1".into()] },
            Reaction { emoji: "🎉".into(), count: 1, users: Vec::new() },
        ];
        let column = reactions_to_db(&reactions);
        assert_eq!(reactions_from_db(column.as_deref()), reactions);
        assert_eq!(reactions_to_db(&[]), None, "none is NULL");
        assert!(reactions_from_db(None).is_empty());
    }
}
