//! Shared files over real HTTP and `/ws`: upload, attach, download (whole
//! and in ranges) and the headers that keep a file from acting as a page;
//! hostile uploads; quotas and limits; who may fetch what; files deleted
//! with their message; pictures. The same checks run on a local folder and
//! on the S3-compatible test server; a two-node cluster shares files
//! through S3.

use std::io::Cursor;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use natter::protocol::{AttachmentInfo, ChannelInfo, ErrorCode, ServerMessage};
use natter::server::{Config, ServeError};

use crate::harness::{Client, GENERAL, ServerMessageExt, TestServer, recv, test_limits, unpack};
use crate::services::{fresh_postgres_database, redis_url, s3_files};

/// A real PNG of the given size, made by the image crate.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image =
        image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 99]));
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).expect("encode a PNG");
    bytes
}

/// A PNG whose header claims 100000 x 100000 pixels (40 GB decoded): the
/// signature, an IHDR with a correct CRC, and a tiny IDAT.
pub fn bomb_png() -> Vec<u8> {
    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&crc_input);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
        out
    }
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    let mut ihdr = 100_000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    png.extend(chunk(b"IEND", &[]));
    png
}

/// `POST /api/files` with these bytes.
pub async fn upload(
    server: &TestServer,
    token: &str,
    channel: i64,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/api/files"))
        .query(&[("channel", channel.to_string()), ("name", name.to_owned())])
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("upload request")
}

/// An upload that must succeed: its description.
pub async fn uploaded(
    server: &TestServer,
    token: &str,
    channel: i64,
    name: &str,
    bytes: Vec<u8>,
) -> AttachmentInfo {
    let response = upload(server, token, channel, name, bytes).await;
    assert_eq!(response.status(), StatusCode::CREATED, "uploading {name}");
    let answer: Value = response.json().await.unwrap();
    serde_json::from_value(answer["file"].clone()).expect("the upload answer describes the file")
}

/// `GET` a path with a session.
pub async fn fetch(server: &TestServer, token: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new().get(server.url(path)).bearer_auth(token).send().await.expect("fetch")
}

async fn error_code(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("a JSON error");
    body["error"]["code"].as_str().unwrap_or_default().to_owned()
}

/// Sends a message carrying `files`; its ack's seq.
async fn send_files(
    client: &mut Client,
    channel: i64,
    body: &str,
    files: &[&str],
    client_id: &str,
) -> ServerMessage {
    client
        .request(
            json!({"type": "send", "channel": channel, "body": body, "files": files, "client_id": client_id}),
        )
        .await
}

