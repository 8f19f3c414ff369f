//! `natter-bench`: an open-loop load generator for chat servers. It holds N
//! WebSocket connections in rooms, publishes at a fixed aggregate rate
//! (scheduled by intended send time, never by replies), and measures from
//! every receiver: latency from the intended send time (HdrHistogram),
//! deliveries per second, drops and duplicates, and the server's CPU time and
//! memory from `/proc`.
//!
//! It speaks natter's native protocol, Socket.IO as the tutorial app uses it,
//! and the floor's protocol, so the same workload runs against all three.
//! It lives beside the server as a second binary and uses none of natter's
//! library: it measures natter from the outside, as any client would.
//! `bench/run` drives it; `docs/benchmarks.md` shows what it measured.

mod report;
mod run;
mod stats;
mod target;
mod wsclient;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::target::Target;

/// Open-loop load generator for natter, a Socket.IO server and the floor.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Which protocol the server speaks.
    #[arg(long, value_enum)]
    target: Target,
    /// The server's address; several, comma-separated, are the nodes of a
    /// cluster, and connections are spread over them round robin.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:3000")]
    server: Vec<SocketAddr>,
    /// Connections to hold.
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// Members per room; 0 puts everyone in one room (natter's General,
    /// the tutorial's "General").
    #[arg(long, default_value_t = 0)]
    room_size: usize,
    /// Connections that publish, spread evenly over the rooms (default: all).
    #[arg(long)]
    publishers: Option<usize>,
    /// Aggregate messages per second; a comma-separated list runs a sweep,
    /// one step per rate. None: connect, settle and report memory only.
    #[arg(long, value_delimiter = ',')]
    rate: Vec<f64>,
    /// Exponential gaps between a publisher's messages (Poisson arrivals)
    /// instead of a fixed interval.
    #[arg(long)]
    poisson: bool,
    /// Message body size in bytes, the marker included.
    #[arg(long, default_value_t = 256)]
    payload: usize,
    /// Seconds of each step before measuring starts.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds each step is measured.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Longest wait, in seconds, for a step's last deliveries.
    #[arg(long, default_value_t = 5.0)]
    drain: f64,
    /// Seconds to wait after connecting, before the idle memory sample.
    #[arg(long, default_value_t = 2.0)]
    settle: f64,
    /// End the sweep after the first step whose p99 exceeds this (ms).
    #[arg(long)]
    stop_p99_ms: Option<f64>,
    /// Percent of each room's non-publishers that stop reading when the
    /// first step starts (slow consumers).
    #[arg(long, default_value_t = 0.0)]
    non_readers_percent: f64,
    /// natter: connections per guest user. Presence is per user, so many
    /// users arriving at once cost O(users x connections) presence events.
    #[arg(long, default_value_t = 1)]
    connections_per_user: usize,
    /// Loopback source addresses to spread connections over (127.0.0.1 to
    /// 127.0.0.N), each with its own ephemeral ports.
    #[arg(long, default_value_t = 8)]
    sources: u8,
    /// Connections being set up at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Socket.IO: send `new user` after connecting (natter's endpoint needs
    /// it to log in; the tutorial server broadcasts it to everyone).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    socketio_new_user: bool,
    /// natter: every connection (the storm's too) asks for watched presence
    /// in its `hello` (the online list's first page and the changes of the
    /// users it watches, here none) instead of every change.
    #[arg(long)]
    watched_presence: bool,
    /// natter: users who arrive during the first step, a login storm
    /// (workload W6): each makes a guest, connects once, says hello and
    /// reads everything it is sent until the run ends.
    #[arg(long, default_value_t = 0)]
    storm_users: usize,
    /// Storm arrivals per second.
    #[arg(long, default_value_t = 1000.0)]
    storm_rate: f64,
    /// This process's number among several generators of one run (see
    /// `--barrier`): its receivers count only its own publishers' messages
    /// (the others' arrive too and are passed over), so each process's
    /// figures stand alone and their histograms merge.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..4096))]
    origin: u32,
    /// Several generator processes (one process may open only about
    /// 20,000 files) start their steps together: each, once connected and
    /// settled, leaves a file in this folder and waits until `--processes`
    /// of them are there.
    #[arg(long, requires = "processes")]
    barrier: Option<PathBuf>,
    /// How many generator processes share the barrier.
    #[arg(long)]
    processes: Option<usize>,
    /// The server's process id, for CPU and memory samples from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Worker threads of the generator's runtime (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write one CSV line per step to this file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let wanted_files = (cli.connections + cli.storm_users) as u64 + 64;
    let (limit, enough) = stats::raise_file_limit(wanted_files);
    if !cli.quiet {
        eprintln!("open-files limit: {limit} (raised to the hard limit where it was lower)");
    }
    if !enough {
        eprintln!(
            "warning: the hard open-files limit ({limit}) is below the {wanted_files} this run needs; \
             the system forbids raising it, so connections past about {} will fail",
            limit.saturating_sub(64)
        );
    }
    let first = cli.server[0];
    let sources: Vec<IpAddr> = if cli.server.iter().all(|s| s.ip().is_loopback() && s.is_ipv4()) {
        (1..=cli.sources.max(1)).map(|n| IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))).collect()
    } else {
        vec![if first.is_ipv4() { IpAddr::V4(Ipv4Addr::UNSPECIFIED) } else { IpAddr::from([0u16; 8]) }]
    };
    // Several generators of one run never share names: the origin is part
    // of the tag.
    let tag = format!(
        "{:04x}{}",
        std::process::id() as u16 ^ (std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.subsec_nanos()) as u16),
        if cli.barrier.is_some() { format!("o{}", cli.origin) } else { String::new() }
    );
    let settings = run::Settings {
        target: cli.target,
        servers: cli.server.clone(),
        origin: cli.origin,
        barrier: cli.barrier.clone().zip(cli.processes),
        connections: cli.connections,
        room_size: if cli.room_size == 0 { cli.connections } else { cli.room_size },
        publishers: cli.publishers.unwrap_or(cli.connections),
        rates: cli.rate.clone(),
        poisson: cli.poisson,
        payload: cli.payload.max(48),
        warmup: Duration::from_secs_f64(cli.warmup),
        duration: Duration::from_secs_f64(cli.duration.max(0.1)),
        drain: Duration::from_secs_f64(cli.drain),
        settle: Duration::from_secs_f64(cli.settle),
        stop_p99_ms: cli.stop_p99_ms,
        non_readers_percent: cli.non_readers_percent.clamp(0.0, 100.0),
        connections_per_user: cli.connections_per_user,
        sources,
        connect_concurrency: cli.connect_concurrency,
        socketio_new_user: cli.socketio_new_user,
        watched_presence: cli.watched_presence,
        server_pid: cli.server_pid,
        storm_users: cli.storm_users,
        storm_rate: cli.storm_rate,
        tag,
        progress: !cli.quiet,
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run::run(settings));
    print!("{}", report::table(&outcome));
    if let Some(path) = &cli.json
        && let Err(error) = std::fs::write(path, report::json(&outcome).to_string())
    {
        eprintln!("cannot write {}: {error}", path.display());
        return ExitCode::FAILURE;
    }
    if let Some(path) = &cli.csv
        && let Err(error) = std::fs::write(path, report::csv(&outcome))
    {
        eprintln!("cannot write {}: {error}", path.display());
        return ExitCode::FAILURE;
    }
    // Dropping the runtime would wait for nothing useful; connections close
    // with the process.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if outcome.connected == 0 || outcome.barrier_error.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
