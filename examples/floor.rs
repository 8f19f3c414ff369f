//! The floor: the least a WebSocket chat server can do, as a yardstick for
//! natter's benchmarks. What a chat server costs with no chat features: no
//! accounts, no storage, no ordering, no JSON.
//!
//! `cargo run --release --example floor -- [ADDRESS]` (default 127.0.0.1:3300)
//!
//! Protocol: connect a WebSocket to `/ROOM`; the path names the room. Every
//! text frame a member sends is broadcast, bytes unchanged, to every member
//! of the room, the sender included. Nothing else.
//!
//! It is built as the server it is compared with is: one task per
//! connection, small WebSocket buffers (4 KiB, not tungstenite's 128 KiB),
//! each frame received once and shared (not copied) by every recipient's
//! queue, and a bounded queue per connection: a member whose queue is full
//! is dropped, so a reader that stopped cannot hold memory. It uses nothing
//! of natter's code (it is an example only to share the package's build).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Frames queued to one member before it is judged too slow and dropped
/// (the same bound natter uses).
const QUEUE: usize = 1024;
/// Frames written before one flush.
const FRAMES_PER_FLUSH: usize = 64;
/// Per-connection read and write buffers.
const BUFFER_BYTES: usize = 4 * 1024;
/// Largest frame accepted.
const MAX_FRAME_BYTES: usize = 64 * 1024;

type Members = Mutex<Vec<(u64, mpsc::Sender<Message>)>>;

#[derive(Default)]
struct Rooms {
    rooms: Mutex<HashMap<String, Arc<Members>>>,
    next_id: AtomicU64,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3300".into());
    let listener = TcpListener::bind(&address).await?;
    // Scripts read this line to learn the port.
    println!("floor listening on {}", listener.local_addr()?);
    let rooms = Arc::new(Rooms::default());
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream, Arc::clone(&rooms)));
            }
            // Out of file descriptors, say: wait instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn serve(stream: TcpStream, rooms: Arc<Rooms>) {
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default()
        .read_buffer_size(BUFFER_BYTES)
        .write_buffer_size(BUFFER_BYTES)
        .max_write_buffer_size(MAX_FRAME_BYTES * 4)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let mut path = String::new();
    // The error type is tungstenite's handshake callback signature, not ours.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| {
        path = request.uri().path().to_owned();
        Ok(response)
    };
    let Ok(mut socket) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await
    else {
        return;
    };
    let id = rooms.next_id.fetch_add(1, Ordering::Relaxed);
    let (queue, mut frames) = mpsc::channel(QUEUE);
    // Joining and leaving take the map's lock, then the room's: a room is
    // removed only while nobody can be joining it.
    let room = {
        let mut map = rooms.rooms.lock().expect("room map lock is never poisoned");
        let room = Arc::clone(map.entry(path.clone()).or_default());
        room.lock().expect("room lock is never poisoned").push((id, queue));
        room
    };
    loop {
        tokio::select! {
            received = socket.next() => match received {
                Some(Ok(frame @ Message::Text(_))) => broadcast(&room, frame),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            queued = frames.recv() => {
                // None: this member was dropped for being too slow.
                let Some(frame) = queued else { break };
                if socket.feed(frame).await.is_err() {
                    break;
                }
                let mut written = 1;
                while written < FRAMES_PER_FLUSH {
                    let Ok(frame) = frames.try_recv() else { break };
                    if socket.feed(frame).await.is_err() {
                        break;
                    }
                    written += 1;
                }
                if socket.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    let mut map = rooms.rooms.lock().expect("room map lock is never poisoned");
    let mut members = room.lock().expect("room lock is never poisoned");
    members.retain(|(member, _)| *member != id);
    if members.is_empty() {
        map.remove(&path);
    }
}

/// Queues the frame to every member. The frame's bytes are shared, not
/// copied; a member whose queue is full is removed, which closes it.
fn broadcast(room: &Members, frame: Message) {
    let mut members = room.lock().expect("room lock is never poisoned");
    members.retain(|(_, queue)| {
        !matches!(queue.try_send(frame.clone()), Err(mpsc::error::TrySendError::Full(_)))
    });
}
