//! One run: lay the connections out in rooms, connect them (room creators
//! first), let them settle, then run each rate step open-loop and collect
//! what every receiver saw.
//!
//! One task per connection does everything for it: reads and parses frames,
//! writes its scheduled messages, answers pings. A watch channel carries the
//! coordinator's orders (a new step, "hand your counts over", stop) to all
//! tasks at once; nothing else is shared but the sharded counters.
//!
//! This file is the coordinator: the settings, the orders it sends, and the
//! run from setup to the last step. Its submodules lay the connections out,
//! connect them, run each step, and hold the connection task and its
//! schedule.

mod layout;
mod setup;
mod step;
mod barrier;
mod connection;
mod schedule;
mod storm;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use self::layout::{ConnSpec, Group, Room, lay_out};
use self::setup::set_up;
use self::step::run_step;
pub use self::storm::StormCounts;
use crate::stats::{self, ProcSample, Shard, StepCounts};
use crate::target::Target;

#[derive(Debug, Clone)]
pub struct Settings {
    pub target: Target,
    /// The nodes; connection `i` goes to `servers[i % len]`.
    pub servers: Vec<SocketAddr>,
    /// This generator's number among several (see `barrier`).
    pub origin: u32,
    /// Several generators: the folder they meet in before the first step,
    /// and how many they are.
    pub barrier: Option<(std::path::PathBuf, usize)>,
    pub connections: usize,
    /// Members per room; the last room may be smaller.
    pub room_size: usize,
    /// Connections that publish, spread evenly over the rooms.
    pub publishers: usize,
    /// Aggregate messages per second, one step each.
    pub rates: Vec<f64>,
    pub poisson: bool,
    /// Body size in bytes (marker included).
    pub payload: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Longest wait after a step for its last deliveries.
    pub drain: Duration,
    /// Idle time after setup before the first step (and the idle sample).
    pub settle: Duration,
    /// Stop the sweep after the first step whose p99 exceeds this.
    pub stop_p99_ms: Option<f64>,
    /// Share of each room (publishers excepted) that stops reading when
    /// the first step starts.
    pub non_readers_percent: f64,
    /// natter: connections sharing one guest user (all in the same room).
    pub connections_per_user: usize,
    pub sources: Vec<IpAddr>,
    pub connect_concurrency: usize,
    /// Socket.IO: log in with `new user` (natter's endpoint needs it).
    pub socketio_new_user: bool,
    /// natter: say `hello` asking for watched presence.
    pub watched_presence: bool,
    pub server_pid: Option<u32>,
    /// natter: users arriving during the first step (a login storm, W6),
    /// one connection each, and how many arrive per second.
    pub storm_users: usize,
    pub storm_rate: f64,
    /// Makes names unique to this run.
    pub tag: String,
    pub progress: bool,
}

/// What the coordinator tells every connection task.
#[derive(Debug, Clone, Default)]
struct Control {
    /// Bumped to make every task hand its counts over.
    flush: u64,
    step: Option<StepPlan>,
    stop: bool,
}

#[derive(Debug, Clone, Copy)]
struct StepPlan {
    index: u32,
    start_micros: u64,
    window_micros: u64,
    end_micros: u64,
    per_publisher_rate: f64,
    poisson: bool,
}

struct Ctx {
    settings: Settings,
    epoch: Instant,
    shards: Vec<Shard>,
    rooms: Vec<Room>,
    specs: Vec<ConnSpec>,
    padding: Vec<u8>,
    control: watch::Receiver<Control>,
    connected: AtomicU64,
    failed: AtomicU64,
    first_failure: Mutex<Option<String>>,
    storm: Arc<StormCounts>,
}

