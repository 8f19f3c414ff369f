//! `natter export` and `natter import` on PostgreSQL (`store::Transfer`),
//! each on a connection of its own without a statement bound, beside the
//! writer.
//!
//! An export is one `REPEATABLE READ READ ONLY` transaction: every table as
//! of one snapshot, whatever the nodes write meanwhile, read through a
//! cursor a page at a time and handed to the files page by page.
//!
//! An import is one transaction that first takes the migration lock (nodes
//! starting meanwhile wait) and locks every table it checks or fills
//! against writes, then checks that the database is empty, stores each
//! line as the reader hands it over (a chunk of lines of one kind at a
//! time, pipelined, each statement still answering for its own line),
//! derives the rest with the store's own statements (`reactions`'
//! summary, `mentions::record`, `store::revs::DERIVE_FIRST_REVS`,
//! `search::fill`) and moves the identity
//! sequences past the imported ids. Anything refused rolls it all back.

use async_trait::async_trait;
use futures_util::future::join_all;
use tokio_postgres::{Client, Row, Statement};

use super::super::revs::DERIVE_FIRST_REVS;
use super::super::rows::{self, MESSAGE_COLUMNS, reactions_to_db};
use super::super::transfer::{
    EMPTINESS, EXPORT_CHANNELS, EXPORT_MEMBERS, EXPORT_MESSAGES, EXPORT_REACTIONS, EXPORT_USERS, Transfer,
    TransferError, channel_line, member_line, mentions_someone, message_line, no_message_to_react_to,
    occupied, reaction_line, refused, user_line,
};
use super::reactions::{SUMMARY_SQL, summary_of};
use super::schema::MIGRATION_LOCK;
use super::{PostgresStore, backend, mentions, search};
use crate::model::{ChannelKind, Deletion, NotifyLevel, REACTION_NAMES_SHOWN, SystemKind};
use crate::search::tokenizer_fingerprint;
use crate::transfer::{Counts, ExportWriter, ImportReader, MessageLine, Numbered, Record};

/// Rows an export fetches from its cursor at once, and lines an import
/// sends in one pipeline: enough to hide the round trips, few enough to
/// hold (a page of messages is a few megabytes at most).
const PAGE: usize = 500;

#[async_trait]
impl Transfer for PostgresStore {
    async fn export_workspace(&self, mut to: ExportWriter) -> Result<ExportWriter, TransferError> {
        let c = self.unbounded_connection().await?;
        // The files are written between fetches: no bound on how long the
        // transaction waits for them.
        c.batch_execute(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
             SET LOCAL idle_in_transaction_session_timeout = 0",
        )
        .await
        .map_err(backend)?;
        let written = export_tables(&c, &mut to).await;
        // It only read: ending it either way keeps nothing.
        let _ = c.batch_execute("ROLLBACK").await;
        written.map(|()| to)
    }

    async fn import_workspace(&self, from: ImportReader) -> Result<Counts, TransferError> {
        let c = self.unbounded_connection().await?;
        c.batch_execute("BEGIN; SET LOCAL idle_in_transaction_session_timeout = 0").await.map_err(backend)?;
        match import(&c, from).await {
            Ok(counts) => {
                c.batch_execute("COMMIT").await.map_err(backend)?;
                Ok(counts)
            }
            Err(error) => {
                let _ = c.batch_execute("ROLLBACK").await;
                Err(error)
            }
        }
    }
}

async fn export_tables(c: &Client, to: &mut ExportWriter) -> Result<(), TransferError> {
    each_row(c, EXPORT_USERS, |row| Ok(to.user(&user_line(row)?)?)).await?;
    each_row(c, EXPORT_CHANNELS, |row| Ok(to.channel(&channel_line(row)?)?)).await?;
    each_row(c, EXPORT_MEMBERS, |row| Ok(to.member(&member_line(row)?)?)).await?;
    each_row(c, EXPORT_MESSAGES, |row| Ok(to.message(&message_line(row)?)?)).await?;
    each_row(c, EXPORT_REACTIONS, |row| Ok(to.reaction(&reaction_line(row)?)?)).await
}

/// Hands each row of `sql` to `write`, fetched through a cursor a page at
/// a time: one page in memory.
async fn each_row(
    c: &Client,
    sql: &str,
    mut write: impl FnMut(&Row) -> Result<(), TransferError> + Send,
) -> Result<(), TransferError> {
    c.batch_execute(&format!("DECLARE export NO SCROLL CURSOR FOR {sql}")).await.map_err(backend)?;
    let fetch = format!("FETCH {PAGE} FROM export");
    loop {
        let page = c.query(&fetch, &[]).await.map_err(backend)?;
        if page.is_empty() {
            break;
        }
        page.iter().try_for_each(&mut write)?;
    }
    c.batch_execute("CLOSE export").await.map_err(backend)?;
    Ok(())
}

