//! Who may join the workspace: the registration mode and invite links.

/// Who may create an account with a password (guests are governed by
/// `--allow-guests` alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegistrationMode {
    /// Anyone who reaches the server may sign up.
    #[default]
    Open,
    /// Signing up needs an invite link an admin made.
    Invite,
    /// Only admins make accounts (`natter user add`); invite links do not
    /// work, setup links still do.
    Closed,
}

impl RegistrationMode {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "open" => Some(Self::Open),
            "invite" => Some(Self::Invite),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Invite => "invite",
            Self::Closed => "closed",
        }
    }
}

/// Most uses an invite link may have.
pub const MAX_INVITE_USES: u32 = 1000;

/// Longest an invite link may stay valid: 30 days, in hours.
pub const MAX_INVITE_HOURS: u32 = 720;

/// Most invite links that may be usable at once (not expired, used up or
/// revoked), so an admin's slip cannot fill the table.
pub const MAX_LIVE_INVITES: usize = 100;

/// An invite link as stored: what it allows and how much of it is left.
/// The token itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub id: i64,
    /// Who made it; `None` for a setup link (made at first start).
    pub created_by: Option<String>,
    pub created_ms: i64,
    /// `None`: valid until used (setup links).
    pub expires_ms: Option<i64>,
    pub max_uses: u32,
    pub uses: u32,
    pub revoked: bool,
    /// A setup link: whoever signs up with it becomes the first admin.
    pub makes_admin: bool,
}

impl Invite {
    /// Whether someone may still sign up with it at `now_ms`.
    pub fn is_usable(&self, now_ms: i64) -> bool {
        !self.revoked && self.uses < self.max_uses && self.expires_ms.is_none_or(|at| now_ms < at)
    }
}

/// What an invite link is made with.
#[derive(Debug, Clone)]
pub struct NewInvite {
    pub token_hash: [u8; 32],
    pub created_by: Option<super::UserId>,
    pub expires_ms: Option<i64>,
    pub max_uses: u32,
    pub makes_admin: bool,
}
