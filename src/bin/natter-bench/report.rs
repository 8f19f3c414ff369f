//! Turns a run's [`Outcome`] into the table printed at the end, the JSON of
//! `--json` (which `bench/run` reads) and the CSV of `--csv`.

use std::fmt::Write as _;

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::run::{Outcome, StepResult};

const MIB: f64 = 1024.0 * 1024.0;

fn millis(histogram: &hdrhistogram::Histogram<u64>, quantile: f64) -> f64 {
    if histogram.is_empty() { 0.0 } else { histogram.value_at_quantile(quantile) as f64 / 1000.0 }
}

fn max_millis(histogram: &hdrhistogram::Histogram<u64>) -> f64 {
    if histogram.is_empty() { 0.0 } else { histogram.max() as f64 / 1000.0 }
}

/// Server memory added per connection while idle, in bytes.
fn idle_bytes_per_connection(outcome: &Outcome) -> Option<f64> {
    let before = outcome.server_before?;
    let idle = outcome.server_idle?;
    (outcome.connected > 0)
        .then(|| (idle.rss_bytes as f64 - before.rss_bytes as f64) / outcome.connected as f64)
}

pub fn table(outcome: &Outcome) -> String {
    let settings = &outcome.settings;
    let mut out = String::new();
    let rooms = settings.connections.div_ceil(settings.room_size.max(1));
    let _ = writeln!(
        out,
        "natter-bench: {:?} at {}, {} connections in {rooms} room(s) of {}, {} publishers, {}-byte bodies{}",
        settings.target,
        servers(settings),
        settings.connections,
        settings.room_size,
        settings.publishers.min(settings.connections),
        settings.payload,
        if settings.poisson { ", Poisson arrivals" } else { "" }
    );
    let _ = writeln!(
        out,
        "connected {} ({} failed) in {:.1} s",
        outcome.connected, outcome.failed, outcome.setup_seconds
    );
    if let Some(failure) = &outcome.first_failure {
        let _ = writeln!(out, "first failure: {failure}");
    }
    if let (Some(before), Some(idle)) = (outcome.server_before, outcome.server_idle) {
        let _ = writeln!(
            out,
            "server RSS {:.1} MiB before connecting, {:.1} MiB with all connected: {:.1} KiB per connection",
            before.rss_bytes as f64 / MIB,
            idle.rss_bytes as f64 / MIB,
            idle_bytes_per_connection(outcome).unwrap_or(0.0) / 1024.0
        );
    }
    if let Some(storm) = &outcome.storm {
        let latency = storm.welcome_latency.lock().expect("never poisoned");
        let _ = writeln!(
            out,
            "login storm: {} of {} users arrived at {}/s ({} failed), welcome p50 {:.1} ms p99 {:.1} ms, \
             {:.1} MiB received after their welcomes",
            storm.arrived.load(Ordering::Relaxed),
            settings.storm_users,
            settings.storm_rate,
            storm.failed.load(Ordering::Relaxed),
            millis(&latency, 0.5),
            millis(&latency, 0.99),
            storm.bytes_after_welcome.load(Ordering::Relaxed) as f64 / MIB,
        );
        if let Some(failure) = storm.first_failure.lock().expect("never poisoned").as_ref() {
            let _ = writeln!(out, "first storm failure: {failure}");
        }
    }
    if !outcome.steps.is_empty() {
        let _ = writeln!(
            out,
            "{:>9} {:>9} {:>12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>9} {:>8} {:>6} {:>7} {:>7} {:>8}",
            "rate/s",
            "sent/s",
            "deliveries/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "drops",
            "dups",
            "acks/s",
            "ack p99",
            "errors",
            "srv cpu",
            "gen cpu",
            "srv MiB",
        );
    }
    for step in &outcome.steps {
        let counts = &step.counts;
        let _ = writeln!(
            out,
            "{:>9.0} {:>9.0} {:>12.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8} {:>6} {:>9.0} {:>8.2} {:>6} {:>6.0}% {:>6.0}% {:>8.1}",
            step.rate,
            sent_per_second(step),
            deliveries_per_second(step),
            millis(&counts.latency, 0.5),
            millis(&counts.latency, 0.99),
            millis(&counts.latency, 0.999),
            max_millis(&counts.latency),
            drops(step),
            counts.duplicates,
            counts.ack_latency.len() as f64 / step.seconds,
            millis(&counts.ack_latency, 0.99),
            counts.errors,
            step.server_cpu_percent.unwrap_or(0.0),
            step.generator_cpu_percent.unwrap_or(0.0),
            step.server_rss_max.unwrap_or(0) as f64 / MIB,
        );
    }
    if outcome.closed > 0 {
        let _ = writeln!(
            out,
            "connections closed by the server: {} (codes {:?})",
            outcome.closed, outcome.close_codes
        );
    }
    if let Some(error) = &outcome.first_error {
        let _ = writeln!(out, "first error reply: {error}");
    }
    out
}

/// Messages sent over the whole step (warm-up included), per second.
fn sent_per_second(step: &StepResult) -> f64 {
    step.counts.sent as f64 / (step.seconds + step.warmup).max(1e-3)
}

/// First-time deliveries of messages sent inside the window, per second.
fn deliveries_per_second(step: &StepResult) -> f64 {
    step.counts.latency.len() as f64 / step.seconds.max(1e-3)
}