/// Upload, attach, receive and download on one server; `files` says where
/// the server keeps them.
async fn round_trip(config: Config) {
    let server = TestServer::start_config(config).await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let text = b"hello, files\n".repeat(1000);
    let picture = png(800, 600);
    let doc = uploaded(&server, &alice.token, GENERAL, "../notes/read me.txt", text.clone()).await;
    assert_eq!(
        (doc.name.as_str(), doc.size, doc.content_type.as_str()),
        ("read me.txt", 13_000, "text/plain")
    );
    assert!(!doc.thumb && doc.width.is_none());
    let image = uploaded(&server, &alice.token, GENERAL, "shot.png", picture.clone()).await;
    assert_eq!((image.content_type.as_str(), image.width, image.height), ("image/png", Some(800), Some(600)));
    assert!(image.thumb);

    // Not attached yet: bob cannot see it.
    assert_eq!(fetch(&server, &bob.token, &format!("/api/files/{}", doc.id)).await.status(), 404);

    let reply = send_files(&mut alice, GENERAL, "", &[&doc.id, &image.id], "a-1").await;
    assert!(matches!(reply, ServerMessage::Ack { .. }), "{reply:?}");
    let message =
        recv!(bob, "alice's files", ServerMessage::Message(message) if !message.files.is_empty() => message);
    assert_eq!(message.files, [doc.clone(), image.clone()]);
    assert_eq!(message.body, "", "a file may go on its own");
    // A reply to it quotes its first file, and is not taken for a reply
    // to a deleted message.
    let reply = bob
        .request(json!({"type": "send", "channel": GENERAL, "body": "nice", "reply_to": message.seq, "client_id": "b-1"}))
        .await;
    assert!(matches!(reply, ServerMessage::Ack { .. }), "{reply:?}");
    let answer = bob.message_with_body("nice").await;
    let quote = answer.reply_to.expect("a quote");
    assert_eq!((quote.excerpt.as_str(), quote.deleted), ("\u{1F4CE} read me.txt", false));

    let response = fetch(&server, &bob.token, &format!("/api/files/{}", doc.id)).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/plain");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    assert!(headers["content-security-policy"].to_str().unwrap().contains("sandbox"));
    assert_eq!(headers["cache-control"], "private, max-age=86400");
    assert_eq!(response.bytes().await.unwrap().as_ref(), text.as_slice());

    let response = fetch(&server, &bob.token, &format!("/api/files/{}/shot.png", image.id)).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-disposition"].to_str().unwrap().starts_with("inline;"));
    assert_eq!(response.bytes().await.unwrap().as_ref(), picture.as_slice());
    let thumb = fetch(&server, &bob.token, &format!("/api/files/{}/thumb", image.id)).await;
    assert_eq!(thumb.status(), 200);
    assert_eq!(thumb.headers()["content-type"], "image/png");
    let small = image::load_from_memory(&thumb.bytes().await.unwrap()).expect("the thumbnail is a PNG");
    assert_eq!((small.width(), small.height()), (400, 300), "at most 400 px a side, in proportion");
    assert_eq!(fetch(&server, &bob.token, &format!("/api/files/{}/thumb", doc.id)).await.status(), 404);

    // A range.
    let response = reqwest::Client::new()
        .get(server.url(&format!("/api/files/{}", doc.id)))
        .bearer_auth(&bob.token)
        .header("range", "bytes=13-25")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.headers()["content-range"], "bytes 13-25/13000");
    assert_eq!(response.bytes().await.unwrap().as_ref(), &text[13..26]);

    // Deleting the message deletes its files.
    let seq = message.seq;
    let reply = alice.request(json!({"type": "delete", "channel": GENERAL, "seq": seq})).await;
    let ServerMessage::Changed { message: deleted, .. } = reply else { panic!("delete answered {reply:?}") };
    assert!(deleted.files.is_empty());
    for id in [&doc.id, &image.id] {
        assert_eq!(fetch(&server, &alice.token, &format!("/api/files/{id}")).await.status(), 404);
    }
}

#[tokio::test]
async fn files_round_trip_on_a_local_folder() {
    round_trip(Config { limits: test_limits(), ..Config::default() }).await;
}

#[tokio::test]
async fn files_round_trip_on_s3() {
    let Some((files, s3)) = s3_files() else { return };
    round_trip(Config { limits: test_limits(), files: Some(files), s3, ..Config::default() }).await;
}

#[tokio::test]
async fn a_deleted_messages_bytes_leave_the_folder() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let folder = std::path::Path::new(server.database_url().trim_start_matches("sqlite://"))
        .parent()
        .unwrap()
        .join("natter-files");
    let file = uploaded(&server, &alice.token, GENERAL, "a.png", png(50, 50)).await;
    let count_files =
        || walk(&folder).into_iter().filter(|path| path.to_string_lossy().contains(&file.id)).count();
    assert_eq!(count_files(), 2, "the file and its thumbnail are in {folder:?}");
    let ServerMessage::Ack { seq, .. } = send_files(&mut alice, GENERAL, "x", &[&file.id], "a-1").await
    else {
        panic!("not sent")
    };
    alice.request(json!({"type": "delete", "channel": GENERAL, "seq": seq})).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while count_files() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the bytes were not removed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() { walk(&path) } else { vec![path] }
        })
        .collect()
}

