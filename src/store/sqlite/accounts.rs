//! Users, guests, login sessions and the user directory on SQLite. Each
//! function is one job's work on a connection: the writer's (inside the
//! job's savepoint) for writes, a reader's for reads.

use rusqlite::{Connection, OptionalExtension, params};

use super::super::rows;
use super::super::{Account, Credentials, SessionOrigin, StoreError, StoreResult};
use super::{backend, is_unique_violation};
use crate::model::{User, UserId, UserName, now_millis};

/// Creates a user (a guest when there is no password hash) and makes them
/// a member of General.
pub(super) fn insert_user(
    connection: &Connection,
    name: &UserName,
    password_hash: Option<&str>,
) -> StoreResult<User> {
    let now = now_millis();
    let inserted = connection.execute(
        "INSERT INTO users (name, name_key, password_hash, guest, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name.as_str(), name.key(), password_hash, password_hash.is_none(), now],
    );
    match inserted {
        Ok(_) => {}
        Err(error) if is_unique_violation(&error) => return Err(StoreError::NameTaken),
        Err(error) => return Err(backend(error)),
    }
    let id = UserId(connection.last_insert_rowid());
    join_general(connection, id)?;
    Ok(User { id, name: name.as_str().to_owned(), guest: password_hash.is_none() })
}

pub(super) fn join_general(connection: &Connection, user: UserId) -> StoreResult<()> {
    connection
        .execute(
            "INSERT OR IGNORE INTO members (channel_id, user_id, read_seq, joined_at)
             SELECT id, ?1, 0, ?2 FROM channels WHERE id = 1",
            params![user.0, now_millis()],
        )
        .map_err(backend)?;
    Ok(())
}

pub(super) fn claim_guest(connection: &Connection, name: &UserName) -> StoreResult<User> {
    let existing = connection
        .query_row(
            "SELECT id, name, guest, deactivated_at IS NOT NULL FROM users WHERE name_key = ?1",
            [name.key()],
            |row| Ok((rows::user(row)?, row.get::<_, bool>(3)?)),
        )
        .optional()
        .map_err(backend)?;
    match existing {
        // A deactivated guest's name stays theirs: passing it on would
        // let them back in under it.
        Some((holder, false)) if holder.guest => {
            // A guest name passes to whoever claims it next, as the
            // tutorial's names do, but as a new user: the previous holder's
            // row gives up the name key (usernames cannot contain '~') and
            // its sessions, and keeps its messages, DMs and idempotency
            // keys, which the newcomer, with a fresh id, can neither see nor
            // collide with.
            connection.execute("DELETE FROM sessions WHERE user_id = ?1", [holder.id.0]).map_err(backend)?;
            connection
                .execute("UPDATE users SET name_key = '~' || id WHERE id = ?1", [holder.id.0])
                .map_err(backend)?;
            insert_user(connection, name, None)
        }
        Some(_) => Err(StoreError::NameTaken),
        None => insert_user(connection, name, None),
    }
}

pub(super) fn find_user(connection: &Connection, key: &str) -> StoreResult<Option<Credentials>> {
    connection
        .query_row(
            "SELECT id, name, guest, password_hash, deactivated_at IS NOT NULL FROM users WHERE name_key = ?1",
            [key],
            |row| Ok(Credentials { user: rows::user(row)?, password_hash: row.get(3)?, deactivated: row.get(4)? }),
        )
        .optional()
        .map_err(backend)
}

pub(super) fn create_session(
    connection: &Connection,
    user: UserId,
    token_hash: [u8; 32],
    expires_at_ms: i64,
    origin: &SessionOrigin,
) -> StoreResult<()> {
    let now = now_millis();
    // Only for an active account, in the same statement: a login that
    // raced a deactivation gets no session (which reactivating would
    // otherwise bring back).
    let inserted = connection
        .execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_used_at, device, address)
             SELECT ?1, ?2, ?3, ?4, ?3, ?5, ?6 FROM users WHERE id = ?2 AND deactivated_at IS NULL",
            params![token_hash.as_slice(), user.0, now, expires_at_ms, origin.device, origin.address],
        )
        .map_err(backend)?;
    if inserted == 0 {
        return Err(StoreError::Deactivated);
    }
    // At most once a minute, so logins hold the user's row rarely.
    connection
        .execute(
            "UPDATE users SET last_login_at = ?2 WHERE id = ?1 AND coalesce(last_login_at, 0) < ?2 - 60000",
            params![user.0, now],
        )
        .map_err(backend)?;
    Ok(())
}

