//! The presence task: this node's record of who is online on it, and the
//! other nodes' records read back for the hub.

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::channel_name;
use crate::bus::BusEvent;
use crate::model::UserId;
use crate::protocol::bus as wire;

/// The presence task's state.
pub(super) struct PresenceTask {
    pub(super) connection: redis::aio::ConnectionManager,
    pub(super) cluster: String,
    pub(super) node: String,
    pub(super) ttl: Duration,
    pub(super) local: watch::Receiver<Vec<(UserId, String)>>,
    pub(super) changed_elsewhere: Arc<Notify>,
    pub(super) outgoing: mpsc::Sender<String>,
    pub(super) received: mpsc::Sender<BusEvent>,
    pub(super) stop: CancellationToken,
}

impl PresenceTask {
    pub(super) async fn run(mut self) {
        let mut heartbeat = tokio::time::interval(self.ttl / 3);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_told: Option<Vec<(UserId, String)>> = None;
        // Set while this node's record may have expired: the first write
        // that succeeds again tells the others to re-read at once.
        let mut record_lapsed = false;
        loop {
            let mut changed_here = false;
            tokio::select! {
                () = self.received.closed() => break,
                () = self.stop.cancelled() => break,
                _ = heartbeat.tick() => {}
                changed = self.local.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    changed_here = true;
                }
                () = self.changed_elsewhere.notified() => {}
            }
            let users = self.local.borrow_and_update().clone();
            match self.write(&users).await {
                Ok(()) if changed_here || record_lapsed => {
                    record_lapsed = false;
                    let frame = wire::Frame { node: self.node.clone(), event: wire::Event::PresenceChanged }
                        .to_json();
                    let _ = self.outgoing.try_send(frame);
                }
                Ok(()) => {}
                Err(error) => {
                    record_lapsed = true;
                    tracing::warn!(%error, "cannot write this node's presence");
                }
            }
            match self.read_others().await {
                Ok(others) if last_told.as_ref() != Some(&others) => {
                    last_told = Some(others.clone());
                    if self.received.send(BusEvent::RemotePresence(others)).await.is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "cannot read the cluster's presence"),
            }
        }
        // The node is stopping: its users leave at once rather than at the
        // TTL, and the others hear of it.
        let withdrawn: redis::RedisResult<()> = redis::pipe()
            .del(self.key(&self.node))
            .ignore()
            .srem(self.nodes_key(), &self.node)
            .ignore()
            .publish(
                channel_name(&self.cluster),
                wire::Frame { node: self.node.clone(), event: wire::Event::PresenceChanged }.to_json(),
            )
            .ignore()
            .query_async(&mut self.connection)
            .await;
        if let Err(error) = withdrawn {
            tracing::warn!(%error, "cannot withdraw this node's presence; it expires with its TTL");
        }
    }

    fn key(&self, node: &str) -> String {
        format!("{}:presence:{node}", self.cluster)
    }

    fn nodes_key(&self) -> String {
        format!("{}:nodes", self.cluster)
    }

    async fn write(&mut self, users: &[(UserId, String)]) -> redis::RedisResult<()> {
        let record = wire::PresenceRecord {
            users: users
                .iter()
                .map(|(id, name)| wire::PresenceUser { id: id.0, name: name.clone() })
                .collect(),
        };
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        redis::pipe()
            .cmd("SET")
            .arg(self.key(&self.node))
            .arg(record.to_json())
            .arg("PX")
            .arg(ttl_ms)
            .ignore()
            .sadd(self.nodes_key(), &self.node)
            .ignore()
            .query_async(&mut self.connection)
            .await
    }

    /// The users online on the other live nodes, sorted by id, once each.
    async fn read_others(&mut self) -> redis::RedisResult<Vec<(UserId, String)>> {
        let nodes: Vec<String> = self.connection.smembers(self.nodes_key()).await?;
        let others: Vec<String> = nodes.into_iter().filter(|n| *n != self.node).collect();
        if others.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = others.iter().map(|n| self.key(n)).collect();
        let records: Vec<Option<Vec<u8>>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut self.connection).await?;
        let mut users = Vec::new();
        for (node, record) in others.iter().zip(records) {
            match record {
                // Expired: the node died (or stopped) without cleaning up.
                None => {
                    let _: redis::RedisResult<()> = self.connection.srem(self.nodes_key(), node).await;
                }
                Some(bytes) => match wire::PresenceRecord::from_json(&bytes) {
                    Ok(record) => users.extend(record.users.into_iter().map(|u| (UserId(u.id), u.name))),
                    Err(error) => tracing::warn!(%error, "unreadable presence record"),
                },
            }
        }
        users.sort_by_key(|(id, _)| *id);
        users.dedup_by_key(|(id, _)| *id);
        Ok(users)
    }
}
