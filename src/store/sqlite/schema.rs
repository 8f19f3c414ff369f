//! The SQLite database's settings and schema: the pragmas every write
//! connection needs, and the migrations that bring a file made by any
//! earlier release up to date. Run once, by `SqliteStore::open`, before the
//! writer starts.

use rusqlite::config::DbConfig;
use rusqlite::{Connection, params};

use super::super::revs::DERIVE_FIRST_REVS;
use super::super::{StoreError, StoreResult};
use super::{backend, is_unique_violation};
use crate::model::{GENERAL, look_key, name_key};

pub(super) fn configure(connection: &Connection, on_disk: bool) -> StoreResult<()> {
    if on_disk {
        // WAL lets readers proceed during a commit and makes each commit one
        // append + fsync; FULL syncs the WAL at every commit, so an answered
        // write survives power loss, not only a crash of natter.
        let mode: String =
            connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!("cannot enable WAL (journal_mode={mode})")));
        }
        // The checkpoint thread (`checkpointer`) keeps the WAL small; the
        // writer checkpoints itself only past 10,000 pages (about 40 MB),
        // should that thread fall behind.
        connection.execute_batch("PRAGMA wal_autocheckpoint = 10000").map_err(backend)?;
    }
    connection
        .execute_batch(
            "PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             -- A deleted message's text is overwritten with zeros, not left
             -- in the file's free space.
             PRAGMA secure_delete = ON;
             PRAGMA busy_timeout = 5000;",
        )
        .map_err(backend)?;
    keep_plans_stable(connection)
}

/// Makes the connection's query plans independent of bound values (SQLite's
/// query planner stability guarantee). Without it, a cached statement whose
/// `LIMIT ?` (or, with STAT4, range bound) the planner looked at is marked
/// expired at every rebind and prepared anew at its next step: about 57,000
/// instructions each time for the search index's page query, once per index
/// job. Every statement here is a lookup by key or a range on an index,
/// whose plan no bound value changes.
pub(super) fn keep_plans_stable(connection: &Connection) -> StoreResult<()> {
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(backend)?;
    Ok(())
}

