//! Presence is counted per user over all connections, with a grace period.

use natter::protocol::{DirectoryUser, ErrorCode, ServerMessage};
use serde_json::json;

use crate::harness::{Client, TestServer, recv};

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

/// Waits for the `online_page` frame with these names (earlier pages are
/// passed over: the welcome's page is the one last told, a moment behind)
/// and returns its count.
async fn page_of(client: &mut Client, names: &[&str]) -> usize {
    let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    let what = format!("the online page {names:?}");
    recv!(client, &what, ServerMessage::OnlinePage { users: Some(users), total } if users.as_slice() == names.as_slice() => total)
}

fn online(name: &str, online: bool) -> DirectoryUser {
    DirectoryUser { name: name.into(), online }
}

/// A client in watched mode hears the changes of those it watches and the
/// online list's first page, not everyone's arrivals; a client that did
/// not ask hears everyone, as before.
#[tokio::test]
async fn a_watching_client_hears_whom_it_watches_and_the_first_page() {
    let server = TestServer::start().await;
    let (mut everyone, _) = server.user("everyone").await;
    let token = server.register("ann").await;
    let mut ann = Client::connect(&server, &token).await;
    ann.send(json!({"type": "hello", "presence": "watched"})).await;
    let welcome = recv!(ann, "the welcome", ServerMessage::Welcome { online, .. } => online);
    assert!(welcome.is_empty(), "no list of everyone in watched mode: {welcome:?}");
    assert_eq!(page_of(&mut ann, &["ann", "everyone"]).await, 2);

    let reply = ann.request(json!({"type": "watch", "users": ["BOB", "everyone"]})).await;
    let ServerMessage::Watching { users, .. } = reply else { panic!("watch answered {reply:?}") };
    assert_eq!(users, [online("BOB", false), online("everyone", true)]);

    let (bob, _) = server.user("bob").await;
    assert!(ann.presence_of("bob").await, "a watched user's arrival is told");
    assert_eq!(page_of(&mut ann, &["ann", "bob", "everyone"]).await, 3);
    // Hearing everyone, a `watch` is answered and changes nothing.
    let reply = everyone.request(json!({"type": "watch", "users": ["bob"]})).await;
    let ServerMessage::Watching { users, .. } = reply else { panic!("watch answered {reply:?}") };
    assert_eq!(users, [online("bob", true)]);
    let (_carl, _) = server.user("carl").await;
    assert!(everyone.presence_of("carl").await, "a client that did not ask hears everyone");
    assert_eq!(
        page_of(&mut ann, &["ann", "bob", "carl", "everyone"]).await,
        4,
        "an unwatched arrival moves the page"
    );
    ann.assert_none(
        "carl's presence",
        |f| matches!(f, ServerMessage::Presence { user, .. } if user == "carl"),
    )
    .await;

    let reply = ann.request(json!({"type": "list_users", "online": true, "prefix": "B"})).await;
    let ServerMessage::Users { users, has_more, .. } = reply else { panic!("list_users answered {reply:?}") };
    assert_eq!((users, has_more), (vec![online("bob", true)], false));
    let reply = ann.request(json!({"type": "list_users", "online": true, "after": "bob", "limit": 1})).await;
    let ServerMessage::Users { users, has_more, .. } = reply else { panic!("list_users answered {reply:?}") };
    assert_eq!((users, has_more), (vec![online("carl", true)], true));

    let too_many: Vec<String> = (0..101).map(|n| format!("u{n}")).collect();
    for bad in [json!(too_many), json!(["not a name"])] {
        ann.send(json!({"type": "watch", "users": bad, "ref": "bad"})).await;
        assert_eq!(ann.next_error().await.0, ErrorCode::BadRequest, "watch {bad} is refused");
    }

    bob.close().await;
    assert!(!ann.presence_of("bob").await, "a watched user's departure is told");
    assert_eq!(page_of(&mut ann, &["ann", "carl", "everyone"]).await, 3);
}
