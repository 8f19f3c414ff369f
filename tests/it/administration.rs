//! Administration over real sockets: admins list accounts, deactivate and
//! reactivate them and change roles; a deactivated user's connections close
//! at once (on every node of a cluster), their sessions end and they cannot
//! log in; members are refused alike whatever account they name.

use std::time::Duration;

use natter::protocol::http::{ErrorResponse, SessionResponse};
use natter::protocol::{AccountInfo, ErrorCode, Role, ServerMessage};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::harness::{Client, GENERAL, TestServer, natter_user, unpack};
use crate::services::{fresh_postgres_database, redis_url};

/// How soon a deactivated user's connections must be closed, here or on
/// another node (the bound).
const CLOSED_WITHIN: Duration = Duration::from_secs(1);

async fn make_admin(server: &TestServer, name: &str) {
    let (ok, output) = natter_user(server, &["role", name, "admin"], "").await;
    assert!(ok, "natter user role {name} admin: {output}");
}

async fn login(server: &TestServer, name: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/api/login"))
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .unwrap()
}

/// The error code and text of a refused request.
async fn refusal(client: &mut Client, frame: Value) -> (ErrorCode, String) {
    unpack!(client.request(frame.clone()).await, ServerMessage::Error { code, message, .. } => (code, message))
}

async fn update(client: &mut Client, frame: Value) {
    let reply = client.request(frame.clone()).await;
    assert!(matches!(reply, ServerMessage::AccountUpdated { .. }), "{frame} answered {reply:?}");
}

async fn accounts(client: &mut Client) -> Vec<AccountInfo> {
    let reply = client.request(json!({"type": "list_accounts"})).await;
    unpack!(reply, ServerMessage::Accounts { accounts, has_more: false, .. } => accounts)
}

/// Waits, at most [`CLOSED_WITHIN`], for the server to close the socket
/// with 4001 (session ended).
async fn closed_for_good(client: &mut Client, who: &str) {
    match tokio::time::timeout(CLOSED_WITHIN, client.recv_control()).await {
        Ok(WsMessage::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 4001, "{who}: {frame:?}"),
        Ok(other) => panic!("{who}: expected a 4001 close, got {other:?}"),
        Err(_) => panic!("{who}: still open {CLOSED_WITHIN:?} after the deactivation"),
    }
}

#[tokio::test]
async fn a_deactivated_user_is_disconnected_at_once_and_cannot_log_in_until_reactivated() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    make_admin(&server, "alice").await;
    let (mut bob, _) = server.user("bob").await;
    let mut bob_again = Client::connect(&server, &bob.token).await;
    bob_again.hello(json!({})).await;
    bob.post(GENERAL, "still here afterwards", "b-1").await;

    update(&mut alice, json!({"type": "update_account", "user": "BOB", "active": false})).await;
    closed_for_good(&mut bob, "bob's first connection").await;
    closed_for_good(&mut bob_again, "bob's second connection").await;

    // The session is dead everywhere, the right password says why, and a
    // wrong one says no more than it ever does.
    let me = reqwest::Client::new().get(server.url("/api/me")).bearer_auth(&bob.token).send().await.unwrap();
    assert_eq!(me.status(), 401);
    let refused = login(&server, "bob", "correct horse").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.json::<ErrorResponse>().await.unwrap().error.code, "deactivated");
    let wrong = login(&server, "bob", "wrong horse battery").await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.json::<ErrorResponse>().await.unwrap().error.code, "invalid_credentials");

    // Their messages stay; the page shows the account inactive and offline.
    let history = alice.request(json!({"type": "history", "channel": GENERAL})).await;
    let bodies = unpack!(history, ServerMessage::History { messages, .. } => messages);
    assert!(bodies.iter().any(|m| m.body == "still here afterwards" && m.sender == "bob"));
    let listed = accounts(&mut alice).await;
    let names: Vec<(&str, bool, bool)> =
        listed.iter().map(|a| (a.name.as_str(), a.active, a.online)).collect();
    assert_eq!(names, [("alice", true, true), ("bob", false, false)]);
    assert_eq!(listed[0].role, Role::Admin);
    assert!(listed[0].last_login.is_some(), "alice logged in when she registered");

    update(&mut alice, json!({"type": "update_account", "user": "bob", "active": true})).await;
    let back = login(&server, "bob", "correct horse").await;
    assert_eq!(back.status(), 200);
    let mut bob = Client::connect(&server, &back.json::<SessionResponse>().await.unwrap().token).await;
    bob.hello(json!({})).await;
    bob.post(GENERAL, "back again", "b-2").await;
}

