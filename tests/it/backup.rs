//! `natter backup`: a copy of a running server's SQLite database, made
//! while writers keep sending, holds every message acknowledged before it
//! began, at its seq, with gap-free seqs, passes an integrity check and
//! needs no file beside it. And what it refuses: to replace a file, to
//! create a missing database, to copy PostgreSQL or an in-memory database.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use natter::metrics::Metrics;
use rusqlite::{Connection, OpenFlags};
use serde_json::json;
use tokio::sync::watch;

use crate::harness::{Client, GENERAL};
use crate::process::NatterProcess;

const NATTER: &str = env!("CARGO_BIN_EXE_natter");
const WRITERS: usize = 3;
/// Acks the writers hold before the backup starts, so it has history to copy.
const ACKED_BEFORE: usize = 300;
/// How long a `natter backup` may take before the test gives up on it.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(60);

/// One acknowledged message: who sent it, its client id, the seq its ack named.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Acked {
    sender: i64,
    client_id: String,
    seq: i64,
}

/// Runs `natter backup FILE --database DATABASE` to its end.
fn run_backup(file: &Path, database: &str) -> Output {
    Command::new(NATTER)
        .arg("backup")
        .arg(file)
        .args(["--database", database])
        .env("NATTER_LOG", "error")
        .output()
        .expect("natter backup runs")
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the directory is readable")
        .map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Posts to General until `stop`, recording each ack in `ledger` and
/// counting it in `acks`.
async fn write_until_stopped(
    mut client: Client,
    sender: i64,
    name: String,
    ledger: Arc<Mutex<Vec<Acked>>>,
    acks: watch::Sender<usize>,
    stop: Arc<AtomicBool>,
) {
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) {
        sent += 1;
        let client_id = format!("{name}-{sent}");
        let ack = client.post(GENERAL, &format!("body of {client_id}"), &client_id).await;
        // Everyone's messages reach everyone; only the acks matter here.
        client.discard_unread();
        ledger.lock().unwrap().push(Acked { sender, client_id, seq: ack.seq });
        acks.send_modify(|count| *count += 1);
    }
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_made_while_writers_send_holds_every_acknowledged_message() {
    let args = ["--messages-per-second", "1000000", "--message-burst", "1000000"];
    let server = NatterProcess::start(&args, |_| {}).await;
    let ledger = Arc::new(Mutex::new(Vec::new()));
    let (acks, mut acks_seen) = watch::channel(0);
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for n in 0..WRITERS {
        let token = server.register(&format!("writer{n}")).await;
        let mut client = Client::connect_url(&server.ws_url(), &token).await;
        let sender = client.hello(json!({})).await.user.id;
        let (ledger, acks, stop) = (Arc::clone(&ledger), acks.clone(), Arc::clone(&stop));
        writers.push(tokio::spawn(write_until_stopped(client, sender, format!("w{n}"), ledger, acks, stop)));
    }
    tokio::time::timeout(BACKUP_TIMEOUT, acks_seen.wait_for(|count| *count >= ACKED_BEFORE))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {ACKED_BEFORE} acks"))
        .expect("the writers hold the ack counter");

    // Everything acknowledged so far is committed, so it must be in a copy
    // started after this line; the writers go on meanwhile.
    let acked_before: Vec<Acked> = ledger.lock().unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.db");
    let database = server.database_url();
    let backing_up = tokio::task::spawn_blocking({
        let (file, database) = (file.clone(), database.clone());
        move || run_backup(&file, &database)
    });
    let output = tokio::time::timeout(BACKUP_TIMEOUT, backing_up)
        .await
        .unwrap_or_else(|_| panic!("timed out after {BACKUP_TIMEOUT:?} waiting for natter backup"))
        .expect("the backup task did not panic");
    let acked_during = ledger.lock().unwrap().len() - acked_before.len();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        tokio::time::timeout(BACKUP_TIMEOUT, writer)
            .await
            .expect("a writer stops after its last ack")
            .expect("a writer did not panic");
    }
    drop(server);

    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "natter backup failed: {stderr}");
    assert_eq!(names_in(dir.path()), ["backup.db"], "the copy, and no partial file beside it");
    let copy = Connection::open_with_flags(&file, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let verdict: String = copy.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(verdict, "ok");
    let mode: String = copy.query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap();
    assert_eq!(mode, "delete", "the copy is one file, with nothing to read beside it");

    let mut by_channel: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut stored: HashMap<(i64, String), i64> = HashMap::new();
    let mut rows = copy.prepare("SELECT channel_id, seq, sender_id, client_id FROM messages").unwrap();
    let rows = rows
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
        .unwrap()
        .map(Result::unwrap);
    for (channel, seq, sender, client_id) in rows {
        by_channel.entry(channel).or_default().push(seq);
        stored.insert((sender, client_id), seq);
    }
    for acked in &acked_before {
        assert_eq!(
            stored.get(&(acked.sender, acked.client_id.clone())),
            Some(&acked.seq),
            "{acked:?}, acknowledged before the backup began, is in it at its seq"
        );
    }
    let heads: Vec<(i64, i64)> = copy
        .prepare("SELECT id, last_seq FROM channels")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (channel, last_seq) in heads {
        let mut seqs = by_channel.remove(&channel).unwrap_or_default();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=last_seq).collect::<Vec<_>>(), "channel {channel}: seqs 1..=its head, no gaps");
    }
    assert!(by_channel.is_empty(), "no messages outside a channel: {by_channel:?}");

    let bytes = std::fs::metadata(&file).unwrap().len();
    let expected = format!(
        "backed up {database} to {}: {} messages, {bytes} bytes, integrity ok",
        file.display(),
        stored.len()
    );
    assert_eq!(stdout.trim(), expected);
    println!(
        "{} acked before the backup, {acked_during} while it ran, {} in the copy",
        acked_before.len(),
        stored.len()
    );
}

