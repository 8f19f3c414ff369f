//! The use cases: what a client may ask for (posting, channels,
//! membership, DMs, history, read markers, the directory), each checked,
//! stored, and then told to the hub (this node's connections) and the bus
//! (the other nodes). The edges (`server::ws`, `server::socketio`) call
//! these; nothing reaches the store through the hub.
//!
//! Split by subject: `posting` (messages, typing, read markers, system
//! lines), `channels` (create, find by name, list), `membership` (join,
//! leave, invite, DMs), `reading` (history, replay, the directory),
//! `rates` (per-user message and invitation budgets), `driver` (the hub's
//! asynchronous side: gap fills, presence timers, the bus), `names` (which
//! channel a bare name means to one user), `administering` (what admins
//! do to accounts), `inviting` (who may join: invite links, registration),
//! `sharing` (files: who may upload and fetch, tidying the file store).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, Cluster};
use crate::hub::Hub;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::model::{Channel, RegistrationMode};
use crate::store::{Store, StoreError};

mod administering;
mod channel_settings;
mod channels;
mod driver;
mod editing;
mod inviting;
mod membership;
pub mod names;
mod posting;
mod profiles;
mod rates;
mod reading;
mod searching;
mod sharing;

pub use administering::MAX_ACCOUNTS_PAGE;
pub use channel_settings::ChannelChange;
pub use inviting::{DEFAULT_INVITE_HOURS, DEFAULT_INVITE_USES, INVITES_LISTED};
pub use posting::Committing;
pub use reading::{HistoryPage, HistoryRead};
pub use searching::{DEFAULT_SEARCH_PAGE, SearchHit, SearchPage, SearchRequest, search_cursor_after};

/// Most messages read from the store in one gap fill or replay page.
pub const FILL_PAGE: u32 = 500;

/// Largest history page a client may ask for.
pub const MAX_HISTORY_PAGE: u32 = 200;

/// Largest user directory page a client may ask for. With names of at most 32
/// ASCII characters, a page stays under 7 KiB of JSON.
pub const MAX_DIRECTORY_PAGE: u32 = 100;

/// Why a request was refused. The edges map these to protocol codes
/// (`protocol::ErrorCode`).
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The channel does not exist or the user may not see it; the two are
    /// deliberately indistinguishable.
    #[error("no such channel")]
    NotFound,
    #[error("join the channel first")]
    NotMember,
    /// No message at that seq that can be changed.
    #[error("no such message")]
    NoSuchMessage,
    /// A reply to a seq with no message that stands.
    #[error("no such message to reply to")]
    NoSuchParent,
    /// A file to attach that is not the sender's unattached upload to
    /// that channel.
    #[error("no such file to attach: upload it to this channel first")]
    NoSuchFile,
    #[error("a message carries at most 10 files")]
    TooManyFiles,
    /// An edit whose `if_rev` is stale; the message as it stands.
    #[error("the message was changed since; its latest change is rev {}", .0.rev)]
    Conflict(Box<crate::model::Message>),
    #[error("no such user")]
    UnknownUser,
    #[error("no such invite link")]
    NoSuchInvite,
    #[error("the channel is archived")]
    Archived,
    /// A field out of its range, in words.
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    InvalidName(&'static str),
    /// A channel of that name (compared by key) exists, and the user can
    /// see it: creating never silently hands over an existing channel.
    #[error("#{} already exists", .0.name)]
    ChannelExists(Channel),
    /// The invitee is a member already.
    #[error("{0} is already a member of this channel")]
    AlreadyMember(String),
    #[error("too many messages; slow down")]
    RateLimited,
    #[error("{0}")]
    LimitReached(&'static str),
    /// A search that cannot run: why, in words.
    #[error("{0}")]
    InvalidQuery(String),
    /// Storage failed; the cause is logged where it happened.
    #[error("the server could not complete the request")]
    Unavailable,
}

impl From<StoreError> for RequestError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NoSuchChannel => RequestError::NotFound,
            StoreError::NotMember => RequestError::NotMember,
            StoreError::NoSuchMessage => RequestError::NoSuchMessage,
            StoreError::NotSender => {
                RequestError::Forbidden("only its sender (or an admin, to delete) may change a message")
            }
            StoreError::Conflict(message) => RequestError::Conflict(message),
            StoreError::Archived => RequestError::Archived,
            StoreError::NotAllowed(why) => RequestError::Forbidden(why),
            // Load shed on purpose, not a failure: not logged as one.
            StoreError::Busy => RequestError::Unavailable,
            StoreError::SearchTooLong => RequestError::InvalidQuery(
                "this search is too broad to answer in time: add words or filters".into(),
            ),
            other => {
                tracing::error!(error = %other, "storage request failed");
                RequestError::Unavailable
            }
        }
    }
}

/// The use cases of one node, over its store, hub and bus.
pub struct App {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    bus: Arc<dyn Bus>,
    cluster: Arc<dyn Cluster>,
    limits: Limits,
    metrics: Arc<Metrics>,
    rates: rates::Rates,
    /// Who may sign up until an admin sets otherwise (`--registration`).
    registration: RegistrationMode,
    /// Wakes the task that removes deleted files' bytes (`sharing`).
    tidy_files: tokio::sync::Notify,
}

impl App {
    /// Loads where every channel's live delivery starts, builds the hub and
    /// starts its driver (which also listens to the bus). Cancelling `stop`
    /// ends every connection (the server's shutdown).
    pub async fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        cluster: Arc<dyn Cluster>,
        limits: Limits,
        metrics: Arc<Metrics>,
        registration: RegistrationMode,
        stop: CancellationToken,
    ) -> Result<Arc<Self>, StoreError> {
        let heads = store.channel_heads().await?;
        let (hub, requests) = Hub::new(heads, limits.outbound_queue, Arc::clone(&metrics), stop.clone());
        let app = Arc::new(Self {
            store: Arc::clone(&store),
            hub: Arc::clone(&hub),
            bus: Arc::clone(&bus),
            cluster: Arc::clone(&cluster),
            rates: rates::Rates::default(),
            limits: limits.clone(),
            metrics,
            registration,
            tidy_files: tokio::sync::Notify::new(),
        });
        driver::start(
            driver::Driver { hub, store, cluster, grace: limits.presence_grace },
            requests,
            bus.subscribe(),
            stop,
        );
        Ok(app)
    }

    /// This node's connections: the edges register with it and read their
    /// deliveries from it.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the store answers (for the health check).
    pub async fn health(&self) -> Result<(), StoreError> {
        self.store.health().await
    }

    /// Counts a request some edge refused for its rate.
    pub fn count_rate_limited(&self) {
        self.metrics.rate_limited_total.inc();
    }
}
