//! HTTP connections are bounded in number and in time, on the real binary:
//! it raises its open-files limit, counts every connection against the
//! per-address cap, closes connections that send no complete request head
//! (idle, half-open, idle keep-alive) after the header timeout, and keeps
//! answering `/healthz` while floods of them are open.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::process::NatterProcess;

/// The process starts with a soft limit of 128 files and may raise it to 256.
const SOFT_FILES: u64 = 128;
const HARD_FILES: u64 = 256;
/// Each flood is larger than the soft limit, and larger than the hard one.
const FLOOD: usize = 300;
const PER_ADDRESS: usize = 40;
/// The longest any expected close or answer may take: the header timeout
/// (2 s) and the refusal linger (1 s), with room for a loaded machine.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(15);

async fn connect_from(source: &str, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.bind(format!("{source}:0").parse().unwrap()).expect("bind the source address");
    tokio::time::timeout(CLOSE_TIMEOUT, socket.connect(server))
        .await
        .expect("the kernel completes the handshake in time")
        .expect("connect")
}

/// Reads until the server closes the connection (EOF or reset); returns what
/// it sent. Fails if it stays open longer than [`CLOSE_TIMEOUT`].
async fn until_closed(mut stream: TcpStream, what: &str) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(CLOSE_TIMEOUT, async {
        let mut buffer = [0u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server did not close {what} within {CLOSE_TIMEOUT:?}");
    received
}

/// Lets this test process hold both floods whatever its own limit was.
fn raise_own_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain system calls on a struct owned here.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max.min(65_536);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    assert!(limit.rlim_cur >= 2 * FLOOD as u64 + 100, "this test needs {} files", 2 * FLOOD + 100);
}

async fn healthz(server: &NatterProcess) -> u16 {
    let request = reqwest::Client::new().get(server.url("/healthz")).send();
    tokio::time::timeout(CLOSE_TIMEOUT, request)
        .await
        .expect("/healthz answers while the floods are open")
        .expect("a response")
        .status()
        .as_u16()
}

#[tokio::test]
async fn http_limits_idle_and_half_open_floods_are_capped_and_closed_while_healthz_answers() {
    raise_own_file_limit();
    let server = NatterProcess::start(
        &["--max-connections-per-ip", &PER_ADDRESS.to_string(), "--http-header-timeout-secs", "2"],
        |command| {
            // SAFETY: only setrlimit, which is async-signal-safe, runs in the child.
            unsafe {
                command.pre_exec(|| {
                    let limit = libc::rlimit { rlim_cur: SOFT_FILES, rlim_max: HARD_FILES };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        },
    )
    .await;
    let address = server.address();

    // It raised its soft limit to the hard one, and said so.
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let files = limits.lines().find(|line| line.starts_with("Max open files")).unwrap();
    assert_eq!(files.split_whitespace().collect::<Vec<_>>()[3..5], ["256", "256"], "{files}");
    let log = server.log();
    assert!(log.contains("open-files limit") && log.contains("soft=256"), "the log says so:\n{log}");

    let (files_before, rss_before) = (server.open_files(), server.rss_kib());

    // Fill 127.0.0.2's allowance with idle sockets; one more is refused
    // with a clear answer.
    let mut idle = Vec::new();
    for _ in 0..PER_ADDRESS {
        idle.push(connect_from("127.0.0.2", address).await);
    }
    let mut probe = connect_from("127.0.0.2", address).await;
    probe.write_all(b"GET /healthz HTTP/1.1\r\nhost: natter\r\n\r\n").await.unwrap();
    let answer = String::from_utf8_lossy(&until_closed(probe, "the refused probe").await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 429 "), "{answer}");
    assert!(answer.contains("too_many_connections"), "{answer}");

    // The rest of the idle flood, and a flood of half-open requests (a head
    // that never ends) from another address.
    for _ in PER_ADDRESS..FLOOD {
        idle.push(connect_from("127.0.0.2", address).await);
    }
    let mut half_open = Vec::new();
    for _ in 0..FLOOD {
        let mut stream = connect_from("127.0.0.3", address).await;
        stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: natter\r\nx-slow: ").await.unwrap();
        half_open.push(stream);
    }
    // And a client that made one request and keeps its connection idle.
    let mut kept_alive = connect_from("127.0.0.4", address).await;
    kept_alive.write_all(b"GET /healthz HTTP/1.1\r\nhost: natter\r\n\r\n").await.unwrap();
    let mut first = [0u8; 12];
    tokio::time::timeout(crate::harness::RECEIVE_TIMEOUT, kept_alive.read_exact(&mut first))
        .await
        .expect("timed out waiting for the keep-alive request's answer")
        .unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    // 601 sockets are open towards the server (more than its hard limit of
    // 256 files), yet it answers, holding at most its caps.
    assert_eq!(healthz(&server).await, 200);
    let files_during = server.open_files();
    let rss_during = server.rss_kib();
    // Admitted connections, plus refusals still being answered (at most 64).
    assert!(
        files_during <= files_before + 2 * PER_ADDRESS + 64 + 10,
        "{files_during} files open during the floods, {files_before} before"
    );

    // Every connection is closed by the server: refused ones at once, the
    // admitted ones when their header timeout runs out. This side closes
    // none of them.
    let closes = idle
        .into_iter()
        .map(|stream| until_closed(stream, "an idle connection"))
        .chain(half_open.into_iter().map(|stream| until_closed(stream, "a half-open request")))
        .chain(std::iter::once(until_closed(kept_alive, "an idle keep-alive connection")));
    let answers = futures_util::future::join_all(closes).await;
    let refused = answers.iter().filter(|answer| answer.starts_with(b"HTTP/1.1 429 ")).count();
    // The server lets go of a refused connection's file up to a second after
    // answering it. Nothing tells a client when, so the test polls the
    // server's open files (the thing under test) until they are back.
    let mut files_after = server.open_files();
    for _ in 0..300 {
        if files_after <= files_before + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        files_after = server.open_files();
    }
    let rss_after = server.rss_kib();
    println!(
        "{FLOOD} idle + {FLOOD} half-open + 1 keep-alive socket, {PER_ADDRESS} allowed per address, \
         open-files limit {SOFT_FILES}/{HARD_FILES} raised to {HARD_FILES}: server files {files_before} before, \
         {files_during} during, {files_after} after; RSS {rss_before} KiB before, {rss_during} KiB during, \
         {rss_after} KiB after; {refused} refusals answered with 429"
    );
    assert!(files_after <= files_before + 2, "{files_after} files after, {files_before} before");
    assert!(rss_during <= rss_before + 16 * 1024, "RSS grew from {rss_before} KiB to {rss_during} KiB");
    assert_eq!(healthz(&server).await, 200);
}
