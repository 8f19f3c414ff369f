//! The message stream on SQLite: appending messages and system lines (each
//! taking the channel's next seq and rev), and reading history. Appends run
//! on the writer; reads on a reader. Edits and deletions are in `changes`.

use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::super::rows::{self, MESSAGE_COLUMNS};
use super::super::{Appended, NewMessage, NewSystemLine, StoreError, StoreResult};
use super::channels::load_channel;
use super::{backend, files, mentions};
use crate::model::{
    ChannelId, Mentions, Message, MessageId, Quote, Rev, Seq, SystemEvent, UserId, now_millis,
};

/// What the common case of an append reads, in one statement: the
/// channel's head and the sender's name. No row when the channel is
/// missing or the sender is not a member, which the rare path then tells
/// apart.
const APPEND_PROBE: &str = "SELECT c.last_seq, c.last_rev, (SELECT name FROM users WHERE id = ?2) FROM channels c \
     WHERE c.id = ?1 AND c.archived_at IS NULL \
       AND EXISTS (SELECT 1 FROM members WHERE channel_id = ?1 AND user_id = ?2)";

/// [`APPEND_PROBE`] for a sender whose name is known ([`SenderNames`]).
const APPEND_PROBE_NAMED: &str = "SELECT c.last_seq, c.last_rev FROM channels c \
     WHERE c.id = ?1 AND c.archived_at IS NULL \
       AND EXISTS (SELECT 1 FROM members WHERE channel_id = ?1 AND user_id = ?2)";

/// Most names [`SenderNames`] holds; when full it starts over, so it
/// never holds more than the recent senders (and a few megabytes).
const SENDER_NAMES: usize = 65_536;

/// The names of senders whose appends were committed, so the writer need
/// not read a name per message. Only a committed user row is remembered
/// (the name comes from an answered append), and a user's `name` never
/// changes once stored nor is the row deleted (a guest's name passes on by
/// changing `name_key` and creating a new user), so an entry never goes
/// stale. A user row that was rolled back, whose id another user may get,
/// is never remembered.
#[derive(Default)]
pub(super) struct SenderNames(Mutex<HashMap<UserId, String>>);

impl SenderNames {
    pub(super) fn get(&self, user: UserId) -> Option<String> {
        self.0.lock().expect("sender name lock is never poisoned").get(&user).cloned()
    }

    /// Remembers the name of a sender whose append was answered.
    pub(super) fn remember(&self, user: UserId, name: &str) {
        let mut names = self.0.lock().expect("sender name lock is never poisoned");
        if names.len() >= SENDER_NAMES {
            names.clear();
        }
        names.insert(user, name.to_owned());
    }
}

/// Stores the message unless `(sender, client_id)` is stored already: the
/// index that keeps retries idempotent answers that question during the
/// insert itself, so the common case asks it only once. Any other conflict
/// (a seq taken twice) is an error, as it must be.
const INSERT_MESSAGE: &str = "INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts, rev, reply_to) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (sender_id, client_id) DO NOTHING";

/// The message a reply answers, if it stands (not deleted, not a system
/// line): the start of its body and its sender's name.
const QUOTED: &str = "SELECT substr(p.body, 1, 400), u.name, p.files FROM messages p JOIN users u ON u.id = p.sender_id \
     WHERE p.channel_id = ?1 AND p.seq = ?2 AND p.system_kind IS NULL AND p.deleted = 0";

/// The channel's head after a message took `seq` and `rev`. Set rather
/// than incremented: the writer holds the write lock from the probe to
/// here, so the head read there is still the head.
const ADVANCE_HEAD: &str = "UPDATE channels SET last_seq = ?2, last_rev = ?3 WHERE id = ?1";

