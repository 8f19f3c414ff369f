//! What the generator counts, and where: each connection task accumulates in
//! a [`Local`] (no locks, no atomics), and hands its batch to one of a few
//! sharded [`Shard`]s when the batch is full or when the coordinator asks.
//! The coordinator sums the shards per step. Also the `/proc` sampler for the
//! server's CPU time and memory.
//!
//! Every count is per step (one rate of a sweep), keyed by the step number
//! carried in each message, so a late delivery is charged to the step that
//! sent it.

use std::sync::Mutex;

use hdrhistogram::Histogram;

/// Shards of the shared counters. Tasks pick one by connection number, so
/// two worker threads rarely contend for the same lock.
pub const SHARDS: usize = 16;
/// Latencies a task buffers before it takes its shard's lock.
const LOCAL_BATCH: usize = 64;
/// Histogram range: 1 µs to 2 minutes, 3 significant digits.
const HIGHEST_MICROS: u64 = 120_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_MICROS, 3).expect("static histogram bounds are valid")
}

/// One step's counts. Deliveries are counted per received copy.
#[derive(Clone)]
pub struct StepCounts {
    /// Messages written to the socket.
    pub sent: u64,
    /// Sends not made because the server had not read the previous ones
    /// (the write queue was at its bound).
    pub refused: u64,
    /// Copies that should arrive: for each message sent, the reading members
    /// of its room.
    pub expected: u64,
    /// Copies that arrived, first time per receiver.
    pub delivered: u64,
    /// Copies that arrived again, or out of order, at the same receiver.
    pub duplicates: u64,
    /// Acks (natter only): the message is committed.
    pub acks: u64,
    /// Error replies to sends (natter only).
    pub errors: u64,
    /// Delivery latency from the intended send time, µs.
    pub latency: Histogram<u64>,
    /// Ack latency from the intended send time, µs.
    pub ack_latency: Histogram<u64>,
}

impl Default for StepCounts {
    fn default() -> Self {
        Self {
            sent: 0,
            refused: 0,
            expected: 0,
            delivered: 0,
            duplicates: 0,
            acks: 0,
            errors: 0,
            latency: histogram(),
            ack_latency: histogram(),
        }
    }
}

impl StepCounts {
    pub fn add(&mut self, other: &StepCounts) {
        self.sent += other.sent;
        self.refused += other.refused;
        self.expected += other.expected;
        self.delivered += other.delivered;
        self.duplicates += other.duplicates;
        self.acks += other.acks;
        self.errors += other.errors;
        self.latency.add(&other.latency).expect("histograms share bounds");
        self.ack_latency.add(&other.ack_latency).expect("histograms share bounds");
    }
}

#[derive(Default)]
pub struct ShardData {
    pub steps: Vec<StepCounts>,
    /// Delivery latencies since the last progress line, any step.
    pub interval: Option<Histogram<u64>>,
    pub interval_deliveries: u64,
    pub interval_sent: u64,
    /// Connections the server closed (or that failed) after setup.
    pub closed: u64,
    /// Close codes seen, for the report (code, count).
    pub close_codes: Vec<(u16, u64)>,
    /// The first error frame seen, to show what the server objected to.
    pub first_error: Option<String>,
}

impl ShardData {
    fn step(&mut self, step: usize) -> &mut StepCounts {
        if self.steps.len() <= step {
            self.steps.resize_with(step + 1, StepCounts::default);
        }
        &mut self.steps[step]
    }
}

pub type Shard = Mutex<ShardData>;

pub fn shards() -> Vec<Shard> {
    (0..SHARDS).map(|_| Mutex::new(ShardData::default())).collect()
}

/// One step's counts inside a task, before they are handed over.
#[derive(Default)]
struct LocalStep {
    sent: u64,
    refused: u64,
    expected: u64,
    delivered: u64,
    duplicates: u64,
    acks: u64,
    errors: u64,
    /// Copies no longer expected: their message was refused with an error.
    withdrawn: u64,
    latencies: Vec<u32>,
    ack_latencies: Vec<u32>,
}

/// A connection task's unshared counters.
#[derive(Default)]
pub struct Local {
    steps: Vec<LocalStep>,
    buffered: usize,
    pub first_error: Option<String>,
}

impl Local {
    fn step(&mut self, step: usize) -> &mut LocalStep {
        if self.steps.len() <= step {
            self.steps.resize_with(step + 1, LocalStep::default);
        }
        &mut self.steps[step]
    }

    pub fn sent(&mut self, step: usize, expected_copies: u64) {
        let local = self.step(step);
        local.sent += 1;
        local.expected += expected_copies;
    }

