//! The store's side of who may join: workspace settings an admin changes
//! at run time, and invite links (setup links among them). A supertrait of
//! [`super::Store`], so backends keep it in a file of its own.

use async_trait::async_trait;

use super::StoreResult;
use crate::model::{Invite, NewInvite, RegistrationMode, User, UserName};

/// The setting that holds the registration mode (`model::RegistrationMode`).
pub const REGISTRATION_SETTING: &str = "registration";

/// Who may sign up now: what an admin set, else `default` (the
/// `--registration` flag).
pub async fn registration_mode(
    store: &dyn super::Store,
    default: RegistrationMode,
) -> StoreResult<RegistrationMode> {
    let stored = store.setting(REGISTRATION_SETTING).await?;
    Ok(stored.as_deref().and_then(RegistrationMode::parse).unwrap_or(default))
}

#[async_trait]
pub trait Workspace {
    /// A setting an admin stored, if any.
    async fn setting(&self, key: &str) -> StoreResult<Option<String>>;

    /// Stores a setting (replacing its value).
    async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()>;

    /// Whether an active admin exists (none does at first start).
    async fn has_admin(&self) -> StoreResult<bool>;

    /// Ends every setup link: the workspace has an admin. (Making an admin
    /// by `set_admin` does this in its own job too.)
    async fn retire_setup_links(&self) -> StoreResult<()>;

    /// Stores an invite link. `LimitReached` when `MAX_LIVE_INVITES` links
    /// made by admins are usable already (setup links do not count).
    async fn create_invite(&self, invite: NewInvite) -> StoreResult<Invite>;

    /// The invite links admins made, newest first, at most `limit`.
    async fn invites(&self, limit: u32) -> StoreResult<Vec<Invite>>;

    /// Revokes an invite link an admin made; false when there is none with
    /// that id.
    async fn revoke_invite(&self, id: i64) -> StoreResult<bool>;

    /// Creates a registered user with the invite link whose token hashes to
    /// `token_hash`, taking one of its uses in the same transaction. A setup
    /// link makes them an admin and ends every setup link. `InvalidInvite`
    /// when the link is unknown, expired, used up or revoked, when it is a
    /// setup link and an active admin exists, or when `setup_only` and it is
    /// not a setup link; nothing is written then.
    async fn create_user_with_invite(
        &self,
        name: &UserName,
        password_hash: &str,
        token_hash: [u8; 32],
        setup_only: bool,
    ) -> StoreResult<User>;
}
