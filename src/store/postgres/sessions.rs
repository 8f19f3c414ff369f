//! People's own sessions, passwords and reset links on PostgreSQL
//! (`store::Sessions`). Writes run on the writer's connection, each in its
//! job's savepoint; reads on the read connection.

use async_trait::async_trait;
use tokio_postgres::Client;

use super::super::{EndedSessions, SessionRecord, Sessions, StoreResult, rows};
use super::{PostgresStore, backend};
use crate::model::{Profile, User, UserId, UserName};

/// How stale a session's `last_used_at` may get before a new connection
/// writes it again.
const TOUCH_AFTER_MS: i64 = 3_600_000;

/// Retires every unused reset link of the user (a new password, a
/// deactivation: a link made before must not work after).
pub(super) async fn retire_resets(c: &Client, user: UserId) -> StoreResult<()> {
    c.execute(
        "UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",
        &[&user.0, &crate::model::now_millis()],
    )
    .await
    .map(drop)
    .map_err(backend)
}

/// Ends every session of the user but `keep`; returns those ended.
async fn end_sessions(c: &Client, user: UserId, keep: Option<[u8; 32]>) -> StoreResult<EndedSessions> {
    let keep = keep.map(|key| key.to_vec()).unwrap_or_default();
    let rows = c
        .query(
            "DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2 RETURNING token_hash",
            &[&user.0, &keep],
        )
        .await
        .map_err(backend)?;
    Ok(rows.iter().filter_map(|row| row.get::<_, Vec<u8>>(0).try_into().ok()).collect())
}

async fn reset_password(
    c: &Client,
    token_hash: [u8; 32],
    password_hash: &str,
    now_ms: i64,
) -> StoreResult<Option<(User, EndedSessions)>> {
    let found = c
        .query_opt(
            "SELECT u.id, u.name, u.guest FROM password_resets r JOIN users u ON u.id = r.user_id
             WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > $2 AND u.deactivated_at IS NULL
               AND left(u.name_key, 1) <> '~'
             FOR UPDATE OF r",
            &[&token_hash.as_slice(), &now_ms],
        )
        .await
        .map_err(backend)?;
    let Some(user) = found.as_ref().map(rows::user).transpose()? else { return Ok(None) };
    // A guest given a password by a reset becomes a registered account.
    c.execute(
        "UPDATE users SET password_hash = $2, guest = FALSE WHERE id = $1",
        &[&user.id.0, &password_hash],
    )
    .await
    .map_err(backend)?;
    c.execute(
        "UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",
        &[&user.id.0, &now_ms],
    )
    .await
    .map_err(backend)?;
    let ended = end_sessions(c, user.id, None).await?;
    Ok(Some((User { guest: false, ..user }, ended)))
}

#[async_trait]
impl Sessions for PostgresStore {
    async fn profile(&self, name: &UserName) -> StoreResult<Option<Profile>> {
        let row = self
            .read()
            .await?
            .query_opt(
                "SELECT name, coalesce(display_name, ''), coalesce(time_zone, ''), admin, guest
                 FROM users WHERE name_key = $1",
                &[&name.key()],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|row| Profile {
            name: row.get(0),
            display_name: row.get(1),
            time_zone: row.get(2),
            admin: row.get(3),
            guest: row.get(4),
        }))
    }

    async fn set_profile(
        &self,
        user: UserId,
        display_name: Option<String>,
        time_zone: Option<String>,
    ) -> StoreResult<()> {
        self.submit(None, move |c| {
            Box::pin(async move {
                c.execute(
                    "UPDATE users SET display_name = coalesce($2, display_name), time_zone = coalesce($3, time_zone)
                     WHERE id = $1",
                    &[&user.0, &display_name, &time_zone],
                )
                .await
                .map(drop)
                .map_err(backend)
            })
        })
        .await
    }

    async fn sessions_of(&self, user: UserId, now_ms: i64) -> StoreResult<Vec<SessionRecord>> {
        let rows = self
            .read()
            .await?
            .query(
                "SELECT token_hash, device, address, created_at, coalesce(last_used_at, created_at), expires_at
                 FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY 5 DESC, 4 DESC",
                &[&user.0, &now_ms],
            )
            .await
            .map_err(backend)?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                Some(SessionRecord {
                    key: row.get::<_, Vec<u8>>(0).try_into().ok()?,
                    device: row.get(1),
                    address: row.get(2),
                    created_ms: row.get(3),
                    last_used_ms: row.get(4),
                    expires_ms: row.get(5),
                })
            })
            .collect())
    }

    async fn touch_session(&self, token_hash: [u8; 32], now_ms: i64) -> StoreResult<()> {
        self.submit(None, move |c| {
            Box::pin(async move {
                c.execute(
                    "UPDATE sessions SET last_used_at = $2 WHERE token_hash = $1 AND coalesce(last_used_at, 0) < $3",
                    &[&token_hash.as_slice(), &now_ms, &(now_ms - TOUCH_AFTER_MS)],
                )
                .await
                .map(drop)
                .map_err(backend)
            })
        })
        .await
    }

    async fn end_session_of(&self, user: UserId, token_hash: [u8; 32]) -> StoreResult<bool> {
        self.submit(None, move |c| {
            Box::pin(async move {
                c.execute(
                    "DELETE FROM sessions WHERE user_id = $1 AND token_hash = $2",
                    &[&user.0, &token_hash.as_slice()],
                )
                .await
                .map(|deleted| deleted == 1)
                .map_err(backend)
            })
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
        self.submit(None, move |c| {
            Box::pin(async move {
                c.execute("UPDATE users SET password_hash = $2 WHERE id = $1", &[&user.0, &hash])
                    .await
                    .map_err(backend)?;
                // A new password retires the reset links made for the old one.
                retire_resets(&c, user).await?;
                if end { end_sessions(&c, user, keep).await } else { Ok(Vec::new()) }
            })
        })
        .await
    }

    async fn create_password_reset(
        &self,
        user: UserId,
        token_hash: [u8; 32],
        expires_ms: i64,
    ) -> StoreResult<()> {
        self.submit(None, move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                    &[&token_hash.as_slice(), &user.0, &crate::model::now_millis(), &expires_ms],
                )
                .await
                .map(drop)
                .map_err(backend)
            })
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
        self.submit(None, move |c| {
            Box::pin(async move { reset_password(&c, token_hash, &hash, now_ms).await })
        })
        .await
    }
}
