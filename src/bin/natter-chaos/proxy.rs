//! The fault proxy: a TCP forwarder with one listener per link (a node's
//! link to PostgreSQL or to Redis) and knobs the kernel here cannot give.
//! This kernel has no netem, so delay and jitter come from holding each
//! chunk until its due time; a stall stops forwarding while both sockets
//! stay open (an application-level blackhole: TCP still acknowledges, so
//! only the application's own deadlines notice); a reset aborts both sides
//! with RST; refuse closes the listener so new connections are refused.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until};

use crate::nemesis::Rng;

/// Chunks read but not yet written, per direction: bounds memory while a
/// link is stalled (the reader then waits, and TCP's window fills).
const QUEUE_CHUNKS: usize = 256;
const CHUNK_BYTES: usize = 16 * 1024;

/// One link's settings; every connection of the link follows them live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Knobs {
    pub latency: Duration,
    /// Each chunk's delay is `latency` plus or minus up to this.
    pub jitter: Duration,
    pub stalled: bool,
    pub refused: bool,
    /// Raised by each reset; connections opened before it abort.
    pub resets: u64,
}

/// A running proxy: links by name (`n1-pg`, `n1-redis`, ...).
pub struct Proxy {
    links: BTreeMap<String, watch::Sender<Knobs>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Proxy {
    /// Starts a listener on `listen` forwarding to `target` for each link.
    pub async fn start(links: &[(String, SocketAddr, SocketAddr)]) -> Result<Self, String> {
        let mut proxy = Self { links: BTreeMap::new(), tasks: Vec::new() };
        for (name, listen, target) in links {
            let listener =
                TcpListener::bind(listen).await.map_err(|e| format!("proxy {name} on {listen}: {e}"))?;
            let (knobs, watcher) = watch::channel(Knobs::default());
            proxy.tasks.push(tokio::spawn(accept(listener, *listen, *target, watcher)));
            proxy.links.insert(name.clone(), knobs);
        }
        Ok(proxy)
    }

    /// Changes one link's knobs (`all` changes every link).
    pub fn set(&self, link: &str, change: impl Fn(&mut Knobs)) -> Result<(), String> {
        let mut found = false;
        for (name, knobs) in &self.links {
            if link == "all" || link == name {
                knobs.send_modify(&change);
                found = true;
            }
        }
        if found { Ok(()) } else { Err(format!("the proxy has no link {link:?}")) }
    }

    /// Applies a nemesis verb: `proxy LINK latency MS JITTER_MS | stall |
    /// reset | refuse | heal` (heal clears latency, stall and refuse).
    pub fn apply(&self, words: &[String]) -> Result<(), String> {
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let number = |word: &str| word.parse::<u64>().map_err(|e| format!("proxy: {word:?}: {e}"));
        match words.as_slice() {
            [link, "latency", ms, jitter] => {
                let (ms, jitter) = (number(ms)?, number(jitter)?);
                self.set(link, |k| {
                    k.latency = Duration::from_millis(ms);
                    k.jitter = Duration::from_millis(jitter);
                })
            }
            [link, "stall"] => self.set(link, |k| k.stalled = true),
            [link, "reset"] => self.set(link, |k| k.resets += 1),
            [link, "refuse"] => self.set(link, |k| k.refused = true),
            [link, "heal"] => self.set(link, |k| *k = Knobs { resets: k.resets, ..Knobs::default() }),
            _ => Err(format!("proxy: unknown verb {words:?}")),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Accepts connections while the link is not refused; drops the listener
/// (new connections are refused by the kernel) while it is.
async fn accept(
    listener: TcpListener,
    listen: SocketAddr,
    target: SocketAddr,
    knobs: watch::Receiver<Knobs>,
) {
    let mut listener = Some(listener);
    let mut connections = Vec::<JoinHandle<()>>::new();
    let mut watcher = knobs.clone();
    loop {
        let Some(open) = &listener else {
            if watcher.wait_for(|k| !k.refused).await.is_err() {
                break;
            }
            // The port was ours a moment ago; a few tries cover a slow release.
            for _ in 0..50 {
                if let Ok(bound) = TcpListener::bind(listen).await {
                    listener = Some(bound);
                    break;
                }
                sleep(Duration::from_millis(100)).await;
            }
            if listener.is_none() {
                eprintln!("natter-chaos: proxy cannot listen on {listen} again");
                break;
            }
            continue;
        };
        let refuse = tokio::select! {
            accepted = open.accept() => {
                if let Ok((client, _)) = accepted {
                    connections.retain(|task| !task.is_finished());
                    connections.push(tokio::spawn(forward(client, target, knobs.clone())));
                }
                false
            }
            refused = watcher.wait_for(|k| k.refused) => {
                if refused.is_err() {
                    break;
                }
                true
            }
        };
        if refuse {
            listener = None;
        }
    }
    for task in connections {
        task.abort();
    }
}

/// Forwards one connection both ways until both sides end, one fails, or
/// the link is reset; a failure or reset aborts both sides with RST.
async fn forward(mut client: TcpStream, target: SocketAddr, knobs: watch::Receiver<Knobs>) {
    let epoch = knobs.borrow().resets;
    let Ok(mut server) = TcpStream::connect(target).await else {
        abort(&client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut reset = knobs.clone();
    let ended_cleanly = {
        let (client_read, client_write) = client.split();
        let (server_read, server_write) = server.split();
        let both = async {
            tokio::try_join!(
                pump(client_read, server_write, knobs.clone()),
                pump(server_read, client_write, knobs.clone()),
            )
        };
        tokio::select! {
            result = both => result.is_ok(),
            _ = reset.wait_for(|k| k.resets > epoch) => false,
        }
    };
    if !ended_cleanly {
        abort(&client);
        abort(&server);
    }
}

/// Makes the coming close send RST instead of FIN.
fn abort(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

/// One direction: reads chunks, stamps each with its due time, and writes
/// it then, not before, and not while the link is stalled. Due times never
/// go backwards, so jitter does not reorder the stream.
async fn pump(
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    knobs: watch::Receiver<Knobs>,
) -> std::io::Result<()> {
    let (queue, mut queued) = mpsc::channel::<(Vec<u8>, Instant)>(QUEUE_CHUNKS);
    let mut stall = knobs.clone();
    let read = async move {
        // Jitter needs spread, not replayability: seeded from the clock.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos());
        let mut rng = Rng::new(u64::from(nanos) | 1);
        let mut last_due = Instant::now();
        let mut buffer = vec![0u8; CHUNK_BYTES];
        loop {
            let read = from.read(&mut buffer).await?;
            if read == 0 {
                return Ok::<(), std::io::Error>(());
            }
            let Knobs { latency, jitter, .. } = *knobs.borrow();
            let jitter_ms = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX);
            let spread = Duration::from_millis(rng.below(2 * jitter_ms + 1));
            let delay = (latency + spread).saturating_sub(jitter);
            last_due = last_due.max(Instant::now() + delay);
            if queue.send((buffer[..read].to_vec(), last_due)).await.is_err() {
                return Ok(());
            }
        }
    };
    let write = async move {
        while let Some((chunk, due)) = queued.recv().await {
            sleep_until(due).await;
            if stall.wait_for(|k| !k.stalled).await.is_err() {
                return Ok(());
            }
            to.write_all(&chunk).await?;
        }
        to.shutdown().await
    };
    tokio::try_join!(read, write).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback and a proxy link `echo` in front of it.
    async fn echo_behind_proxy() -> (Proxy, SocketAddr) {
        let server = TcpListener::bind("127.0.0.1:0").await.expect("bind the echo server");
        let target = server.local_addr().expect("echo address");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = server.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = socket.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        // Port 0 would give the listener a new port after a refuse; ask the
        // kernel for a free one first.
        let free = TcpListener::bind("127.0.0.1:0").await.expect("find a free port");
        let listen = free.local_addr().expect("free address");
        drop(free);
        let proxy = Proxy::start(&[("echo".to_owned(), listen, target)]).await.expect("start the proxy");
        (proxy, listen)
    }

    async fn round_trip(socket: &mut TcpStream, what: &str) -> Vec<u8> {
        socket.write_all(what.as_bytes()).await.expect("write through the proxy");
        let mut answer = vec![0u8; what.len()];
        tokio::time::timeout(Duration::from_secs(5), socket.read_exact(&mut answer))
            .await
            .unwrap_or_else(|_| panic!("no echo of {what:?} within 5 s"))
            .expect("read the echo");
        answer
    }

    #[tokio::test]
    async fn forwards_both_ways() {
        let (_proxy, listen) = echo_behind_proxy().await;
        let mut socket = TcpStream::connect(listen).await.expect("connect to the proxy");
        assert_eq!(round_trip(&mut socket, "hello").await, b"hello");
    }

    #[tokio::test]
    async fn a_round_trip_takes_at_least_the_latency_of_both_directions() {
        let (proxy, listen) = echo_behind_proxy().await;
        proxy.apply(&["echo".into(), "latency".into(), "100".into(), "20".into()]).expect("set latency");
        let mut socket = TcpStream::connect(listen).await.expect("connect to the proxy");
        let began = Instant::now();
        assert_eq!(round_trip(&mut socket, "slow").await, b"slow");
        // Each direction holds the chunk at least latency - jitter = 80 ms.
        assert!(began.elapsed() >= Duration::from_millis(160), "round trip took {:?}", began.elapsed());
    }

    #[tokio::test]
    async fn a_stall_holds_the_data_until_healed() {
        let (proxy, listen) = echo_behind_proxy().await;
        let mut socket = TcpStream::connect(listen).await.expect("connect to the proxy");
        assert_eq!(round_trip(&mut socket, "before").await, b"before");
        proxy.apply(&["echo".into(), "stall".into()]).expect("stall");
        socket.write_all(b"held").await.expect("write into the stall");
        let mut answer = [0u8; 4];
        let early = tokio::time::timeout(Duration::from_millis(500), socket.read_exact(&mut answer)).await;
        assert!(early.is_err(), "data passed a stalled link: {early:?}");
        proxy.apply(&["echo".into(), "heal".into()]).expect("heal");
        tokio::time::timeout(Duration::from_secs(5), socket.read_exact(&mut answer))
            .await
            .expect("the held data arrives within 5 s of the heal")
            .expect("read the held data");
        assert_eq!(&answer, b"held");
    }

    #[tokio::test]
    async fn a_reset_aborts_both_sides() {
        // A server that reports how its first connection ended.
        let server = TcpListener::bind("127.0.0.1:0").await.expect("bind the server");
        let target = server.local_addr().expect("server address");
        let (ended_tx, ended_rx) = tokio::sync::oneshot::channel();
        let (accepted_tx, accepted_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut socket, _) = server.accept().await.expect("the proxy connects");
            let _ = accepted_tx.send(());
            let mut byte = [0u8; 1];
            let _ = ended_tx.send(socket.read(&mut byte).await.map_err(|e| e.kind()));
        });
        let free = TcpListener::bind("127.0.0.1:0").await.expect("find a free port");
        let listen = free.local_addr().expect("free address");
        drop(free);
        let proxy = Proxy::start(&[("link".to_owned(), listen, target)]).await.expect("start the proxy");
        let mut socket = TcpStream::connect(listen).await.expect("connect to the proxy");
        tokio::time::timeout(Duration::from_secs(5), accepted_rx)
            .await
            .expect("the proxy connects to the server within 5 s")
            .expect("the server reports its accept");
        proxy.apply(&["link".into(), "reset".into()]).expect("reset");
        let mut byte = [0u8; 1];
        let client_end = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut byte))
            .await
            .expect("the reset ends the client's side within 5 s");
        assert_eq!(client_end.map_err(|e| e.kind()), Err(std::io::ErrorKind::ConnectionReset));
        let server_end = tokio::time::timeout(Duration::from_secs(5), ended_rx)
            .await
            .expect("the reset ends the server's side within 5 s")
            .expect("the server reports");
        assert_eq!(server_end, Err(std::io::ErrorKind::ConnectionReset), "a reset, not a clean end");
    }

    #[tokio::test]
    async fn new_connections_pass_after_a_reset() {
        let (proxy, listen) = echo_behind_proxy().await;
        let mut socket = TcpStream::connect(listen).await.expect("connect to the proxy");
        assert_eq!(round_trip(&mut socket, "up").await, b"up");
        proxy.apply(&["echo".into(), "reset".into()]).expect("reset");
        let mut byte = [0u8; 1];
        let ended = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut byte))
            .await
            .expect("the reset ends the connection within 5 s");
        assert_eq!(ended.map_err(|e| e.kind()), Err(std::io::ErrorKind::ConnectionReset));
        let mut again = TcpStream::connect(listen).await.expect("connect after the reset");
        assert_eq!(round_trip(&mut again, "again").await, b"again");
    }

    #[tokio::test]
    async fn refuse_closes_the_listener_until_healed() {
        let (proxy, listen) = echo_behind_proxy().await;
        proxy.apply(&["echo".into(), "refuse".into()]).expect("refuse");
        let mut refused = false;
        for _ in 0..50 {
            if TcpStream::connect(listen).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(refused, "the listener still accepted a second after refuse");
        proxy.apply(&["echo".into(), "heal".into()]).expect("heal");
        let mut socket = None;
        for _ in 0..50 {
            if let Ok(open) = TcpStream::connect(listen).await {
                socket = Some(open);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut socket = socket.expect("the listener accepts again within 5 s of the heal");
        assert_eq!(round_trip(&mut socket, "back").await, b"back");
    }
}