fn drops(step: &StepResult) -> u64 {
    step.counts.expected.saturating_sub(step.counts.delivered)
}

/// The server's address, or the nodes' addresses, comma-separated.
fn servers(settings: &crate::run::Settings) -> String {
    settings.servers.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

pub fn json(outcome: &Outcome) -> Value {
    let settings = &outcome.settings;
    let steps: Vec<Value> = outcome
        .steps
        .iter()
        .map(|step| {
            let counts = &step.counts;
            json!({
                "rate": step.rate,
                "seconds": step.seconds,
                "sent": counts.sent,
                "sent_per_second": sent_per_second(step),
                "refused": counts.refused,
                "expected": counts.expected,
                "delivered": counts.delivered,
                "deliveries_per_second": deliveries_per_second(step),
                "drops": drops(step),
                "duplicates": counts.duplicates,
                // Every recorded value (µs) and its count, so that the
                // histograms of several generator processes can be merged.
                "latency_buckets": counts
                    .latency
                    .iter_recorded()
                    .map(|bucket| [bucket.value_iterated_to(), bucket.count_at_value()])
                    .collect::<Vec<_>>(),
                "latency_ms": {
                    "count": counts.latency.len(),
                    "p50": millis(&counts.latency, 0.5),
                    "p99": millis(&counts.latency, 0.99),
                    "p999": millis(&counts.latency, 0.999),
                    "max": max_millis(&counts.latency),
                },
                "acks": counts.acks,
                "acks_per_second": counts.ack_latency.len() as f64 / step.seconds.max(1e-3),
                "ack_latency_ms": {
                    "count": counts.ack_latency.len(),
                    "p50": millis(&counts.ack_latency, 0.5),
                    "p99": millis(&counts.ack_latency, 0.99),
                    "p999": millis(&counts.ack_latency, 0.999),
                    "max": max_millis(&counts.ack_latency),
                },
                "errors": counts.errors,
                "server_cpu_percent": step.server_cpu_percent,
                "generator_cpu_percent": step.generator_cpu_percent,
                "server_rss_start": step.server_rss_start,
                "server_rss_max": step.server_rss_max,
                "server_rss_end": step.server_rss_end,
            })
        })
        .collect();
    json!({
        "target": format!("{:?}", settings.target).to_lowercase(),
        "server": servers(settings),
        "origin": settings.origin,
        "connections": settings.connections,
        "room_size": settings.room_size,
        "publishers": settings.publishers.min(settings.connections),
        "payload": settings.payload,
        "poisson": settings.poisson,
        "non_readers_percent": settings.non_readers_percent,
        "connections_per_user": settings.connections_per_user,
        "warmup": settings.warmup.as_secs_f64(),
        "duration": settings.duration.as_secs_f64(),
        "connected": outcome.connected,
        "failed": outcome.failed,
        "first_failure": outcome.first_failure,
        "setup_seconds": outcome.setup_seconds,
        "server_rss_before": outcome.server_before.map(|s| s.rss_bytes),
        "server_rss_idle": outcome.server_idle.map(|s| s.rss_bytes),
        "idle_bytes_per_connection": idle_bytes_per_connection(outcome),
        "closed_by_server": outcome.closed,
        "close_codes": outcome.close_codes,
        "first_error": outcome.first_error,
        "barrier_error": outcome.barrier_error,
        "steps": steps,
        "storm": outcome.storm.as_ref().map(|storm| {
            let latency = storm.welcome_latency.lock().expect("never poisoned");
            json!({
                "users": settings.storm_users,
                "rate": settings.storm_rate,
                "arrived": storm.arrived.load(Ordering::Relaxed),
                "failed": storm.failed.load(Ordering::Relaxed),
                "first_failure": storm.first_failure.lock().expect("never poisoned").clone(),
                "bytes_after_welcome": storm.bytes_after_welcome.load(Ordering::Relaxed),
                "welcome_ms": { "p50": millis(&latency, 0.5), "p99": millis(&latency, 0.99), "max": max_millis(&latency) },
            })
        }),
    })
}

pub fn csv(outcome: &Outcome) -> String {
    let mut out = String::from(
        "target,connections,room_size,rate,sent_per_second,deliveries_per_second,p50_ms,p99_ms,p999_ms,max_ms,\
         drops,duplicates,acks_per_second,ack_p99_ms,errors,server_cpu_percent,server_rss_max\n",
    );
    let settings = &outcome.settings;
    for step in &outcome.steps {
        let counts = &step.counts;
        let _ = writeln!(
            out,
            "{:?},{},{},{},{:.1},{:.1},{:.3},{:.3},{:.3},{:.3},{},{},{:.1},{:.3},{},{:.1},{}",
            settings.target,
            settings.connections,
            settings.room_size,
            step.rate,
            sent_per_second(step),
            deliveries_per_second(step),
            millis(&counts.latency, 0.5),
            millis(&counts.latency, 0.99),
            millis(&counts.latency, 0.999),
            max_millis(&counts.latency),
            drops(step),
            counts.duplicates,
            counts.ack_latency.len() as f64 / step.seconds.max(1e-3),
            millis(&counts.ack_latency, 0.99),
            counts.errors,
            step.server_cpu_percent.unwrap_or(0.0),
            step.server_rss_max.unwrap_or(0),
        );
    }
    out
}
