//! Presence is counted per user over all connections, with a grace period.

use natter::protocol::ServerMessage;
use serde_json::json;

use crate::harness::{Client, TestServer};

/// Waits, by an event rather than a clock, until a presence grace period that
/// starts now has run out: a yardstick user connects and leaves, and
/// `watcher` hears it go offline one grace period after it left. Anything
/// that a departure before it would have announced has been sent by then.
async fn a_grace_period_passes(server: &TestServer, watcher: &mut Client, yardstick: &str) {
    let (client, _) = server.user(yardstick).await;
    assert!(watcher.presence_of(yardstick).await, "{yardstick} comes online");
    client.close().await;
    assert!(!watcher.presence_of(yardstick).await, "{yardstick} goes offline after the grace period");
}

fn about_alice(frame: &ServerMessage) -> bool {
    matches!(frame, ServerMessage::Presence { user, .. } if user == "alice")
}

#[tokio::test]
async fn a_user_stays_online_until_the_last_connection_closes_plus_grace() {
    let server = TestServer::start().await;
    let (mut watcher, _) = server.user("watcher").await;
    let token = server.register("alice").await;
    let mut laptop = Client::connect(&server, &token).await;
    let welcome = laptop.hello(json!({})).await;
    assert_eq!(welcome.online, ["alice", "watcher"]);
    assert!(watcher.presence_of("alice").await, "alice comes online");
    let mut phone = Client::connect(&server, &token).await;
    phone.hello(json!({})).await;
    // A second connection is not news.
    watcher.assert_none("alice's presence", about_alice).await;

    laptop.close().await;
    // Past the grace period: still online through the phone.
    a_grace_period_passes(&server, &mut watcher, "yardstick").await;
    watcher.assert_none("alice's presence", about_alice).await;

    phone.close().await;
    assert!(!watcher.presence_of("alice").await, "alice goes offline with her last connection");
    let mut late = Client::connect(&server, &watcher.token).await;
    assert_eq!(late.hello(json!({})).await.online, ["watcher"]);
}

#[tokio::test]
async fn a_reload_within_the_grace_period_does_not_flap() {
    let server = TestServer::start().await;
    let (mut watcher, _) = server.user("watcher").await;
    let (alice, _) = server.user("alice").await;
    assert!(watcher.presence_of("alice").await, "alice comes online");
    let token = alice.token.clone();
    alice.close().await;
    let mut again = Client::connect(&server, &token).await;
    again.hello(json!({})).await;
    a_grace_period_passes(&server, &mut watcher, "yardstick").await;
    watcher.assert_none("alice's presence", about_alice).await;
}
