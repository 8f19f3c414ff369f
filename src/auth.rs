//! Accounts and sessions: registration, login, guests, session tokens.
//!
//! Passwords are hashed with argon2id on dedicated threads (`hashing`). Session tokens are
//! 256 random bits handed to the client once; the store keeps only their
//! SHA-256, so a leaked database does not leak live sessions. Login answers the
//! same, in about the same time, for an unknown user and a wrong password.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::bus::{Cluster, SharedTake};
use crate::limits::Limits;
use crate::model::{NewInvite, RegistrationMode, User, UserName, check_password, now_millis};
use crate::store::{SessionOrigin, Store, StoreError, registration_mode};

mod hashing;
mod passwords;
mod throttle;

pub use hashing::HASHING_THREADS;
use hashing::Hasher;
use throttle::Throttle;

pub use passwords::{RESET_LINK_HOURS, issue_password_reset, session_id};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    InvalidUsername(&'static str),
    #[error("{0}")]
    InvalidPassword(&'static str),
    #[error("that username is taken")]
    NameTaken,
    #[error("someone with that name is online now")]
    NameInUse,
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("guest access is disabled on this server")]
    GuestsDisabled,
    /// Told only to someone who gave the account's right password.
    #[error("this account was deactivated by an admin")]
    Deactivated,
    /// Signing up without an invite link where the workspace needs one,
    /// or at all where only admins make accounts.
    #[error("{0}")]
    RegistrationClosed(&'static str),
    /// One message for unknown, used, expired links, and deactivated users.
    #[error("this password-reset link cannot be used: it is unknown, used or expired")]
    InvalidReset,
    /// One message for unknown, expired, used-up and revoked links alike.
    #[error("this invite link cannot be used: it is unknown, expired, used up or revoked")]
    InvalidInvite,
    #[error("too many attempts; try again later")]
    RateLimited,
    #[error("the server could not complete the request")]
    Unavailable,
}

impl From<StoreError> for AuthError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NameTaken => AuthError::NameTaken,
            StoreError::InvalidInvite => AuthError::InvalidInvite,
            StoreError::Deactivated => AuthError::Deactivated,
            other => {
                tracing::error!(error = %other, "account storage failed");
                AuthError::Unavailable
            }
        }
    }
}

/// Where a sign-in comes from: the address its limits count against, and
/// what its owner later sees of the session in their list.
#[derive(Debug, Clone)]
pub struct Origin {
    pub address: IpAddr,
    /// The `User-Agent` header, if any.
    pub device: Option<String>,
}

/// Longest device description kept for a session.
const DEVICE_CHARS: usize = 200;

impl Origin {
    /// What the store keeps: the device cut short and stripped of control
    /// and bidi-control characters (it is shown back to the user as text).
    fn to_store(&self) -> SessionOrigin {
        let shown = |c: &char| !c.is_control() && !crate::model::is_bidi_control(*c);
        let device = self
            .device
            .as_deref()
            .map(|device| device.chars().filter(shown).take(DEVICE_CHARS).collect::<String>());
        SessionOrigin { device: device.filter(|d| !d.is_empty()), address: Some(self.address.to_string()) }
    }
}

/// A freshly issued session: the token goes to the client, once.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub user: User,
}

pub struct Accounts {
    store: Arc<dyn Store>,
    session_ttl: Duration,
    allow_guests: bool,
    /// A real hash of a random password, verified against when the user does
    /// not exist so that both failures cost the same time.
    decoy_hash: String,
    throttle: Mutex<Throttle>,
    /// Who may sign up until an admin sets otherwise (`--registration`).
    registration: RegistrationMode,
    /// Sessions this node recorded as used lately ([`Accounts::session_used`]).
    touched: Mutex<passwords::Touched>,
    /// See [`Accounts::guest_names`].
    guest_names: tokio::sync::Mutex<()>,
    /// Shares the per-address buckets and lockouts with the other nodes.
    cluster: Arc<dyn Cluster>,
    creations_per_minute: f64,
    failed_logins_per_minute: f64,
    /// Password hashing costs 19 MiB and tens of milliseconds each; it runs
    /// on a few dedicated threads that reuse their memory, so a burst of
    /// requests queues instead of growing the process.
    hasher: Hasher,
}

