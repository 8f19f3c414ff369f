//! People's own sessions, passwords and reset links on SQLite
//! (`store::Sessions`). Writes run on the writer, each in its job's
//! savepoint; reads on a reader.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::super::{EndedSessions, SessionRecord, Sessions, StoreResult, rows};
use super::{SqliteStore, backend};
use crate::model::{Profile, User, UserId, UserName};

/// How stale a session's `last_used_at` may get before a new connection
/// writes it again.
const TOUCH_AFTER_MS: i64 = 3_600_000;

fn keys_of(connection: &Connection, user: UserId, keep: Option<[u8; 32]>) -> StoreResult<EndedSessions> {
    let keep = keep.map(|key| key.to_vec()).unwrap_or_default();
    let mut statement = connection
        .prepare("SELECT token_hash FROM sessions WHERE user_id = ?1 AND token_hash <> ?2")
        .map_err(backend)?;
    let keys = statement
        .query_map(params![user.0, keep], |row| row.get::<_, Vec<u8>>(0))
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)?;
    Ok(keys.into_iter().filter_map(|key| key.try_into().ok()).collect())
}

/// Retires every unused reset link of the user (a new password, a
/// deactivation: a link made before must not work after).
pub(super) fn retire_resets(connection: &Connection, user: UserId) -> StoreResult<()> {
    connection
        .execute(
            "UPDATE password_resets SET used_at = ?2 WHERE user_id = ?1 AND used_at IS NULL",
            params![user.0, crate::model::now_millis()],
        )
        .map(drop)
        .map_err(backend)
}

/// Ends every session of the user but `keep`; returns those ended.
fn end_sessions(connection: &Connection, user: UserId, keep: Option<[u8; 32]>) -> StoreResult<EndedSessions> {
    let ended = keys_of(connection, user, keep)?;
    let keep = keep.map(|key| key.to_vec()).unwrap_or_default();
    connection
        .execute("DELETE FROM sessions WHERE user_id = ?1 AND token_hash <> ?2", params![user.0, keep])
        .map_err(backend)?;
    Ok(ended)
}

fn sessions_of(connection: &Connection, user: UserId, now_ms: i64) -> StoreResult<Vec<SessionRecord>> {
    let mut statement = connection
        .prepare(
            "SELECT token_hash, device, address, created_at, coalesce(last_used_at, created_at), expires_at
             FROM sessions WHERE user_id = ?1 AND expires_at > ?2 ORDER BY 5 DESC, 4 DESC",
        )
        .map_err(backend)?;
    let rows = statement
        .query_map(params![user.0, now_ms], |row| {
            let key: Vec<u8> = row.get(0)?;
            Ok((key, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
        })
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)?;
    Ok(rows
        .into_iter()
        .filter_map(|(key, device, address, created_ms, last_used_ms, expires_ms)| {
            Some(SessionRecord {
                key: key.try_into().ok()?,
                device,
                address,
                created_ms,
                last_used_ms,
                expires_ms,
            })
        })
        .collect())
}

fn reset_password(
    connection: &Connection,
    token_hash: [u8; 32],
    password_hash: &str,
    now_ms: i64,
) -> StoreResult<Option<(User, EndedSessions)>> {
    let user = connection
        .query_row(
            "SELECT u.id, u.name, u.guest FROM password_resets r JOIN users u ON u.id = r.user_id
             WHERE r.token_hash = ?1 AND r.used_at IS NULL AND r.expires_at > ?2 AND u.deactivated_at IS NULL
               AND substr(u.name_key, 1, 1) <> '~'",
            params![token_hash.as_slice(), now_ms],
            |row| rows::user(row),
        )
        .optional()
        .map_err(backend)?;
    let Some(user) = user else { return Ok(None) };
    // A guest given a password by a reset becomes a registered account.
    connection
        .execute(
            "UPDATE users SET password_hash = ?2, guest = 0 WHERE id = ?1",
            params![user.id.0, password_hash],
        )
        .and_then(|_| {
            connection.execute(
                "UPDATE password_resets SET used_at = ?2 WHERE user_id = ?1 AND used_at IS NULL",
                params![user.id.0, now_ms],
            )
        })
        .map_err(backend)?;
    let ended = end_sessions(connection, user.id, None)?;
    Ok(Some((User { guest: false, ..user }, ended)))
}

#[async_trait]
impl Sessions for SqliteStore {
    async fn profile(&self, name: &UserName) -> StoreResult<Option<Profile>> {
        let key = name.key();
        self.read(move |c| {
            c.query_row(
                "SELECT name, coalesce(display_name, ''), coalesce(time_zone, ''), admin, guest
                 FROM users WHERE name_key = ?1",
                [key],
                |row| {
                    Ok(Profile {
                        name: row.get(0)?,
                        display_name: row.get(1)?,
                        time_zone: row.get(2)?,
                        admin: row.get(3)?,
                        guest: row.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn set_profile(
        &self,
        user: UserId,
        display_name: Option<String>,
        time_zone: Option<String>,
    ) -> StoreResult<()> {
        self.submit(move |c| {
            c.execute(
                "UPDATE users SET display_name = coalesce(?2, display_name), time_zone = coalesce(?3, time_zone)
                 WHERE id = ?1",
                params![user.0, display_name, time_zone],
            )
            .map(drop)
            .map_err(backend)
        })
        .await
    }

    async fn sessions_of(&self, user: UserId, now_ms: i64) -> StoreResult<Vec<SessionRecord>> {
        self.read(move |c| sessions_of(c, user, now_ms)).await
    }

    async fn touch_session(&self, token_hash: [u8; 32], now_ms: i64) -> StoreResult<()> {
        // One statement: it needs no savepoint (`writer::Undo::Unneeded`).
        self.submit_append(move |c| {
            c.execute(
                "UPDATE sessions SET last_used_at = ?2 WHERE token_hash = ?1 AND coalesce(last_used_at, 0) < ?3",
                params![token_hash.as_slice(), now_ms, now_ms - TOUCH_AFTER_MS],
            )
            .map(drop)
            .map_err(backend)
        })
        .await
    }

    async fn end_session_of(&self, user: UserId, token_hash: [u8; 32]) -> StoreResult<bool> {
        self.submit(move |c| {
            c.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND token_hash = ?2",
                params![user.0, token_hash.as_slice()],
            )
            .map(|deleted| deleted == 1)
            .map_err(backend)
        })
        .await
    }

    async fn set_password(
        &self,
        user: UserId,
        password_hash: &str,
        end: bool,
        keep: Option<[u8; 32]>,
    ) -> StoreResult<EndedSessions> {
        let hash = password_hash.to_owned();
        self.submit(move |c| {
            c.execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![user.0, hash])
                .map_err(backend)?;
            // A new password retires the reset links made for the old one.
            retire_resets(c, user)?;
            if end { end_sessions(c, user, keep) } else { Ok(Vec::new()) }
        })
        .await
    }

    async fn create_password_reset(
        &self,
        user: UserId,
        token_hash: [u8; 32],
        expires_ms: i64,
    ) -> StoreResult<()> {
        self.submit(move |c| {
            c.execute(
                "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![token_hash.as_slice(), user.0, crate::model::now_millis(), expires_ms],
            )
            .map(drop)
            .map_err(backend)
        })
        .await
    }

    async fn reset_password(
        &self,
        token_hash: [u8; 32],
        password_hash: &str,
        now_ms: i64,
    ) -> StoreResult<Option<(User, EndedSessions)>> {
        let hash = password_hash.to_owned();
        self.submit(move |c| reset_password(c, token_hash, &hash, now_ms)).await
    }
}
