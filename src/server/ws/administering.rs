//! A native session's administration requests: the accounts page and
//! account changes, answered by the use cases in `app::administering`
//! (which refuse anyone but an active admin).

use super::error_message;
use super::requests::request_error;
use crate::app::{App, RequestError};
use crate::model::{User, UserName};
use crate::protocol::{AccountInfo, ErrorCode, Ref, Role, ServerMessage};
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