/// Appends a message if the sender is a member, taking the channel's next
/// seq; a `(sender, client_id)` already stored returns the original.
///
/// Three statements in the common case (probe, insert, head), all cached,
/// and none with `RETURNING`, which SQLite serves through a temporary table
/// of its own and so costs more than a second plain statement. A message
/// that cannot be stored writes nothing: the probe only reads, and the
/// insert either stores the row or changes nothing.
///
/// `sender_name` is the sender's name when the caller knows it
/// ([`SenderNames`]); otherwise the probe reads it. The search index takes
/// the message later, in a batch (`search::index_pending`).
pub(super) fn append(
    connection: &Connection,
    new: NewMessage,
    sender_name: Option<String>,
) -> StoreResult<Appended> {
    let client_id = new.client_id.into_string();
    let parameters = params![new.channel.0, new.sender.0];
    let probe = match sender_name {
        Some(name) => connection
            .prepare_cached(APPEND_PROBE_NAMED)
            .and_then(|mut s| {
                s.query_row(parameters, |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))).optional()
            })
            .map(|head| head.map(|(last_seq, last_rev)| (last_seq, last_rev, name))),
        None => connection.prepare_cached(APPEND_PROBE).and_then(|mut s| {
            s.query_row(parameters, |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get(2)?)))
                .optional()
        }),
    }
    .map_err(backend)?;
    let Some((last_seq, last_rev, sender_name)) = probe else {
        // A retry is answered with the original even if the sender has
        // left the channel since, so it is looked for before membership.
        if let Some(message) = stored_message(connection, new.sender, &client_id)? {
            return Ok(Appended { message, created: false });
        }
        return Err(match load_channel(connection, new.channel)? {
            // Told to members only: to others an archived channel stays as it was.
            Some(_)
                if super::channel_settings::is_archived(connection, new.channel)?
                    && super::channels::is_member(connection, new.channel, new.sender)? =>
            {
                StoreError::Archived
            }
            Some(_) => StoreError::NotMember,
            None => StoreError::NoSuchChannel,
        });
    };
    let reply_to = match new.reply_to {
        None => None,
        Some(parent) => match quote(connection, new.channel, parent)? {
            Some(quote) => Some(quote),
            // A retry whose parent was deleted since is still the original.
            None => match stored_message(connection, new.sender, &client_id)? {
                Some(message) => return Ok(Appended { message, created: false }),
                None => return Err(StoreError::NoSuchMessage),
            },
        },
    };
    // Checked before anything is written: an append has no savepoint.
    let files = match new.files.is_empty() {
        true => Vec::new(),
        false => match files::attachable(connection, new.channel, new.sender, &new.files)? {
            Some(files) => files,
            // A retry finds its files attached to the original.
            None => match stored_message(connection, new.sender, &client_id)? {
                Some(message) => return Ok(Appended { message, created: false }),
                None => return Err(StoreError::NoSuchFile),
            },
        },
    };
    let (seq, rev) = (last_seq + 1, last_rev + 1);
    let ts = now_millis();
    let body = new.body.into_string();
    let parent = new.reply_to.map(|parent| parent.0);
    let inserted = connection
        .prepare_cached(INSERT_MESSAGE)
        .and_then(|mut s| {
            s.execute(params![new.channel.0, seq, new.sender.0, client_id, body, ts, rev, parent])
        })
        .map_err(backend)?;
    if inserted == 0 {
        // A retry: the original keeps its seq, and the head stays.
        let original = stored_message(connection, new.sender, &client_id)?;
        return original.map(|message| Appended { message, created: false }).ok_or_else(|| {
            StoreError::Backend("an insert was ignored as a retry, but no original is stored".into())
        });
    }
    let id = MessageId(connection.last_insert_rowid());
    advance_head(connection, new.channel, seq, rev)?;
    if !files.is_empty() {
        files::attach(connection, id, &files)?;
    }
    let mut appended = Appended {
        message: Message {
            id,
            channel: new.channel,
            seq: Seq(seq),
            sender: new.sender,
            sender_name,
            client_id,
            body,
            ts,
            system: None,
            rev: Rev(rev),
            edited_at: None,
            deleted: None,
            reactions: Vec::new(),
            reply_to,
            mentions: Mentions::default(),
            files,
        },
        created: true,
    };
    let body = &appended.message.body;
    appended.message.mentions = mentions::record(connection, &appended.message, body)?;
    Ok(appended)
}