impl Accounts {
    pub async fn new(
        store: Arc<dyn Store>,
        cluster: Arc<dyn Cluster>,
        limits: &Limits,
        allow_guests: bool,
        registration: RegistrationMode,
    ) -> Result<Self, AuthError> {
        let hasher = Hasher::start().map_err(hashing_failed)?;
        let decoy_hash = hasher.hash(random_token()).await.map_err(hashing_failed)?;
        Ok(Self {
            store,
            session_ttl: limits.session_ttl,
            allow_guests,
            decoy_hash,
            throttle: Mutex::new(Throttle::new(
                limits.login_failures_before_lockout,
                limits.failed_logins_per_minute,
                limits.account_creations_per_minute,
            )),
            failed_logins_per_minute: limits.failed_logins_per_minute,
            registration,
            hasher,
            guest_names: tokio::sync::Mutex::new(()),
            touched: Mutex::new(passwords::Touched::default()),
            cluster,
            creations_per_minute: limits.account_creations_per_minute,
        })
    }

    pub fn guests_allowed(&self) -> bool {
        self.allow_guests
    }

    /// Creates an account without opening a session (the admin CLI).
    pub async fn create_user(&self, username: &str, password: &str) -> Result<User, AuthError> {
        let (name, hash) = self.checked_credentials(username, password).await?;
        Ok(self.store.create_user(&name, &hash).await?)
    }

