//! One run: lay the connections out in rooms, connect them (room creators
//! first), let them settle, then run each rate step open-loop and collect
//! what every receiver saw.
//!
//! One task per connection does everything for it: reads and parses frames,
//! writes its scheduled messages, answers pings. A watch channel carries the
//! coordinator's orders (a new step, "hand your counts over", stop) to all
//! tasks at once; nothing else is shared but the sharded counters.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};
use tokio_util::task::TaskTracker;

use crate::stats::{self, Local, ProcSample, SHARDS, Shard, StepCounts};
use crate::target::{self, Connect, Incoming, JoinRole, Marker, RoomSpot, SendTemplate, Target};
use crate::wsclient::{Filled, Frame, WsClient};

/// Messages one publisher may catch up on in one wake-up when it is late;
/// the rest follow on the next turn, so reading is never starved.
const MAX_BURST: u32 = 64;
/// A natter publisher's sends awaiting their ack, at most. Beyond it the
/// server is hopelessly behind; later sends are counted as refused.
const MAX_OUTSTANDING_ACKS: usize = 100_000;

#[derive(Debug, Clone)]
pub struct Settings {
    pub target: Target,
    pub server: SocketAddr,
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
    pub server_pid: Option<u32>,
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

struct Room {
    name: String,
    /// Publishers in this room; they are its first members.
    publishers: u32,
    /// Members that read: the copies every message should produce.
    readers: u64,
    /// natter: the channel id, set by the room's creator.
    channel: OnceLock<i64>,
}

#[derive(Debug, Clone, Copy)]
struct ConnSpec {
    index: usize,
    room: usize,
    /// Number within the room's publishers, and within all publishers.
    publisher: Option<(u32, usize)>,
    reader: bool,
}

/// A user's connections in one room, set up one after the other.
struct Group {
    room: usize,
    user: usize,
    connections: std::ops::Range<usize>,
    creates_room: bool,
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
}

impl Ctx {
    fn now_micros(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
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

    let mut steps = Vec::new();
    for (index, &rate) in ctx.settings.rates.iter().enumerate() {
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
        if index + 1 < ctx.settings.rates.len() {
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
    }
}

fn progress(ctx: &Ctx, line: &str) {
    if ctx.settings.progress {
        eprintln!("[{:>6.1}s] {line}", ctx.epoch.elapsed().as_secs_f64());
    }
}

/// Rooms of `room_size`, publishers spread evenly and placed first in each
/// room, non-readers last, and natter users of `connections_per_user`
/// consecutive members.
fn lay_out(settings: &Settings) -> (Vec<Room>, Vec<ConnSpec>, Vec<Group>) {
    let room_size = settings.room_size.clamp(1, settings.connections.max(1));
    let room_count = settings.connections.div_ceil(room_size);
    let single_room = room_count == 1;
    let mut rooms = Vec::with_capacity(room_count);
    let mut specs = Vec::with_capacity(settings.connections);
    let mut groups = Vec::new();
    let mut publisher_global = 0;
    let per_user = if settings.target == Target::Natter { settings.connections_per_user.max(1) } else { 1 };
    for room in 0..room_count {
        let first = room * room_size;
        let members = room_size.min(settings.connections - first);
        // Publishers: an even share, the remainder to the first rooms.
        let share = settings.publishers / room_count + usize::from(room < settings.publishers % room_count);
        let publishers = share.min(members);
        let non_readers =
            ((members - publishers) as f64 * settings.non_readers_percent / 100.0).round() as usize;
        let name = match (settings.target, single_room) {
            // The hot room is where everyone already is: natter's General
            // (every user is a member) and the tutorial's default channel.
            (Target::Natter | Target::Socketio, true) => "General".to_owned(),
            _ => format!("r{}-{room}", settings.tag),
        };
        let channel = OnceLock::new();
        if settings.target == Target::Natter && single_room {
            channel.set(1).expect("a fresh cell");
        }
        for member in 0..members {
            let index = first + member;
            let publisher = (member < publishers).then(|| {
                publisher_global += 1;
                (member as u32, publisher_global - 1)
            });
            specs.push(ConnSpec { index, room, publisher, reader: member < members - non_readers });
        }
        let needs_creator = match settings.target {
            Target::Natter => !single_room,
            Target::Socketio => !single_room,
            Target::Floor => false,
        };
        let users_in_room = members.div_ceil(per_user);
        for user_in_room in 0..users_in_room {
            let start = first + user_in_room * per_user;
            let end = (start + per_user).min(first + members);
            groups.push(Group {
                room,
                user: groups.len(),
                connections: start..end,
                creates_room: needs_creator && user_in_room == 0,
            });
        }
        rooms.push(Room {
            name,
            publishers: publishers as u32,
            readers: (members - non_readers) as u64,
            channel,
        });
    }
    (rooms, specs, groups)
}

async fn set_up(ctx: &Arc<Ctx>, groups: Vec<Group>, tasks: &TaskTracker) {
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
        Target::Natter => {
            Some(target::natter_guest(source, settings.server, &user_name).await.map_err(|e| SetupError {
                message: format!("guest {user_name}: {e}"),
                connected_before_failure: 0,
            })?)
        }
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
            server: settings.server,
            token: token.as_deref(),
            user_name: (settings.target == Target::Socketio && settings.socketio_new_user)
                .then_some(socketio_name.as_str()),
            seed: (index as u32).wrapping_mul(2_654_435_761),
            slow_consumer: !ctx.specs[index].reader,
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

async fn run_step(ctx: &Arc<Ctx>, control: &watch::Sender<Control>, index: u32, rate: f64) -> StepResult {
    let settings = &ctx.settings;
    let total_publishers = ctx.specs.iter().filter(|s| s.publisher.is_some()).count().max(1);
    // A moment for every task to see the plan before its first send is due.
    let start_micros = ctx.now_micros() + 200_000;
    let window_micros = start_micros + settings.warmup.as_micros() as u64;
    let end_micros = window_micros + settings.duration.as_micros() as u64;
    let plan = StepPlan {
        index,
        start_micros,
        window_micros,
        end_micros,
        per_publisher_rate: rate / total_publishers as f64,
        poisson: settings.poisson,
    };
    progress(ctx, &format!("step {index}: {rate} messages/s from {total_publishers} publishers"));
    control.send_modify(|c| c.step = Some(plan));
    let pid = settings.server_pid;
    let own_pid = std::process::id();
    let mut window_start: Option<(Option<ProcSample>, Option<ProcSample>, Instant)> = None;
    let mut window_end: Option<(Option<ProcSample>, Option<ProcSample>, Instant)> = None;
    let mut rss_max: Option<u64> = None;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let at = |micros: u64| tokio::time::Instant::from_std(ctx.epoch + Duration::from_micros(micros));
    let window_at = at(window_micros);
    let end_at = at(end_micros);
    let drain_deadline = end_at + settings.drain;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(window_at), if window_start.is_none() => {
                let server = pid.and_then(stats::sample_process);
                window_start = Some((server, stats::sample_process(own_pid), Instant::now()));
                if let Some(sample) = server { rss_max = rss_max.max(Some(sample.rss_bytes)); }
            }
            _ = tokio::time::sleep_until(end_at), if window_end.is_none() => {
                let server = pid.and_then(stats::sample_process);
                window_end = Some((server, stats::sample_process(own_pid), Instant::now()));
                if let Some(sample) = server { rss_max = rss_max.max(Some(sample.rss_bytes)); }
            }
            _ = ticker.tick() => {
                let now = tokio::time::Instant::now();
                let server = pid.and_then(stats::sample_process);
                if let Some(sample) = server { rss_max = rss_max.max(Some(sample.rss_bytes)); }
                let (sent, delivered, interval) = take_interval(ctx);
                let p99 = interval.as_ref().map_or(0.0, |h| h.value_at_quantile(0.99) as f64 / 1000.0);
                let counts = step_counts(ctx, index);
                let phase = if now < window_at { "warmup" } else if now < end_at { "measure" } else { "drain" };
                progress(ctx, &format!(
                    "step {index} {phase}: sent {sent}/s, delivered {delivered}/s, p99 {p99:.2} ms, \
                     missing {} of {}, server {}",
                    counts.expected.saturating_sub(counts.delivered),
                    counts.expected,
                    server.map_or_else(|| "?".to_owned(), |s| format!("{:.0} MiB", s.rss_bytes as f64 / 1048576.0)),
                ));
                control.send_modify(|c| c.flush += 1);
                if now >= end_at {
                    // Drain: done when every expected copy (and ack) is in.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let counts = step_counts(ctx, index);
                    let acks_done = settings.target != Target::Natter || counts.acks + counts.errors >= counts.sent;
                    if (counts.delivered >= counts.expected && acks_done) || now >= drain_deadline {
                        break;
                    }
                    ticker.reset_after(Duration::from_millis(300));
                }
            }
        }
    }
    control.send_modify(|c| c.flush += 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = step_counts(ctx, index);
    let (server_cpu_percent, generator_cpu_percent, server_rss_start, server_rss_end) =
        match (window_start, window_end) {
            (Some((s0, g0, t0)), Some((s1, g1, t1))) => {
                let wall = t1.duration_since(t0).as_secs_f64().max(1e-3);
                let cpu = |a: Option<ProcSample>, b: Option<ProcSample>| {
                    Some((b?.cpu_seconds - a?.cpu_seconds) / wall * 100.0)
                };
                (cpu(s0, s1), cpu(g0, g1), s0.map(|s| s.rss_bytes), s1.map(|s| s.rss_bytes))
            }
            _ => (None, None, None, None),
        };
    StepResult {
        rate,
        counts,
        seconds: settings.duration.as_secs_f64(),
        warmup: settings.warmup.as_secs_f64(),
        server_cpu_percent,
        server_rss_start,
        server_rss_max: rss_max,
        server_rss_end,
        generator_cpu_percent,
    }
}

/// Sums one step's counts over the shards.
fn step_counts(ctx: &Ctx, step: u32) -> StepCounts {
    let mut total = StepCounts::default();
    for shard in &ctx.shards {
        let data = shard.lock().expect("a shard lock is never held across a panic");
        if let Some(counts) = data.steps.get(step as usize) {
            total.add(counts);
        }
    }
    total
}

/// Takes the per-second counters from every shard, resetting them.
fn take_interval(ctx: &Ctx) -> (u64, u64, Option<hdrhistogram::Histogram<u64>>) {
    let mut sent = 0;
    let mut delivered = 0;
    let mut merged: Option<hdrhistogram::Histogram<u64>> = None;
    for shard in &ctx.shards {
        let mut data = shard.lock().expect("a shard lock is never held across a panic");
        sent += std::mem::take(&mut data.interval_sent);
        delivered += std::mem::take(&mut data.interval_deliveries);
        if let Some(histogram) = data.interval.take() {
            match &mut merged {
                Some(total) => total.add(&histogram).expect("histograms share bounds"),
                None => merged = Some(histogram),
            }
        }
    }
    (sent, delivered, merged)
}

/// A publisher's place in its current step's schedule.
struct Schedule {
    plan: StepPlan,
    /// Intended time of the next message, µs since the epoch (fractional, so
    /// constant rates do not drift by rounding).
    next: f64,
}

/// xorshift64*: cheap randomness for Poisson gaps, seeded per connection.
fn next_random(state: &mut u64) -> f64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    let value = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
    // 53 random bits in (0, 1].
    ((value >> 11) as f64 + 1.0) / (1u64 << 53) as f64
}

fn gap_micros(plan: &StepPlan, random: &mut u64) -> f64 {
    let mean = 1e6 / plan.per_publisher_rate;
    if plan.poisson { -next_random(random).ln() * mean } else { mean }
}

async fn connection_task(ctx: Arc<Ctx>, spec: ConnSpec, mut ws: WsClient, spot: RoomSpot, sender: String) {
    let target = ctx.settings.target;
    let shard = &ctx.shards[spec.index % SHARDS];
    let room = &ctx.rooms[spec.room];
    let template = SendTemplate::new(target, &spot, &sender);
    let mut local = Local::default();
    let mut control = ctx.control.clone();
    let mut last_seq = vec![0u32; room.publishers as usize];
    let mut outstanding: VecDeque<(u32, bool, u64)> = VecDeque::new();
    let mut random = (spec.index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut marker = Vec::with_capacity(48);
    let mut client_id = Vec::with_capacity(24);
    let mut seq: u32 = 0;
    let mut schedule: Option<Schedule> = None;
    let mut current_step: Option<u32> = None;
    let mut reading = true;
    let mut closed = false;
    let far = tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let timer = tokio::time::sleep_until(far);
    tokio::pin!(timer);
    let at = |micros: f64| tokio::time::Instant::from_std(ctx.epoch + Duration::from_micros(micros as u64));
    let mut close_code: Option<u16> = None;
    loop {
        tokio::select! {
            biased;
            changed = control.changed() => {
                if changed.is_err() {
                    break;
                }
                let orders = control.borrow_and_update().clone();
                local.flush(shard);
                if orders.stop {
                    if !spec.reader && !closed {
                        // A slow consumer never looked: did the server close it?
                        close_code = closed_while_not_reading(&mut ws).await;
                    }
                    break;
                }
                if let Some(plan) = orders.step
                    && current_step != Some(plan.index)
                {
                    current_step = Some(plan.index);
                    if !spec.reader {
                        reading = false;
                    }
                    if let (Some((_, global)), false) = (spec.publisher, closed) {
                        let total = (plan.per_publisher_rate > 0.0).then_some(());
                        schedule = total.map(|()| {
                            let first = if plan.poisson {
                                plan.start_micros as f64 + gap_micros(&plan, &mut random)
                            } else {
                                // Spread the publishers' phases evenly over one gap.
                                let publishers = plan_publishers(&ctx);
                                plan.start_micros as f64
                                    + gap_micros(&plan, &mut random) * (global as f64 / publishers as f64)
                            };
                            Schedule { plan, next: first }
                        });
                        if let Some(schedule) = &schedule {
                            timer.as_mut().reset(at(schedule.next));
                        }
                    }
                }
            }
            ready = ws.stream.readable(), if reading && !closed => {
                let outcome = match ready {
                    Err(error) => Err(error),
                    Ok(()) => ws.try_fill(),
                };
                match outcome {
                    Ok(Filled::Nothing) => continue,
                    Ok(Filled::End) | Err(_) => {
                        close_code.get_or_insert(1006);
                        closed = true;
                    }
                    Ok(Filled::Data) => {}
                }
                let now = ctx.now_micros();
                let mut batch_full = false;
                while !closed {
                    let incoming = match ws.next_frame() {
                        Ok(None) => break,
                        Err(_) => {
                            close_code.get_or_insert(1002);
                            closed = true;
                            break;
                        }
                        Ok(Some(Frame::Close(code))) => {
                            close_code = Some(code);
                            closed = true;
                            break;
                        }
                        Ok(Some(Frame::Text(text))) => {
                            let incoming = target::classify(target, text);
                            if matches!(incoming, Incoming::Error) && local.first_error.is_none() {
                                local.first_error = Some(String::from_utf8_lossy(text).into_owned());
                            }
                            incoming
                        }
                    };
                    match incoming {
                        Incoming::Delivery(found) => {
                            if !spec.reader {
                                continue;
                            }
                            let Some(last) = last_seq.get_mut(found.publisher as usize) else { continue };
                            if found.seq > *last {
                                *last = found.seq;
                                let latency = now.saturating_sub(found.intended_micros);
                                batch_full |= local.delivered(found.step as usize, latency, found.in_window);
                            } else {
                                local.duplicate(found.step as usize);
                            }
                        }
                        Incoming::Ack => {
                            if let Some((step, in_window, intended)) = outstanding.pop_front() {
                                batch_full |= local.acked(step as usize, now.saturating_sub(intended), in_window);
                            }
                        }
                        Incoming::Error => {
                            if let Some((step, _, _)) = outstanding.pop_front() {
                                local.error(step as usize, room.readers);
                            }
                        }
                        Incoming::EngineIoPing => {
                            ws.queue_text(b"3");
                        }
                        Incoming::Disconnected => {
                            close_code.get_or_insert(1000);
                            closed = true;
                        }
                        Incoming::Other => {}
                    }
                }
                if ws.has_pending_write() && ws.try_flush().is_err() {
                    close_code.get_or_insert(1006);
                    closed = true;
                }
                if batch_full {
                    local.flush(shard);
                }
                if closed {
                    schedule = None;
                }
            }
            ready = ws.stream.writable(), if ws.has_pending_write() && !closed => {
                if ready.is_err() || ws.try_flush().is_err() {
                    close_code.get_or_insert(1006);
                    closed = true;
                    schedule = None;
                }
            }
            () = &mut timer, if schedule.is_some() => {
                let Some(current) = schedule.as_mut() else { continue };
                let plan = current.plan;
                let now = ctx.now_micros() as f64;
                let mut burst = 0;
                let publisher = spec.publisher.map_or(0, |(in_room, _)| in_room);
                while current.next <= now && current.next < plan.end_micros as f64 && burst < MAX_BURST {
                    burst += 1;
                    seq += 1;
                    let intended = current.next as u64;
                    let in_window = intended >= plan.window_micros;
                    Marker { step: plan.index, in_window, publisher, seq, intended_micros: intended }
                        .write(&mut marker);
                    let padding = &ctx.padding[..ctx.settings.payload.saturating_sub(marker.len())];
                    let queued = if template.uses_client_id {
                        use std::io::Write as _;
                        client_id.clear();
                        write!(client_id, "c{:x}-{seq:x}", spec.index).expect("writing to a Vec cannot fail");
                        outstanding.len() < MAX_OUTSTANDING_ACKS
                            && ws.queue_text_parts(&[
                                &template.head,
                                &client_id,
                                &template.middle,
                                &marker,
                                padding,
                                &template.tail,
                            ])
                    } else {
                        ws.queue_text_parts(&[&template.head, &marker, padding, &template.tail])
                    };
                    if queued {
                        local.sent(plan.index as usize, room.readers);
                        if template.uses_client_id {
                            outstanding.push_back((plan.index, in_window, intended));
                        }
                    } else {
                        local.refused(plan.index as usize);
                    }
                    current.next += gap_micros(&plan, &mut random);
                }
                if current.next >= plan.end_micros as f64 {
                    schedule = None;
                } else {
                    timer.as_mut().reset(at(current.next));
                }
                if ws.try_flush().is_err() {
                    close_code.get_or_insert(1006);
                    closed = true;
                    schedule = None;
                }
            }
        }
    }
    local.flush(shard);
    if let Some(code) = close_code {
        let mut data = shard.lock().expect("a shard lock is never held across a panic");
        data.closed += 1;
        match data.close_codes.iter_mut().find(|(c, _)| *c == code) {
            Some(entry) => entry.1 += 1,
            None => data.close_codes.push((code, 1)),
        }
    }
}

/// Reads what a connection that stopped reading was sent, looking for the
/// server's close (or the end of the stream). Bounded in time: a server that
/// kept it open still has data for it after this.
async fn closed_while_not_reading(ws: &mut WsClient) -> Option<u16> {
    let look = async {
        loop {
            loop {
                match ws.next_frame() {
                    Ok(Some(Frame::Close(code))) => return Some(code),
                    Ok(Some(Frame::Text(_))) => {}
                    Ok(None) => break,
                    Err(_) => return Some(1002),
                }
            }
            match ws.fill().await {
                Ok(true) => {}
                Ok(false) | Err(_) => return Some(1006),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(3), look).await.ok().flatten()
}

fn plan_publishers(ctx: &Ctx) -> usize {
    ctx.rooms.iter().map(|room| room.publishers as usize).sum::<usize>().max(1)
}