/// The quote of the message at `seq`, if it stands.
pub(super) fn quote(connection: &Connection, channel: ChannelId, seq: Seq) -> StoreResult<Option<Quote>> {
    connection
        .prepare_cached(QUOTED)
        .and_then(|mut s| {
            s.query_row(params![channel.0, seq.0], |row| {
                let (body, sender, files): (String, String, Option<String>) =
                    (row.get(0)?, row.get(1)?, row.get(2)?);
                Ok(Quote { seq, sender, excerpt: rows::quote_excerpt(&body, files.as_deref()) })
            })
            .optional()
        })
        .map_err(backend)
}

/// The message `sender` stored under `client_id`, if any.
pub(super) fn stored_message(
    connection: &Connection,
    sender: UserId,
    client_id: &str,
) -> StoreResult<Option<Message>> {
    connection
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
             WHERE m.sender_id = ?1 AND m.client_id = ?2"
        ))
        .and_then(|mut s| s.query_row(params![sender.0, client_id], |row| rows::message(row)).optional())
        .map_err(backend)
}

pub(super) fn advance_head(
    connection: &Connection,
    channel: ChannelId,
    seq: i64,
    rev: i64,
) -> StoreResult<()> {
    connection
        .prepare_cached(ADVANCE_HEAD)
        .and_then(|mut s| s.execute(params![channel.0, seq, rev]))
        .map_err(backend)?;
    Ok(())
}

/// Appends a system line: no membership check (the server writes it, also
/// for someone who just left), otherwise like a message.
pub(super) fn append_system(connection: &Connection, line: NewSystemLine) -> StoreResult<Message> {
    // The head and both names in one read; no row when there is no channel.
    let probe = connection
        .prepare_cached(
            "SELECT last_seq, last_rev, (SELECT name FROM users WHERE id = ?2),
                    (SELECT name FROM users WHERE id = ?3)
             FROM channels WHERE id = ?1",
        )
        .and_then(|mut s| {
            s.query_row(params![line.channel.0, line.actor.0, line.subject.0], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, String>(2)?, row.get(3)?))
            })
            .optional()
        })
        .map_err(backend)?;
    let (last_seq, last_rev, sender_name, subject_name) = probe.ok_or(StoreError::NoSuchChannel)?;
    let event = SystemEvent { kind: line.kind, user_name: subject_name };
    let body = event.text(&sender_name);
    let (seq, rev) = (last_seq + 1, last_rev + 1);
    let ts = now_millis();
    connection
        .prepare_cached(
            "INSERT INTO messages (channel_id, seq, sender_id, client_id, body, ts, system_kind, system_user, rev)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .and_then(|mut s| {
            s.execute(params![
                line.channel.0,
                seq,
                line.actor.0,
                line.client_id,
                body,
                ts,
                line.kind.as_str(),
                line.subject.0,
                rev
            ])
        })
        .map_err(backend)?;
    let id = MessageId(connection.last_insert_rowid());
    advance_head(connection, line.channel, seq, rev)?;
    Ok(Message {
        id,
        channel: line.channel,
        seq: Seq(seq),
        sender: line.actor,
        sender_name,
        client_id: line.client_id,
        body,
        ts,
        system: Some(event),
        rev: Rev(rev),
        edited_at: None,
        deleted: None,
        reactions: Vec::new(),
        reply_to: None,
        mentions: Default::default(),
        files: Vec::new(),
    })
}

pub(super) fn query_messages(
    connection: &Connection,
    sql: &str,
    channel: ChannelId,
    bound: i64,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let mut statement = connection.prepare_cached(sql).map_err(backend)?;
    statement
        .query_map(params![channel.0, bound, limit], |row| rows::message(row))
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)
}

/// Up to `limit` messages before `before`, the newest ones, oldest first.
pub(super) fn history(
    connection: &Connection,
    channel: ChannelId,
    before: i64,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
         WHERE m.channel_id = ?1 AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3"
    );
    let mut newest_first = query_messages(connection, &sql, channel, before, limit)?;
    newest_first.reverse();
    Ok(newest_first)
}

pub(super) fn messages_after(
    connection: &Connection,
    channel: ChannelId,
    after: Seq,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id
         WHERE m.channel_id = ?1 AND m.seq > ?2 ORDER BY m.seq LIMIT ?3"
    );
    query_messages(connection, &sql, channel, after.0, limit)
}