/// The statements that store each kind of line.
struct Inserts {
    user: Statement,
    channel: Statement,
    member: Statement,
    message: Statement,
    reaction: Statement,
    read_back: Statement,
}

impl Inserts {
    async fn prepare(c: &Client) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            user: c
                .prepare(
                    "INSERT INTO users (id, name, name_key, password_hash, guest, admin, deactivated_at, created_at,
                                        display_name, time_zone)
                     VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, nullif($8, ''), nullif($9, ''))",
                )
                .await?,
            // General, which the database has already, takes the export's values.
            channel: c
                .prepare(
                    "INSERT INTO channels (id, name, name_key, look_key, dm_key, kind, created_by, created_at,
                                           last_seq, last_rev, topic, description, archived_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, nullif($11, ''), nullif($12, ''), $13)
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key,
                         look_key = excluded.look_key, dm_key = excluded.dm_key, kind = excluded.kind,
                         created_by = excluded.created_by, created_at = excluded.created_at,
                         last_seq = excluded.last_seq, last_rev = excluded.last_rev, topic = excluded.topic,
                         description = excluded.description, archived_at = excluded.archived_at",
                )
                .await?,
            member: c
                .prepare(
                    "INSERT INTO members (channel_id, user_id, joined_at, read_seq, notify, added_by)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .await?,
            // Message ids are `GENERATED ALWAYS`: the export's are kept.
            message: c
                .prepare(
                    "INSERT INTO messages (id, channel_id, seq, rev, sender_id, client_id, body, ts,
                                           system_kind, system_user, edited_at, deleted, reply_to)
                     OVERRIDING SYSTEM VALUE
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .await?,
            // A reaction only to a chat message that stands (a deleted
            // message and a system line take none).
            reaction: c
                .prepare(
                    "INSERT INTO reactions (message_id, emoji, user_id, created_at)
                     SELECT id, $2::TEXT, $3::BIGINT, $4::BIGINT FROM messages
                     WHERE id = $1 AND system_kind IS NULL AND deleted = 0",
                )
                .await?,
            read_back: c
                .prepare(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id WHERE m.id = $1"
                ))
                .await?,
        })
    }
}

async fn import(c: &Client, mut from: ImportReader) -> Result<Counts, TransferError> {
    c.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(backend)?;
    c.batch_execute(
        "LOCK TABLE users, sessions, channels, members, messages, reactions, mentions, settings, invites,
                    search_state IN EXCLUSIVE MODE",
    )
    .await
    .map_err(backend)?;
    let held = occupied(&c.query_one(EMPTINESS, &[]).await.map_err(backend)?)?;
    if !held.is_empty() {
        return Err(TransferError::NotEmpty(held));
    }
    let inserts = Inserts::prepare(c).await.map_err(backend)?;
    let mut chunk: Vec<Numbered> = Vec::with_capacity(PAGE);
    while let Some(numbered) = from.next_record()? {
        if chunk.len() == PAGE || chunk.first().is_some_and(|first| first.file != numbered.file) {
            store_chunk(c, &inserts, &chunk).await?;
            chunk.clear();
        }
        chunk.push(numbered);
    }
    store_chunk(c, &inserts, &chunk).await?;
    summarize_reactions(c).await?;
    c.execute(DERIVE_FIRST_REVS, &[]).await.map_err(backend)?;
    search::fill(c).await.map_err(backend)?;
    c.execute(search::RECORD_TOKENIZER, &[&tokenizer_fingerprint()]).await.map_err(backend)?;
    // New rows take ids after the imported ones.
    c.batch_execute(
        "SELECT setval(pg_get_serial_sequence('users', 'id'), COALESCE((SELECT MAX(id) FROM users), 0) + 1, false),
                setval(pg_get_serial_sequence('channels', 'id'), COALESCE((SELECT MAX(id) FROM channels), 0) + 1, false),
                setval(pg_get_serial_sequence('messages', 'id'), COALESCE((SELECT MAX(id) FROM messages), 0) + 1, false)",
    )
    .await
    .map_err(backend)?;
    Ok(from.manifest().counts)
}