    /// A new account's name and password hash, once both are valid and the
    /// name is free (a taken name is refused before the expensive hash; the
    /// insert still decides races).
    async fn checked_credentials(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(UserName, String), AuthError> {
        let name = UserName::parse(username).map_err(AuthError::InvalidUsername)?;
        check_password(password).map_err(AuthError::InvalidPassword)?;
        if self.store.find_user(name.as_str()).await?.is_some() {
            return Err(AuthError::NameTaken);
        }
        Ok((name, self.hash(password.to_owned()).await?))
    }

    /// At first start (no active admin yet), makes a setup link: the token
    /// of a one-use invite that makes whoever signs up with it the admin.
    /// `None` once the workspace has an admin.
    pub async fn setup_link(&self) -> Result<Option<String>, AuthError> {
        if self.store.has_admin().await? {
            // However the admin came (an import, say), no setup link stays.
            self.store.retire_setup_links().await?;
            return Ok(None);
        }
        let (token, hash) = new_token();
        let invite = NewInvite {
            token_hash: hash,
            created_by: None,
            expires_ms: None,
            max_uses: 1,
            makes_admin: true,
        };
        self.store.create_invite(invite).await?;
        Ok(Some(token))
    }

    /// Signs someone up, with an invite link's token where the workspace's
    /// registration mode asks for one (a setup link works in every mode).
    pub async fn register(
        &self,
        origin: &Origin,
        username: &str,
        password: &str,
        invite: Option<&str>,
    ) -> Result<Session, AuthError> {
        let client = origin.address;
        if !self.throttle().allow_creation_from(client) || !self.shared_creation_from(client).await {
            return Err(AuthError::RateLimited);
        }
        let mode = registration_mode(self.store.as_ref(), self.registration).await?;
        let user = match invite {
            None => match mode {
                RegistrationMode::Open => self.create_user(username, password).await?,
                RegistrationMode::Invite => {
                    return Err(AuthError::RegistrationClosed(
                        "signing up here needs an invite link from an admin",
                    ));
                }
                RegistrationMode::Closed => {
                    return Err(AuthError::RegistrationClosed("accounts here are made by admins"));
                }
            },
            Some(token) => {
                let (name, hash) = self.checked_credentials(username, password).await?;
                let setup_only = mode == RegistrationMode::Closed;
                match self.store.create_user_with_invite(&name, &hash, token_hash(token), setup_only).await {
                    // Only a setup link works where admins make the accounts.
                    Err(StoreError::InvalidInvite) if setup_only => {
                        return Err(AuthError::RegistrationClosed("accounts here are made by admins"));
                    }
                    created => created?,
                }
            }
        };
        tracing::info!(user = user.id.0, "account registered");
        self.open_session(user, Some(origin)).await
    }

    pub async fn login(&self, origin: &Origin, username: &str, password: &str) -> Result<Session, AuthError> {
        let client = origin.address;
        // Names that cannot exist are refused without touching the lockout
        // table, which so holds only short, valid keys.
        let Ok(name) = UserName::parse(username) else {
            return Err(AuthError::InvalidCredentials);
        };
        let key = name.key();
        if !self.shared_failures_left(client).await || self.is_locked_shared(&key, client).await {
            return Err(AuthError::RateLimited);
        }
        // Counted as a failure from here on; a right password takes it back.
        if !self.throttle().begin_attempt(&key, client) {
            return Err(AuthError::RateLimited);
        }
        if check_password(password).is_err() {
            self.login_failed_in_cluster(&key, client).await;
            return Err(AuthError::InvalidCredentials);
        }
        let found = self.store.find_user(name.as_str()).await?;
        let stored_hash = found.as_ref().and_then(|c| c.password_hash.clone());
        let verified = self
            .verify(password.to_owned(), stored_hash.clone().unwrap_or_else(|| self.decoy_hash.clone()))
            .await?;
        match found {
            Some(credentials) if verified && stored_hash.is_some() => {
                self.throttle().succeeded(&key, client);
                self.cluster.clear_shared(&lockout_key(&throttle::pair_key(&key, client))).await;
                if credentials.deactivated {
                    return Err(AuthError::Deactivated);
                }
                self.open_session(credentials.user, Some(origin)).await
            }
            _ => {
                self.login_failed_in_cluster(&key, client).await;
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    /// Signs in a guest by name. `is_online` tells whether someone of that
    /// name is connected now: an online name is never taken over.
    pub async fn guest(
        &self,
        origin: &Origin,
        username: &str,
        is_online: impl Fn(&str) -> bool,
    ) -> Result<Session, AuthError> {
        let _names = self.guest_names().await;
        if is_online(username.trim()) {
            return Err(AuthError::NameInUse);
        }
        let user = self.hand_over_guest(origin.address, username).await?;
        self.open_session(user, Some(origin)).await
    }

    /// Held while deciding who gets a guest name and handing it over, so two
    /// claims of one name on this node cannot interleave between the
    /// presence check and the handover.
    pub async fn guest_names(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.guest_names.lock().await
    }

    /// Gives the guest name to a new guest user, without a session and
    /// without looking at presence: the caller, holding [`Self::guest_names`],
    /// has made sure nobody online holds it. A previous (offline) holder keeps
    /// its conversations and loses the name. Registered names are never
    /// handed out.
    pub async fn hand_over_guest(&self, client: IpAddr, username: &str) -> Result<User, AuthError> {
        if !self.allow_guests {
            return Err(AuthError::GuestsDisabled);
        }
        if !self.throttle().allow_creation_from(client) || !self.shared_creation_from(client).await {
            return Err(AuthError::RateLimited);
        }
        let name = UserName::parse(username).map_err(AuthError::InvalidUsername)?;
        Ok(self.store.claim_guest(&name).await?)
    }

    /// The guest account of that name, if one exists (registered users are
    /// not guests and are never returned).
    pub async fn existing_guest(&self, username: &str) -> Result<Option<User>, AuthError> {
        let Ok(name) = UserName::parse(username) else { return Ok(None) };
        let found = self.store.find_user(name.as_str()).await?;
        Ok(found.map(|credentials| credentials.user).filter(|user| user.guest))
    }

    /// Opens a session for a user the caller has already admitted (a guest
    /// from [`Accounts::hand_over_guest`]), so the client can come back by token.
    pub async fn session_for(&self, user: User) -> Result<Session, AuthError> {
        self.open_session(user, None).await
    }

    /// The user behind a token, if it is a live session.
    pub async fn authenticate(&self, token: &str) -> Result<Option<User>, AuthError> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let user = self.store.session_user(token_hash(token), now_millis()).await?;
        Ok(user.filter(|user| !user.guest || self.allow_guests))
    }

    /// Whether the session stored under this key is still valid; asked as
    /// a connection opens with it, so a live one is recorded as used.
    pub async fn session_is_live(&self, key: [u8; 32]) -> Result<bool, AuthError> {
        let live = self.store.session_user(key, now_millis()).await?.is_some();
        if live {
            self.session_used(key);
        }
        Ok(live)
    }

    pub async fn logout(&self, token: &str) -> Result<(), AuthError> {
        Ok(self.store.delete_session(token_hash(token)).await?)
    }

    async fn open_session(&self, user: User, origin: Option<&Origin>) -> Result<Session, AuthError> {
        let token = random_token();
        let ttl_ms = i64::try_from(self.session_ttl.as_millis()).unwrap_or(i64::MAX);
        let expires = now_millis().saturating_add(ttl_ms);
        let origin = origin.map(Origin::to_store).unwrap_or_default();
        let key = token_hash(&token);
        self.store.create_session(user.id, key, expires, &origin).await?;
        // Made now is used now: the first connections need no write.
        self.touched.lock().expect("touch lock is never poisoned").first_in_a_while(key);
        Ok(Session { token, user })
    }

    /// Whether the cluster holds `key` locked for attempts from `client`
    /// (see `throttle`: the pair's lock, or the name's lock once this
    /// address has failed for the name).
    async fn is_locked_shared(&self, key: &str, client: IpAddr) -> bool {
        let pair = throttle::pair_key(key, client);
        self.cluster.is_locked_shared(&lockout_key(&pair)).await
            || (self.cluster.is_locked_shared(&failed_marker_key(&pair)).await
                && self.cluster.is_locked_shared(&lockout_key(key)).await)
    }

    /// Counts a failed login in the cluster (this node counted it already,
    /// in `Throttle::begin_attempt`), so guessing through several nodes is
    /// limited as through one.
    async fn login_failed_in_cluster(&self, key: &str, client: IpAddr) {
        let pair = throttle::pair_key(key, client);
        self.cluster.lock_shared(&failed_marker_key(&pair), throttle::FAILURES_REMEMBERED).await;
        for counted in [pair.as_str(), key] {
            let shared_key = lockout_key(counted);
            if let Some(count) = self.cluster.count_shared(&shared_key, throttle::FAILURES_REMEMBERED).await {
                let lockout = self.throttle().lockout_for(count);
                if let Some(lockout) = lockout {
                    self.cluster.lock_shared(&shared_key, lockout).await;
                }
            }
        }
        let (bucket, rate, burst) = self.failed_logins_bucket(client);
        self.cluster.take_shared(&bucket, rate, burst).await;
    }

    /// The cluster-wide twin of the per-address failed-login bucket.
    fn failed_logins_bucket(&self, client: IpAddr) -> (String, f64, f64) {
        let per_minute = self.failed_logins_per_minute;
        (format!("failed-logins:{client}"), per_minute / 60.0, per_minute.max(1.0))
    }

    /// Whether `client` has failed logins left anywhere in the cluster
    /// (looked at, not taken: successes never count).
    async fn shared_failures_left(&self, client: IpAddr) -> bool {
        let (bucket, rate, burst) = self.failed_logins_bucket(client);
        self.cluster.peek_shared(&bucket, rate, burst).await == SharedTake::Allowed
    }

    /// The cluster-wide twin of the per-address account-creation bucket.
    async fn shared_creation_from(&self, client: IpAddr) -> bool {
        let per_minute = self.creations_per_minute;
        let bucket = format!("creations:{client}");
        self.cluster.take_shared(&bucket, per_minute / 60.0, per_minute.max(1.0)).await == SharedTake::Allowed
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.throttle.lock().expect("login throttle lock is never poisoned")
    }

    async fn hash(&self, password: String) -> Result<String, AuthError> {
        self.hasher.hash(password).await.map_err(hashing_failed)
    }

    async fn verify(&self, password: String, hash: String) -> Result<bool, AuthError> {
        self.hasher.verify(password, hash).await.map_err(hashing_failed)
    }
}

fn hashing_failed(error: hashing::HashingError) -> AuthError {
    tracing::error!(%error, "password hashing failed");
    AuthError::Unavailable
}

/// The shared counter and lock of failed logins of a username, or of a
/// username from one address (`throttle::pair_key`).
fn lockout_key(lockout: &str) -> String {
    format!("login-failures:{lockout}")
}

/// Set in the cluster once an address has failed for a username.
fn failed_marker_key(pair: &str) -> String {
    format!("login-failed:{pair}")
}

/// A new secret token and the hash it is stored under.
pub fn new_token() -> (String, [u8; 32]) {
    let token = random_token();
    let hash = token_hash(&token);
    (token, hash)
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The key a session is stored under: the SHA-256 of its token. Also how
/// other parts refer to one login session without holding its secret.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(token_hash(&a), token_hash(&a.clone()));
    }
}