    pub fn refused(&mut self, step: usize) {
        self.step(step).refused += 1;
    }

    /// Records a first-time delivery. Returns whether the batch is full.
    pub fn delivered(&mut self, step: usize, latency_micros: u64, in_window: bool) -> bool {
        let local = self.step(step);
        local.delivered += 1;
        if in_window {
            local.latencies.push(latency_micros.min(u64::from(u32::MAX)) as u32);
            self.buffered += 1;
        }
        self.buffered >= LOCAL_BATCH
    }

    pub fn duplicate(&mut self, step: usize) {
        self.step(step).duplicates += 1;
    }

    pub fn acked(&mut self, step: usize, latency_micros: u64, in_window: bool) -> bool {
        let local = self.step(step);
        local.acks += 1;
        if in_window {
            local.ack_latencies.push(latency_micros.min(u64::from(u32::MAX)) as u32);
            self.buffered += 1;
        }
        self.buffered >= LOCAL_BATCH
    }

    /// A send was refused: it will reach no one, so its copies are no
    /// longer expected (errors are reported on their own).
    pub fn error(&mut self, step: usize, expected_copies: u64) {
        let local = self.step(step);
        local.errors += 1;
        local.withdrawn += expected_copies;
    }

    /// Hands everything counted so far to the shard.
    pub fn flush(&mut self, shard: &Shard) {
        let mut shared = shard.lock().expect("a shard lock is never held across a panic");
        if shared.first_error.is_none() {
            shared.first_error = self.first_error.take();
        }
        for (index, local) in self.steps.iter_mut().enumerate() {
            if local.sent + local.refused + local.delivered + local.duplicates + local.acks + local.errors
                == 0
            {
                continue;
            }
            shared.interval_deliveries += local.delivered;
            shared.interval_sent += local.sent;
            if !local.latencies.is_empty() {
                let interval = shared.interval.get_or_insert_with(histogram);
                for &micros in &local.latencies {
                    interval.saturating_record(u64::from(micros));
                }
            }
            let counts = shared.step(index);
            counts.sent += local.sent;
            counts.refused += local.refused;
            counts.expected = (counts.expected + local.expected).saturating_sub(local.withdrawn);
            counts.delivered += local.delivered;
            counts.duplicates += local.duplicates;
            counts.acks += local.acks;
            counts.errors += local.errors;
            for micros in local.latencies.drain(..) {
                counts.latency.saturating_record(u64::from(micros));
            }
            for micros in local.ack_latencies.drain(..) {
                counts.ack_latency.saturating_record(u64::from(micros));
            }
            local.sent = 0;
            local.refused = 0;
            local.expected = 0;
            local.delivered = 0;
            local.duplicates = 0;
            local.acks = 0;
            local.errors = 0;
            local.withdrawn = 0;
        }
        self.buffered = 0;
    }
}

/// CPU time and resident memory of a process, from `/proc`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// User plus system CPU seconds since the process started.
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

/// Reads `/proc/<pid>/stat` (utime, stime) and `/proc/<pid>/status` (VmRSS).
pub fn sample_process(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it are plain.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_ascii_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_ascii_whitespace().next())
        .and_then(|kib| kib.parse().ok())?;
    Some(ProcSample { cpu_seconds: (utime + stime) / ticks, rss_bytes: rss_kib * 1024 })
}

/// Raises the soft open-files limit to the hard limit. Returns the limit in
/// force and whether it could be raised as far as asked.
pub fn raise_file_limit(wanted: u64) -> (u64, bool) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return (0, false);
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
    }
    (limit.rlim_cur, limit.rlim_cur >= wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_counts_reach_the_shard_per_step() {
        let shard: Shard = Mutex::new(ShardData::default());
        let mut local = Local::default();
        local.sent(0, 10);
        local.delivered(0, 1500, true);
        local.delivered(2, 700, false);
        local.duplicate(2);
        local.flush(&shard);
        let data = shard.lock().expect("lock");
        assert_eq!(data.steps.len(), 3);
        assert_eq!((data.steps[0].sent, data.steps[0].expected, data.steps[0].delivered), (1, 10, 1));
        assert_eq!(data.steps[0].latency.len(), 1);
        assert_eq!((data.steps[2].delivered, data.steps[2].duplicates), (1, 1));
        assert_eq!(data.steps[2].latency.len(), 0, "outside the window: counted, not timed");
    }

    #[test]
    fn samples_this_process() {
        let sample = sample_process(std::process::id()).expect("own /proc entry");
        assert!(sample.rss_bytes > 0);
    }
}