#[tokio::test]
async fn members_are_refused_alike_whatever_account_they_name_and_admins_are_told_why() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    make_admin(&server, "alice").await;
    let (mut bob, _) = server.user("bob").await;

    let listed = refusal(&mut bob, json!({"type": "list_accounts"})).await;
    assert_eq!(listed.0, ErrorCode::Forbidden);
    let existing =
        refusal(&mut bob, json!({"type": "update_account", "user": "alice", "active": false})).await;
    let missing =
        refusal(&mut bob, json!({"type": "update_account", "user": "nobody", "active": false})).await;
    assert_eq!(existing, missing, "a member learns nothing of who exists");
    assert_eq!(existing.0, ErrorCode::Forbidden);
    let promoted = refusal(&mut bob, json!({"type": "update_account", "user": "bob", "role": "admin"})).await;
    assert_eq!(promoted, existing, "nobody makes themselves an admin");

    let cases = [
        (json!({"type": "update_account", "user": "nobody", "active": false}), ErrorCode::UnknownUser),
        (json!({"type": "update_account", "user": "alice", "active": false}), ErrorCode::Forbidden),
        (json!({"type": "update_account", "user": "alice", "role": "member"}), ErrorCode::Forbidden),
        (json!({"type": "update_account", "user": "bob"}), ErrorCode::BadRequest),
        (json!({"type": "update_account", "user": "bad name!", "active": true}), ErrorCode::BadRequest),
        (json!({"type": "update_account", "user": "bob", "role": "owner"}), ErrorCode::BadRequest),
        (json!({"type": "list_accounts", "after": "not a name"}), ErrorCode::BadRequest),
    ];
    for (frame, code) in cases {
        let (got, message) = refusal(&mut alice, frame.clone()).await;
        assert_eq!(got, code, "{frame}: {message}");
    }
    // Nothing of that changed anything.
    let listed = accounts(&mut alice).await;
    assert!(listed.iter().all(|a| a.active), "{listed:?}");
    assert_eq!(listed.iter().map(|a| a.role).collect::<Vec<_>>(), [Role::Admin, Role::Member]);
}

#[tokio::test]
async fn a_role_change_takes_effect_on_the_next_request() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    make_admin(&server, "alice").await;
    let (mut carol, _) = server.user("carol").await;
    assert_eq!(refusal(&mut carol, json!({"type": "list_accounts"})).await.0, ErrorCode::Forbidden);
    update(&mut alice, json!({"type": "update_account", "user": "carol", "role": "admin"})).await;
    assert_eq!(accounts(&mut carol).await.len(), 2, "carol, an admin now, on her open connection");
    update(&mut carol, json!({"type": "update_account", "user": "alice", "role": "member"})).await;
    assert_eq!(refusal(&mut alice, json!({"type": "list_accounts"})).await.0, ErrorCode::Forbidden);
    // Pages: one at a time, after the last name.
    for n in 0..3 {
        server.register(&format!("user{n}")).await;
    }
    let first = carol.request(json!({"type": "list_accounts", "limit": 2})).await;
    let (page, more) =
        unpack!(first, ServerMessage::Accounts { accounts, has_more, .. } => (accounts, has_more));
    assert_eq!(
        (page.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), more),
        (vec!["alice", "carol"], true)
    );
    let rest = carol.request(json!({"type": "list_accounts", "after": "carol"})).await;
    let (page, more) =
        unpack!(rest, ServerMessage::Accounts { accounts, has_more, .. } => (accounts, has_more));
    assert_eq!(
        (page.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), more),
        (vec!["user0", "user1", "user2"], false)
    );
}

