//! The hub's asynchronous side: what the hub asks for ([`HubRequest`]) and
//! what other nodes say (the bus), each done here, outside the hub's lock,
//! and answered by calling back into the hub.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::FILL_PAGE;
use crate::bus::{BusEvent, Cluster};
use crate::hub::{Hub, HubRequest, PRESENCE_INTERVAL};
use crate::model::{ChannelId, Rev, now_millis};
use crate::store::Store;

/// How long an out-of-order message waits for the ones before it before the
/// missing range is read from the store. Local reorderings close within
/// microseconds; a longer gap means a lost bus message.
pub const GAP_WAIT: Duration = Duration::from_millis(250);

pub(super) struct Driver {
    pub(super) hub: Arc<Hub>,
    pub(super) store: Arc<dyn Store>,
    pub(super) cluster: Arc<dyn Cluster>,
    /// How long a user stays shown online after their last connection.
    pub(super) grace: Duration,
}

/// How often a node looks in the store for accounts deactivated lately.
const DEACTIVATIONS_EVERY: Duration = Duration::from_secs(1);

/// How far back each look goes: deactivations are stamped by the clock of
/// whoever made them (another node, the command line), so a look allows for
/// that much difference between clocks. Ending a user who is already gone
/// does nothing, so looking at one twice costs only the read.
const DEACTIVATIONS_SLACK_MS: i64 = 60_000;

/// Starts the driver: one task for the hub's requests, one for the bus,
/// one looking for deactivations. The first two end when their sources
/// close (the hub or the bus is gone), the third when `stop` is cancelled.
pub(super) fn start(
    driver: Driver,
    mut requests: mpsc::UnboundedReceiver<HubRequest>,
    mut remote: mpsc::Receiver<BusEvent>,
    stop: CancellationToken,
) {
    let driver = Arc::new(driver);
    let watcher = Arc::clone(&driver);
    tokio::spawn(async move { watcher.end_deactivated_users(stop).await });
    let listener = Arc::clone(&driver);
    tokio::spawn(async move {
        while let Some(event) = remote.recv().await {
            listener.on_remote_event(event).await;
        }
    });
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            driver.on_request(request);
        }
    });
}

impl Driver {
    fn on_request(self: &Arc<Self>, request: HubRequest) {
        match request {
            HubRequest::FillGap(channel) => {
                let driver = Arc::clone(self);
                tokio::spawn(async move { driver.fill_gap(channel).await });
            }
            HubRequest::ExpirePresence { user, generation } => {
                let (hub, grace) = (Arc::clone(&self.hub), self.grace);
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    hub.expire_presence(user, generation);
                });
            }
            HubRequest::LocalPresence(online) => self.cluster.local_presence(online),
            HubRequest::FlushPresence => {
                let hub = Arc::clone(&self.hub);
                tokio::spawn(async move {
                    tokio::time::sleep(PRESENCE_INTERVAL).await;
                    hub.flush_presence();
                });
            }
        }
    }

    /// Closes the connections of users deactivated lately, every
    /// [`DEACTIVATIONS_EVERY`]: a deactivation made on this node or told by
    /// the bus closes them at once; this catches those made by the command
    /// line, which reaches no server, and those whose bus event was lost.
    async fn end_deactivated_users(&self, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(DEACTIVATIONS_EVERY) => {}
            }
            match self.store.deactivated_since(now_millis() - DEACTIVATIONS_SLACK_MS).await {
                Ok(users) => users.into_iter().for_each(|user| self.hub.end_user(user)),
                Err(error) => tracing::warn!(%error, "cannot look for deactivated accounts"),
            }
        }
    }

    /// Reads a channel's missing changes from the store once the gap has
    /// had [`GAP_WAIT`] to close by itself, until the hub says it is closed.
    async fn fill_gap(&self, channel: ChannelId) {
        tokio::time::sleep(GAP_WAIT).await;
        while let Some(after) = self.hub.fill_from(channel) {
            match self.store.changes_after(channel, after, FILL_PAGE).await {
                Ok(changes) if !changes.is_empty() => self.hub.accept_filled(channel, changes),
                Ok(_) => {
                    // The store has nothing past `after`: the pending ones
                    // came from a store we cannot see yet. Try again later.
                    tokio::time::sleep(GAP_WAIT).await;
                }
                Err(error) => {
                    tracing::warn!(%error, channel = channel.0, "gap fill failed; retrying");
                    tokio::time::sleep(GAP_WAIT).await;
                }
            }
        }
    }

    async fn on_remote_event(&self, event: BusEvent) {
        let hub = &self.hub;
        match event {
            BusEvent::Message(message) => hub.accept_message(*message),
            // Only users connected here need their view read.
            BusEvent::Joined { channel, user } if hub.is_connected(user) => {
                match self.store.channel_view(channel, user).await {
                    Ok(view) => hub.member_joined(user, view),
                    Err(error) => tracing::warn!(%error, "cannot load a joined channel"),
                }
            }
            BusEvent::Joined { .. } => {}
            BusEvent::SettingsChanged { channel, user } if hub.is_connected(user) => {
                match self.store.channel_view(channel, user).await {
                    Ok(view) => hub.settings_changed(user, view),
                    Err(error) => tracing::warn!(%error, "cannot load a channel's settings"),
                }
            }
            BusEvent::SettingsChanged { .. } => {}
            BusEvent::Left { channel, user } => hub.member_left(user, channel),
            BusEvent::Typing { channel, user, name } => hub.typing_elsewhere(channel, user, &name),
            BusEvent::Read { channel, user, marker } => hub.read_marker_moved(user, channel, marker),
            BusEvent::ChannelCreated(channel) => hub.announce_channel(channel),
            BusEvent::Deactivated { user } => hub.end_user(user),
            BusEvent::ChannelChanged { channel, about, renamed } => {
                hub.channel_changed(channel, about, renamed)
            }
            BusEvent::SessionsEnded { sessions } => sessions.into_iter().for_each(|key| hub.end_session(key)),
            BusEvent::Resync => self.catch_up_from_store().await,
            BusEvent::RemotePresence(remote) => hub.set_remote_presence(remote),
        }
    }

    /// Reads every channel's changes past what this node delivered, after
    /// the bus may have lost some. Waiting for the next change of each
    /// channel to reveal the gap would leave a quiet channel's last changes
    /// undelivered indefinitely.
    async fn catch_up_from_store(&self) {
        let heads: Vec<(ChannelId, Rev)> = self.hub.delivered_heads();
        for (channel, mut after) in heads {
            loop {
                match self.store.changes_after(channel, after, FILL_PAGE).await {
                    Ok(changes) => {
                        let complete = changes.len() < FILL_PAGE as usize;
                        if let Some(last) = changes.last() {
                            after = last.rev;
                        }
                        self.hub.accept_filled(channel, changes);
                        if complete {
                            break;
                        }
                    }
                    Err(error) => {
                        // A later message or resync reveals the gap again.
                        tracing::warn!(%error, channel = channel.0, "catch-up after a bus resync failed");
                        break;
                    }
                }
            }
        }
    }
}
