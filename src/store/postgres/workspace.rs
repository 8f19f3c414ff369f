//! Settings and invite links on PostgreSQL (`store::Workspace`). Writes run
//! on the writer's connection, each in its job's savepoint; reads on the
//! read connection.

use async_trait::async_trait;
use tokio_postgres::Client;

use super::super::rows::{self, INVITE_COLUMNS};
use super::super::{StoreError, StoreResult, Workspace};
use super::{PostgresStore, accounts, backend};
use crate::model::{Invite, MAX_LIVE_INVITES, NewInvite, User, UserName, now_millis};

/// A key for `pg_advisory_xact_lock`: setup links are used one at a time
/// across nodes, so two of them cannot both see no admin ("setup" in ASCII).
pub(super) const SETUP_LOCK: i64 = 0x73_6574_7570;

/// Ends every setup link (see `Workspace::retire_setup_links`), under
/// [`SETUP_LOCK`], which every job touching setup links takes first, so no
/// two of them wait on each other's rows.
pub(super) async fn retire_setup_links(c: &Client) -> StoreResult<()> {
    c.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK]).await.map_err(backend)?;
    c.execute(
        "UPDATE invites SET revoked_at = $1 WHERE makes_admin AND revoked_at IS NULL",
        &[&now_millis()],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

async fn has_admin(c: &Client) -> StoreResult<bool> {
    let row = c
        .query_one("SELECT EXISTS (SELECT 1 FROM users WHERE admin AND deactivated_at IS NULL)", &[])
        .await
        .map_err(backend)?;
    Ok(row.get(0))
}

async fn invite_by_id(c: &Client, id: i64) -> StoreResult<Invite> {
    let sql = format!(
        "SELECT {INVITE_COLUMNS} FROM invites i LEFT JOIN users u ON u.id = i.created_by WHERE i.id = $1"
    );
    rows::invite(&c.query_one(&sql, &[&id]).await.map_err(backend)?)
}

async fn create_invite(c: &Client, new: &NewInvite) -> StoreResult<Invite> {
    let now = now_millis();
    if !new.makes_admin {
        // The cap counts across nodes: links are made one at a time.
        c.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK]).await.map_err(backend)?;
        let live: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM invites WHERE NOT makes_admin AND revoked_at IS NULL
                   AND uses < max_uses AND (expires_at IS NULL OR expires_at > $1)",
                &[&now],
            )
            .await
            .map_err(backend)?
            .get(0);
        if usize::try_from(live).unwrap_or(usize::MAX) >= MAX_LIVE_INVITES {
            return Err(StoreError::LimitReached);
        }
    }
    let row = c
        .query_one(
            "INSERT INTO invites (token_hash, created_by, created_at, expires_at, max_uses, makes_admin)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &new.token_hash.as_slice(),
                &new.created_by.map(|user| user.0),
                &now,
                &new.expires_ms,
                &i64::from(new.max_uses),
                &new.makes_admin,
            ],
        )
        .await
        .map_err(backend)?;
    invite_by_id(c, row.get(0)).await
}

async fn create_user_with_invite(
    c: &Client,
    name: &UserName,
    password_hash: &str,
    token_hash: [u8; 32],
    setup_only: bool,
) -> StoreResult<User> {
    // Before any row lock: setup links' jobs take this lock first (see
    // `retire_setup_links`); sign-ups with invites are rare enough to take
    // turns across the cluster.
    c.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK]).await.map_err(backend)?;
    let sql = format!(
        "SELECT {INVITE_COLUMNS} FROM invites i LEFT JOIN users u ON u.id = i.created_by
         WHERE i.token_hash = $1 FOR UPDATE OF i"
    );
    let found = c.query_opt(&sql, &[&token_hash.as_slice()]).await.map_err(backend)?;
    let found = found.as_ref().map(rows::invite).transpose()?;
    let usable = found.filter(|invite| invite.is_usable(now_millis()) && (invite.makes_admin || !setup_only));
    let Some(invite) = usable else { return Err(StoreError::InvalidInvite) };
    if invite.makes_admin && has_admin(c).await? {
        return Err(StoreError::InvalidInvite);
    }
    let user = accounts::insert_user(c, name, Some(password_hash)).await?;
    c.execute("UPDATE invites SET uses = uses + 1 WHERE id = $1", &[&invite.id]).await.map_err(backend)?;
    if invite.makes_admin {
        c.execute("UPDATE users SET admin = TRUE WHERE id = $1", &[&user.id.0]).await.map_err(backend)?;
        // The workspace has its admin: no other setup link may make one.
        retire_setup_links(c).await?;
    }
    Ok(user)
}

#[async_trait]
impl Workspace for PostgresStore {
    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        let row = self.read().await?.query_opt("SELECT value FROM settings WHERE key = $1", &[&key]).await;
        Ok(row.map_err(backend)?.map(|row| row.get(0)))
    }

    async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.submit(None, move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO settings (key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &[&key, &value],
                )
                .await
                .map(drop)
                .map_err(backend)
            })
        })
        .await
    }

    async fn has_admin(&self) -> StoreResult<bool> {
        has_admin(&*self.read().await?).await
    }

    async fn retire_setup_links(&self) -> StoreResult<()> {
        self.submit(None, move |c| Box::pin(async move { retire_setup_links(&c).await })).await
    }

    async fn create_invite(&self, invite: NewInvite) -> StoreResult<Invite> {
        self.submit(None, move |c| Box::pin(async move { create_invite(&c, &invite).await })).await
    }

    async fn invites(&self, limit: u32) -> StoreResult<Vec<Invite>> {
        let sql = format!(
            "SELECT {INVITE_COLUMNS} FROM invites i LEFT JOIN users u ON u.id = i.created_by
             WHERE NOT i.makes_admin ORDER BY i.id DESC LIMIT $1"
        );
        let found = self.read().await?.query(&sql, &[&i64::from(limit)]).await.map_err(backend)?;
        found.iter().map(rows::invite).collect()
    }

    async fn revoke_invite(&self, id: i64) -> StoreResult<bool> {
        self.submit(None, move |c| {
            Box::pin(async move {
                c.execute(
                    "UPDATE invites SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 AND NOT makes_admin",
                    &[&id, &now_millis()],
                )
                .await
                .map(|updated| updated == 1)
                .map_err(backend)
            })
        })
        .await
    }

    async fn create_user_with_invite(
        &self,
        name: &UserName,
        password_hash: &str,
        token_hash: [u8; 32],
        setup_only: bool,
    ) -> StoreResult<User> {
        let (name, hash) = (name.clone(), password_hash.to_owned());
        self.submit(None, move |c| {
            Box::pin(async move { create_user_with_invite(&c, &name, &hash, token_hash, setup_only).await })
        })
        .await
    }
}