/// Schema versions, applied in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE users (
        id            INTEGER PRIMARY KEY,
        name          TEXT NOT NULL,
        name_key      TEXT NOT NULL UNIQUE,
        password_hash TEXT,
        guest         INTEGER NOT NULL DEFAULT 0,
        created_at    INTEGER NOT NULL
    );
    CREATE TABLE sessions (
        token_hash BLOB PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX sessions_by_user ON sessions(user_id);
    CREATE TABLE channels (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        -- Lower-cased name; NULL for DMs. Unique among public channels only
        -- (index below): a private channel's name must not be discoverable
        -- by someone trying to create a channel of that name.
        name_key   TEXT,
        -- 'min_user_id:max_user_id' for DMs; NULL otherwise.
        dm_key     TEXT UNIQUE,
        kind       TEXT NOT NULL CHECK (kind IN ('public', 'private', 'dm')),
        created_by INTEGER REFERENCES users(id),
        created_at INTEGER NOT NULL,
        last_seq   INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE members (
        channel_id INTEGER NOT NULL REFERENCES channels(id),
        user_id    INTEGER NOT NULL REFERENCES users(id),
        read_seq   INTEGER NOT NULL DEFAULT 0,
        joined_at  INTEGER NOT NULL,
        PRIMARY KEY (channel_id, user_id)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX public_channel_names ON channels(name_key) WHERE kind = 'public';
    CREATE INDEX channel_names ON channels(name_key);
    CREATE INDEX members_by_user ON members(user_id);
    CREATE TABLE messages (
        id         INTEGER PRIMARY KEY,
        channel_id INTEGER NOT NULL REFERENCES channels(id),
        seq        INTEGER NOT NULL,
        sender_id  INTEGER NOT NULL REFERENCES users(id),
        client_id  TEXT NOT NULL,
        body       TEXT NOT NULL,
        ts         INTEGER NOT NULL,
        UNIQUE (channel_id, seq),
        UNIQUE (sender_id, client_id)
    );
    INSERT INTO channels (id, name, name_key, kind, created_at)
        VALUES (1, 'General', 'general', 'public', 0);
"#,
    r#"
    -- Who put a member into a channel (NULL when they joined themselves),
    -- so the invitee can be told who added them.
    ALTER TABLE members ADD COLUMN added_by INTEGER REFERENCES users(id);
    -- The second name key (see `ChannelName::look_key`): two names clash
    -- when either key matches.
    ALTER TABLE channels ADD COLUMN look_key TEXT;
    CREATE UNIQUE INDEX public_channel_looks ON channels(look_key) WHERE kind = 'public';
    CREATE INDEX channel_looks ON channels(look_key);
    -- Public channel pages are read in name order.
    CREATE INDEX channels_by_name ON channels(kind, name, id);
    -- System lines (joined, left, added) live in the message stream; these
    -- say which kind and whom it is about. NULL for chat messages.
    ALTER TABLE messages ADD COLUMN system_kind TEXT;
    ALTER TABLE messages ADD COLUMN system_user INTEGER REFERENCES users(id);
"#,
    r#"
    -- Revisions: every change to a channel's messages (a new message, an
    -- edit, a deletion) takes the channel's next rev; a message carries the
    -- rev of its latest change. Until now the only changes were new
    -- messages, so every rev so far is the message's seq.
    ALTER TABLE channels ADD COLUMN last_rev INTEGER NOT NULL DEFAULT 0;
    UPDATE channels SET last_rev = last_seq;
    ALTER TABLE messages ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    UPDATE messages SET rev = seq;
    -- Changes are read in rev order (resume, gap fills).
    CREATE UNIQUE INDEX messages_by_rev ON messages(channel_id, rev);
    -- When the body was last edited (NULL: never).
    ALTER TABLE messages ADD COLUMN edited_at INTEGER;
    -- 0 stands, 1 deleted by its sender, 2 by an admin (`model::Deletion`);
    -- a deleted message's body is empty.
    ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    -- Admins may delete anyone's message.
    ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
    -- What a message carries besides its body, and a member's settings.
    -- Who reacted to what with which emoji. `messages.reactions` holds the
    -- summary every read returns (`store::rows`), rewritten with each change.
    -- `created_at` (ms) is strictly increasing per message, so it orders
    -- the reactions of one millisecond too.
    CREATE TABLE reactions (
        message_id INTEGER NOT NULL REFERENCES messages(id),
        emoji      TEXT NOT NULL,
        user_id    INTEGER NOT NULL REFERENCES users(id),
        created_at INTEGER NOT NULL,
        PRIMARY KEY (message_id, emoji, user_id)
    ) WITHOUT ROWID;
    ALTER TABLE messages ADD COLUMN reactions TEXT;
    -- The seq of the message (in the same channel) a message replies to.
    ALTER TABLE messages ADD COLUMN reply_to INTEGER;
    -- Whom a message mentions by name: members of its channel when it was
    -- sent or last edited, never its sender. `messages.mentioned` holds
    -- their names for reads; `mentions_channel` says `@channel`.
    CREATE TABLE mentions (
        user_id    INTEGER NOT NULL REFERENCES users(id),
        message_id INTEGER NOT NULL REFERENCES messages(id),
        PRIMARY KEY (user_id, message_id)
    ) WITHOUT ROWID;
    -- An edit or deletion forgets a message's mentions by message.
    CREATE INDEX mentions_by_message ON mentions(message_id);
    ALTER TABLE messages ADD COLUMN mentioned TEXT;
    ALTER TABLE messages ADD COLUMN mentions_channel INTEGER NOT NULL DEFAULT 0;
    -- When a member wants to hear of the channel: 'all', 'mentions', 'none'.
    ALTER TABLE members ADD COLUMN notify TEXT NOT NULL DEFAULT 'all';
"#,
    // Search: the index (`sqlite/search.rs`), filled when a server opens the store.
    super::search::CREATE_INDEX,
    r#"
    -- Administration: when an admin deactivated the account (NULL: it is
    -- active; its messages stay either way), and when it last logged in.
    ALTER TABLE users ADD COLUMN deactivated_at INTEGER;
    ALTER TABLE users ADD COLUMN last_login_at INTEGER;
    -- Every node looks for recent deactivations each second.
    CREATE INDEX users_deactivated ON users(deactivated_at) WHERE deactivated_at IS NOT NULL;
    -- What a session's owner sees of it in their list (`store::Sessions`).
    ALTER TABLE sessions ADD COLUMN device TEXT;
    ALTER TABLE sessions ADD COLUMN address TEXT;
    ALTER TABLE sessions ADD COLUMN last_used_at INTEGER;
    UPDATE sessions SET last_used_at = created_at;
    -- Password-reset links an admin made: the hash of the token only.
    CREATE TABLE password_resets (
        token_hash BLOB PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES users(id),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at    INTEGER
    );
    -- What a channel says about itself (`model::ChannelAbout`); when it
    -- was archived (NULL: it is not).
    ALTER TABLE channels ADD COLUMN topic TEXT;
    ALTER TABLE channels ADD COLUMN description TEXT;
    ALTER TABLE channels ADD COLUMN archived_at INTEGER;
    -- What people say about themselves (`model::Profile`).
    ALTER TABLE users ADD COLUMN display_name TEXT;
    ALTER TABLE users ADD COLUMN time_zone TEXT;
    -- Settings admins change at run time (`store::Workspace`).
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    -- Invite links: the hash of the token, never the token. `created_by`
    -- NULL and `makes_admin` 1: a setup link, made at first start.
    CREATE TABLE invites (
        id          INTEGER PRIMARY KEY,
        token_hash  BLOB NOT NULL UNIQUE,
        created_by  INTEGER REFERENCES users(id),
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER,
        max_uses    INTEGER NOT NULL,
        uses        INTEGER NOT NULL DEFAULT 0,
        revoked_at  INTEGER,
        makes_admin INTEGER NOT NULL DEFAULT 0
    );
"#,
    r#"
    -- Files people share (`store::Files`): the metadata here, the bytes in
    -- the file store (`crate::files`). `message_id` NULL: uploaded but not
    -- attached yet (expired after a while). `deleted_at` set: its bytes
    -- are to be removed from the file store, then the row (`forget_files`).
    CREATE TABLE files (
        id           TEXT PRIMARY KEY,
        uploader     INTEGER NOT NULL REFERENCES users(id),
        channel_id   INTEGER NOT NULL REFERENCES channels(id),
        message_id   INTEGER REFERENCES messages(id),
        name         TEXT NOT NULL,
        size         INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        sha256       TEXT NOT NULL,
        width        INTEGER,
        height       INTEGER,
        thumbnail    INTEGER NOT NULL DEFAULT 0,
        created_at   INTEGER NOT NULL,
        deleted_at   INTEGER
    );
    CREATE INDEX files_by_message ON files(message_id) WHERE message_id IS NOT NULL;
    CREATE INDEX files_unattached ON files(created_at) WHERE message_id IS NULL AND deleted_at IS NULL;
    CREATE INDEX files_deleted ON files(deleted_at) WHERE deleted_at IS NOT NULL;
    -- A quota adds up what one user stored.
    CREATE INDEX files_by_uploader ON files(uploader);
    -- What a message carries (`store::rows`, JSON), rewritten only when it
    -- is deleted.
    ALTER TABLE messages ADD COLUMN files TEXT;
    -- When the user's picture last changed (ms; its ETag); NULL: none.
    ALTER TABLE users ADD COLUMN avatar_at INTEGER;
"#,
    // New messages are indexed in batches past this mark (`sqlite/search.rs`).
    super::search::CREATE_PROGRESS,
    r#"
    -- A message keeps the rev it was sent at once it first changes, and
    -- only changed messages are indexed by rev (`store::revs`): an
    -- append writes no index entry by rev. Filled by `DERIVE_FIRST_REVS`
    -- for the messages changed before; kept by the trigger, whoever
    -- changes a message's rev.
    ALTER TABLE messages ADD COLUMN first_rev INTEGER;
    DROP INDEX messages_by_rev;
    CREATE UNIQUE INDEX messages_changed ON messages(channel_id, rev) WHERE first_rev IS NOT NULL;
    CREATE TRIGGER messages_first_rev AFTER UPDATE OF rev ON messages
    WHEN NEW.first_rev IS NULL AND NEW.rev <> OLD.rev
    BEGIN
        UPDATE messages SET first_rev = OLD.rev WHERE id = OLD.id;
    END;
"#,
];

pub(super) fn migrate(connection: &Connection) -> StoreResult<()> {
    let applied: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(backend)?;
    let applied = usize::try_from(applied).unwrap_or(0);
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        connection.execute_batch(&format!("BEGIN; {migration};")).map_err(backend)?;
        // Steps written in Rust run inside the same transaction, so a
        // migration is applied whole or not at all.
        let step = match index + 1 {
            RENAMED_KEYS_MIGRATION => rekey_channel_names(connection),
            FIRST_REVS_MIGRATION => connection.execute(DERIVE_FIRST_REVS, []).map(drop).map_err(backend),
            _ => Ok(()),
        };
        let finished = step.and_then(|()| {
            let version = format!("PRAGMA user_version = {}; COMMIT;", index + 1);
            connection.execute_batch(&version).map_err(backend)
        });
        if let Err(error) = finished {
            let _ = connection.execute_batch("ROLLBACK");
            return Err(error);
        }
    }
    debug_assert_eq!(GENERAL, "General", "the migration above names General");
    Ok(())
}

