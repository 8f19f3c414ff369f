//! A minimal WebSocket client made for measuring servers: one TCP stream, one
//! small read buffer that frames are parsed out of in place, one write buffer.
//!
//! It exists because the generator must read far more frames than the server
//! under test writes per core, on the same two cores: a general client that
//! allocates a message per frame would measure itself. It does only what the
//! three protocols need: the HTTP upgrade, text frames both ways, ping/pong,
//! close, and (rarely used by servers) fragmented messages. It never owns a
//! task; the connection's one task drives it.

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Read buffer per connection. Chat frames are a few hundred bytes; a frame
/// larger than this grows the buffer for that connection (up to
/// [`MAX_FRAME_BYTES`]), so the common case costs 8 KiB per connection.
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// Largest frame accepted from a server; a bigger one ends the connection.
const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;
/// Bytes queued for writing before a send is refused. Open-loop publishers
/// keep scheduling while the server does not read; past this bound the
/// connection counts as stalled rather than growing without end.
pub const MAX_PENDING_WRITE_BYTES: usize = 1024 * 1024;

/// What one parsed frame is.
pub enum Frame<'a> {
    Text(&'a [u8]),
    /// The server closed the connection, with its close code (1005 if none).
    Close(u16),
}

/// What one non-blocking read found.
pub enum Filled {
    Data,
    End,
    /// The readiness was spurious; wait again.
    Nothing,
}

pub struct WsClient {
    pub stream: TcpStream,
    read: Vec<u8>,
    /// Unparsed bytes are `read[start..end]`.
    start: usize,
    end: usize,
    /// A fragmented message being assembled (servers rarely fragment).
    partial: Option<Vec<u8>>,
    write: Vec<u8>,
    /// Bytes of `write` already written.
    written: usize,
    mask_state: u32,
}

/// Receive buffer of a connection that will stop reading (a slow consumer):
/// small, so what it does not read backs up into the server within seconds
/// instead of filling megabytes of kernel buffers first.
const SLOW_CONSUMER_RECEIVE_BUFFER: u32 = 4096;

