//! The store's side of what people do with their own accounts: their
//! profile, their sessions, their password and reset links an admin made. A supertrait of [`super::Store`], so backends keep it in a file of
//! its own.

use async_trait::async_trait;

use super::StoreResult;
use crate::model::{Profile, User, UserId, UserName};

/// Where a session was opened from, as its owner sees it in their list.
#[derive(Debug, Clone, Default)]
pub struct SessionOrigin {
    /// The browser or app (its `User-Agent`, cut short).
    pub device: Option<String>,
    /// The client address it signed in from.
    pub address: Option<String>,
}

/// One of a user's sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The hash of its token (the token itself is never stored).
    pub key: [u8; 32],
    pub device: Option<String>,
    pub address: Option<String>,
    pub created_ms: i64,
    /// When a connection was last opened with it (at most an hour old).
    pub last_used_ms: i64,
    pub expires_ms: i64,
}

/// What a password change or reset ended: the sessions, so their open
/// connections can be closed too.
pub type EndedSessions = Vec<[u8; 32]>;

#[async_trait]
pub trait Sessions {
    /// The profile of the user holding that name (compared by key).
    async fn profile(&self, name: &UserName) -> StoreResult<Option<Profile>>;

    /// Sets the user's display name and time zone (each `None`: left as it
    /// is; empty: cleared).
    async fn set_profile(
        &self,
        user: UserId,
        display_name: Option<String>,
        time_zone: Option<String>,
    ) -> StoreResult<()>;

    /// The user's unexpired sessions, most recently used first.
    async fn sessions_of(&self, user: UserId, now_ms: i64) -> StoreResult<Vec<SessionRecord>>;

    /// Records that a connection was opened with the session now, if the
    /// record is more than an hour old (so a burst of connections writes
    /// once).
    async fn touch_session(&self, token_hash: [u8; 32], now_ms: i64) -> StoreResult<()>;

    /// Ends one of the user's sessions; false when they have none with
    /// that key.
    async fn end_session_of(&self, user: UserId, token_hash: [u8; 32]) -> StoreResult<bool>;

    /// Sets the user's password hash; with `end_sessions`, ends every
    /// session of theirs but `keep` and returns those ended.
    async fn set_password(
        &self,
        user: UserId,
        password_hash: &str,
        end_sessions: bool,
        keep: Option<[u8; 32]>,
    ) -> StoreResult<EndedSessions>;

    /// Stores a password-reset link for the user (its token's hash).
    async fn create_password_reset(
        &self,
        user: UserId,
        token_hash: [u8; 32],
        expires_ms: i64,
    ) -> StoreResult<()>;

    /// Uses a reset link: sets the password of the user it was made for,
    /// retires every reset link of theirs and ends every session. `None`
    /// when the link is unknown, used, expired, or its user deactivated.
    async fn reset_password(
        &self,
        token_hash: [u8; 32],
        password_hash: &str,
        now_ms: i64,
    ) -> StoreResult<Option<(User, EndedSessions)>>;
}