/// The migration after which channel name keys are confusable skeletons
/// (`model::name_key`) rather than lower-cased names.
const RENAMED_KEYS_MIGRATION: usize = 2;

/// The migration that adds `messages.first_rev`, after which it is derived
/// for the messages changed before.
const FIRST_REVS_MIGRATION: usize = 9;

/// Recomputes every channel's name key in Rust, which SQL cannot do. Every
/// key is first set aside (so no old key can block a new one), then keys are
/// given out oldest channel first: two public channels that now share a key
/// (one made to look like the other) cannot both hold it, so the younger gets
/// a key no name can produce (a control character and its id) and stays
/// listed but no longer answers to the name.
fn rekey_channel_names(connection: &Connection) -> StoreResult<()> {
    connection
        .execute(
            "UPDATE channels SET name_key = char(1) || id, look_key = char(1) || id WHERE kind <> 'dm'",
            [],
        )
        .map_err(backend)?;
    let channels: Vec<(i64, String)> = connection
        .prepare("SELECT id, name FROM channels WHERE kind <> 'dm' ORDER BY id")
        .and_then(|mut s| s.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?.collect())
        .map_err(backend)?;
    for (id, name) in channels {
        let (key, look) = (name_key(&name), look_key(&name));
        let updated = connection.execute(
            "UPDATE channels SET name_key = ?1, look_key = ?2 WHERE id = ?3",
            params![key, look, id],
        );
        match updated {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => {
                tracing::warn!(
                    channel = id,
                    "a look-alike public channel name no longer answers to its name"
                );
                let (key, look) = (format!("{key}\u{1}{id}"), format!("{look}\u{1}{id}"));
                connection
                    .execute(
                        "UPDATE channels SET name_key = ?1, look_key = ?2 WHERE id = ?3",
                        params![key, look, id],
                    )
                    .map_err(backend)?;
            }
            Err(error) => return Err(backend(error)),
        }
    }
    Ok(())
}
