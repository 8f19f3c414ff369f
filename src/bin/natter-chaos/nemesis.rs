//! The faults: each scenario's fault as `scripts/chaos` verbs to start and
//! stop it, and whom it excuses from answering meanwhile. The quick
//! profile's scenarios are named after the hypothesis or bug they pin down;
//! the long profile draws faults from the same catalogue with a seeded PRNG.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// One fault, as the nemesis applies it.
#[derive(Debug, Clone)]
pub struct Fault {
    pub name: String,
    /// What it tests, for the report.
    pub about: &'static str,
    pub start: Vec<Vec<String>>,
    pub stop: Vec<Vec<String>>,
    pub duration: Duration,
    pub cut_clients: Vec<usize>,
    pub silent_nodes: Vec<usize>,
    pub store_cut_nodes: Vec<usize>,
    /// Clients send nothing new while it lasts (they still retry): a quiet
    /// bus, as at night, when no traffic reveals a dead connection.
    pub quiet: bool,
    /// The nodes reach PostgreSQL and Redis through the fault proxy (they
    /// are restarted so before the scenario); its `proxy …` verbs are
    /// applied in-process, not by `scripts/chaos`.
    pub proxied: bool,
    /// Measure how long each node takes to show every connected user
    /// online again once the fault began (it wiped the presence records).
    pub presence_probe: bool,
}

fn verbs(list: &[&[&str]]) -> Vec<Vec<String>> {
    list.iter().map(|verb| verb.iter().map(|word| (*word).to_owned()).collect()).collect()
}

/// The node's name for the script (index 0 is n1).
pub fn node_name(node: usize) -> String {
    format!("n{}", node + 1)
}

/// A client's source address (client 0 is 10.77.0.41).
pub fn client_address(client: usize) -> String {
    format!("10.77.0.{}", 41 + client)
}

fn fault(name: &str, about: &'static str, seconds: u64, start: &[&[&str]], stop: &[&[&str]]) -> Fault {
    Fault {
        name: name.to_owned(),
        about,
        start: verbs(start),
        stop: verbs(stop),
        duration: Duration::from_secs(seconds),
        cut_clients: Vec::new(),
        silent_nodes: Vec::new(),
        store_cut_nodes: Vec::new(),
        quiet: false,
        proxied: false,
        presence_probe: false,
    }
}

/// A node cut off from Redis both ways for longer than Redis's
/// `tcp-keepalive 5` needs to drop it (H1).
pub fn redis_partition(node: usize, seconds: u64, name: &str) -> Fault {
    let n = node_name(node);
    fault(
        name,
        "H1: node-Redis blackhole both ways",
        seconds,
        &[&["partition", &n, "redis", "both"]],
        &[&["heal", &n]],
    )
}

/// As [`redis_partition`], on a quiet bus: with nothing to send, Redis's
/// `tcp-keepalive` finds the node gone and drops its subscription while the
/// node's end stays open (H1, "possibly for good").
pub fn quiet_redis_partition(node: usize, seconds: u64, name: &str) -> Fault {
    let mut fault = redis_partition(node, seconds, name);
    fault.about = "H1: node-Redis blackhole on a quiet bus, longer than Redis's keepalive";
    fault.quiet = true;
    fault
}

/// Redis's frames to a node dropped, the node's own to Redis passing (H5).
pub fn redis_one_way(node: usize, seconds: u64, name: &str) -> Fault {
    let n = node_name(node);
    fault(
        name,
        "H5: Redis to node dropped, node to Redis passes",
        seconds,
        &[&["partition", &n, "redis", "in"]],
        &[&["heal", &n]],
    )
}

/// A node cut off from PostgreSQL without a reset (H2).
pub fn postgres_blackhole(node: usize, seconds: u64, name: &str) -> Fault {
    let n = node_name(node);
    let mut fault = fault(
        name,
        "H2: node-PostgreSQL blackhole both ways",
        seconds,
        &[&["partition", &n, "pg", "both"]],
        &[&["heal", &n]],
    );
    fault.store_cut_nodes = vec![node];
    fault
}

/// A node's TCP to PostgreSQL answered with resets, as when PostgreSQL
/// restarts: the refused case, which must stay as quick as it was.
pub fn postgres_reset(node: usize, seconds: u64, name: &str) -> Fault {
    let n = node_name(node);
    let mut fault =
        fault(name, "node-PostgreSQL TCP reset", seconds, &[&["reset", &n, "pg"]], &[&["heal", &n]]);
    fault.store_cut_nodes = vec![node];
    fault
}

