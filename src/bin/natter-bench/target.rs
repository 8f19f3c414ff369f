//! The three protocols the generator speaks, and nothing else: how to get a
//! connection into a room, what a published message looks like on the wire,
//! and how to recognise a delivery, an ack or an error in a received frame.
//!
//! - natter's native protocol (`docs/protocol.md`): a guest session over
//!   HTTP, `/ws`, `hello`, `create_channel`/`join`, `send`, `message`, `ack`.
//! - Socket.IO as the tutorial app uses it (Engine.IO v4 over WebSocket):
//!   `new user`, `new channel`, `user changed channel`, `new message`.
//! - The floor (`examples/floor.rs`): the WebSocket path names the room, and
//!   every text frame is broadcast as it is to the room, sender included.
//!
//! Every published body starts with a marker the receivers parse without
//! decoding JSON: `~step.window.publisher.seq.intended~` in hex, then padding.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::wsclient::{Frame, WsClient, tcp_connect};

/// How long one setup step (an upgrade, a join) may take before the
/// connection counts as failed.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// natter's native protocol at `/ws`.
    Natter,
    /// Socket.IO (Engine.IO v4, WebSocket transport) at `/socket.io/`.
    Socketio,
    /// The floor's protocol: room in the path, frames broadcast verbatim.
    Floor,
}

/// Where one connection is to be, and what it says there.
pub struct RoomSpot {
    /// The room's name (natter channel name, Socket.IO room, floor path).
    pub room: String,
    /// natter: the channel id, once the room exists (General is 1).
    pub channel: Option<i64>,
}

/// Pre-rendered pieces of this connection's outgoing messages, so a send
/// only writes the marker and the counters.
pub struct SendTemplate {
    /// Everything before the per-message id (natter) or the body.
    pub head: Vec<u8>,
    /// Between the client id and the body (natter only).
    pub middle: Vec<u8>,
    /// After the body.
    pub tail: Vec<u8>,
    pub uses_client_id: bool,
}

impl SendTemplate {
    pub fn new(target: Target, spot: &RoomSpot, sender_name: &str) -> Self {
        match target {
            Target::Natter => Self {
                head: format!(
                    "{{\"type\":\"send\",\"channel\":{},\"client_id\":\"",
                    spot.channel.expect("a natter connection has its channel after setup")
                )
                .into_bytes(),
                middle: b"\",\"body\":\"".to_vec(),
                tail: b"\"}".to_vec(),
                uses_client_id: true,
            },
            Target::Socketio => Self {
                head: format!("42[\"new message\",{{\"sender\":\"{sender_name}\",\"message\":\"")
                    .into_bytes(),
                middle: Vec::new(),
                tail: format!("\",\"channel\":\"{}\"}}]", spot.room).into_bytes(),
                uses_client_id: false,
            },
            Target::Floor => Self {
                head: format!("{{\"room\":\"{}\",\"body\":\"", spot.room).into_bytes(),
                middle: Vec::new(),
                tail: b"\"}".to_vec(),
                uses_client_id: false,
            },
        }
    }
}

/// What a published message carries, recovered by every receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub step: u32,
    /// Whether it was sent inside its step's measuring window.
    pub in_window: bool,
    /// The publisher's number within its room.
    pub publisher: u32,
    /// The publisher's message number, from 1.
    pub seq: u32,
    /// Intended send time, µs since the generator's epoch.
    pub intended_micros: u64,
}

impl Marker {
    /// Writes `~step.window.publisher.seq.intended~` into `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        use std::io::Write as _;
        out.clear();
        write!(
            out,
            "~{:x}.{}.{:x}.{:x}.{:x}~",
            self.step,
            u8::from(self.in_window),
            self.publisher,
            self.seq,
            self.intended_micros
        )
        .expect("writing to a Vec cannot fail");
    }

    /// Finds and parses the first marker in a frame.
    pub fn find(frame: &[u8]) -> Option<Self> {
        let start = memchr::memchr(b'~', frame)? + 1;
        let mut fields = [0u64; 5];
        let mut field = 0;
        for &byte in &frame[start..] {
            let digit = match byte {
                b'0'..=b'9' => byte - b'0',
                b'a'..=b'f' => byte - b'a' + 10,
                b'.' => {
                    field += 1;
                    if field == fields.len() {
                        return None;
                    }
                    continue;
                }
                b'~' if field == fields.len() - 1 => {
                    return Some(Self {
                        step: u32::try_from(fields[0]).ok()?,
                        in_window: fields[1] == 1,
                        publisher: u32::try_from(fields[2]).ok()?,
                        seq: u32::try_from(fields[3]).ok()?,
                        intended_micros: fields[4],
                    });
                }
                _ => return None,
            };
            fields[field] = fields[field].checked_mul(16)?.checked_add(u64::from(digit))?;
        }
        None
    }
}