pub(super) fn channel_heads(connection: &Connection) -> StoreResult<Vec<(ChannelId, Rev)>> {
    let mut statement = connection.prepare("SELECT id, last_rev FROM channels").map_err(backend)?;
    statement
        .query_map([], |row| Ok((ChannelId(row.get(0)?), Rev(row.get(1)?))))
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)
}

#[cfg(test)]
mod tests {
    //! Appends sharing a batch: refusals and retries among them write
    //! nothing, so the seqs the others take stay gap-free.

    use std::sync::Arc;

    use super::super::{SqliteOptions, SqliteStore};
    use crate::metrics::Metrics;
    use crate::model::{ChannelKind, ChannelName, ClientId, GENERAL_ID, MessageBody, UserName};
    use crate::store::{NewMessage, Store, StoreError};

    fn message(
        channel: crate::model::ChannelId,
        sender: crate::model::UserId,
        client_id: &str,
    ) -> NewMessage {
        NewMessage {
            channel,
            sender,
            client_id: ClientId::parse(client_id.to_owned()).unwrap(),
            body: MessageBody::parse(format!("body of {client_id}")).unwrap(),
            reply_to: None,
            files: Vec::new(),
        }
    }

    #[tokio::test]
    async fn refusals_and_retries_in_a_batch_leave_no_gaps() {
        let options = SqliteOptions { path: None, max_batch: 512 };
        let store = SqliteStore::open(options, Arc::new(Metrics::default())).unwrap();
        let alice = store.create_user(&UserName::parse("alice").unwrap(), "h").await.unwrap().id;
        let bob = store.create_user(&UserName::parse("bob").unwrap(), "h").await.unwrap().id;
        let private = ChannelName::parse("p").unwrap();
        let private = store.create_channel(&private, ChannelKind::Private, alice, 10).await.unwrap().id;
        let earlier = store.append_message(message(GENERAL_ID, bob, "b-0")).await.unwrap().message;
        store.remove_member(GENERAL_ID, bob).await.unwrap();

        // Queued together, so they share batches.
        let queued = [
            store.append_message(message(GENERAL_ID, alice, "a-1")),
            store.append_message(message(private, bob, "b-1")),
            store.append_message(message(GENERAL_ID, alice, "a-1")),
            store.append_message(message(crate::model::ChannelId(999), alice, "a-2")),
            // Bob has left, yet his retry is answered with the original.
            store.append_message(message(GENERAL_ID, bob, "b-0")),
            store.append_message(message(private, alice, "a-1")),
            store.append_message(message(GENERAL_ID, alice, "a-3")),
        ];
        let mut answers = Vec::new();
        for answer in queued {
            answers.push(answer.await);
        }
        let seq_of = |index: usize| match &answers[index] {
            Ok(appended) => (appended.message.seq.0, appended.created),
            Err(error) => panic!("append {index} failed: {error:?}"),
        };
        assert_eq!(seq_of(0), (2, true));
        assert!(matches!(answers[1], Err(StoreError::NotMember)), "{:?}", answers[1]);
        assert_eq!(seq_of(2), (2, false), "a retry in the same batch returns the original");
        assert!(matches!(answers[3], Err(StoreError::NoSuchChannel)), "{:?}", answers[3]);
        assert_eq!(answers[4].as_ref().unwrap().message, earlier);
        assert_eq!(seq_of(5), (2, false), "a client_id is the sender's, whatever the channel");
        assert_eq!(seq_of(6), (3, true));
        let stored = store.history(GENERAL_ID, None, 10).await.unwrap();
        assert_eq!(stored.iter().map(|m| m.seq.0).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(store.history(private, None, 10).await.unwrap().is_empty());
        let heads = store.channel_heads().await.unwrap();
        assert!(heads.contains(&(GENERAL_ID, crate::model::Rev(3))), "{heads:?}");
        assert!(heads.contains(&(private, crate::model::Rev(0))), "{heads:?}");
        // Alice's name is remembered now, and answered as stored.
        let known = store.append_message(message(GENERAL_ID, alice, "a-4")).await.unwrap().message;
        assert_eq!((known.seq.0, known.sender_name.as_str()), (4, "alice"));
        assert_eq!(store.history(GENERAL_ID, None, 1).await.unwrap(), [known]);
        store.close().await;
    }
}
