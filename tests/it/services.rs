//! The external services some tests need: PostgreSQL and Redis, started by
//! `scripts/test-services` and named by `NATTER_TEST_POSTGRES_URL` and
//! `NATTER_TEST_REDIS_URL`.
//!
//! A test that needs one and finds its variable unset fails with a message
//! saying how to start them. Outside CI, `NATTER_TEST_SKIP_SERVICES=1` turns
//! that into a skip that says so on stderr; in CI (`CI=true`) nothing skips.

use std::sync::atomic::{AtomicU32, Ordering};

/// The base URL from `variable`, or `None` when the caller should skip.
fn service_url(variable: &str) -> Option<String> {
    if let Ok(url) = std::env::var(variable)
        && !url.is_empty()
    {
        return Some(url);
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let skip = std::env::var("NATTER_TEST_SKIP_SERVICES").is_ok_and(|v| v == "1");
    if skip && !in_ci {
        eprintln!("SKIPPED: {variable} is unset and NATTER_TEST_SKIP_SERVICES=1");
        return None;
    }
    panic!(
        "{variable} is unset: start the test services with \
         `eval \"$(scripts/test-services start | sed 's/^/export /')\"` \
         (or set NATTER_TEST_SKIP_SERVICES=1 outside CI to skip these tests)"
    );
}

/// A fresh, empty PostgreSQL database for one test; `None` to skip.
pub async fn fresh_postgres_database() -> Option<String> {
    let base = service_url("NATTER_TEST_POSTGRES_URL")?;
    Some(fresh_database_on(&base).await)
}

/// Creates a database of a name no other test uses on the server `base`
/// names, and returns its URL.
pub async fn fresh_database_on(base: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let (client, connection) =
        tokio_postgres::connect(base, tokio_postgres::NoTls).await.expect("connect to the test PostgreSQL");
    tokio::spawn(connection);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let name = format!("natter_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos);
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create a test database");
    let (prefix, _) = base.rsplit_once('/').expect("the URL names a database");
    format!("{prefix}/{name}")
}

/// The Redis URL; `None` to skip.
pub fn redis_url() -> Option<String> {
    service_url("NATTER_TEST_REDIS_URL")
}

/// Where the S3-compatible test server is, as `--files` and the S3
/// settings take it: a prefix of its own in the test bucket per call, so
/// tests sharing the server never see each other's files; `None` to skip.
pub fn s3_files() -> Option<(String, natter::files::S3Settings)> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let (endpoint, bucket) = s3_service()?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let prefix = format!("t{}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos);
    Some((format!("s3://{bucket}/{prefix}"), moto_settings(&endpoint)))
}

/// The S3-compatible test server's endpoint and bucket; `None` to skip.
pub fn s3_service() -> Option<(String, String)> {
    let endpoint = service_url("NATTER_TEST_S3_ENDPOINT")?;
    let bucket = std::env::var("NATTER_TEST_S3_BUCKET").unwrap_or_else(|_| "natter-test".into());
    Some((endpoint, bucket))
}

/// Moto checks no signature; the keys only have to be there.
pub fn moto_settings(endpoint: &str) -> natter::files::S3Settings {
    natter::files::S3Settings {
        endpoint: Some(endpoint.into()),
        region: Some("us-east-1".into()),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
    }
}

/// A free TCP port on loopback, now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// A Redis of one test's own, which the test may stop and start again: the
/// shared one serves tests running in parallel.
pub struct PrivateRedis {
    pub port: u16,
    process: Option<std::process::Child>,
}

impl PrivateRedis {
    /// Starts one; `None` to skip (as when the shared services are absent).
    pub async fn start() -> Option<Self> {
        redis_url()?;
        let mut redis = Self { port: free_port(), process: None };
        redis.launch().await;
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn launch(&mut self) {
        let process = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/test-services installs it)");
        self.process = Some(process);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            // redis-server says nothing when it is ready and a refused
            // connect returns at once, so readiness is polled.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    /// Kills it (as a crash would) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn restart(&mut self) {
        self.kill();
        self.launch().await;
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PostgreSQL of one test's own, which the test may stop and start again.
pub struct PrivatePostgres {
    pub port: u16,
    dir: tempfile::TempDir,
    running: bool,
}

impl PrivatePostgres {
    /// initdb and start; `None` to skip (as when the shared services are absent).
    pub async fn start() -> Option<Self> {
        service_url("NATTER_TEST_POSTGRES_URL")?;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut postgres = Self { port: free_port(), dir, running: false };
        if is_root() {
            std::fs::set_permissions(
                postgres.dir.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o777),
            )
            .expect("chmod the data parent");
        }
        let data = postgres.data();
        postgres.run(&["initdb", "-D", &data, "-U", "postgres", "-A", "trust", "--no-sync"]);
        postgres.launch();
        Some(postgres)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Runs a PostgreSQL program (from Debian's versioned bin directory) as
    /// the postgres user when we are root: PostgreSQL refuses to run as root.
    fn run(&self, program_and_args: &[&str]) {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| versions.filter_map(Result::ok).map(|v| v.path()).max())
            .map(|version| version.join("bin"))
            .expect("PostgreSQL is installed (scripts/test-services installs it)");
        let program = bin.join(program_and_args[0]).display().to_string();
        let mut command = if is_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--", &program]);
            command
        } else {
            std::process::Command::new(&program)
        };
        let output = command.args(&program_and_args[1..]).output().expect("run a PostgreSQL program");
        assert!(
            output.status.success(),
            "{program_and_args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn launch(&mut self) {
        let options = format!("-h 127.0.0.1 -p {} -k {} -c fsync=off", self.port, self.dir.path().display());
        let log = self.dir.path().join("postgres.log").display().to_string();
        self.run(&["pg_ctl", "-D", &self.data(), "-l", &log, "-o", &options, "-w", "start"]);
        self.running = true;
    }

    /// Stops it (fast shutdown: connections are cut, nothing committed is lost).
    pub fn stop(&mut self) {
        if self.running {
            self.run(&["pg_ctl", "-D", &self.data(), "-m", "fast", "-w", "stop"]);
            self.running = false;
        }
    }

    pub fn start_again(&mut self) {
        self.launch();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            self.run(&["pg_ctl", "-D", &data, "-m", "immediate", "-w", "stop"]);
        }
    }
}

/// Whether this process runs as root (effective uid 0), read from /proc.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2))
                .map(|u| u == "0")
        })
        .unwrap_or(false)
}
