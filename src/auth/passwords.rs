//! What people do with their own sign-ins: change their password, see and
//! end their sessions, and set a password with a reset link an admin made.
//! The callers close the connections of the sessions these end
//! (`App::end_sessions`).

use super::{Accounts, AuthError, Origin, Session, new_token, token_hash};
use crate::model::{User, UserId, UserName, check_password, now_millis};
use crate::store::{EndedSessions, SessionRecord, Store, StoreResult};

/// How long a password-reset link works: three days.
pub const RESET_LINK_HOURS: i64 = 72;

/// How often one node records a session's use.
pub const TOUCH_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Most sessions [`Touched`] remembers; when full it starts over, so it
/// holds at most a few megabytes.
const TOUCHED_MAX: usize = 100_000;

/// The sessions this node recorded as used (or made) lately.
#[derive(Default)]
pub(super) struct Touched(std::collections::HashMap<[u8; 32], std::time::Instant>);

impl Touched {
    /// Whether `key` was not touched within [`TOUCH_EVERY`]; marks it touched now.
    pub(super) fn first_in_a_while(&mut self, key: [u8; 32]) -> bool {
        let now = std::time::Instant::now();
        if self.0.get(&key).is_some_and(|at| now.duration_since(*at) < TOUCH_EVERY) {
            return false;
        }
        if self.0.len() >= TOUCHED_MAX {
            self.0.clear();
        }
        self.0.insert(key, now);
        true
    }
}

/// Hex characters of a session's key that name it to its owner.
const SESSION_ID_CHARS: usize = 32;

/// Makes a password-reset link for the user: its token (shown once; the
/// store keeps the hash) and when it stops working. For admins (the
/// `create_reset_link` request, `natter user reset-password`).
pub async fn issue_password_reset(store: &dyn Store, user: UserId) -> StoreResult<(String, i64)> {
    let (token, hash) = new_token();
    let expires = now_millis().saturating_add(RESET_LINK_HOURS * 3_600_000);
    store.create_password_reset(user, hash, expires).await?;
    Ok((token, expires))
}

/// What a session is called in its owner's list: the start of its key's
/// hash in hex (never the token).
pub fn session_id(key: &[u8; 32]) -> String {
    key.iter().map(|byte| format!("{byte:02x}")).collect::<String>()[..SESSION_ID_CHARS].to_owned()
}

impl Accounts {
    /// Changes a signed-in user's password once their current one checks
    /// out (wrong guesses count as failed logins of the name from that
    /// address). With `end_others`, every other session of theirs ends;
    /// the one used stays. Returns the sessions ended.
    pub async fn change_password(
        &self,
        origin: &Origin,
        user: &User,
        session: [u8; 32],
        current: &str,
        new: &str,
        end_others: bool,
    ) -> Result<EndedSessions, AuthError> {
        check_password(new).map_err(AuthError::InvalidPassword)?;
        // Not even hashed when it could not be anyone's password.
        if check_password(current).is_err() {
            return Err(AuthError::InvalidCredentials);
        }
        let key = UserName::parse(&user.name).map_err(AuthError::InvalidUsername)?.key();
        let client = origin.address;
        if self.is_locked_shared(&key, client).await || !self.throttle().begin_attempt(&key, client) {
            return Err(AuthError::RateLimited);
        }
        let stored = self.store.find_user(&user.name).await?.and_then(|found| found.password_hash);
        let verified = match stored {
            Some(hash) => self.verify(current.to_owned(), hash).await?,
            // A guest has no password to change.
            None => false,
        };
        if !verified {
            self.login_failed_in_cluster(&key, client).await;
            return Err(AuthError::InvalidCredentials);
        }
        self.throttle().succeeded(&key, client);
        let hash = self.hash(new.to_owned()).await?;
        let ended = self.store.set_password(user.id, &hash, end_others, Some(session)).await?;
        tracing::info!(user = user.id.0, ended = ended.len(), "password changed");
        Ok(ended)
    }

    /// Sets a password with a reset link and signs in: every earlier
    /// session ends (returned, with the new one). Attempts draw on the
    /// address's account-creation budget, as each costs a password hash.
    pub async fn reset_password(
        &self,
        origin: &Origin,
        token: &str,
        new: &str,
    ) -> Result<(Session, EndedSessions), AuthError> {
        let client = origin.address;
        if !self.throttle().allow_creation_from(client) || !self.shared_creation_from(client).await {
            return Err(AuthError::RateLimited);
        }
        check_password(new).map_err(AuthError::InvalidPassword)?;
        let hash = self.hash(new.to_owned()).await?;
        let Some((user, ended)) = self.store.reset_password(token_hash(token), &hash, now_millis()).await?
        else {
            return Err(AuthError::InvalidReset);
        };
        tracing::info!(user = user.id.0, ended = ended.len(), "password set with a reset link");
        Ok((self.open_session(user, Some(origin)).await?, ended))
    }

    /// The user's sessions, most recently used first.
    pub async fn sessions(&self, user: &User) -> Result<Vec<SessionRecord>, AuthError> {
        Ok(self.store.sessions_of(user.id, now_millis()).await?)
    }

    /// Ends the user's session of that id ([`session_id`]); its key, or
    /// `None` when they have none by that id.
    pub async fn end_session(&self, user: &User, id: &str) -> Result<Option<[u8; 32]>, AuthError> {
        let sessions = self.store.sessions_of(user.id, now_millis()).await?;
        let Some(found) = sessions.into_iter().find(|session| session_id(&session.key) == id) else {
            return Ok(None);
        };
        Ok(self.store.end_session_of(user.id, found.key).await?.then_some(found.key))
    }

    /// Records that a connection was opened with the session, without
    /// holding up the connection: at most one write per session per
    /// [`TOUCH_EVERY`] from this node (a reconnect storm writes nothing for
    /// sessions seen lately, or made here lately), and the store's write
    /// itself changes the row only once it is that old.
    pub fn session_used(&self, key: [u8; 32]) {
        if !self.touched.lock().expect("touch lock is never poisoned").first_in_a_while(key) {
            return;
        }
        let store = std::sync::Arc::clone(&self.store);
        tokio::spawn(async move {
            if let Err(error) = store.touch_session(key, now_millis()).await {
                tracing::debug!(%error, "could not record a session's use");
            }
        });
    }
}
