//! The accept loop: every TCP connection is admitted (counted against the
//! per-address and node caps) before it is served, served by hyper's HTTP/1
//! server with a header-read timeout that also closes idle keep-alive
//! connections, and drained at shutdown. Also raises the process's
//! open-files limit, which decides how many connections it can hold at all.
//!
//! axum's own `serve` has no knob for either timeout and counts nothing,
//! so 1,100 idle sockets from one address exhausted a process at the
//! common limit of 1,024 files.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::admission::{Admission, ConnectionPlace, Refusal};
use super::client::TrustedProxies;

/// Files natter keeps for itself besides connections: the database and its
/// journal (per store connection), the listeners, PostgreSQL and Redis
/// connections, the runtime's own descriptors. The node's connection cap
/// is clamped to the open-files limit less this, so accepting never runs
/// the process out of files.
const RESERVED_FILES: u64 = 64;
/// Largest buffer hyper keeps per connection for a request head (and body
/// chunks). hyper's default (~400 KiB) would let a slow client that trickles
/// headers grow every connection it holds that far; natter's requests have
/// small heads (a cookie, a token).
const MAX_HTTP_BUFFER_BYTES: usize = 32 * 1024;
/// Refused connections that are answered at once (`429` or `503`) and
/// closed gracefully, briefly draining what the client sent so the answer
/// is not lost to a reset. Beyond this many in flight, refused connections
/// are closed without an answer.
const REFUSALS_ANSWERED: usize = 64;
/// How long a refused connection is drained before it is dropped.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);
/// How long the accept loop pauses after an error other than a failed
/// handshake (typically: out of files), rather than spinning.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// What the accept loop needs besides the listener.
pub(super) struct Acceptor {
    pub(super) router: Router,
    /// `None` for the metrics listener, which is the operator's.
    pub(super) admission: Option<Arc<Admission>>,
    pub(super) trusted_proxies: TrustedProxies,
    /// See `Limits::http_header_timeout`.
    pub(super) header_timeout: Duration,
}

/// Accepts and serves connections until `stop` is cancelled; each
/// connection's task is tracked by `connections`, and told to finish its
/// request in flight and close when `stop` is cancelled.
pub(super) async fn accept_loop(
    listener: TcpListener,
    acceptor: Acceptor,
    connections: TaskTracker,
    stop: CancellationToken,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(acceptor.header_timeout)
        .max_buf_size(MAX_HTTP_BUFFER_BYTES);
    let refusals = Arc::new(Semaphore::new(REFUSALS_ANSWERED));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) if is_handshake_error(&error) => continue,
            Err(error) => {
                tracing::error!(%error, "cannot accept a connection");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        // TCP_NODELAY: a session writes small frames back to back (a
        // delivery, then an ack); with Nagle's algorithm the second waits for
        // the client's delayed ACK, adding tens of milliseconds to every ack.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let place = match &acceptor.admission {
            Some(admission) => {
                let peer_ip = peer.ip().to_canonical();
                let per_address = !acceptor.trusted_proxies.trusts(peer_ip);
                match admission.admit_connection(peer_ip, per_address) {
                    Ok(place) => Some(place),
                    Err(refusal) => {
                        refuse(stream, peer.ip(), &refusal, &refusals, &connections);
                        continue;
                    }
                }
            }
            None => None,
        };
        let router = acceptor.router.clone();
        let http = http.clone();
        let stop = stop.clone();
        connections.spawn(async move {
            serve_connection(stream, peer, place, router, &http, &stop).await;
        });
    }
}

/// Serves one connection until it closes (or is upgraded to a WebSocket,
/// which then lives on in its session task).
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    place: Option<ConnectionPlace>,
    router: Router,
    http: &hyper::server::conn::http1::Builder,
    stop: &CancellationToken,
) {
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request: Request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(place) = &place {
            request.extensions_mut().insert(place.clone());
        }
        router.clone().oneshot(request)
    });
    let connection = http.serve_connection(TokioIo::new(stream), service).with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let served = tokio::select! {
        served = connection.as_mut() => served,
        () = stop.cancelled() => {
            // Finish the request in flight, then close; `serve` bounds the wait.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = served {
        // Timeouts, resets and malformed requests: the client's business.
        tracing::debug!(%error, %peer, "HTTP connection ended with an error");
    }
}