/// One client's link to its node blackholed (H7).
pub fn client_cut(client: usize, node: usize, seconds: u64, name: &str) -> Fault {
    let n = node_name(node);
    let address = client_address(client);
    let mut fault = fault(
        name,
        "H7: one client's link blackholed",
        seconds,
        &[&["partition", &n, &address, "both"]],
        &[&["heal", &n]],
    );
    fault.cut_clients = vec![client];
    fault
}

/// Every node drops `percent` % of its packets both ways.
pub fn loss(percent: u32, seconds: u64, name: &str) -> Fault {
    let p = percent.to_string();
    fault(
        name,
        "packet loss on every node's links",
        seconds,
        &[&["loss", "n1", &p], &["loss", "n2", &p], &["loss", "n3", &p]],
        &[&["heal"]],
    )
}

/// Everything a node sends (to its clients, PostgreSQL and Redis) limited
/// to `rate` (tc's units, `256kbit`) by a token bucket: a thin uplink.
pub fn bandwidth(node: usize, rate: &str, seconds: u64, name: &str) -> Fault {
    let n = node_name(node);
    fault(name, "a node's uplink limited (tc tbf)", seconds, &[&["bandwidth", &n, rate]], &[&["heal", &n]])
}

/// The fault proxy's name for a node's link to `peer` (`pg` or `redis`).
pub fn link_name(node: usize, peer: &str) -> String {
    format!("{}-{peer}", node_name(node))
}

/// Every node's links to PostgreSQL and Redis delayed by `ms` plus or minus
/// `jitter_ms` each way, through the fault proxy (this kernel has no netem).
pub fn proxy_delay(ms: u64, jitter_ms: u64, seconds: u64, name: &str) -> Fault {
    let (ms, jitter) = (ms.to_string(), jitter_ms.to_string());
    let mut fault = fault(
        name,
        "node-PostgreSQL and node-Redis delayed (fault proxy)",
        seconds,
        &[&["proxy", "all", "latency", &ms, &jitter]],
        &[&["proxy", "all", "heal"]],
    );
    fault.proxied = true;
    fault
}

/// A node's link to `peer` stalled: the proxy stops forwarding but keeps
/// both sockets open, so TCP acknowledges everything and only the node's
/// own deadlines can notice.
pub fn proxy_stall(node: usize, peer: &str, seconds: u64, name: &str, about: &'static str) -> Fault {
    let link = link_name(node, peer);
    let mut fault = fault(name, about, seconds, &[&["proxy", &link, "stall"]], &[&["proxy", &link, "heal"]]);
    fault.proxied = true;
    if peer == "pg" {
        fault.store_cut_nodes = vec![node];
    }
    fault
}

/// Every node's presence record deleted from Redis at once, as a Redis
/// clock jump would expire them (libfaketime cannot run under Redis here).
/// Nothing to heal: the nodes must rewrite their records themselves.
pub fn presence_wipe(seconds: u64, name: &str) -> Fault {
    let mut fault = fault(
        name,
        "H8/H4: every presence record deleted from Redis (a Redis clock jump)",
        seconds,
        &[&["presence-wipe"]],
        &[],
    );
    fault.presence_probe = true;
    fault
}

/// Three wall clocks: one 10 minutes slow, one 10 minutes fast, one an
/// hour ahead; all set right again at the end (H8).
pub fn clock_skew(seconds: u64, name: &str) -> Fault {
    fault(
        name,
        "H8: node clocks -10 min, +10 min, +1 h, then back",
        seconds,
        &[&["clock", "n1", "-600s"], &["clock", "n2", "+600s"], &["clock", "n3", "+3600s"]],
        &[&["clock", "n1", "+0"], &["clock", "n2", "+0"], &["clock", "n3", "+0"]],
    )
}

/// A node stopped with SIGSTOP for longer than the presence TTL (H6).
pub fn pause(node: usize, seconds: u64, name: &str) -> Fault {
    let n = node_name(node);
    let mut fault = fault(
        name,
        "H6: node paused (SIGSTOP), then resumed",
        seconds,
        &[&["pause", &n]],
        &[&["resume", &n]],
    );
    fault.silent_nodes = vec![node];
    fault
}

/// A node killed and started again (process crash).
pub fn crash(node: usize, seconds: u64, name: &str) -> Fault {
    let n = node_name(node);
    let mut fault =
        fault(name, "node killed (SIGKILL), then restarted", seconds, &[&["crash", &n]], &[&["start", &n]]);
    fault.silent_nodes = vec![node];
    fault
}

