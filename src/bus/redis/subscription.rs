//! The subscriber task (one pub/sub connection, kept alive and
//! resubscribed, with a resync after every gap) and the publisher task.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::frames::{Decoded, decode};
use crate::bus::BusEvent;

/// Longest wait between attempts to resubscribe.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How often the subscriber PINGs Redis over its own subscription. A
/// subscription only receives, so without this a silent network (a
/// blackhole, a one-way partition, or Redis having dropped the client
/// meanwhile) would leave the node deaf with nothing to notice it.
pub(super) const LIVENESS_PING_EVERY: Duration = Duration::from_secs(1);

/// A subscription whose PING is not answered within this is taken for dead:
/// the node resubscribes and catches up from the store.
pub(super) const LIVENESS_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest one attempt to (re)subscribe may take; connecting through a
/// blackhole would otherwise wait for the kernel's SYN retries (minutes).
pub(super) const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn subscribe(
    client: &redis::Client,
    channel: &str,
) -> redis::RedisResult<redis::aio::PubSub> {
    let attempt = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok(pubsub)
    };
    match tokio::time::timeout(SUBSCRIBE_TIMEOUT, attempt).await {
        Ok(subscribed) => subscribed,
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "subscribing timed out").into()),
    }
}

pub(super) async fn publish_loop(
    mut connection: redis::aio::ConnectionManager,
    channel: String,
    mut frames: mpsc::Receiver<String>,
) {
    while let Some(frame) = frames.recv().await {
        let published: redis::RedisResult<i64> = connection.publish(&channel, frame).await;
        if let Err(error) = published {
            // Lost: receivers fill message gaps from the store.
            tracing::warn!(%error, "cannot publish to the bus");
        }
    }
}

/// The subscriber task's state.
pub(super) struct Subscriber {
    pub(super) client: redis::Client,
    pub(super) channel: String,
    pub(super) node: String,
    pub(super) received: mpsc::Sender<BusEvent>,
    /// Wakes the presence task when another node's record changed.
    pub(super) presence_changed: Arc<Notify>,
    pub(super) stop: CancellationToken,
}

impl Subscriber {
    pub(super) async fn run(self, first: redis::aio::PubSub) {
        let mut subscription = Some(first);
        let mut backoff = Duration::from_millis(50);
        loop {
            if let Some(pubsub) = subscription.take() {
                backoff = Duration::from_millis(50);
                let (mut sink, mut messages) = pubsub.split();
                let mut liveness = tokio::time::interval(LIVENESS_PING_EVERY);
                liveness.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        () = self.received.closed() => return,
                        () = self.stop.cancelled() => return,
                        _ = liveness.tick() => {
                            let pong = tokio::time::timeout(LIVENESS_TIMEOUT, sink.ping::<redis::Value>()).await;
                            if !matches!(pong, Ok(Ok(_))) {
                                tracing::warn!(timeout = ?LIVENESS_TIMEOUT, "bus subscription did not answer PING");
                                break;
                            }
                        }
                        next = messages.next() => {
                            let Some(message) = next else { break };
                            let delivered = match decode(message.get_payload_bytes(), &self.node) {
                                Some(Decoded::Event(event)) => self.received.send(event).await.is_ok(),
                                Some(Decoded::PresenceChanged) => {
                                    self.presence_changed.notify_one();
                                    true
                                }
                                None => true,
                            };
                            if !delivered {
                                return;
                            }
                        }
                    }
                }
                tracing::warn!("bus subscription lost; resubscribing");
            }
            tokio::select! {
                () = self.received.closed() => return,
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
            match subscribe(&self.client, &self.channel).await {
                Ok(pubsub) => {
                    tracing::info!("bus subscription restored; catching up from the store");
                    subscription = Some(pubsub);
                    // Presence frames may have been lost too.
                    self.presence_changed.notify_one();
                    if self.received.send(BusEvent::Resync).await.is_err() {
                        return;
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot resubscribe to the bus yet"),
            }
        }
    }
}
