//! Who may join, for admins: invite links (made, listed, revoked) and the
//! registration mode. Signing up with a link is `auth::Accounts::register`.
//! Like every administration use case, each first checks that the asker
//! is an active admin.

use super::{App, RequestError};
use crate::auth::new_token;
use crate::model::{
    Invite, MAX_INVITE_HOURS, MAX_INVITE_USES, NewInvite, RegistrationMode, User, now_millis,
};
use crate::store::{REGISTRATION_SETTING, StoreError, registration_mode};

/// How long a link stays valid when the admin does not say: a week.
pub const DEFAULT_INVITE_HOURS: u32 = 168;

/// How many may sign up with a link when the admin does not say.
pub const DEFAULT_INVITE_USES: u32 = 25;

/// How many of the newest links `invites` lists.
pub const INVITES_LISTED: u32 = 100;

impl App {
    /// Makes an invite link valid for `hours` and `uses` sign-ups; returns
    /// it and its token, which is shown to the admin now and never again
    /// (only its hash is stored).
    pub async fn create_invite(
        &self,
        asker: &User,
        hours: u32,
        uses: u32,
    ) -> Result<(Invite, String), RequestError> {
        self.require_admin(asker).await?;
        if !(1..=MAX_INVITE_HOURS).contains(&hours) {
            return Err(RequestError::BadRequest("expires_in_hours must be 1 to 720 (30 days)"));
        }
        if !(1..=MAX_INVITE_USES).contains(&uses) {
            return Err(RequestError::BadRequest("max_uses must be 1 to 1000"));
        }
        let (token, hash) = new_token();
        let new = NewInvite {
            token_hash: hash,
            created_by: Some(asker.id),
            expires_ms: Some(now_millis().saturating_add(i64::from(hours) * 3_600_000)),
            max_uses: uses,
            makes_admin: false,
        };
        match self.store.create_invite(new).await {
            Ok(invite) => {
                tracing::info!(invite = invite.id, by = asker.id.0, hours, uses, "invite link made");
                Ok((invite, token))
            }
            Err(StoreError::LimitReached) => {
                Err(RequestError::LimitReached("100 invite links are usable already: revoke some first"))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The newest invite links and the registration mode in force.
    pub async fn invites(&self, asker: &User) -> Result<(Vec<Invite>, RegistrationMode), RequestError> {
        self.require_admin(asker).await?;
        let invites = self.store.invites(INVITES_LISTED).await?;
        Ok((invites, registration_mode(self.store.as_ref(), self.registration).await?))
    }

    /// Revokes an invite link: nobody may sign up with it any more.
    pub async fn revoke_invite(&self, asker: &User, id: i64) -> Result<(), RequestError> {
        self.require_admin(asker).await?;
        if !self.store.revoke_invite(id).await? {
            return Err(RequestError::NoSuchInvite);
        }
        tracing::info!(invite = id, by = asker.id.0, "invite link revoked");
        Ok(())
    }

    /// Sets who may sign up, for every node (it is read at each sign-up).
    pub async fn set_registration(&self, asker: &User, mode: RegistrationMode) -> Result<(), RequestError> {
        self.require_admin(asker).await?;
        self.store.set_setting(REGISTRATION_SETTING, mode.as_str()).await?;
        tracing::info!(mode = mode.as_str(), by = asker.id.0, "registration set");
        Ok(())
    }
}
