//! Connecting: a bounded number of users' groups at once, each group's
//! connections one after the other, and a connection task started for each
//! that got into its room. A failure is counted and quoted, never fatal.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use super::connection::connection_task;
use super::layout::Group;
use super::{Ctx, progress};
use crate::target::{self, Connect, JoinRole, RoomSpot, Target};

pub(super) async fn set_up(ctx: &Arc<Ctx>, groups: Vec<Group>, tasks: &TaskTracker) {
    let limit = Arc::new(Semaphore::new(ctx.settings.connect_concurrency.max(1)));
    let setups = TaskTracker::new();
    // Groups are started from their own task, so progress is reported while
    // the concurrency limit holds the rest back.
    let starter = {
        let ctx = Arc::clone(ctx);
        let tasks = tasks.clone();
        let setups = setups.clone();
        tokio::spawn(async move {
            for group in groups {
                let permit = Arc::clone(&limit).acquire_owned().await.expect("the semaphore is never closed");
                let ctx_for_group = Arc::clone(&ctx);
                let tasks = tasks.clone();
                setups.spawn(async move {
                    if let Err(error) = set_up_group(&ctx_for_group, &group, &tasks).await {
                        let failed = (group.connections.len() as u64)
                            .saturating_sub(error.connected_before_failure as u64);
                        ctx_for_group.failed.fetch_add(failed, Ordering::Relaxed);
                        let mut first = ctx_for_group.first_failure.lock().expect("never poisoned");
                        first.get_or_insert(error.message);
                    }
                    drop(permit);
                });
            }
            setups.close();
        })
    };
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = setups.wait() => break,
            _ = ticker.tick() => progress(
                ctx,
                &format!(
                    "connecting: {} connected, {} failed",
                    ctx.connected.load(Ordering::Relaxed),
                    ctx.failed.load(Ordering::Relaxed)
                ),
            ),
        }
    }
    if starter.await.is_err() {
        progress(ctx, "the set-up task panicked");
    }
}

struct SetupError {
    message: String,
    connected_before_failure: usize,
}

async fn set_up_group(ctx: &Arc<Ctx>, group: &Group, tasks: &TaskTracker) -> Result<(), SetupError> {
    let settings = &ctx.settings;
    let room = &ctx.rooms[group.room];
    let source = settings.sources[group.connections.start % settings.sources.len()];
    let user_name = format!("b{}-{}", settings.tag, group.user);
    let token = match settings.target {
        Target::Natter => Some(
            target::natter_guest(source, settings.server_for(group.connections.start), &user_name)
                .await
                .map_err(|e| SetupError {
                    message: format!("guest {user_name}: {e}"),
                    connected_before_failure: 0,
                })?,
        ),
        _ => None,
    };
    for (position, index) in group.connections.clone().enumerate() {
        let source = settings.sources[index % settings.sources.len()];
        let role = if settings.target == Target::Floor {
            JoinRole::Member
        } else if group.creates_room && position == 0 {
            JoinRole::Creator
        } else if settings.target == Target::Socketio {
            // Socket.IO rooms are per socket: each one joins.
            JoinRole::Joiner
        } else if position == 0 && room.channel.get() != Some(&1) {
            JoinRole::Joiner
        } else {
            JoinRole::Member
        };
        let mut spot = RoomSpot { room: room.name.clone(), channel: room.channel.get().copied() };
        if settings.target == Target::Natter && role != JoinRole::Creator && spot.channel.is_none() {
            return Err(SetupError {
                message: format!("room {} has no channel: its creator failed", room.name),
                connected_before_failure: position,
            });
        }
        let socketio_name = format!("b{}-{index}", settings.tag);
        let how = Connect {
            target: settings.target,
            source,
            server: settings.server_for(index),
            token: token.as_deref(),
            user_name: (settings.target == Target::Socketio && settings.socketio_new_user)
                .then_some(socketio_name.as_str()),
            seed: (index as u32).wrapping_mul(2_654_435_761),
            slow_consumer: !ctx.specs[index].reader,
            watched_presence: settings.watched_presence,
        };
        let ws = target::connect_into_room(&how, &mut spot, role).await.map_err(|e| SetupError {
            message: format!("connection {index} ({:?}): {e}", role),
            connected_before_failure: position,
        })?;
        if role == JoinRole::Creator
            && let Some(channel) = spot.channel
        {
            let _ = room.channel.set(channel);
        }
        let sender = if settings.target == Target::Socketio { socketio_name } else { user_name.clone() };
        let spec = ctx.specs[index];
        tasks.spawn(connection_task(Arc::clone(ctx), spec, ws, spot, sender));
        ctx.connected.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}