/// Stores a chunk of lines of one file, pipelined; the first refusal (in
/// line order: the statements after it fail only because it aborted the
/// transaction) names its line. Then records whom its messages mention.
async fn store_chunk(c: &Client, inserts: &Inserts, chunk: &[Numbered]) -> Result<(), TransferError> {
    let stored = join_all(chunk.iter().map(|numbered| store(c, inserts, &numbered.record))).await;
    for (numbered, result) in chunk.iter().zip(stored) {
        result.map_err(|reason| numbered.refuse(reason))?;
    }
    let mentioning: Vec<(&Numbered, &MessageLine)> = chunk
        .iter()
        .filter_map(|numbered| match &numbered.record {
            Record::Message(message) if mentions_someone(message) => Some((numbered, message)),
            _ => None,
        })
        .collect();
    let read_back = join_all(
        mentioning
            .iter()
            .map(|(_, message)| async move { c.query_one(&inserts.read_back, &[&message.id]).await }),
    )
    .await;
    let mut messages = Vec::with_capacity(mentioning.len());
    for ((numbered, _), row) in mentioning.iter().zip(read_back) {
        let message = row.map_err(backend).and_then(|row| rows::message(&row));
        messages.push(message.map_err(|error| numbered.refuse(refused(error)))?);
    }
    let recorded = join_all(
        messages.iter().zip(&mentioning).map(|(message, (_, line))| mentions::record(c, message, &line.body)),
    )
    .await;
    for ((numbered, _), result) in mentioning.iter().zip(recorded) {
        result.map_err(|error| numbered.refuse(refused(error)))?;
    }
    Ok(())
}

async fn store(c: &Client, inserts: &Inserts, record: &Record) -> Result<(), String> {
    let stored = match record {
        Record::User(user, key) => {
            c.execute(
                &inserts.user,
                &[
                    &user.id,
                    &user.name,
                    key,
                    &user.guest,
                    &user.admin,
                    &user.deactivated,
                    &user.created,
                    &user.display_name,
                    &user.time_zone,
                ],
            )
            .await
        }
        Record::Channel(channel, keys) => {
            let kind = ChannelKind::from(channel.kind).as_str();
            c.execute(
                &inserts.channel,
                &[
                    &channel.id,
                    &keys.name,
                    &keys.name_key,
                    &keys.look_key,
                    &keys.dm_key,
                    &kind,
                    &channel.created_by,
                    &channel.created,
                    &channel.last_seq,
                    &channel.last_rev,
                    &channel.topic,
                    &channel.description,
                    &channel.archived,
                ],
            )
            .await
        }
        Record::Member(member) => {
            let notify = NotifyLevel::from(member.notify).as_str();
            c.execute(
                &inserts.member,
                &[&member.channel, &member.user, &member.joined, &member.read_seq, &notify, &member.added_by],
            )
            .await
        }
        Record::Message(message) => {
            let system_kind = message.system.map(|system| SystemKind::from(system.kind).as_str());
            let system_user = message.system.map(|system| system.user);
            let deleted = Deletion::to_db(message.deleted.map(|by| by.deletion()));
            c.execute(
                &inserts.message,
                &[
                    &message.id,
                    &message.channel,
                    &message.seq,
                    &message.rev,
                    &message.sender,
                    &message.client_id,
                    &message.body,
                    &message.ts,
                    &system_kind,
                    &system_user,
                    &message.edited_at,
                    &deleted,
                    &message.reply_to,
                ],
            )
            .await
        }
        Record::Reaction(reaction) => {
            let stored = c
                .execute(
                    &inserts.reaction,
                    &[&reaction.message, &reaction.emoji, &reaction.user, &reaction.created],
                )
                .await
                .map_err(refused)?;
            return if stored == 1 { Ok(()) } else { Err(no_message_to_react_to(reaction.message)) };
        }
    };
    stored.map(drop).map_err(refused)
}

/// Writes the reaction summary of every message with reactions, as a
/// reaction's job makes it (`reactions::SUMMARY_SQL`), a page of messages
/// at a time.
async fn summarize_reactions(c: &Client) -> Result<(), TransferError> {
    let summary = c.prepare(SUMMARY_SQL).await.map_err(backend)?;
    let update = c.prepare("UPDATE messages SET reactions = $2 WHERE id = $1").await.map_err(backend)?;
    let names = REACTION_NAMES_SHOWN as i64;
    let mut after = 0_i64;
    loop {
        let page = c
            .query(
                "SELECT DISTINCT r.message_id, m.channel_id, m.seq FROM reactions r
                 JOIN messages m ON m.id = r.message_id
                 WHERE r.message_id > $1 ORDER BY r.message_id LIMIT 500",
                &[&after],
            )
            .await
            .map_err(backend)?;
        let Some(last) = page.last() else { return Ok(()) };
        after = last.get(0);
        let summaries = join_all(page.iter().map(|row| {
            let (channel, seq): (i64, i64) = (row.get(1), row.get(2));
            let summary = &summary;
            async move { c.query(summary, &[&channel, &seq, &names]).await }
        }))
        .await;
        let mut columns = Vec::with_capacity(page.len());
        for (row, found) in page.iter().zip(summaries) {
            let reactions = summary_of(&found.map_err(backend)?)?;
            columns.push((row.get::<_, i64>(0), reactions_to_db(&reactions)));
        }
        let updated = join_all(columns.iter().map(|(id, column)| {
            let update = &update;
            async move { c.execute(update, &[id, column]).await }
        }))
        .await;
        for result in updated {
            result.map_err(backend)?;
        }
    }
}
