//! A login storm (workload W6): new natter users arriving at a fixed rate
//! while the rooms' traffic runs. Each arrival makes a guest, opens one
//! connection, says `hello`, waits for its `welcome`, and then reads (and
//! counts, without parsing) everything it is sent until the run stops, as a
//! client that just logged in would. Arrivals are scheduled by intended time
//! (open loop), starting when the first step's measurement window opens.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio_util::task::TaskTracker;

use super::Ctx;
use crate::stats;
use crate::target::{self, Target};
use crate::wsclient::{Frame, WsClient};

/// What the storm's arrivals saw.
pub struct StormCounts {
    /// Users whose connection got its `welcome`.
    pub arrived: AtomicU64,
    pub failed: AtomicU64,
    /// Bytes of frames the arrivals received after their `welcome`.
    pub bytes_after_welcome: AtomicU64,
    /// Time from an arrival's intended start to its `welcome`, in µs.
    pub welcome_latency: Mutex<Histogram<u64>>,
    pub first_failure: Mutex<Option<String>>,
}

impl StormCounts {
    pub fn new() -> Self {
        Self {
            arrived: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            bytes_after_welcome: AtomicU64::new(0),
            welcome_latency: Mutex::new(stats::histogram()),
            first_failure: Mutex::new(None),
        }
    }
}

/// Starts `users` arrivals, `rate` per second from `start_micros` (on the
/// run's clock), each as its own task on `tasks`.
pub(super) fn start(ctx: &Arc<Ctx>, tasks: &TaskTracker, users: usize, rate: f64, start_micros: u64) {
    let ctx = Arc::clone(ctx);
    let arrivals = tasks.clone();
    tasks.spawn(async move {
        let gap_micros = 1e6 / rate.max(1e-3);
        for user in 0..users {
            let due = start_micros + (user as f64 * gap_micros) as u64;
            let at = tokio::time::Instant::from_std(ctx.epoch + Duration::from_micros(due));
            tokio::time::sleep_until(at).await;
            if ctx.control.borrow().stop {
                break;
            }
            let ctx = Arc::clone(&ctx);
            arrivals.spawn(async move {
                if let Err(error) = arrive(&ctx, user, due).await {
                    ctx.storm.failed.fetch_add(1, Ordering::Relaxed);
                    ctx.storm.first_failure.lock().expect("never poisoned").get_or_insert(error.to_string());
                }
            });
        }
    });
}

async fn arrive(ctx: &Arc<Ctx>, user: usize, due_micros: u64) -> std::io::Result<()> {
    let settings = &ctx.settings;
    let source = settings.sources[user % settings.sources.len()];
    let name = format!("s{}-{user}", settings.tag);
    let server = settings.server_for(user);
    let token = target::natter_guest(source, server, &name).await?;
    let header = format!("Authorization: Bearer {token}\r\n");
    let seed = (user as u32).wrapping_mul(2_246_822_519);
    let mut ws = WsClient::connect(source, server, "/ws", &header, seed, false).await?;
    ws.queue_text(target::natter_hello(settings.watched_presence).as_bytes());
    ws.flush().await?;
    target::await_frame(&mut ws, Target::Natter, "welcome", |f| f.starts_with(b"{\"type\":\"welcome\""))
        .await?;
    let waited = ctx.now_micros().saturating_sub(due_micros).max(1);
    ctx.storm.welcome_latency.lock().expect("never poisoned").saturating_record(waited);
    ctx.storm.arrived.fetch_add(1, Ordering::Relaxed);
    read_until_stopped(ctx, &mut ws).await
}

/// Reads everything until the run stops or the server closes.
async fn read_until_stopped(ctx: &Ctx, ws: &mut WsClient) -> std::io::Result<()> {
    let mut control = ctx.control.clone();
    loop {
        let mut received = 0u64;
        while let Some(frame) = ws.next_frame()? {
            match frame {
                Frame::Text(text) => received += text.len() as u64,
                Frame::Close(_) => return Ok(()),
            }
        }
        ctx.storm.bytes_after_welcome.fetch_add(received, Ordering::Relaxed);
        // Pings were answered in `next_frame`; send the pongs.
        ws.flush().await?;
        tokio::select! {
            filled = ws.fill() => if !filled? { return Ok(()) },
            changed = control.changed() => if changed.is_err() || control.borrow().stop { return Ok(()) },
        }
    }
}