impl Ctx {
    fn now_micros(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

impl Settings {
    /// The node connection (or storm arrival) `index` goes to.
    pub fn server_for(&self, index: usize) -> SocketAddr {
        self.servers[index % self.servers.len()]
    }
}

/// What the run measured, for the report.
pub struct Outcome {
    pub settings: Settings,
    pub connected: u64,
    pub failed: u64,
    pub first_failure: Option<String>,
    pub setup_seconds: f64,
    pub server_before: Option<ProcSample>,
    pub server_idle: Option<ProcSample>,
    pub steps: Vec<StepResult>,
    pub closed: u64,
    pub close_codes: Vec<(u16, u64)>,
    pub first_error: Option<String>,
    /// The login storm's arrivals, if there was one.
    pub storm: Option<Arc<StormCounts>>,
    /// Several generators: why they did not all meet (then no step ran).
    pub barrier_error: Option<String>,
}

pub struct StepResult {
    pub rate: f64,
    pub counts: StepCounts,
    pub seconds: f64,
    pub warmup: f64,
    pub server_cpu_percent: Option<f64>,
    pub server_rss_start: Option<u64>,
    pub server_rss_max: Option<u64>,
    pub server_rss_end: Option<u64>,
    pub generator_cpu_percent: Option<f64>,
}

pub async fn run(settings: Settings) -> Outcome {
    let (rooms, specs, groups) = lay_out(&settings);
    let (control_sender, control) = watch::channel(Control::default());
    let ctx = Arc::new(Ctx {
        padding: vec![b'x'; settings.payload],
        settings,
        epoch: Instant::now(),
        shards: stats::shards(),
        rooms,
        specs,
        control,
        connected: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        first_failure: Mutex::new(None),
        storm: Arc::new(StormCounts::new()),
    });
    let pid = ctx.settings.server_pid;
    let server_before = pid.and_then(stats::sample_process);
    let tasks = TaskTracker::new();
    let setup_started = Instant::now();
    // Rooms must exist before anyone joins them: creators' groups first.
    let (creators, others): (Vec<Group>, Vec<Group>) = groups.into_iter().partition(|g| g.creates_room);
    for phase in [creators, others] {
        set_up(&ctx, phase, &tasks).await;
    }
    let setup_seconds = setup_started.elapsed().as_secs_f64();
    progress(
        &ctx,
        &format!(
            "connected {} of {} in {setup_seconds:.1}s ({} failed); settling for {:?}",
            ctx.connected.load(Ordering::Relaxed),
            ctx.settings.connections,
            ctx.failed.load(Ordering::Relaxed),
            ctx.settings.settle
        ),
    );
    tokio::time::sleep(ctx.settings.settle).await;
    let server_idle = pid.and_then(stats::sample_process);
    let mut barrier_error = None;
    if let Some((folder, processes)) = &ctx.settings.barrier {
        progress(&ctx, &format!("waiting for {processes} generators in {}", folder.display()));
        if let Err(error) = barrier::wait_for_all(folder, ctx.settings.origin, *processes).await {
            progress(&ctx, &format!("the generators did not meet ({error}); no step is run"));
            barrier_error = Some(error.to_string());
        }
    }
    // Alone, a process would measure another load than the run's.
    let rates: &[f64] = if barrier_error.is_some() { &[] } else { &ctx.settings.rates };

    let storming = ctx.settings.storm_users > 0 && ctx.settings.target == Target::Natter;
    if storming {
        // When the first step's window opens (`run_step` plans the same).
        let start = ctx.now_micros() + 200_000 + ctx.settings.warmup.as_micros() as u64;
        storm::start(&ctx, &tasks, ctx.settings.storm_users, ctx.settings.storm_rate, start);
    }
    let mut steps = Vec::new();
    for (index, &rate) in rates.iter().enumerate() {
        let result = run_step(&ctx, &control_sender, index as u32, rate).await;
        let p99 = result.counts.latency.value_at_quantile(0.99) as f64 / 1000.0;
        let expected = result.counts.expected;
        steps.push(result);
        if let Some(limit) = ctx.settings.stop_p99_ms
            && (p99 > limit || expected == 0)
        {
            progress(&ctx, &format!("p99 {p99:.1} ms is past {limit} ms: the sweep ends here"));
            break;
        }
        if index + 1 < rates.len() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    control_sender.send_modify(|control| control.stop = true);
    tasks.close();
    if tokio::time::timeout(Duration::from_secs(20), tasks.wait()).await.is_err() {
        progress(&ctx, "some connection tasks did not stop within 20 s");
    }
    let mut closed = 0;
    let mut close_codes: Vec<(u16, u64)> = Vec::new();
    let mut first_error = None;
    for shard in &ctx.shards {
        let data = shard.lock().expect("a shard lock is never held across a panic");
        closed += data.closed;
        for &(code, count) in &data.close_codes {
            match close_codes.iter_mut().find(|(c, _)| *c == code) {
                Some(entry) => entry.1 += count,
                None => close_codes.push((code, count)),
            }
        }
        if first_error.is_none() {
            first_error.clone_from(&data.first_error);
        }
    }
    Outcome {
        settings: ctx.settings.clone(),
        connected: ctx.connected.load(Ordering::Relaxed),
        failed: ctx.failed.load(Ordering::Relaxed),
        first_failure: ctx.first_failure.lock().expect("never poisoned").clone(),
        setup_seconds,
        server_before,
        server_idle,
        steps,
        closed,
        close_codes,
        first_error,
        storm: storming.then(|| Arc::clone(&ctx.storm)),
        barrier_error,
    }
}

fn progress(ctx: &Ctx, line: &str) {
    if ctx.settings.progress {
        eprintln!("[{:>6.1}s] {line}", ctx.epoch.elapsed().as_secs_f64());
    }
}