pub(super) fn session_user(
    connection: &Connection,
    token_hash: [u8; 32],
    now_ms: i64,
) -> StoreResult<Option<User>> {
    connection
        .prepare_cached(
            "SELECT u.id, u.name, u.guest FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.deactivated_at IS NULL",
        )
        .and_then(|mut s| {
            s.query_row(params![token_hash.as_slice(), now_ms], |row| rows::user(row)).optional()
        })
        .map_err(backend)
}

pub(super) fn delete_session(connection: &Connection, token_hash: [u8; 32]) -> StoreResult<()> {
    connection
        .execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash.as_slice()])
        .map_err(backend)?;
    Ok(())
}

/// One page of the directory: names whose key lies in `[from, until)` and
/// sorts after `after` (see `Store::list_users`).
pub(super) fn list_users(
    connection: &Connection,
    from: &str,
    until: &str,
    after: &str,
    limit: u32,
) -> StoreResult<Vec<User>> {
    let mut statement = connection
        .prepare_cached(
            "SELECT id, name, guest FROM users
             WHERE name_key >= ?1 AND name_key < ?2 AND name_key > ?3
             ORDER BY name_key LIMIT ?4",
        )
        .map_err(backend)?;
    statement
        .query_map(params![from, until, after, limit], |row| rows::user(row))
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)
}

/// Makes the user of that name (compared by key) an admin or a member.
/// Making an admin ends every setup link: they exist only to make the
/// first, and one left behind could make another once this one is gone.
pub(super) fn set_admin(connection: &Connection, name_key: &str, admin: bool) -> StoreResult<bool> {
    let updated = connection
        .execute("UPDATE users SET admin = ?2 WHERE name_key = ?1", params![name_key, admin])
        .map_err(backend)?;
    if admin && updated > 0 {
        super::workspace::retire_setup_links(connection)?;
    }
    Ok(updated > 0)
}

/// Whether the user is an admin whose account is active.
pub(super) fn is_admin(connection: &Connection, user: UserId) -> StoreResult<bool> {
    connection
        .prepare_cached("SELECT admin AND deactivated_at IS NULL FROM users WHERE id = ?1")
        .and_then(|mut s| s.query_row([user.0], |row| row.get::<_, bool>(0)).optional())
        .map(|admin| admin.unwrap_or(false))
        .map_err(backend)
}

/// One page of the accounts that hold their names (see `Store::accounts`).
pub(super) fn accounts(connection: &Connection, after: &str, limit: u32) -> StoreResult<Vec<Account>> {
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {} FROM users
             WHERE name_key > ?1 AND substr(name_key, 1, 1) <> '~' ORDER BY name_key LIMIT ?2",
            rows::ACCOUNT_COLUMNS
        ))
        .map_err(backend)?;
    statement
        .query_map(params![after, limit], |row| rows::account(row))
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)
}

/// Deactivates (ending their sessions) or reactivates the user holding
/// the name of that key; `None` when nobody holds it.
pub(super) fn set_deactivated(
    connection: &Connection,
    key: &str,
    deactivated: bool,
) -> StoreResult<Option<User>> {
    let holder = connection
        .query_row("SELECT id, name, guest FROM users WHERE name_key = ?1", [key], |row| rows::user(row))
        .optional()
        .map_err(backend)?;
    let Some(user) = holder else { return Ok(None) };
    let at = deactivated.then(now_millis);
    // Deactivating again keeps the first time.
    connection
        .execute(
            "UPDATE users SET deactivated_at = CASE WHEN ?2 IS NULL THEN NULL ELSE coalesce(deactivated_at, ?2) END
             WHERE id = ?1",
            params![user.id.0, at],
        )
        .map_err(backend)?;
    if deactivated {
        connection.execute("DELETE FROM sessions WHERE user_id = ?1", [user.id.0]).map_err(backend)?;
        super::sessions::retire_resets(connection, user.id)?;
    }
    Ok(Some(user))
}

/// The users deactivated at or after `since_ms` (see `Store::deactivated_since`).
pub(super) fn deactivated_since(connection: &Connection, since_ms: i64) -> StoreResult<Vec<UserId>> {
    let mut statement =
        connection.prepare_cached("SELECT id FROM users WHERE deactivated_at >= ?1").map_err(backend)?;
    statement
        .query_map([since_ms], |row| row.get(0).map(UserId))
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)
}