/// A natter database at `path`, as a server leaves it.
async fn a_database(path: &Path) -> String {
    let url = format!("sqlite://{}", path.display());
    let store =
        natter::store::open_for_admin(&url, Arc::new(Metrics::default())).await.expect("the store opens");
    store.close().await;
    url
}

#[tokio::test]
async fn refuses_to_replace_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let database = a_database(&dir.path().join("natter.db")).await;
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("backup.db");
    std::fs::write(&file, "last week's backup").unwrap();

    let output = run_backup(&file, &database);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused");
    assert!(stderr.contains("already exists"), "says why: {stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "last week's backup", "the file is untouched");
    assert_eq!(names_in(backups.path()), ["backup.db"], "and nothing was left beside it");
}

#[test]
fn refuses_a_missing_database_and_creates_none() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("natter.db");
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("backup.db");

    let output = run_backup(&file, &format!("sqlite://{}", missing.display()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused");
    assert!(stderr.contains("no database at") && stderr.contains(&*missing.to_string_lossy()), "{stderr}");
    assert_eq!(names_in(dir.path()), Vec::<String>::new(), "no database made where there was none");
    assert_eq!(names_in(backups.path()), Vec::<String>::new(), "no backup file");
}

#[test]
fn refuses_postgresql_and_in_memory_databases() {
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("backup.db");

    let output = run_backup(&file, "postgres://natter:hunter2@127.0.0.1:1/natter");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "PostgreSQL is refused");
    assert!(
        stderr.contains("pg_dump") && stderr.contains("docs/deployment.md"),
        "points to the docs: {stderr}"
    );
    assert!(!stderr.contains("hunter2"), "the password is never echoed: {stderr}");

    let output = run_backup(&file, "sqlite::memory:");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "an in-memory database is refused");
    assert!(stderr.contains("no file to back up"), "{stderr}");
    assert_eq!(names_in(backups.path()), Vec::<String>::new(), "no backup file");
}
