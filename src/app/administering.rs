//! Workspace administration: what admins may do to accounts (see them
//! all, deactivate and reactivate them, make admins). Each use case first
//! checks that the asker is an active admin, so a member hears the same
//! refusal whether or not the account they named exists.

use super::{App, RequestError};
use crate::auth::issue_password_reset;
use crate::bus::BusEvent;
use crate::model::{User, UserName};
use crate::store::Account;

/// Largest page of accounts an admin may ask for.
pub const MAX_ACCOUNTS_PAGE: u32 = 100;

impl App {
    /// One page of the accounts that hold their names, by name without
    /// case after `after`, each with whether they are online now, and
    /// whether more follow.
    pub async fn accounts(
        &self,
        asker: &User,
        after: Option<&UserName>,
        limit: u32,
    ) -> Result<(Vec<(Account, bool)>, bool), RequestError> {
        self.require_admin(asker).await?;
        let limit = limit.clamp(1, MAX_ACCOUNTS_PAGE);
        let after_key = after.map(UserName::key);
        // One more than asked tells whether another page exists.
        let mut accounts = self.store.accounts(after_key.as_deref(), limit + 1).await?;
        let has_more = accounts.len() > limit as usize;
        accounts.truncate(limit as usize);
        let page = accounts
            .into_iter()
            .map(|account| {
                let online = !account.deactivated && self.hub.is_online(&account.user.name);
                (account, online)
            })
            .collect();
        Ok((page, has_more))
    }

    /// Deactivates an account: its sessions end, and every connection of
    /// theirs closes, on this node at once and on the others as the bus
    /// tells them. Their messages stay. Admins cannot deactivate themselves,
    /// so a workspace never locks out the admin doing it.
    pub async fn deactivate(&self, asker: &User, name: &UserName) -> Result<User, RequestError> {
        self.require_admin(asker).await?;
        if is_self(asker, name) {
            return Err(RequestError::Forbidden("you cannot deactivate your own account"));
        }
        let user = self.store.set_deactivated(name, true).await?.ok_or(RequestError::UnknownUser)?;
        self.hub.end_user(user.id);
        self.bus.publish(BusEvent::Deactivated { user: user.id });
        tracing::info!(user = user.id.0, by = asker.id.0, "account deactivated");
        Ok(user)
    }

    /// Lets a deactivated account log in again.
    pub async fn reactivate(&self, asker: &User, name: &UserName) -> Result<User, RequestError> {
        self.require_admin(asker).await?;
        let user = self.store.set_deactivated(name, false).await?.ok_or(RequestError::UnknownUser)?;
        tracing::info!(user = user.id.0, by = asker.id.0, "account reactivated");
        Ok(user)
    }

    /// Makes an account an admin or a member. Admins cannot change their
    /// own role (the last admin could otherwise demote everyone's way in).
    pub async fn set_role(&self, asker: &User, name: &UserName, admin: bool) -> Result<(), RequestError> {
        self.require_admin(asker).await?;
        if is_self(asker, name) {
            return Err(RequestError::Forbidden("you cannot change your own role"));
        }
        if !self.store.set_admin(name, admin).await? {
            return Err(RequestError::UnknownUser);
        }
        tracing::info!(name = name.as_str(), admin, by = asker.id.0, "role changed");
        Ok(())
    }

    /// Closes the connections opened with these login sessions (which
    /// ended: a logout, a password change or reset), here and on the other
    /// nodes.
    pub fn end_sessions(&self, sessions: Vec<[u8; 32]>) {
        if sessions.is_empty() {
            return;
        }
        for key in &sessions {
            self.hub.end_session(*key);
        }
        self.bus.publish(BusEvent::SessionsEnded { sessions });
    }

    /// Makes a password-reset link for the account (for someone who forgot
    /// theirs, or an imported account that has none): its token, shown to
    /// the admin once, and when it stops working.
    pub async fn reset_link(&self, asker: &User, name: &UserName) -> Result<(String, i64), RequestError> {
        self.require_admin(asker).await?;
        let found = self.store.find_user(name.as_str()).await?.ok_or(RequestError::UnknownUser)?;
        if found.deactivated {
            return Err(RequestError::Forbidden("reactivate the account first"));
        }
        let link = issue_password_reset(self.store.as_ref(), found.user.id).await?;
        tracing::info!(user = found.user.id.0, by = asker.id.0, "password-reset link made");
        Ok(link)
    }

    /// Whether the user is an admin whose account is active.
    pub async fn is_admin(&self, user: &User) -> Result<bool, RequestError> {
        Ok(self.store.is_admin(user.id).await?)
    }

    pub(super) async fn require_admin(&self, asker: &User) -> Result<(), RequestError> {
        if self.is_admin(asker).await? {
            Ok(())
        } else {
            Err(RequestError::Forbidden("only an admin may do this"))
        }
    }
}

/// Whether `name` is the asker's own (names are compared without case).
fn is_self(asker: &User, name: &UserName) -> bool {
    UserName::parse(&asker.name).is_ok_and(|own| own.key() == name.key())
}