/// What a received text frame means to the generator.
pub enum Incoming {
    Delivery(Marker),
    /// natter: a send was committed.
    Ack,
    /// natter: a send was refused.
    Error,
    /// Socket.IO: the server pinged; answer `3`.
    EngineIoPing,
    /// Socket.IO: the server disconnected this socket.
    Disconnected,
    Other,
}

pub fn classify(target: Target, frame: &[u8]) -> Incoming {
    match target {
        Target::Natter => {
            if frame.starts_with(b"{\"type\":\"message\"") {
                Marker::find(frame).map_or(Incoming::Other, Incoming::Delivery)
            } else if frame.starts_with(b"{\"type\":\"ack\"") {
                Incoming::Ack
            } else if frame.starts_with(b"{\"type\":\"error\"") {
                Incoming::Error
            } else {
                Incoming::Other
            }
        }
        Target::Socketio => match frame {
            b"2" => Incoming::EngineIoPing,
            b"41" | b"1" => Incoming::Disconnected,
            _ if frame.starts_with(b"42[\"new message\"") => {
                Marker::find(frame).map_or(Incoming::Other, Incoming::Delivery)
            }
            _ => Incoming::Other,
        },
        Target::Floor => Marker::find(frame).map_or(Incoming::Other, Incoming::Delivery),
    }
}

/// Creates a natter guest and returns its session token: `POST /api/guest`
/// over a plain HTTP/1.1 connection (no client library for one request).
pub async fn natter_guest(source: IpAddr, server: SocketAddr, name: &str) -> io::Result<String> {
    let body = serde_json::json!({ "username": name }).to_string();
    let request = format!(
        "POST /api/guest HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tcp_connect(source, server, false).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::with_capacity(1024);
    tokio::time::timeout(SETUP_TIMEOUT, stream.read_to_end(&mut response))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "guest request timed out"))??;
    let text = String::from_utf8_lossy(&response);
    let (head, json) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if !head.starts_with("HTTP/1.1 200") {
        let status = head.lines().next().unwrap_or_default();
        return Err(io::Error::other(format!("POST /api/guest: {status} {json}")));
    }
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| io::Error::other(format!("guest answer: {e}")))?;
    value["token"].as_str().map(str::to_owned).ok_or_else(|| io::Error::other("guest answer without a token"))
}

/// Reads frames until one satisfies `wanted`, answering pings on the way;
/// returns that frame's bytes.
pub async fn await_frame(
    ws: &mut WsClient,
    target: Target,
    what: &str,
    wanted: impl Fn(&[u8]) -> bool,
) -> io::Result<Vec<u8>> {
    let deadline = tokio::time::Instant::now() + SETUP_TIMEOUT;
    loop {
        while let Some(frame) = ws.next_frame()? {
            match frame {
                Frame::Close(code) => {
                    return Err(io::Error::other(format!("closed ({code}) awaiting {what}")));
                }
                Frame::Text(text) if wanted(text) => return Ok(text.to_vec()),
                Frame::Text(text) => {
                    if target == Target::Socketio && text == b"2" {
                        ws.queue_text(b"3");
                    } else if target == Target::Natter && text.starts_with(b"{\"type\":\"error\"") {
                        let error = String::from_utf8_lossy(text).into_owned();
                        return Err(io::Error::other(format!("{error} awaiting {what}")));
                    }
                }
            }
        }
        ws.flush().await?;
        match tokio::time::timeout_at(deadline, ws.fill()).await {
            Err(_) => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, format!("timed out awaiting {what}")));
            }
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("closed awaiting {what}")));
            }
            Ok(Err(error)) => return Err(error),
        }
    }
}

/// Sends one text frame during setup.
async fn say(ws: &mut WsClient, text: &str) -> io::Result<()> {
    ws.queue_text(text.as_bytes());
    ws.flush().await
}

/// How one connection joins its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRole {
    /// Makes the room (its channel) exist.
    Creator,
    /// The first connection of its user in an existing room: joins it.
    Joiner,
    /// Its user is in the room already (natter: another connection of the
    /// same user joined), or the protocol joins by connecting (floor).
    Member,
}

pub struct Connect<'a> {
    pub target: Target,
    pub source: IpAddr,
    pub server: SocketAddr,
    /// natter: the session token.
    pub token: Option<&'a str>,
    /// Socket.IO: the name to log in with (`new user`), if any.
    pub user_name: Option<&'a str>,
    pub seed: u32,
    /// This connection will stop reading: give it a small receive buffer.
    pub slow_consumer: bool,
    /// natter: ask for watched presence in `hello`.
    pub watched_presence: bool,
}

