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
    /// `invalid_invite`, `unauthorized`, `rate_limited`, `unavailable`;
    /// for files `no_such_channel`, `no_such_file`, `file_too_large`,
    /// `quota_exceeded`, `not_an_image`, `archived`, `upload_interrupted`, `busy`, `files_unavailable`;
    /// and on `/ws` upgrades `forbidden_origin`, `too_many_connections`,
    /// `server_full`.
    pub code: String,
    pub message: String,
}

/// `POST /api/password`: the signed-in user's new password.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current: String,
    pub password: String,
    /// End every other session of the account (default: yes).
    #[serde(default = "yes")]
    pub end_other_sessions: bool,
}

fn yes() -> bool {
    true
}

/// `POST /api/reset`: a password set with a reset link's token.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    pub token: String,
    pub password: String,
}

/// Answer to `GET /api/sessions`: the signed-in user's sessions, most
/// recently used first.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SessionsResponse {
    pub sessions: Vec<SessionInfo>,
}

/// One of your sessions.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SessionInfo {
    /// Names it for `POST /api/sessions/end` (not its token).
    pub id: String,
    /// The browser or app that signed in (its `User-Agent`, cut short).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The address it signed in from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Times in ms since the epoch; `last_used` is when a connection was
    /// last opened with it, to within an hour.
    pub created: i64,
    pub last_used: i64,
    pub expires: i64,
    /// The session of this request.
    pub current: bool,
}

/// `POST /api/sessions/end`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndSession {
    pub id: String,
}

/// Answer to `POST /api/files`: the stored upload, to attach in `send`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct UploadResponse {
    pub file: super::AttachmentInfo,
}

/// Answer to `POST` and `DELETE /api/avatar`: whether the user now has a
/// picture (`GET /api/avatars/NAME`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AvatarResponse {
    pub avatar: bool,
}
