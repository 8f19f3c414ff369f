//! Presence is counted per user over all connections, with a grace period.

use serde_json::json;

use crate::harness::{Client, TestServer};

#[tokio::test]
async fn a_user_stays_online_until_the_last_connection_closes_plus_grace() {
    let server = TestServer::start().await;
    let (mut watcher, _) = server.user("watcher").await;
    let token = server.register("alice").await;
    let mut laptop = Client::connect(&server, &token).await;
    let welcome = laptop.hello(json!({})).await;
    assert_eq!(welcome["online"], json!(["alice", "watcher"]));
    assert_eq!(
        watcher.presence_of("alice").await,
        json!({"type": "presence", "user": "alice", "online": true})
    );
    let mut phone = Client::connect(&server, &token).await;
    phone.hello(json!({})).await;
    // A second connection is not news.
    watcher.assert_none(|f| f["type"] == "presence" && f["user"] == "alice", "alice's presence").await;

    laptop.close().await;
    // Well past the grace period: still online through the phone.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    watcher.assert_none(|f| f["type"] == "presence" && f["user"] == "alice", "alice's presence").await;

    phone.close().await;
    let offline = watcher.presence_of("alice").await;
    assert_eq!(offline, json!({"type": "presence", "user": "alice", "online": false}));
    let mut late = Client::connect(&server, &watcher.token).await;
    assert_eq!(late.hello(json!({})).await["online"], json!(["watcher"]));
}

#[tokio::test]
async fn a_reload_within_the_grace_period_does_not_flap() {
    let server = TestServer::start().await;
    let (mut watcher, _) = server.user("watcher").await;
    let (alice, _) = server.user("alice").await;
    assert_eq!(watcher.presence_of("alice").await["online"], true);
    let token = alice.token.clone();
    alice.close().await;
    let mut again = Client::connect(&server, &token).await;
    again.hello(json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    watcher.assert_none(|f| f["type"] == "presence" && f["user"] == "alice", "alice's presence").await;
}
