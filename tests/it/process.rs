//! The `natter` binary as a child process, for findings that involve the
//! process itself (its memory, its file limits, its timeouts).

use std::process::{Child, Command, Stdio};

const NATTER: &str = env!("CARGO_BIN_EXE_natter");

pub struct NatterProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    dir: tempfile::TempDir,
    /// The arguments it was started with, for [`NatterProcess::kill_and_restart`].
    args: Vec<String>,
}

impl NatterProcess {
    /// `natter serve` on a fresh SQLite file and a free port, with `args`
    /// added; `configure` may change the command further (its limits).
    /// Returns once `/healthz` answers (the listening line comes before the
    /// server has set itself up). Its log goes to a file
    /// ([`NatterProcess::log`]).
    pub async fn start(args: &[&str], configure: impl FnOnce(&mut Command)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        let (child, base) = Self::spawn(&dir, &args, configure);
        let server = Self { child, base, dir, args };
        server.await_healthy().await;
        server
    }

    /// SIGKILLs the process and starts it again on the same database (and
    /// arguments, but not `configure`), at a new port.
    pub async fn kill_and_restart(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the killed process is reaped");
        let (child, base) = Self::spawn(&self.dir, &self.args, |_| {});
        (self.child, self.base) = (child, base);
        self.await_healthy().await;
    }

    fn spawn(
        dir: &tempfile::TempDir,
        args: &[String],
        configure: impl FnOnce(&mut Command),
    ) -> (Child, String) {
        let database = database_url(dir);
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(dir.path().join("natter.log"))
            .expect("log file");
        let mut command = Command::new(NATTER);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--database", &database])
            .args(args)
            .env("NATTER_LOG", "natter=info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(log);
        configure(&mut command);
        let mut child = command.spawn().expect("natter starts");
        let line = crate::harness::listening_line(&mut child);
        let base = line.trim().strip_prefix("natter listening on ").expect("the listening line").to_owned();
        (child, base)
    }

    async fn await_healthy(&self) {
        // The line is printed once the listener is bound, so the first
        // request waits in its backlog until the server accepts: its answer
        // is the event to await, with no polling.
        let url = self.url("/healthz");
        let response = tokio::time::timeout(std::time::Duration::from_secs(20), reqwest::get(&url))
            .await
            .unwrap_or_else(|_| panic!("timed out after 20 s waiting for {url} to answer"))
            .unwrap_or_else(|e| panic!("{url} did not answer (did natter fail to start?): {e}"));
        assert_eq!(response.status(), 200, "{url} answers healthy");
    }

    /// The `sqlite://` URL of its database, for other `natter` commands.
    pub fn database_url(&self) -> String {
        database_url(&self.dir)
    }

    /// Registers `name` and returns its session token.
    pub async fn register(&self, name: &str) -> String {
        let response = reqwest::Client::new()
            .post(self.url("/api/register"))
            .json(&serde_json::json!({"username": name, "password": "correct horse"}))
            .send()
            .await
            .expect("register request");
        assert_eq!(response.status(), 201, "registering {name}");
        response.json::<natter::protocol::http::SessionResponse>().await.expect("a session").token
    }

    /// The WebSocket URL of `/ws`.
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.base.replacen("http", "ws", 1))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn address(&self) -> std::net::SocketAddr {
        self.base.trim_start_matches("http://").parse().expect("an address")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB (`VmRSS` in `/proc/PID/status`).
    pub fn rss_kib(&self) -> u64 {
        self.status_field("VmRSS:")
    }

    /// Threads of the process (`Threads` in `/proc/PID/status`).
    pub fn threads(&self) -> u64 {
        self.status_field("Threads:")
    }

    /// Open file descriptors of the process.
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).expect("/proc/PID/fd").count()
    }

    fn status_field(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc/PID/status");
        let line =
            status.lines().find(|line| line.starts_with(field)).expect("the field in /proc/PID/status");
        line[field.len()..].trim().trim_end_matches(" kB").parse().expect("a number")
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("natter.log")).unwrap_or_default()
    }
}

fn database_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("natter.db").display())
}

impl Drop for NatterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