/// PostgreSQL killed (SIGKILL) and started again after `seconds`: every
/// node must answer `unavailable` and 503 meanwhile, and nothing acked may
/// be missing after crash recovery.
pub fn postgres_crash(seconds: u64, name: &str) -> Fault {
    let mut fault = fault(
        name,
        "PostgreSQL killed (SIGKILL), then restarted",
        seconds,
        &[&["pg-crash"]],
        &[&["pg-start"]],
    );
    fault.store_cut_nodes = vec![0, 1, 2];
    fault
}

/// Scenarios beyond the quick profile, run by name (`one NAME`), e.g. with
/// `CHAOS_FSYNC=on` for the crash scenarios.
pub fn extra() -> Vec<Fault> {
    vec![
        crash(2, 10, "node-crash"),
        postgres_crash(10, "postgres-crash"),
        postgres_reset(0, 10, "postgres-reset"),
        loss(5, 60, "loss-5-percent-long"),
        bandwidth(1, "256kbit", 20, "bandwidth-256kbit"),
        proxy_delay(100, 50, 30, "proxy-delay-100ms"),
        proxy_delay(20, 10, 30, "proxy-delay-20ms"),
        proxy_stall(0, "redis", 20, "proxy-redis-stall", "n1-Redis stalled: sockets open, nothing forwarded"),
        proxy_stall(
            0,
            "pg",
            20,
            "proxy-postgres-stall",
            "n1-PostgreSQL stalled: sockets open, nothing forwarded",
        ),
        presence_wipe(15, "s13-presence-wipe"),
    ]
}

/// The quick profile: about five minutes, one fault each.
pub fn quick() -> Vec<Fault> {
    vec![
        redis_partition(0, 15, "h1-redis-partition-busy-bus"),
        quiet_redis_partition(0, 25, "h1-redis-partition-outlives-keepalive"),
        redis_one_way(0, 15, "h5-redis-one-way"),
        postgres_blackhole(0, 30, "h2-postgres-blackhole"),
        client_cut(4, 1, 20, "h7-client-cut-off"),
        loss(5, 30, "loss-5-percent"),
        clock_skew(20, "h8-clock-skew"),
        pause(1, 20, "h6-paused-node"),
    ]
}

/// A small deterministic PRNG (xorshift64*), so a seed replays a schedule.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// The long profile's schedule: `ticks` faults drawn from the catalogue.
pub fn random_schedule(seed: u64, ticks: usize, seconds: u64) -> Vec<Fault> {
    let mut rng = Rng::new(seed);
    (0..ticks)
        .map(|tick| {
            let node = rng.below(3) as usize;
            let name = format!("tick{tick}");
            match rng.below(8) {
                0 if rng.below(2) == 0 => quiet_redis_partition(node, seconds, &name),
                0 => redis_partition(node, seconds, &name),
                1 => redis_one_way(node, seconds, &name),
                2 => postgres_blackhole(node, seconds, &name),
                3 => client_cut(rng.below(9) as usize, node, seconds, &name),
                4 => loss(1 + rng.below(10) as u32, seconds, &name),
                5 => clock_skew(seconds, &name),
                6 => pause(node, seconds, &name),
                7 if rng.below(4) == 0 => postgres_crash(seconds, &name),
                _ => crash(node, seconds, &name),
            }
        })
        .collect()
}

/// Runs one `scripts/chaos` verb; its failure is the run's failure.
pub fn apply(script: &Path, verb: &[String]) -> Result<(), String> {
    let status =
        Command::new(script).args(verb).status().map_err(|e| format!("{}: {e}", script.display()))?;
    if status.success() { Ok(()) } else { Err(format!("scripts/chaos {} failed: {status}", verb.join(" "))) }
}

/// Whether a node's process is running.
pub fn alive(script: &Path, node: usize) -> bool {
    Command::new(script).args(["alive", &node_name(node)]).status().is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_the_same_schedule() {
        let names = |seed| {
            random_schedule(seed, 12, 10).into_iter().map(|f| format!("{:?}", f.start)).collect::<Vec<_>>()
        };
        assert_eq!(names(42), names(42));
        assert_ne!(names(42), names(43));
    }

    #[test]
    fn proxy_faults_restart_the_nodes_proxied_and_heal_their_links() {
        for fault in extra().into_iter().filter(|f| f.start.iter().any(|verb| verb[0] == "proxy")) {
            assert!(fault.proxied, "{}", fault.name);
            assert!(
                fault.stop.iter().any(|verb| verb[0] == "proxy" && verb.last().is_some_and(|w| w == "heal"))
            );
        }
    }

    #[test]
    fn the_quick_profile_heals_what_it_breaks() {
        for fault in quick() {
            assert!(!fault.start.is_empty() && !fault.stop.is_empty(), "{}", fault.name);
        }
    }
}