#[tokio::test]
async fn hostile_uploads_are_refused_or_served_harmlessly() {
    let limits =
        natter::limits::Limits { max_file_bytes: 1_000_000, upload_quota_bytes: 3_000_000, ..test_limits() };
    let server = TestServer::start_with(limits, false).await;
    let (_alice, _) = server.user("alice").await;
    let token = &_alice.token;

    let html = b"<!doctype html><html><body><script>document.title='owned'</script></body></html>".to_vec();
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
    for (name, bytes) in
        [("page.html", html), ("logo.svg", svg), ("fake.png", b"not a picture at all".to_vec())]
    {
        let file = uploaded(&server, token, GENERAL, name, bytes).await;
        assert!(!file.thumb, "{name} has no thumbnail");
        assert!(
            !file.content_type.contains("html") && !file.content_type.contains("svg"),
            "{name}: {file:?}"
        );
        let response = fetch(&server, token, &format!("/api/files/{}", file.id)).await;
        let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
        assert!(disposition.starts_with("attachment;"), "{name} is downloaded, never shown: {disposition}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }

    // A decompression bomb: kept as a plain download, never decoded.
    let bomb = uploaded(&server, token, GENERAL, "bomb.png", bomb_png()).await;
    assert!(!bomb.thumb && bomb.width.is_none(), "{bomb:?}");
    let response = fetch(&server, token, &format!("/api/files/{}", bomb.id)).await;
    assert!(response.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));

    // Names lose their paths.
    let traversal = uploaded(&server, token, GENERAL, "../../../etc/passwd", b"root:x:0:0".to_vec()).await;
    assert_eq!(traversal.name, "passwd");

    // Over the size limit: refused by its declared length, and cut off
    // when it declares none.
    let response = upload(&server, token, GENERAL, "big.bin", vec![0u8; 1_000_001]).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(response).await, "file_too_large");
    let chunks = futures_util::stream::iter((0..40).map(|_| Ok::<_, std::io::Error>(vec![7u8; 64 * 1024])));
    let response = reqwest::Client::new()
        .post(server.url("/api/files"))
        .query(&[("channel", "1"), ("name", "streamed.bin")])
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    // The server may answer and close before the client finishes sending.
    if let Ok(response) = response {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    // Either way the server counted it as refused.
    let metrics = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("natter_upload_failures_total ") && !line.ends_with(" 0")),
        "the cut-off upload is counted as failed:\n{metrics}"
    );

    // Quota: 3 MB per user.
    for n in 0..3 {
        uploaded(&server, token, GENERAL, &format!("fill-{n}.bin"), vec![1u8; 900_000]).await;
    }
    let response = upload(&server, token, GENERAL, "over.bin", vec![1u8; 900_000]).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(response).await, "quota_exceeded");

    // A form post from another site cannot upload.
    let response = reqwest::Client::new()
        .post(server.url("/api/files?channel=1&name=x"))
        .bearer_auth(token)
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x--")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Nor a `fetch` without a type (which needs no CORS preflight).
    let response = reqwest::Client::new()
        .post(server.url("/api/files?channel=1&name=x"))
        .bearer_auth(token)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = reqwest::Client::new()
        .post(server.url("/api/files?channel=one&name=x"))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await, "bad_request");
}

#[tokio::test]
async fn only_members_fetch_a_channels_files() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let reply = alice.request(json!({"type": "create_channel", "name": "secret", "private": true})).await;
    let channel: ChannelInfo = unpack!(reply, ServerMessage::Channel { channel, .. } => channel);
    let file = uploaded(&server, &alice.token, channel.id, "plan.txt", b"the plan".to_vec()).await;
    send_files(&mut alice, channel.id, "the plan", &[&file.id], "a-1").await;

    let as_bob = fetch(&server, &bob.token, &format!("/api/files/{}", file.id)).await;
    let nonexistent = fetch(&server, &bob.token, "/api/files/AAAAAAAAAAAAAAAAAAAAAA").await;
    assert_eq!((as_bob.status(), nonexistent.status()), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(as_bob.text().await.unwrap(), nonexistent.text().await.unwrap(), "the same answer");
    assert_eq!(fetch(&server, &bob.token, &format!("/api/files/{}/thumb", file.id)).await.status(), 404);
    let anonymous = reqwest::get(server.url(&format!("/api/files/{}", file.id))).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // Bob cannot upload into it, nor attach alice's file elsewhere.
    let response = upload(&server, &bob.token, channel.id, "x.txt", b"x".to_vec()).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await, "no_such_channel");
    let reply = send_files(&mut bob, GENERAL, "mine", &[&file.id], "b-1").await;
    assert_eq!(reply.error_code(), Some(ErrorCode::NoSuchFile), "{reply:?}");
    let reply = send_files(&mut bob, GENERAL, "mine", &["../../../etc/passwd"], "b-2").await;
    assert_eq!(reply.error_code(), Some(ErrorCode::NoSuchFile), "{reply:?}");
    let ids: Vec<String> = (0..11).map(|_| "AAAAAAAAAAAAAAAAAAAAAA".to_owned()).collect();
    let reply = bob
        .request(json!({"type": "send", "channel": GENERAL, "body": "x", "files": ids, "client_id": "b-3"}))
        .await;
    assert_eq!(reply.error_code(), Some(ErrorCode::TooManyFiles), "{reply:?}");
}

