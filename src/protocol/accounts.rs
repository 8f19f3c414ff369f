//! The wire types of administration: accounts as admins see them.

use serde::{Deserialize, Serialize};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May also administer the workspace and delete anyone's message.
    Admin,
    Member,
}

/// One account in an `accounts` page.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct AccountInfo {
    pub name: String,
    pub role: Role,
    pub guest: bool,
    /// False once an admin deactivated it.
    pub active: bool,
    /// Online anywhere in the cluster now.
    pub online: bool,
    /// When the account was made (ms since the epoch).
    pub created: i64,
    /// When it last logged in (ms since the epoch); absent if never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login: Option<i64>,
}

/// Who may sign up with a password (`set_registration`, `invites`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Registration {
    /// Anyone who reaches the server.
    Open,
    /// With an invite link an admin made.
    Invite,
    /// Only accounts admins make.
    Closed,
}

/// An invite link, without its token (shown once, when it is made).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct InviteInfo {
    pub id: i64,
    /// The admin who made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// When it was made (ms since the epoch).
    pub created: i64,
    /// When it stops working (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
    pub max_uses: u32,
    pub uses: u32,
    pub revoked: bool,
    /// Whether someone may sign up with it now.
    pub usable: bool,
}
