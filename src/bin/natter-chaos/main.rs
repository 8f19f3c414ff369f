//! `natter-chaos`: Jepsen-style fault tests of a three-node natter cluster.
//! It runs inside the test network that `scripts/chaos` builds (that script
//! starts it; it needs root), drives a workload of clients on every node,
//! injects faults through `scripts/chaos`' verbs, reads every channel back
//! from every node and judges the recorded history with a pure checker.
//!
//!   natter-chaos quick                  the quick profile, one fault each
//!   natter-chaos one NAME               one scenario by name (the quick ones,
//!                                       node-crash, postgres-crash, postgres-reset,
//!                                       loss-5-percent-long, bandwidth-256kbit,
//!                                       proxy-delay-100ms, proxy-delay-20ms, proxy-redis-stall,
//!                                       proxy-postgres-stall, s13-presence-wipe;
//!                                       several names run one after another)
//!   natter-chaos long --seed S --ticks N   seeded random faults, replayable
//!
//! Each scenario prints one JSON summary line; the history and node logs
//! stay in `$CHAOS_DIR`. Exit status 1 if any scenario is invalid.
//!
//! This file is only the command line: it picks the scenarios and prints
//! each one's verdict. `cluster` knows the test network, `scenario` runs one
//! scenario and `checker` judges its history.

mod checker;
mod client;
mod cluster;
mod history;
mod nemesis;
mod proxy;
mod scenario;

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::json;
use tokio::time::Instant;

use crate::cluster::{proxy_links, register};
use crate::nemesis::Fault;
use crate::scenario::Run;

#[derive(Parser)]
#[command(about = "Jepsen-style fault tests for a natter cluster (run through scripts/chaos)")]
struct Cli {
    #[command(subcommand)]
    profile: Profile,
}

#[derive(Subcommand)]
enum Profile {
    /// The quick profile: each scenario once.
    Quick,
    /// One scenario by name: the quick profile's, or `node-crash`,
    /// `postgres-crash`, `postgres-reset`, `loss-5-percent-long`, `bandwidth-256kbit`,
    /// `proxy-delay-100ms`, `proxy-delay-20ms`, `proxy-redis-stall`, `proxy-postgres-stall`,
    /// `s13-presence-wipe`; several run one after another.
    One {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Seeded random faults, one workload throughout.
    Long {
        /// Replays a schedule; a random one is drawn (and printed) if absent.
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long, default_value_t = 20)]
        ticks: usize,
        /// Seconds each fault lasts; as long again healed after it.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let script = PathBuf::from(std::env::var("CHAOS_SCRIPT").unwrap_or_else(|_| "scripts/chaos".into()));
    let dir = PathBuf::from(std::env::var("CHAOS_DIR").unwrap_or_else(|_| "/tmp/natter-chaos".into()));
    let users = match register().await {
        Ok(users) => users,
        Err(error) => {
            eprintln!("natter-chaos: cannot register the workload's users: {error}");
            return ExitCode::FAILURE;
        }
    };
    let proxy = match proxy::Proxy::start(&proxy_links()).await {
        Ok(proxy) => proxy,
        Err(error) => {
            eprintln!("natter-chaos: cannot start the fault proxy: {error}");
            return ExitCode::FAILURE;
        }
    };
    let run = Run { script, dir, users, proxy };
    let scenarios: Vec<(String, Vec<Fault>)> = match cli.profile {
        Profile::Quick => nemesis::quick().into_iter().map(|f| (f.name.clone(), vec![f])).collect(),
        Profile::One { names } => {
            let mut chosen = Vec::new();
            for name in names {
                match nemesis::quick().into_iter().chain(nemesis::extra()).find(|f| f.name == name) {
                    Some(fault) => chosen.push((name, vec![fault])),
                    None => {
                        let names: Vec<String> =
                            nemesis::quick().into_iter().chain(nemesis::extra()).map(|f| f.name).collect();
                        eprintln!("natter-chaos: no scenario {name:?}; there are {}", names.join(", "));
                        return ExitCode::FAILURE;
                    }
                }
            }
            chosen
        }
        Profile::Long { seed, ticks, seconds } => {
            let seed = seed.unwrap_or_else(|| {
                let mut bytes = [0u8; 8];
                getrandom::fill(&mut bytes).expect("the operating system provides randomness");
                u64::from_le_bytes(bytes) % 1_000_000
            });
            eprintln!(
                "natter-chaos: long profile, seed {seed} (replay: scripts/chaos run long --seed {seed} --ticks {ticks} --seconds {seconds})"
            );
            vec![(format!("long-seed-{seed}"), nemesis::random_schedule(seed, ticks, seconds))]
        }
    };
    let mut all_valid = true;
    for (name, faults) in scenarios {
        let started = Instant::now();
        match run.scenario(&name, &faults).await {
            Ok(summary) => {
                all_valid &= summary.valid;
                let line =
                    json!({"scenario": name, "seconds": started.elapsed().as_secs(), "summary": summary});
                println!("{line}");
                let _ = fs::write(run.dir.join(&name).join("summary.json"), line.to_string());
            }
            Err(error) => {
                all_valid = false;
                println!("{}", json!({"scenario": name, "error": error}));
            }
        }
    }
    if all_valid { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
