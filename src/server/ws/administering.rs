//! A native session's administration requests: the accounts page, account
//! changes, invite links and the registration mode, answered by the use
//! cases in `app::administering` and `app::inviting` (which refuse anyone
//! but an active admin).

use super::error_message;
use super::requests::request_error;
use crate::app::{App, DEFAULT_INVITE_HOURS, DEFAULT_INVITE_USES, RequestError};
use crate::model::{Invite, RegistrationMode, User, UserName, now_millis};
use crate::protocol::{AccountInfo, ErrorCode, InviteInfo, Ref, Registration, Role, ServerMessage};
use crate::store::Account;

/// An `accounts` page without a `limit` holds this many accounts.
const DEFAULT_ACCOUNTS_PAGE: u32 = 50;

/// Answers `list_accounts`.
pub(super) async fn list_accounts(
    app: &App,
    asker: &User,
    after: Option<String>,
    limit: Option<u32>,
    reference: Option<Ref>,
) -> ServerMessage {
    let after = match after.as_deref().filter(|after| !after.is_empty()).map(UserName::parse).transpose() {
        Ok(after) => after,
        Err(why) => return error_message(ErrorCode::BadRequest, why, reference),
    };
    match app.accounts(asker, after.as_ref(), limit.unwrap_or(DEFAULT_ACCOUNTS_PAGE)).await {
        Ok((accounts, has_more)) => ServerMessage::Accounts {
            accounts: accounts.into_iter().map(|(account, online)| account_info(account, online)).collect(),
            has_more,
            reference,
        },
        Err(error) => request_error(&error, reference),
    }
}

/// Answers `update_account`: the activity first, then the role, each only
/// when asked for.
pub(super) async fn update_account(
    app: &App,
    asker: &User,
    user: String,
    active: Option<bool>,
    role: Option<Role>,
    reference: Option<Ref>,
) -> ServerMessage {
    let name = match UserName::parse(&user) {
        Ok(name) => name,
        Err(why) => return error_message(ErrorCode::BadRequest, why, reference),
    };
    if active.is_none() && role.is_none() {
        return error_message(ErrorCode::BadRequest, "say `active`, `role` or both", reference);
    }
    let updated = async {
        match active {
            Some(false) => drop(app.deactivate(asker, &name).await?),
            Some(true) => drop(app.reactivate(asker, &name).await?),
            None => {}
        }
        if let Some(role) = role {
            app.set_role(asker, &name, role == Role::Admin).await?;
        }
        Ok::<_, RequestError>(())
    };
    match updated.await {
        Ok(()) => ServerMessage::AccountUpdated { user: name.as_str().to_owned(), reference },
        Err(error) => request_error(&error, reference),
    }
}

/// Answers `create_reset_link`.
pub(super) async fn reset_link(
    app: &App,
    asker: &User,
    user: String,
    reference: Option<Ref>,
) -> ServerMessage {
    let name = match UserName::parse(&user) {
        Ok(name) => name,
        Err(why) => return error_message(ErrorCode::BadRequest, why, reference),
    };
    match app.reset_link(asker, &name).await {
        Ok((token, expires)) => {
            ServerMessage::ResetLink { user: name.as_str().to_owned(), token, expires, reference }
        }
        Err(error) => request_error(&error, reference),
    }
}

/// Answers `create_invite`.
pub(super) async fn create_invite(
    app: &App,
    asker: &User,
    hours: Option<u32>,
    uses: Option<u32>,
    reference: Option<Ref>,
) -> ServerMessage {
    let (hours, uses) = (hours.unwrap_or(DEFAULT_INVITE_HOURS), uses.unwrap_or(DEFAULT_INVITE_USES));
    match app.create_invite(asker, hours, uses).await {
        Ok((invite, token)) => {
            ServerMessage::InviteCreated { invite: invite_info(&invite), token, reference }
        }
        Err(error) => request_error(&error, reference),
    }
}

/// Answers `list_invites`.
pub(super) async fn list_invites(app: &App, asker: &User, reference: Option<Ref>) -> ServerMessage {
    match app.invites(asker).await {
        Ok((invites, mode)) => ServerMessage::Invites {
            invites: invites.iter().map(invite_info).collect(),
            registration: registration_info(mode),
            reference,
        },
        Err(error) => request_error(&error, reference),
    }
}

/// Answers `revoke_invite`.
pub(super) async fn revoke_invite(app: &App, asker: &User, id: i64, reference: Option<Ref>) -> ServerMessage {
    match app.revoke_invite(asker, id).await {
        Ok(()) => ServerMessage::InviteRevoked { id, reference },
        Err(error) => request_error(&error, reference),
    }
}

/// Answers `set_registration`.
pub(super) async fn set_registration(
    app: &App,
    asker: &User,
    mode: Registration,
    reference: Option<Ref>,
) -> ServerMessage {
    let mode = match mode {
        Registration::Open => RegistrationMode::Open,
        Registration::Invite => RegistrationMode::Invite,
        Registration::Closed => RegistrationMode::Closed,
    };
    match app.set_registration(asker, mode).await {
        Ok(()) => ServerMessage::Registration { mode: registration_info(mode), reference },
        Err(error) => request_error(&error, reference),
    }
}

fn registration_info(mode: RegistrationMode) -> Registration {
    match mode {
        RegistrationMode::Open => Registration::Open,
        RegistrationMode::Invite => Registration::Invite,
        RegistrationMode::Closed => Registration::Closed,
    }
}

fn invite_info(invite: &Invite) -> InviteInfo {
    InviteInfo {
        id: invite.id,
        created_by: invite.created_by.clone(),
        created: invite.created_ms,
        expires: invite.expires_ms,
        max_uses: invite.max_uses,
        uses: invite.uses,
        revoked: invite.revoked,
        usable: invite.is_usable(now_millis()),
    }
}

fn account_info(account: Account, online: bool) -> AccountInfo {
    AccountInfo {
        name: account.user.name,
        role: if account.admin { Role::Admin } else { Role::Member },
        guest: account.user.guest,
        active: !account.deactivated,
        online,
        created: account.created_ms,
        last_login: account.last_login_ms,
    }
}
