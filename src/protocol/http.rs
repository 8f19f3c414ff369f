use serde::{Deserialize, Serialize};

use super::UserInfo;

/// `POST /api/login`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// `POST /api/register`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    pub username: String,
    pub password: String,
    /// The token of an invite link (or the setup link): needed where the
    /// workspace's registration is `invite` (a setup link also where it
    /// is `closed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
}

/// `POST /api/guest`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GuestRequest {
    pub username: String,
}

/// Answer to register, login and guest.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SessionResponse {
    pub token: String,
    pub user: UserInfo,
}

/// Answer to `GET /api/me`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MeResponse {
    pub user: UserInfo,
    /// Whether the user may administer the workspace (`list_accounts`,
    /// `update_account`), so a client knows to offer it.
    #[serde(default)]
    pub admin: bool,
}

/// Every HTTP error: `{"error":{"code":"...","message":"..."}}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ErrorDetail {
    /// Stable: `bad_request`, `unsupported_media_type`, `invalid_username`,
    /// `invalid_password`, `name_taken`, `name_in_use`, `invalid_credentials`,
    /// `guests_disabled`, `deactivated`, `registration_closed`,
    /// `invalid_invite`, `unauthorized`, `rate_limited`, `unavailable`,
    /// and on `/ws` upgrades `forbidden_origin`, `too_many_connections`,
    /// `server_full`.
    pub code: String,
    pub message: String,
}