/// Opens a TCP connection from `source` (bound before connecting, so many
/// loopback source addresses multiply the ephemeral ports available).
pub async fn tcp_connect(source: IpAddr, server: SocketAddr, slow_consumer: bool) -> io::Result<TcpStream> {
    let socket = if server.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if slow_consumer {
        // Before connecting, so the advertised window is small from the start.
        socket.set_recv_buffer_size(SLOW_CONSUMER_RECEIVE_BUFFER)?;
    }
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl WsClient {
    /// Connects and upgrades `path` to a WebSocket. `extra_headers` is
    /// inserted verbatim (each line ending in `\r\n`).
    pub async fn connect(
        source: IpAddr,
        server: SocketAddr,
        path: &str,
        extra_headers: &str,
        seed: u32,
        slow_consumer: bool,
    ) -> io::Result<Self> {
        let mut stream = tcp_connect(source, server, slow_consumer).await?;
        // The key only has to be 16 bytes in base64; the server hashes it back
        // and this client trusts the server it was pointed at.
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: bmF0dGVyLWJlbmNoLWtleQ==\r\nSec-WebSocket-Version: 13\r\n{extra_headers}\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut read = vec![0u8; READ_BUFFER_BYTES];
        let mut end = 0;
        let header_end = loop {
            if end == read.len() {
                return Err(io::Error::other("upgrade response headers too large"));
            }
            let n = stream.read(&mut read[end..]).await?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed during the upgrade"));
            }
            end += n;
            if let Some(at) = memchr::memmem::find(&read[..end], b"\r\n\r\n") {
                break at + 4;
            }
        };
        let status_line = read[..header_end].split(|&b| b == b'\r').next().unwrap_or_default();
        if !status_line.windows(5).any(|w| w == b" 101 ") {
            let status = String::from_utf8_lossy(status_line).into_owned();
            return Err(io::Error::other(format!("upgrade refused: {status}")));
        }
        Ok(Self {
            stream,
            read,
            start: header_end,
            end,
            partial: None,
            write: Vec::with_capacity(1024),
            written: 0,
            mask_state: seed | 1,
        })
    }

    /// Reads what the socket has (waiting until it has something). Returns
    /// false on end of stream.
    pub async fn fill(&mut self) -> io::Result<bool> {
        loop {
            self.stream.readable().await?;
            match self.try_fill()? {
                Filled::Data => return Ok(true),
                Filled::End => return Ok(false),
                Filled::Nothing => continue,
            }
        }
    }

    /// Reads what the socket has now, without waiting. Wait for
    /// `stream.readable()` first: it borrows the stream only shared, so a
    /// task can wait for reading and writing at once.
    pub fn try_fill(&mut self) -> io::Result<Filled> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.read.len() {
            // Make room: move the unparsed tail to the front, or grow for a
            // frame that does not fit at all.
            if self.start > 0 {
                self.read.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.read.len() < MAX_FRAME_BYTES {
                let grown = (self.read.len() * 2).min(MAX_FRAME_BYTES);
                self.read.resize(grown, 0);
            } else {
                return Err(io::Error::other("frame larger than the client accepts"));
            }
        }
        match self.stream.try_read(&mut self.read[self.end..]) {
            Ok(0) => Ok(Filled::End),
            Ok(n) => {
                self.end += n;
                Ok(Filled::Data)
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(Filled::Nothing),
            Err(error) => Err(error),
        }
    }

    /// The next complete frame in the buffer, if any. Pings are answered (the
    /// pong is queued; call [`WsClient::flush`]) and pongs skipped.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame<'_>>> {
        loop {
            let available = &self.read[self.start..self.end];
            if available.len() < 2 {
                return Ok(None);
            }
            let fin = available[0] & 0x80 != 0;
            let opcode = available[0] & 0x0f;
            let masked = available[1] & 0x80 != 0;
            let (length, mut header) = match available[1] & 0x7f {
                126 if available.len() >= 4 => (u16::from_be_bytes([available[2], available[3]]) as usize, 4),
                127 if available.len() >= 10 => {
                    let mut bytes = [0u8; 8];
                    bytes.copy_from_slice(&available[2..10]);
                    (usize::try_from(u64::from_be_bytes(bytes)).unwrap_or(usize::MAX), 10)
                }
                126 | 127 => return Ok(None),
                short => (short as usize, 2),
            };
            if length > MAX_FRAME_BYTES {
                return Err(io::Error::other("frame larger than the client accepts"));
            }
            let mask = if masked {
                if available.len() < header + 4 {
                    return Ok(None);
                }
                let key =
                    [available[header], available[header + 1], available[header + 2], available[header + 3]];
                header += 4;
                Some(key)
            } else {
                None
            };
            if available.len() < header + length {
                return Ok(None);
            }
            let payload_start = self.start + header;
            let payload_end = payload_start + length;
            self.start = payload_end;
            if let Some(key) = mask {
                for (i, byte) in self.read[payload_start..payload_end].iter_mut().enumerate() {
                    *byte ^= key[i % 4];
                }
            }
            match opcode {
                0x1 | 0x2 if fin => return Ok(Some(Frame::Text(&self.read[payload_start..payload_end]))),
                0x1 | 0x2 => self.partial = Some(self.read[payload_start..payload_end].to_vec()),
                0x0 => {
                    let Some(mut partial) = self.partial.take() else {
                        return Err(io::Error::other("continuation frame without a first frame"));
                    };
                    partial.extend_from_slice(&self.read[payload_start..payload_end]);
                    if partial.len() > MAX_FRAME_BYTES {
                        return Err(io::Error::other("message larger than the client accepts"));
                    }
                    if !fin {
                        self.partial = Some(partial);
                        continue;
                    }
                    // Put the whole message back where a text frame would be:
                    // this path is rare, so a copy is fine.
                    self.partial = Some(partial);
                    let assembled = self.partial.as_deref().expect("just set");
                    return Ok(Some(Frame::Text(assembled)));
                }
                0x8 => {
                    let payload = &self.read[payload_start..payload_end];
                    let code =
                        if payload.len() >= 2 { u16::from_be_bytes([payload[0], payload[1]]) } else { 1005 };
                    return Ok(Some(Frame::Close(code)));
                }
                0x9 => {
                    let payload = self.read[payload_start..payload_end].to_vec();
                    self.queue_frame(0xA, &payload);
                }
                _ => {}
            }
        }
    }

    /// Queues a text frame; [`WsClient::flush`] or [`WsClient::try_flush`]
    /// writes it. Returns false (and queues nothing) when the server has not
    /// taken [`MAX_PENDING_WRITE_BYTES`] already.
    pub fn queue_text(&mut self, payload: &[u8]) -> bool {
        if self.write.len() - self.written > MAX_PENDING_WRITE_BYTES {
            return false;
        }
        self.queue_frame(0x1, payload);
        true
    }

    /// Queues a text frame assembled from parts, without joining them first.
    pub fn queue_text_parts(&mut self, parts: &[&[u8]]) -> bool {
        if self.write.len() - self.written > MAX_PENDING_WRITE_BYTES {
            return false;
        }
        let length: usize = parts.iter().map(|part| part.len()).sum();
        let key = self.frame_header(0x1, length);
        let mut offset = 0;
        for part in parts {
            for &byte in *part {
                self.write.push(byte ^ key[offset % 4]);
                offset += 1;
            }
        }
        true
    }

    fn queue_frame(&mut self, opcode: u8, payload: &[u8]) {
        let key = self.frame_header(opcode, payload.len());
        self.write.extend(payload.iter().enumerate().map(|(i, byte)| byte ^ key[i % 4]));
    }

    /// Writes a client frame header (clients must mask) and returns the key.
    fn frame_header(&mut self, opcode: u8, length: usize) -> [u8; 4] {
        if self.written > 0 && self.written == self.write.len() {
            self.write.clear();
            self.written = 0;
        }
        self.write.push(0x80 | opcode);
        match length {
            0..=125 => self.write.push(0x80 | length as u8),
            126..=65535 => {
                self.write.push(0x80 | 126);
                self.write.extend_from_slice(&(length as u16).to_be_bytes());
            }
            _ => {
                self.write.push(0x80 | 127);
                self.write.extend_from_slice(&(length as u64).to_be_bytes());
            }
        }
        // xorshift32: masking keys need not be secret on loopback, only valid.
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.mask_state = x;
        let key = x.to_be_bytes();
        self.write.extend_from_slice(&key);
        key
    }

    pub fn has_pending_write(&self) -> bool {
        self.written < self.write.len()
    }

    /// Writes as much as the socket takes now, without waiting.
    pub fn try_flush(&mut self) -> io::Result<()> {
        while self.written < self.write.len() {
            match self.stream.try_write(&self.write[self.written..]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "socket closed")),
                Ok(n) => self.written += n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(error) => return Err(error),
            }
        }
        self.write.clear();
        self.written = 0;
        Ok(())
    }

    /// Writes everything queued, waiting as needed.
    pub async fn flush(&mut self) -> io::Result<()> {
        while self.has_pending_write() {
            self.stream.writable().await?;
            self.try_flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds raw server bytes through the parser, as `fill` would.
    fn client_with(bytes: &[u8]) -> Vec<u8> {
        let mut read = bytes.to_vec();
        read.resize(READ_BUFFER_BYTES, 0);
        read
    }

    #[tokio::test]
    async fn parses_frames_answers_pings_and_masks_its_own() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let stream = TcpStream::connect(address).await.expect("connect");
        let mut bytes = vec![0x81, 3, b'a', b'b', b'c', 0x89, 1, b'p', 0x01, 1, b'x', 0x80, 1, b'y'];
        bytes.extend_from_slice(&[0x88, 2, 0x0f, 0xa0]);
        let mut client = WsClient {
            stream,
            read: client_with(&bytes),
            start: 0,
            end: bytes.len(),
            partial: None,
            write: Vec::new(),
            written: 0,
            mask_state: 7,
        };
        assert!(matches!(client.next_frame().expect("parse"), Some(Frame::Text(b"abc"))));
        assert!(matches!(client.next_frame().expect("parse"), Some(Frame::Text(b"xy"))));
        assert!(matches!(client.next_frame().expect("parse"), Some(Frame::Close(4000))));
        assert!(client.next_frame().expect("parse").is_none());
        // The ping was answered with a masked pong carrying the same payload.
        assert_eq!(&client.write[..2], &[0x8A, 0x81]);
        let key = &client.write[2..6];
        assert_eq!(client.write[6] ^ key[0], b'p');
        drop(listener);
    }
}
