//! The `natter` binary itself: `natter user add`, `natter serve`'s listening
//! line, a graceful exit on SIGTERM that tells clients to go away, and
//! `natter search rebuild`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use natter::protocol::ServerMessage;
use natter::protocol::http::SessionResponse;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const NATTER: &str = env!("CARGO_BIN_EXE_natter");

#[tokio::test]
async fn user_add_then_serve_then_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("cli.db").display());

    let mut add = Command::new(NATTER)
        .args(["user", "add", "admin", "--database", &database])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(b"a long password\n").unwrap();
    let output = add.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("created user admin"));

    let mut server = Command::new(NATTER)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &database])
        .env("NATTER_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = crate::harness::listening_line(&mut server);
    let base = line.trim().strip_prefix("natter listening on ").expect("listening line").to_owned();

    let login = reqwest::Client::new()
        .post(format!("{base}/api/login"))
        .json(&json!({"username": "admin", "password": "a long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the CLI-made account logs in");
    let token = login.json::<SessionResponse>().await.unwrap().token;
    let ws = format!("{}/ws?token={token}", base.replacen("http", "ws", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(ws).await.unwrap();
    use futures_util::{SinkExt, StreamExt};
    socket.send(WsMessage::text(json!({"type": "hello"}).to_string())).await.unwrap();
    let welcome = tokio::time::timeout(crate::harness::RECEIVE_TIMEOUT, socket.next())
        .await
        .expect("timed out waiting for the welcome")
        .expect("the connection stays open for the welcome")
        .unwrap();
    let welcome: ServerMessage = serde_json::from_str(welcome.to_text().unwrap()).unwrap();
    assert!(matches!(&welcome, ServerMessage::Welcome { user, .. } if user.name == "admin"), "{welcome:?}");

    // Messages in flight when SIGTERM arrives: every one acknowledged must be
    // stored when the server comes back.
    for n in 0..200 {
        let frame = json!({"type": "send", "channel": 1, "body": format!("in flight {n}"), "client_id": format!("f-{n}")});
        socket.send(WsMessage::text(frame.to_string())).await.unwrap();
    }
    let pid = server.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    // The client is told the server is going away.
    let mut acked = Vec::new();
    let close = loop {
        let frame = tokio::time::timeout(crate::harness::RECEIVE_TIMEOUT, socket.next())
            .await
            .expect("timed out waiting for the going-away close after SIGTERM");
        match frame {
            Some(Ok(WsMessage::Close(frame))) => break frame,
            Some(Ok(WsMessage::Text(text))) => {
                if let ServerMessage::Ack { seq, .. } = serde_json::from_str(text.as_str()).unwrap() {
                    acked.push(seq);
                }
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1001));
    // The drain is bounded: the process exits of itself, however long that
    // takes on a busy machine, well within this generous timeout.
    let exiting = tokio::task::spawn_blocking(move || server.wait());
    let status = tokio::time::timeout(Duration::from_secs(60), exiting)
        .await
        .expect("timed out waiting for natter to exit after SIGTERM")
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status}");

    // Everything acknowledged is there after a restart, with gap-free seqs.
    let connection = rusqlite::Connection::open(dir.path().join("cli.db")).unwrap();
    let (count, max): (i64, i64) = connection
        .query_row("SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM messages WHERE channel_id = 1", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!(count, max, "seqs 1..={max} without gaps");
    assert!(
        acked.iter().all(|seq| *seq <= max),
        "every acked seq is stored ({} acked, {max} stored)",
        acked.len()
    );
    println!("SIGTERM with 200 sends in flight: {} acked before the close, {count} stored", acked.len());
}

/// `natter search rebuild` indexes a database's messages again and says
/// how many; searching finds them as before.
#[tokio::test]
async fn search_rebuild_reindexes_every_standing_message() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("rebuild.db").display());
    {
        let store = natter::store::open(&database, std::sync::Arc::new(natter::metrics::Metrics::default()))
            .await
            .unwrap();
        let alice = store.create_user(&natter::model::UserName::parse("alice").unwrap(), "h").await.unwrap();
        for (n, body) in ["first note", "second note", "third"].into_iter().enumerate() {
            let message = natter::store::NewMessage {
                channel: natter::model::ChannelId(1),
                sender: alice.id,
                client_id: natter::model::ClientId::parse(format!("a-{n}")).unwrap(),
                body: natter::model::MessageBody::parse(body.into()).unwrap(),
                reply_to: None,
                files: Vec::new(),
            };
            store.append_message(message).await.unwrap();
        }
        store.close().await;
    }
    // The index is lost (emptied behind natter's back): nothing is found
    // until it is rebuilt.
    let wiped = rusqlite::Connection::open(dir.path().join("rebuild.db")).unwrap();
    wiped.execute("INSERT INTO message_search (message_search) VALUES ('delete-all')", []).unwrap();
    drop(wiped);
    let output = Command::new(NATTER).args(["search", "rebuild", "--database", &database]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout} {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("indexed 3 messages"), "{stdout}");
    let store = natter::store::open(&database, std::sync::Arc::new(natter::metrics::Metrics::default()))
        .await
        .unwrap();
    let query = natter::search::query::parse("note").unwrap();
    let search = natter::store::MessageSearch {
        searcher: natter::model::UserId(1),
        terms: query.terms,
        limit: 10,
        ..natter::store::MessageSearch::default()
    };
    assert_eq!(store.search(search).await.unwrap().len(), 2);
}
