//! One rate step, seen from the coordinator: announce its plan, sample the
//! server and report progress every second, wait for the last deliveries,
//! and sum what the connection tasks counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{Control, Ctx, StepPlan, StepResult, progress};
use crate::stats::{self, ProcSample, StepCounts};
use crate::target::Target;

pub(super) async fn run_step(
    ctx: &Arc<Ctx>,
    control: &watch::Sender<Control>,
    index: u32,
    rate: f64,
) -> StepResult {
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