/// natter's `hello`, with the presence mode asked for.
pub fn natter_hello(watched_presence: bool) -> &'static str {
    if watched_presence { r#"{"type":"hello","presence":"watched"}"# } else { r#"{"type":"hello"}"# }
}

/// Connects and brings the connection into its room. A creator fills in
/// `spot.channel` (natter); others must be given it.
pub async fn connect_into_room(
    how: &Connect<'_>,
    spot: &mut RoomSpot,
    role: JoinRole,
) -> io::Result<WsClient> {
    match how.target {
        Target::Natter => {
            let token = how.token.expect("natter connections have a token");
            let header = format!("Authorization: Bearer {token}\r\n");
            let mut ws =
                WsClient::connect(how.source, how.server, "/ws", &header, how.seed, how.slow_consumer)
                    .await?;
            say(&mut ws, natter_hello(how.watched_presence)).await?;
            await_frame(&mut ws, how.target, "welcome", |f| f.starts_with(b"{\"type\":\"welcome\"")).await?;
            let request = match role {
                JoinRole::Creator => {
                    let name = serde_json::to_string(&spot.room).expect("strings serialize");
                    Some(format!(r#"{{"type":"create_channel","name":{name},"ref":"setup"}}"#))
                }
                JoinRole::Joiner => {
                    let channel = spot.channel.expect("a joiner is given the channel id");
                    Some(format!(r#"{{"type":"join","channel":{channel},"ref":"setup"}}"#))
                }
                JoinRole::Member => None,
            };
            if let Some(request) = request {
                say(&mut ws, &request).await?;
                let reply = await_frame(&mut ws, how.target, "the channel", |f| {
                    f.starts_with(b"{\"type\":\"channel\"")
                        && memchr::memmem::find(f, b"\"ref\":\"setup\"").is_some()
                })
                .await?;
                let reply: serde_json::Value = serde_json::from_slice(&reply)
                    .map_err(|e| io::Error::other(format!("channel reply: {e}")))?;
                spot.channel = reply["channel"]["id"].as_i64();
            }
            Ok(ws)
        }
        Target::Socketio => {
            let mut ws = WsClient::connect(
                how.source,
                how.server,
                "/socket.io/?EIO=4&transport=websocket",
                "",
                how.seed,
                how.slow_consumer,
            )
            .await?;
            await_frame(&mut ws, how.target, "the Engine.IO open packet", |f| f.starts_with(b"0{")).await?;
            say(&mut ws, "40").await?;
            await_frame(&mut ws, how.target, "the Socket.IO connect", |f| f.starts_with(b"40")).await?;
            if let Some(name) = how.user_name {
                let name = serde_json::to_string(name).expect("strings serialize");
                say(&mut ws, &format!("42[\"new user\",{name}]")).await?;
            }
            let room = serde_json::to_string(&spot.room).expect("strings serialize");
            let event = if role == JoinRole::Creator { "new channel" } else { "user changed channel" };
            say(&mut ws, &format!("42[\"{event}\",{room}]")).await?;
            await_frame(&mut ws, how.target, "user changed channel", |f| {
                f.starts_with(b"42[\"user changed channel\"")
            })
            .await?;
            Ok(ws)
        }
        Target::Floor => {
            let path = format!("/{}", spot.room);
            WsClient::connect(how.source, how.server, &path, "", how.seed, how.slow_consumer).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_inside_any_frame() {
        let marker =
            Marker { step: 3, in_window: true, publisher: 17, seq: 40_000, intended_micros: 12_345_678_901 };
        let mut bytes = Vec::new();
        marker.write(&mut bytes);
        let body = String::from_utf8(bytes).expect("ascii") + "xxxxxxxx";
        let natter = format!(
            r#"{{"type":"message","channel":1,"id":3,"seq":3,"sender":"b1","body":"{body}","ts":1,"client_id":"~zz"}}"#
        );
        assert!(
            matches!(classify(Target::Natter, natter.as_bytes()), Incoming::Delivery(found) if found == marker)
        );
        let socketio = format!(r#"42["new message",{{"sender":"s","message":"{body}","channel":"r"}}]"#);
        assert!(
            matches!(classify(Target::Socketio, socketio.as_bytes()), Incoming::Delivery(found) if found == marker)
        );
        assert!(matches!(classify(Target::Socketio, b"2"), Incoming::EngineIoPing));
        assert!(matches!(classify(Target::Natter, br#"{"type":"ack","client_id":"c"}"#), Incoming::Ack));
        assert_eq!(Marker::find(b"~1.1.2~"), None, "too few fields");
        assert_eq!(Marker::find(b"~1.1.2.3.4"), None, "unterminated");
    }
}
