//! Users, guests, login sessions and the user directory on PostgreSQL.
//! Writes run on the writer's connection inside their job's savepoint;
//! reads on the read connection.

use tokio_postgres::Client;

use super::super::rows;
use super::super::{Account, Credentials, SessionOrigin, StoreError, StoreResult};
use super::{backend, is_unique_violation};
use crate::model::{User, UserId, UserName, now_millis};

/// Creates a user (a guest when there is no password hash) and makes them
/// a member of General.
pub(super) async fn insert_user(
    c: &Client,
    name: &UserName,
    password_hash: Option<&str>,
) -> StoreResult<User> {
    let inserted = c
        .query_one(
            "INSERT INTO users (name, name_key, password_hash, guest, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&name.as_str(), &name.key(), &password_hash, &password_hash.is_none(), &now_millis()],
        )
        .await;
    let id = match inserted {
        Ok(row) => UserId(row.get(0)),
        Err(error) if is_unique_violation(&error) => return Err(StoreError::NameTaken),
        Err(error) => return Err(backend(error)),
    };
    c.execute(
        "INSERT INTO members (channel_id, user_id, read_seq, joined_at)
         SELECT id, $1, 0, $2 FROM channels WHERE id = 1
         ON CONFLICT DO NOTHING",
        &[&id.0, &now_millis()],
    )
    .await
    .map_err(backend)?;
    Ok(User { id, name: name.as_str().to_owned(), guest: password_hash.is_none() })
}

pub(super) async fn claim_guest(c: &Client, name: &UserName) -> StoreResult<User> {
    let existing = c
        .query_opt(
            "SELECT id, name, guest, deactivated_at IS NOT NULL FROM users WHERE name_key = $1 FOR UPDATE",
            &[&name.key()],
        )
        .await
        .map_err(backend)?;
    let deactivated = existing.as_ref().is_some_and(|row| row.get::<_, bool>(3));
    match existing.as_ref().map(rows::user).transpose()? {
        // A deactivated guest's name is not passed on: whoever was
        // removed would simply claim it again.
        Some(user) if user.guest && !deactivated => {
            // A guest name passes to whoever claims it next, as the
            // tutorial's names do, but as a new user: the previous holder's
            // row gives up the name key (usernames cannot contain '~') and
            // its sessions, and keeps its id, messages, DMs and client ids,
            // which the newcomer can neither see nor collide with.
            c.execute("DELETE FROM sessions WHERE user_id = $1", &[&user.id.0]).await.map_err(backend)?;
            c.execute("UPDATE users SET name_key = '~' || id::text WHERE id = $1", &[&user.id.0])
                .await
                .map_err(backend)?;
            insert_user(c, name, None).await
        }
        Some(_) => Err(StoreError::NameTaken),
        None => insert_user(c, name, None).await,
    }
}

pub(super) async fn find_user(c: &Client, name: &str) -> StoreResult<Option<Credentials>> {
    let row = c
        .query_opt(
            "SELECT id, name, guest, password_hash, deactivated_at IS NOT NULL FROM users WHERE name_key = $1",
            &[&name.to_ascii_lowercase()],
        )
        .await
        .map_err(backend)?;
    row.map(|row| {
        Ok(Credentials {
            user: rows::user(&row)?,
            password_hash: row.try_get(3).map_err(backend)?,
            deactivated: row.try_get(4).map_err(backend)?,
        })
    })
    .transpose()
}

/// Makes the user of that name an admin or not; false when no user holds
/// the name. By key, so without regard to case, as users are found.
/// Making an admin ends every setup link: they exist only to make the
/// first, and one left behind could make another once this one is gone.
pub(super) async fn set_admin(c: &Client, name: &UserName, admin: bool) -> StoreResult<bool> {
    let updated = c
        .execute("UPDATE users SET admin = $2 WHERE name_key = $1", &[&name.key(), &admin])
        .await
        .map_err(backend)?;
    if admin && updated == 1 {
        super::workspace::retire_setup_links(c).await?;
    }
    Ok(updated == 1)
}