/// Answers a refused connection with `429 too_many_connections` or
/// `503 server_full` and closes it, draining briefly in the background so
/// the answer reaches the client. Without room for that, drops it at once.
fn refuse(
    stream: TcpStream,
    peer: IpAddr,
    refusal: &Refusal,
    refusals: &Arc<Semaphore>,
    connections: &TaskTracker,
) {
    tracing::debug!(?refusal, %peer, "connection refused by a limit");
    let Ok(answering) = Arc::clone(refusals).try_acquire_owned() else { return };
    let answer = refusal_answer(refusal);
    connections.spawn(async move {
        let _answering = answering;
        let mut stream = stream;
        let linger = async {
            // A fresh socket's send buffer takes the few bytes at once.
            tokio::io::AsyncWriteExt::write_all(&mut stream, answer.as_bytes()).await?;
            tokio::io::AsyncWriteExt::shutdown(&mut stream).await?;
            let mut sink = [0u8; 1024];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<(), std::io::Error>(())
        };
        let _ = tokio::time::timeout(REFUSAL_LINGER, linger).await;
    });
}

/// The whole HTTP answer to a refused connection, in the API's error shape.
fn refusal_answer(refusal: &Refusal) -> String {
    let (status, code, message) = match refusal {
        Refusal::AddressFull => {
            ("429 Too Many Requests", "too_many_connections", "too many connections from your address")
        }
        Refusal::NodeFull => ("503 Service Unavailable", "server_full", "the server is full; try later"),
    };
    let body = format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#);
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Errors that concern one incoming connection only (it was reset before
/// it was accepted); the listener is fine.
fn is_handshake_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset)
}

/// Raises this process's soft open-files limit to its hard limit, logs what
/// it got, and returns the soft limit now in force (`None` where it cannot
/// be read).
pub(super) fn raise_open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot read the open-files limit");
        return None;
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: setrlimit reads the struct we own and nothing else.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        } else {
            tracing::warn!(error = %std::io::Error::last_os_error(), "cannot raise the open-files limit");
        }
    }
    tracing::info!(soft = limit.rlim_cur, hard = limit.rlim_max, was = before, "open-files limit");
    Some(limit.rlim_cur)
}

/// The connection caps (node, per address) the node can honour with
/// `open_files` descriptors. When the file limit lowers the node's cap, one
/// address may hold at most half of it, so a single address cannot fill
/// the node (and `/healthz` still gets in from elsewhere). Caps that fit
/// are kept as configured.
pub(super) fn caps_within(
    max_connections: usize,
    max_per_address: usize,
    open_files: Option<u64>,
) -> (usize, usize) {
    let Some(open_files) = open_files else { return (max_connections, max_per_address) };
    // Refusals being answered hold a file each too.
    let reserved = RESERVED_FILES + REFUSALS_ANSWERED as u64;
    let room = usize::try_from(open_files.saturating_sub(reserved)).unwrap_or(usize::MAX).max(1);
    if room >= max_connections {
        return (max_connections, max_per_address);
    }
    (room, max_per_address.min((room / 2).max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_caps_leave_room_for_the_process_own_files() {
        assert_eq!(caps_within(100_000, 1_000, Some(1024)), (1024 - 64 - 64, (1024 - 128) / 2));
        assert_eq!(caps_within(500, 1_000, Some(1024)), (500, 1_000), "caps that fit are kept");
        assert_eq!(caps_within(100_000, 100, Some(1024)), (896, 100));
        assert_eq!(caps_within(100_000, 1_000, None), (100_000, 1_000));
        assert_eq!(caps_within(100_000, 1_000, Some(10)), (1, 1));
    }

    #[test]
    fn refusals_are_http_answers_in_the_api_error_shape() {
        for (refusal, status, code) in
            [(Refusal::AddressFull, "429", "too_many_connections"), (Refusal::NodeFull, "503", "server_full")]
        {
            let answer = refusal_answer(&refusal);
            let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
            assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
            assert!(head.ends_with(&format!("content-length: {}", body.len())), "{head}");
            let body: serde_json::Value = serde_json::from_str(body).expect("JSON");
            assert_eq!(body["error"]["code"], code);
        }
    }
}
