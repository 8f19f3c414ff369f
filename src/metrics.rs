//! Process metrics, rendered in the Prometheus text format at `GET /metrics`.
//!
//! A handful of atomics is all natter needs, so this is written out rather than
//! pulling in a metrics framework. Every layer records into one shared
//! [`Metrics`]; only the HTTP edge renders it.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

/// A cumulative histogram with fixed upper bounds.
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, plus the `+Inf` bucket at the end.
    counts: Vec<AtomicU64>,
    /// The sum of observations, as `f64` bits.
    sum_bits: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }
    }

    pub fn observe(&self, value: f64) {
        let bucket = self.bounds.iter().position(|bound| value <= *bound).unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        // A lost race only retries; observations are never dropped.
        let _ = self.sum_bits.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            Some((f64::from_bits(bits) + value).to_bits())
        });
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.counts[self.bounds.len()].load(Ordering::Relaxed);
        let sum = f64::from_bits(self.sum_bits.load(Ordering::Relaxed));
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cumulative}");
    }
}

const BATCH_SIZE_BOUNDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
const COMMIT_SECONDS_BOUNDS: &[f64] = &[0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0];
const SEARCH_SECONDS_BOUNDS: &[f64] = &[0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

pub struct Metrics {
    /// WebSocket connections open now.
    pub connections: Gauge,
    pub connections_total: Counter,
    /// Messages committed (not counting idempotent repeats).
    pub messages_total: Counter,
    /// Frames queued to connections for delivery.
    pub deliveries_total: Counter,
    /// Ephemeral frames (typing) dropped because a client's queue was full.
    pub queue_drops_total: Counter,
    /// Connections closed because their queue overflowed.
    pub slow_client_closes_total: Counter,
    /// Requests refused by a rate limit.
    pub rate_limited_total: Counter,
    /// Jobs per storage transaction.
    pub commit_batch_size: Histogram,
    /// Wall time of one storage transaction, including the fsync.
    pub commit_seconds: Histogram,
    /// Searches answered (with hits or none; refused ones not counted).
    pub searches_total: Counter,
    /// Wall time of one search, from the request to its answer.
    pub search_seconds: Histogram,
    /// Bytes held in files not deleted, over the whole workspace (read
    /// from the database every minute and after each upload).
    pub files_stored_bytes: Gauge,
    /// Uploads stored.
    pub uploads_total: Counter,
    /// Uploads that failed or were refused once their bytes began to
    /// arrive (too large, over quota, cut off, a storage failure).
    pub upload_failures_total: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            connections: Gauge::default(),
            connections_total: Counter::default(),
            messages_total: Counter::default(),
            deliveries_total: Counter::default(),
            queue_drops_total: Counter::default(),
            slow_client_closes_total: Counter::default(),
            rate_limited_total: Counter::default(),
            commit_batch_size: Histogram::new(BATCH_SIZE_BOUNDS),
            commit_seconds: Histogram::new(COMMIT_SECONDS_BOUNDS),
            searches_total: Counter::default(),
            search_seconds: Histogram::new(SEARCH_SECONDS_BOUNDS),
            files_stored_bytes: Gauge::default(),
            uploads_total: Counter::default(),
            upload_failures_total: Counter::default(),
        }
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let gauges = [
            ("natter_connections", "WebSocket connections open now.", self.connections.get()),
            ("natter_files_stored_bytes", "Bytes held in files not deleted.", self.files_stored_bytes.get()),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        let counters = [
            ("natter_connections_total", "WebSocket connections accepted.", &self.connections_total),
            ("natter_messages_total", "Messages committed.", &self.messages_total),
            ("natter_deliveries_total", "Frames queued to connections.", &self.deliveries_total),
            ("natter_queue_drops_total", "Ephemeral frames dropped on full queues.", &self.queue_drops_total),
            (
                "natter_slow_client_closes_total",
                "Connections closed for reading too slowly.",
                &self.slow_client_closes_total,
            ),
            ("natter_rate_limited_total", "Requests refused by a rate limit.", &self.rate_limited_total),
            ("natter_searches_total", "Searches answered.", &self.searches_total),
            ("natter_uploads_total", "Uploads stored.", &self.uploads_total),
            ("natter_upload_failures_total", "Uploads failed or refused.", &self.upload_failures_total),
        ];
        for (name, help, counter) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", counter.get());
        }
        self.commit_batch_size.render(
            &mut out,
            "natter_commit_batch_size",
            "Jobs per storage transaction (group commit).",
        );
        self.commit_seconds.render(
            &mut out,
            "natter_commit_seconds",
            "Duration of one storage transaction including fsync.",
        );
        self.search_seconds.render(&mut out, "natter_search_seconds", "Duration of one search.");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let metrics = Metrics::default();
        metrics.commit_batch_size.observe(1.0);
        metrics.commit_batch_size.observe(3.0);
        metrics.commit_batch_size.observe(1000.0);
        let text = metrics.render();
        assert!(text.contains("natter_commit_batch_size_bucket{le=\"1\"} 1"), "{text}");
        assert!(text.contains("natter_commit_batch_size_bucket{le=\"4\"} 2"), "{text}");
        assert!(text.contains("natter_commit_batch_size_bucket{le=\"+Inf\"} 3"), "{text}");
        assert!(text.contains("natter_commit_batch_size_sum 1004"), "{text}");
    }
}