#[tokio::test]
async fn the_command_line_lists_deactivates_and_reactivates() {
    let server = TestServer::start().await;
    server.register("alice").await;
    let (mut bob, _) = server.user("bob").await;
    make_admin(&server, "alice").await;

    let (ok, output) = natter_user(&server, &["list"], "").await;
    assert!(ok, "{output}");
    let rows: Vec<Vec<&str>> = output.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0][..4], ["alice", "admin", "registered", "active"], "{output}");
    assert_eq!(rows[1][..4], ["bob", "member", "registered", "active"], "{output}");

    let (ok, output) = natter_user(&server, &["deactivate", "Bob"], "").await;
    assert!(ok && output.contains("bob is deactivated"), "{output}");
    assert_eq!(login(&server, "bob", "correct horse").await.status(), 403);
    // The command line reaches no server: the server finds the deactivation
    // in the database (it looks every second) and closes the connection.
    match tokio::time::timeout(Duration::from_secs(5), bob.recv_control()).await {
        Ok(WsMessage::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 4001, "{frame:?}"),
        other => panic!("expected a 4001 close within 5 s, got {other:?}"),
    }
    // And its session is gone: it cannot come back.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(server.ws_url())
            .unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {}", bob.token).parse().unwrap());
    let refused = tokio_tungstenite::connect_async(request).await.expect_err("the session ended");
    assert!(refused.to_string().contains("401"), "{refused}");
    let (ok, output) = natter_user(&server, &["list"], "").await;
    assert!(output.lines().any(|l| l.starts_with("bob") && l.contains("deactivated")), "{ok} {output}");

    let (ok, output) = natter_user(&server, &["reactivate", "bob"], "").await;
    assert!(ok && output.contains("bob may log in again"), "{output}");
    assert_eq!(login(&server, "bob", "correct horse").await.status(), 200);
    let (ok, output) = natter_user(&server, &["deactivate", "nobody"], "").await;
    assert!(!ok && output.contains("no user named nobody"), "{output}");
}

#[tokio::test]
async fn cluster_a_deactivation_on_one_node_closes_the_users_connections_on_another() {
    let (Some(database), Some(redis)) = (fresh_postgres_database().await, redis_url()) else { return };
    let node_a = TestServer::start_node(&database, &redis).await;
    let node_b = TestServer::start_node(&database, &redis).await;
    let (mut alice, _) = node_a.user("alice").await;
    make_admin(&node_a, "alice").await;
    let (mut bob_on_b, _) = node_b.user("bob").await;
    let mut bob_on_a = Client::connect(&node_a, &bob_on_b.token).await;
    bob_on_a.hello(json!({})).await;

    update(&mut alice, json!({"type": "update_account", "user": "bob", "active": false})).await;
    closed_for_good(&mut bob_on_a, "bob on the admin's node").await;
    closed_for_good(&mut bob_on_b, "bob on the other node").await;
    assert_eq!(login(&node_b, "bob", "correct horse").await.status(), 403);
}

#[tokio::test]
async fn an_admin_removes_someone_from_a_channel_and_everyone_sees_who_did() {
    let server = TestServer::start().await;
    let (mut root, _) = server.user("root").await;
    make_admin(&server, "root").await;
    let (mut bob, _) = server.user("bob").await;
    let (mut carol, _) = server.user("carol").await;
    let created = carol.request(json!({"type": "create_channel", "name": "plans"})).await;
    let plans = unpack!(created, ServerMessage::Channel { channel, .. } => channel.id);
    bob.request(json!({"type": "join", "channel": plans})).await;

    let frame = json!({"type": "remove_member", "channel": plans, "user": "bob"});
    assert_eq!(refusal(&mut carol, frame.clone()).await.0, ErrorCode::Forbidden, "members may not");
    let removed = root.request(frame.clone()).await;
    assert!(matches!(&removed, ServerMessage::MemberRemoved { user, .. } if user == "bob"), "{removed:?}");
    let left = bob.recv_until("left", |f| matches!(f, ServerMessage::Left { .. })).await;
    assert!(matches!(left, ServerMessage::Left { channel, .. } if channel == plans));
    let line = carol.message_with_body("root removed bob").await;
    let system = line.system.expect("a system line");
    assert_eq!((system.user.as_str(), system.by.as_deref()), ("bob", Some("root")));
    let send = json!({"type": "send", "channel": plans, "body": "still here?", "client_id": "b-1"});
    assert_eq!(refusal(&mut bob, send).await.0, ErrorCode::NotMember);

    for (frame, code) in [
        (frame, ErrorCode::Forbidden),
        (json!({"type": "remove_member", "channel": GENERAL, "user": "bob"}), ErrorCode::Forbidden),
        (json!({"type": "remove_member", "channel": plans, "user": "nobody"}), ErrorCode::UnknownUser),
        (json!({"type": "remove_member", "channel": 999, "user": "bob"}), ErrorCode::NotFound),
    ] {
        assert_eq!(refusal(&mut root, frame.clone()).await.0, code, "{frame}");
    }
    // Leaving by oneself still reads as leaving.
    carol.request(json!({"type": "leave", "channel": plans})).await;
    let line = root.request(json!({"type": "history", "channel": plans})).await;
    let messages = unpack!(line, ServerMessage::History { messages, .. } => messages);
    let last = messages.last().unwrap();
    assert_eq!((last.body.as_str(), last.system.as_ref().unwrap().by.as_deref()), ("carol left", None));
}
