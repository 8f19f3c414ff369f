//! Several generator processes of one run (one process may open only about
//! 20,000 files here, so 100,000 connections take several) start their
//! steps together: each, connected and settled, leaves a file in a shared
//! folder and waits until all have.

use std::io;
use std::path::Path;
use std::time::Duration;

/// How long a process waits for the others before it goes on alone.
const PATIENCE: Duration = Duration::from_secs(900);

pub(super) async fn wait_for_all(folder: &Path, origin: u32, processes: usize) -> io::Result<()> {
    std::fs::create_dir_all(folder)?;
    // Never two processes of one origin: they would count each other's
    // messages against the wrong clock. An earlier run's file says the same.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(folder.join(format!("ready-{origin}")))
        .map_err(|error| match error.kind() {
            io::ErrorKind::AlreadyExists => io::Error::new(
                error.kind(),
                format!("origin {origin} is taken, or {} holds an earlier run's files", folder.display()),
            ),
            _ => error,
        })?;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let ready = std::fs::read_dir(folder)?
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().starts_with("ready-"))
            .count();
        if ready >= processes {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, format!("{ready} of {processes} ready")));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
