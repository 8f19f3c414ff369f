//! Settings and invite links on SQLite (`store::Workspace`). Writes run on
//! the writer, each in its job's savepoint; reads on a reader.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::super::rows::{self, INVITE_COLUMNS};
use super::super::{StoreError, StoreResult, Workspace};
use super::{SqliteStore, accounts, backend};
use crate::model::{Invite, MAX_LIVE_INVITES, NewInvite, User, UserName, now_millis};

fn has_admin(connection: &Connection) -> StoreResult<bool> {
    connection
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE admin = 1 AND deactivated_at IS NULL)",
            [],
            |row| row.get(0),
        )
        .map_err(backend)
}

/// Ends every setup link (see `Workspace::retire_setup_links`).
pub(super) fn retire_setup_links(connection: &Connection) -> StoreResult<()> {
    connection
        .execute(
            "UPDATE invites SET revoked_at = ?1 WHERE makes_admin = 1 AND revoked_at IS NULL",
            [now_millis()],
        )
        .map(drop)
        .map_err(backend)
}

fn create_invite(connection: &Connection, new: &NewInvite) -> StoreResult<Invite> {
    let now = now_millis();
    if !new.makes_admin {
        let live: i64 = connection
            .query_row(
                "SELECT COUNT(*) FROM invites WHERE makes_admin = 0 AND revoked_at IS NULL
                   AND uses < max_uses AND (expires_at IS NULL OR expires_at > ?1)",
                [now],
                |row| row.get(0),
            )
            .map_err(backend)?;
        if usize::try_from(live).unwrap_or(usize::MAX) >= MAX_LIVE_INVITES {
            return Err(StoreError::LimitReached);
        }
    }
    connection
        .execute(
            "INSERT INTO invites (token_hash, created_by, created_at, expires_at, max_uses, makes_admin)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                new.token_hash.as_slice(),
                new.created_by.map(|user| user.0),
                now,
                new.expires_ms,
                new.max_uses,
                new.makes_admin
            ],
        )
        .map_err(backend)?;
    let id = connection.last_insert_rowid();
    connection
        .query_row(
            &format!("SELECT {INVITE_COLUMNS} FROM invites i LEFT JOIN users u ON u.id = i.created_by WHERE i.id = ?1"),
            [id],
            |row| rows::invite(row),
        )
        .map_err(backend)
}

fn invites(connection: &Connection, limit: u32) -> StoreResult<Vec<Invite>> {
    let mut statement = connection
        .prepare(&format!(
            "SELECT {INVITE_COLUMNS} FROM invites i LEFT JOIN users u ON u.id = i.created_by
             WHERE i.makes_admin = 0 ORDER BY i.id DESC LIMIT ?1"
        ))
        .map_err(backend)?;
    statement
        .query_map([limit], |row| rows::invite(row))
        .map_err(backend)?
        .collect::<rusqlite::Result<_>>()
        .map_err(backend)
}

fn revoke_invite(connection: &Connection, id: i64) -> StoreResult<bool> {
    connection
        .execute(
            "UPDATE invites SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1 AND makes_admin = 0",
            params![id, now_millis()],
        )
        .map(|updated| updated == 1)
        .map_err(backend)
}

fn create_user_with_invite(
    connection: &Connection,
    name: &UserName,
    password_hash: &str,
    token_hash: [u8; 32],
    setup_only: bool,
) -> StoreResult<User> {
    let found = connection
        .query_row(
            &format!("SELECT {INVITE_COLUMNS} FROM invites i LEFT JOIN users u ON u.id = i.created_by WHERE i.token_hash = ?1"),
            [token_hash.as_slice()],
            |row| rows::invite(row),
        )
        .optional()
        .map_err(backend)?;
    let usable = found.filter(|invite| invite.is_usable(now_millis()) && (invite.makes_admin || !setup_only));
    let Some(invite) = usable else { return Err(StoreError::InvalidInvite) };
    if invite.makes_admin && has_admin(connection)? {
        return Err(StoreError::InvalidInvite);
    }
    let user = accounts::insert_user(connection, name, Some(password_hash))?;
    connection.execute("UPDATE invites SET uses = uses + 1 WHERE id = ?1", [invite.id]).map_err(backend)?;
    if invite.makes_admin {
        connection.execute("UPDATE users SET admin = 1 WHERE id = ?1", [user.id.0]).map_err(backend)?;
        // The workspace has its admin: no other setup link may make one.
        retire_setup_links(connection)?;
    }
    Ok(user)
}

#[async_trait]
impl Workspace for SqliteStore {
    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.read(move |c| {
            c.query_row("SELECT value FROM settings WHERE key = ?1", [&key], |row| row.get(0))
                .optional()
                .map_err(backend)
        })
        .await
    }

    async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.submit(move |c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(drop)
            .map_err(backend)
        })
        .await
    }

    async fn has_admin(&self) -> StoreResult<bool> {
        self.read(has_admin).await
    }

    async fn retire_setup_links(&self) -> StoreResult<()> {
        self.submit(retire_setup_links).await
    }

    async fn create_invite(&self, invite: NewInvite) -> StoreResult<Invite> {
        self.submit(move |c| create_invite(c, &invite)).await
    }

    async fn invites(&self, limit: u32) -> StoreResult<Vec<Invite>> {
        self.read(move |c| invites(c, limit)).await
    }

    async fn revoke_invite(&self, id: i64) -> StoreResult<bool> {
        self.submit(move |c| revoke_invite(c, id)).await
    }

    async fn create_user_with_invite(
        &self,
        name: &UserName,
        password_hash: &str,
        token_hash: [u8; 32],
        setup_only: bool,
    ) -> StoreResult<User> {
        let (name, hash) = (name.clone(), password_hash.to_owned());
        self.submit(move |c| create_user_with_invite(c, &name, &hash, token_hash, setup_only)).await
    }
}