#[tokio::test]
async fn pictures_replace_initials() {
    let server = TestServer::start().await;
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let client = reqwest::Client::new();
    assert_eq!(fetch(&server, &bob.token, "/api/avatars/alice").await.status(), 404);
    let set = |bytes: Vec<u8>| {
        client
            .post(server.url("/api/avatar"))
            .bearer_auth(&alice.token)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
    };
    let refused = set(b"<svg onload=alert(1)>".to_vec()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(refused).await, "not_an_image");
    assert_eq!(set(png(1000, 500)).await.unwrap().status(), 200);

    let response = fetch(&server, &bob.token, "/api/avatars/ALICE").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let picture = image::load_from_memory(&response.bytes().await.unwrap()).unwrap();
    assert_eq!((picture.width(), picture.height()), (256, 128), "made small");
    let again = client
        .get(server.url("/api/avatars/alice"))
        .bearer_auth(&bob.token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let removed = client.delete(server.url("/api/avatar")).bearer_auth(&alice.token).send().await.unwrap();
    assert_eq!(removed.status(), 200);
    assert_eq!(fetch(&server, &bob.token, "/api/avatars/alice").await.status(), 404);
}

/// The server's resident memory, from /proc (the server runs in this
/// process).
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = status.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test]
async fn a_large_upload_streams_in_bounded_memory() {
    let limits = natter::limits::Limits { max_file_bytes: 200 * 1024 * 1024, ..test_limits() };
    let server = TestServer::start_with(limits, false).await;
    let (alice, _) = server.user("alice").await;
    let before = resident_bytes();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let peak = std::sync::Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(resident_bytes(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    // 150 MB, made as it is sent, so the client holds little of it either.
    let chunk = vec![42u8; 1024 * 1024];
    let chunks = futures_util::stream::iter((0..150).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let response = reqwest::Client::new()
        .post(server.url("/api/files"))
        .query(&[("channel", "1"), ("name", "big.bin")])
        .bearer_auth(&alice.token)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let file: Value = response.json().await.unwrap();
    assert_eq!(file["file"]["size"], 150 * 1024 * 1024);
    sampler.abort();
    let grown = peak.load(std::sync::atomic::Ordering::Relaxed).saturating_sub(before);
    assert!(grown < 48 * 1024 * 1024, "memory grew by {grown} bytes for a 150 MB upload");
}

#[tokio::test]
async fn a_cluster_refuses_a_local_folder() {
    let Some(database) = fresh_postgres_database().await else { return };
    let Some(redis) = redis_url() else { return };
    let folder = tempfile::tempdir().unwrap();
    let config = Config {
        database_url: database,
        redis_url: Some(redis),
        files: Some(folder.path().display().to_string()),
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = natter::server::serve(listener, config, async {}).await;
    assert!(matches!(result, Err(ServeError::ClusterNeedsSharedFiles)), "{:?}", result.err());
}

#[tokio::test]
async fn a_file_uploaded_through_one_node_downloads_through_another() {
    let Some(database) = fresh_postgres_database().await else { return };
    let Some(redis) = redis_url() else { return };
    let Some((files, s3)) = s3_files() else { return };
    let node = |database: String| {
        let (redis, files, s3) = (redis.clone(), files.clone(), s3.clone());
        async move {
            TestServer::start_node_config(
                &database,
                &redis,
                Config { files: Some(files), s3, ..Config::default() },
            )
            .await
        }
    };
    let one = node(database.clone()).await;
    let two = node(database).await;
    let (mut alice, _) = one.user("alice").await;
    let bob_token = two.register("bob").await;
    let mut bob = Client::connect(&two, &bob_token).await;
    bob.hello(json!({})).await;
    let picture = png(120, 80);
    let file = uploaded(&one, &alice.token, GENERAL, "p.png", picture.clone()).await;
    send_files(&mut alice, GENERAL, "from node one", &[&file.id], "a-1").await;
    let message = bob.message_with_body("from node one").await;
    assert_eq!(message.files[0].id, file.id, "the message carries the file across the bus");
    let response = fetch(&two, &bob_token, &format!("/api/files/{}", file.id)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), picture.as_slice());
    assert_eq!(fetch(&two, &bob_token, &format!("/api/files/{}/thumb", file.id)).await.status(), 200);
}

/// The files folders of this process's in-memory databases.
fn temporary_folders() -> Vec<std::path::PathBuf> {
    let prefix = format!("natter-files-{}-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .map(|entry| entry.path())
        .collect()
}

#[tokio::test]
async fn an_in_memory_databases_files_go_with_it() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let config = Config { database_url: "sqlite::memory:".into(), ..Config::default() };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(natter::server::serve(listener, config, async move {
        let _ = stopped.await;
    }));
    let health = reqwest::get(format!("http://{address}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(temporary_folders().len(), 1, "a temporary folder while it runs");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(temporary_folders().is_empty(), "removed at the stop: {:?}", temporary_folders());
}