pub(super) async fn create_session(
    c: &Client,
    user: UserId,
    token_hash: [u8; 32],
    expires_at_ms: i64,
    origin: &SessionOrigin,
) -> StoreResult<()> {
    let now = now_millis();
    // Only for an active account, in the same statement: a login that
    // raced a deactivation gets no session (which reactivating would
    // otherwise bring back).
    let inserted = c
        .execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_used_at, device, address)
             SELECT $1::BYTEA, $2::BIGINT, $3::BIGINT, $4::BIGINT, $3::BIGINT, $5::TEXT, $6::TEXT
             FROM users WHERE id = $2 AND deactivated_at IS NULL",
            &[&token_hash.as_slice(), &user.0, &now, &expires_at_ms, &origin.device, &origin.address],
        )
        .await
        .map_err(backend)?;
    if inserted == 0 {
        return Err(StoreError::Deactivated);
    }
    // At most once a minute: a user's row is locked (until the batch
    // commits) only when it changes, so two nodes' batches rarely meet on it.
    c.execute(
        "UPDATE users SET last_login_at = $2::BIGINT WHERE id = $1 AND coalesce(last_login_at, 0) < $2::BIGINT - 60000",
        &[&user.0, &now],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

pub(super) async fn session_user(c: &Client, token_hash: [u8; 32], now_ms: i64) -> StoreResult<Option<User>> {
    let row = c
        .query_opt(
            "SELECT u.id, u.name, u.guest FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.deactivated_at IS NULL",
            &[&token_hash.as_slice(), &now_ms],
        )
        .await
        .map_err(backend)?;
    row.as_ref().map(rows::user).transpose()
}

pub(super) async fn delete_session(c: &Client, token_hash: [u8; 32]) -> StoreResult<()> {
    c.execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash.as_slice()])
        .await
        .map_err(backend)?;
    Ok(())
}

/// One page of the directory: names whose key lies in `[from, until)` and
/// sorts after `after` (see `Store::list_users`).
pub(super) async fn list_users(
    c: &Client,
    from: &str,
    until: &str,
    after: &str,
    limit: u32,
) -> StoreResult<Vec<User>> {
    // Byte order ("C"), as on SQLite: the key range relies on '~' sorting
    // after every character a name may hold, which a locale's order does not promise.
    let found = c
        .query(
            "SELECT id, name, guest FROM users
             WHERE name_key COLLATE \"C\" >= $1 AND name_key COLLATE \"C\" < $2
               AND name_key COLLATE \"C\" > $3
             ORDER BY name_key COLLATE \"C\" LIMIT $4",
            &[&from, &until, &after, &i64::from(limit)],
        )
        .await
        .map_err(backend)?;
    found.iter().map(rows::user).collect()
}

/// Whether the user is an admin whose account is active.
pub(super) async fn is_admin(c: &Client, user: UserId) -> StoreResult<bool> {
    let row = c
        .query_opt("SELECT admin AND deactivated_at IS NULL FROM users WHERE id = $1", &[&user.0])
        .await
        .map_err(backend)?;
    Ok(row.is_some_and(|row| row.get(0)))
}

/// One page of the accounts that hold their names (see `Store::accounts`),
/// in byte order as on SQLite.
pub(super) async fn accounts(c: &Client, after: &str, limit: u32) -> StoreResult<Vec<Account>> {
    let found = c
        .query(
            &format!(
                "SELECT {} FROM users
                 WHERE name_key COLLATE \"C\" > $1 AND left(name_key, 1) <> '~'
                 ORDER BY name_key COLLATE \"C\" LIMIT $2",
                rows::ACCOUNT_COLUMNS
            ),
            &[&after, &i64::from(limit)],
        )
        .await
        .map_err(backend)?;
    found.iter().map(rows::account).collect()
}

/// Deactivates (ending their sessions) or reactivates the user holding
/// that name; `None` when nobody holds it.
pub(super) async fn set_deactivated(
    c: &Client,
    name: &UserName,
    deactivated: bool,
) -> StoreResult<Option<User>> {
    let holder = c
        .query_opt("SELECT id, name, guest FROM users WHERE name_key = $1 FOR UPDATE", &[&name.key()])
        .await
        .map_err(backend)?;
    let Some(user) = holder.as_ref().map(rows::user).transpose()? else { return Ok(None) };
    let at = deactivated.then(now_millis);
    // Deactivating again keeps the first time.
    c.execute(
        "UPDATE users SET deactivated_at = CASE WHEN $2::BIGINT IS NULL THEN NULL
                                                ELSE coalesce(deactivated_at, $2) END
         WHERE id = $1",
        &[&user.id.0, &at],
    )
    .await
    .map_err(backend)?;
    if deactivated {
        c.execute("DELETE FROM sessions WHERE user_id = $1", &[&user.id.0]).await.map_err(backend)?;
        super::sessions::retire_resets(c, user.id).await?;
    }
    Ok(Some(user))
}

/// The users deactivated at or after `since_ms` (see `Store::deactivated_since`).
pub(super) async fn deactivated_since(c: &Client, since_ms: i64) -> StoreResult<Vec<UserId>> {
    let found =
        c.query("SELECT id FROM users WHERE deactivated_at >= $1", &[&since_ms]).await.map_err(backend)?;
    found.iter().map(|row| row.try_get(0).map(UserId).map_err(backend)).collect()
}
