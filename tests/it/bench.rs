//! The load generator keeps working: a short run of `natter-bench` against a
//! real server, checked for deliveries, acks and the absence of drops and
//! duplicates (never for how fast: timings belong to `bench/run`).

use std::process::Command;

use serde::Deserialize;

use crate::harness::{TestServer, test_limits};

const NATTER_BENCH: &str = env!("CARGO_BIN_EXE_natter-bench");

/// The fields of `natter-bench --json`'s report that this test checks. The
/// report is the generator's, not the server's, so it has no type in the
/// library to decode into.
#[derive(Debug, Deserialize)]
struct Report {
    connected: u64,
    failed: u64,
    steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
struct Step {
    sent: u64,
    delivered: u64,
    drops: u64,
    duplicates: u64,
    errors: u64,
    acks: u64,
    latency_ms: Latency,
}

#[derive(Debug, Deserialize)]
struct Latency {
    count: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generator_measures_a_real_server() {
    let server = TestServer::start_with(test_limits(), true).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let arguments = [
        "--target=natter".to_owned(),
        format!("--server={}", server.addr),
        // Three rooms of ten (channels created and joined over the native
        // protocol) and a room of six; two users share each pair of sockets.
        "--connections=36".to_owned(),
        "--room-size=10".to_owned(),
        "--connections-per-user=2".to_owned(),
        "--publishers=8".to_owned(),
        "--rate=40".to_owned(),
        "--warmup=0.5".to_owned(),
        "--duration=1.5".to_owned(),
        "--drain=20".to_owned(),
        "--settle=0.2".to_owned(),
        "--quiet".to_owned(),
        format!("--json={}", report.display()),
    ];
    let output = tokio::task::spawn_blocking(move || Command::new(NATTER_BENCH).args(arguments).output())
        .await
        .expect("the generator's thread")
        .expect("natter-bench starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "natter-bench failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("deliveries/s"), "the table is printed:\n{stdout}");

    let text = std::fs::read_to_string(&report).expect("the JSON report");
    let report: Report = serde_json::from_str(&text).unwrap_or_else(|e| panic!("the report ({e}): {text}"));
    assert_eq!((report.connected, report.failed), (36, 0), "{report:?}");
    let step = &report.steps[0];
    assert!(step.sent > 0, "{step:?}");
    assert!(step.delivered > 0, "{step:?}");
    assert_eq!(step.drops, 0, "every expected copy arrived: {step:?}");
    assert_eq!(step.duplicates, 0, "{step:?}");
    assert_eq!(step.errors, 0, "{step:?}");
    assert_eq!(step.acks, step.sent, "every send was acked after its commit: {step:?}");
    assert!(step.latency_ms.count > 0, "{step:?}");
}
