//! What the nodes coordinate in Redis besides fan-out ([`Cluster`]):
//! shared token buckets (GCRA, in Redis's clock), failure counts and locks.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::RedisBus;
use crate::bus::{Cluster, SharedTake};
use crate::model::UserId;

/// Longest a shared-limit check waits for Redis before the node decides by
/// its own bucket alone: a slow Redis must not slow every send.
const SHARED_TAKE_TIMEOUT: Duration = Duration::from_millis(250);

/// The start both GCRA scripts share: Redis's clock, the arguments, and the
/// bucket's "theoretical arrival time" (never in the past); `$rest` decides.
macro_rules! gcra_script {
    ($rest:literal) => {
        concat!(
            r#"
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now_us)
if tat < now_us then tat = now_us end"#,
            $rest
        )
    };
}

/// A generic cell rate algorithm (GCRA) token bucket, atomic in Redis: the
/// key holds the "theoretical arrival time" in Redis's own clock, so node
/// clocks do not matter. ARGV: emission interval and burst tolerance (the
/// interval times the burst) in microseconds. Returns 0 when allowed, else microseconds until a token.
const TAKE_SCRIPT: &str = gcra_script!(
    r#"
local next_tat = tat + interval
local wait = next_tat - now_us - tolerance
if wait > 0 then return wait end
redis.call('SET', KEYS[1], next_tat, 'PX', math.ceil((next_tat - now_us) / 1000) + 1000)
return 0
"#
);

/// [`TAKE_SCRIPT`] without the taking: 0 when a token is there now, else
/// microseconds until one is.
const PEEK_SCRIPT: &str = gcra_script!(
    r#"
local wait = tat + interval - now_us - tolerance
if wait > 0 then return wait end
return 0
"#
);

impl RedisBus {
    /// Runs a GCRA bucket script ([`TAKE_SCRIPT`] or [`PEEK_SCRIPT`]) on
    /// `bucket` (`per_second` refill, `burst` capacity).
    async fn run_bucket_script(&self, script: &str, bucket: &str, per_second: f64, burst: f64) -> SharedTake {
        let interval_us = (1_000_000.0 / per_second.max(1e-6)).round();
        // A token is granted while the bucket's debt stays within `burst`
        // intervals: `burst` at once from full, then one per interval.
        let tolerance_us = interval_us * burst.max(1.0);
        let mut connection = self.commands.clone();
        let mut command = redis::cmd("EVAL");
        command
            .arg(script)
            .arg(1)
            .arg(format!("{}:rate:{bucket}", self.cluster))
            .arg(interval_us as i64)
            .arg(tolerance_us as i64);
        let call = command.query_async::<i64>(&mut connection);
        match tokio::time::timeout(SHARED_TAKE_TIMEOUT, call).await {
            Ok(Ok(0)) => SharedTake::Allowed,
            Ok(Ok(wait_us)) => {
                SharedTake::Denied { retry_after: Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)) }
            }
            // Without Redis the node's own buckets still hold.
            Ok(Err(error)) => {
                tracing::warn!(%error, "shared rate limit unavailable; using this node's own");
                SharedTake::Allowed
            }
            Err(_) => {
                tracing::warn!("shared rate limit timed out; using this node's own");
                SharedTake::Allowed
            }
        }
    }
}
#[async_trait]
impl Cluster for RedisBus {
    fn local_presence(&self, online: Vec<(UserId, String)>) {
        self.local_presence.send_replace(online);
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn take_shared(&self, bucket: &str, per_second: f64, burst: f64) -> SharedTake {
        self.run_bucket_script(TAKE_SCRIPT, bucket, per_second, burst).await
    }

    async fn peek_shared(&self, bucket: &str, per_second: f64, burst: f64) -> SharedTake {
        self.run_bucket_script(PEEK_SCRIPT, bucket, per_second, burst).await
    }

    async fn count_shared(&self, key: &str, forget_after: Duration) -> Option<u32> {
        let mut connection = self.commands.clone();
        let forget_ms = u64::try_from(forget_after.as_millis()).unwrap_or(u64::MAX);
        let key = format!("{}:count:{key}", self.cluster);
        let mut pipe = redis::pipe();
        pipe.incr(&key, 1).pexpire(&key, i64::try_from(forget_ms).unwrap_or(i64::MAX)).ignore();
        let counted = pipe.query_async::<(u32,)>(&mut connection);
        match tokio::time::timeout(SHARED_TAKE_TIMEOUT, counted).await {
            Ok(Ok((count,))) => Some(count),
            Ok(Err(error)) => {
                tracing::warn!(%error, "shared counter unavailable; using this node's own");
                None
            }
            Err(_) => None,
        }
    }

    async fn lock_shared(&self, key: &str, duration: Duration) {
        let mut connection = self.commands.clone();
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1);
        let locked: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("{}:lock:{key}", self.cluster))
            .arg(1)
            .arg("PX")
            .arg(millis)
            .query_async(&mut connection)
            .await;
        if let Err(error) = locked {
            tracing::warn!(%error, "cannot share a lockout; it holds on this node only");
        }
    }

    async fn is_locked_shared(&self, key: &str) -> bool {
        let mut connection = self.commands.clone();
        let call = async {
            let exists: redis::RedisResult<bool> =
                connection.exists(format!("{}:lock:{key}", self.cluster)).await;
            exists
        };
        matches!(tokio::time::timeout(SHARED_TAKE_TIMEOUT, call).await, Ok(Ok(true)))
    }

    async fn clear_shared(&self, key: &str) {
        let mut connection = self.commands.clone();
        let cleared: redis::RedisResult<()> = redis::pipe()
            .del(format!("{}:count:{key}", self.cluster))
            .ignore()
            .del(format!("{}:lock:{key}", self.cluster))
            .ignore()
            .query_async(&mut connection)
            .await;
        if let Err(error) = cleared {
            tracing::warn!(%error, "cannot clear a shared lockout");
        }
    }

    async fn close(&self) {
        self.stop.cancel();
        let task = self.presence_task.lock().expect("presence task lock is never poisoned").take();
        if let Some(task) = task {
            // Bounded: a Redis that is down must not hold the shutdown.
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}
