//! One's own account over HTTP and sockets: changing the password ends the
//! other sessions (their connections close, on another node too) unless
//! asked not to; the session list shows device, address and which is this
//! one, and ending a session closes its connections; a reset link an admin
//! makes sets a password once and signs in.

use std::time::Duration;

use natter::protocol::http::{SessionResponse, SessionsResponse};
use natter::protocol::{ErrorCode, ServerMessage};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::harness::{Client, TestServer, natter_user, unpack};
use crate::services::{fresh_postgres_database, redis_url};

const PASSWORD: &str = "correct horse";

async fn post(server: &TestServer, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request =
        reqwest::Client::new().post(server.url(path)).header("User-Agent", "TestBrowser/1.0").json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn login(server: &TestServer, name: &str, password: &str) -> (u16, Value) {
    post(server, "/api/login", None, json!({"username": name, "password": password})).await
}

fn token_of(body: Value) -> String {
    serde_json::from_value::<SessionResponse>(body).unwrap().token
}

async fn sessions(server: &TestServer, token: &str) -> SessionsResponse {
    let response =
        reqwest::Client::new().get(server.url("/api/sessions")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn connected(server: &TestServer, token: &str) -> Client {
    let mut client = Client::connect(server, token).await;
    client.hello(json!({})).await;
    client
}

async fn closed_with_4001(client: &mut Client, who: &str) {
    match tokio::time::timeout(Duration::from_secs(1), client.recv_control()).await {
        Ok(WsMessage::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 4001, "{who}: {frame:?}"),
        other => panic!("{who}: expected a 4001 close within a second, got {other:?}"),
    }
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_unless_asked_not_to() {
    let server = TestServer::start().await;
    let laptop = server.register("alice").await;
    let phone = token_of(login(&server, "alice", PASSWORD).await.1);
    let tablet = token_of(login(&server, "alice", PASSWORD).await.1);
    let mut on_laptop = connected(&server, &laptop).await;
    let mut on_phone = connected(&server, &phone).await;

    let wrong = json!({"current": "not my password", "password": "a new password"});
    let (status, body) = post(&server, "/api/password", Some(&laptop), wrong).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_credentials")));
    let short = json!({"current": PASSWORD, "password": "short"});
    assert_eq!(post(&server, "/api/password", Some(&laptop), short).await.0, 400);
    let (status, _) =
        post(&server, "/api/password", None, json!({"current": PASSWORD, "password": "x"})).await;
    assert_eq!(status, 401, "signed in only");

    // Kept: nothing ends.
    let keep = json!({"current": PASSWORD, "password": "a new password", "end_other_sessions": false});
    assert_eq!(post(&server, "/api/password", Some(&laptop), keep).await.0, 204);
    assert_eq!(sessions(&server, &phone).await.sessions.len(), 3);
    assert_eq!(login(&server, "alice", PASSWORD).await.0, 401, "the old password is gone");

    let change = json!({"current": "a new password", "password": "a third password"});
    assert_eq!(post(&server, "/api/password", Some(&laptop), change).await.0, 204);
    closed_with_4001(&mut on_phone, "the phone's connection").await;
    let listed = sessions(&server, &laptop).await.sessions;
    assert_eq!(listed.len(), 1, "only the session that changed it stays: {listed:?}");
    assert!(listed[0].current);
    for ended in [&phone, &tablet] {
        let me = reqwest::Client::new().get(server.url("/api/me")).bearer_auth(ended).send().await.unwrap();
        assert_eq!(me.status(), 401);
    }
    on_laptop.request(json!({"type": "ping"})).await;
    assert_eq!(login(&server, "alice", "a third password").await.0, 200);
}

#[tokio::test]
async fn the_session_list_shows_each_sign_in_and_ending_one_closes_its_connections() {
    let server = TestServer::start().await;
    let first = server.register("alice").await;
    let second = token_of(login(&server, "alice", PASSWORD).await.1);
    let mut on_second = connected(&server, &second).await;
    let listed = sessions(&server, &first).await.sessions;
    assert_eq!(listed.len(), 2);
    let this = listed.iter().find(|s| s.current).expect("the current one is marked");
    let other = listed.iter().find(|s| !s.current).expect("the other one");
    assert_eq!(other.device.as_deref(), Some("TestBrowser/1.0"), "{other:?}");
    assert_eq!(other.address.as_deref(), Some("127.0.0.1"));
    assert!(other.created <= other.last_used && other.last_used < other.expires);
    assert!(!this.id.is_empty() && this.id != other.id && !first.contains(&this.id), "an id, not the token");

    let (status, body) = post(&server, "/api/sessions/end", Some(&first), json!({"id": "0123"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    // Someone else's session is not theirs to end.
    let bob = server.register("bob").await;
    let (status, _) = post(&server, "/api/sessions/end", Some(&bob), json!({"id": other.id})).await;
    assert_eq!(status, 404);
    assert_eq!(post(&server, "/api/sessions/end", Some(&first), json!({"id": other.id})).await.0, 204);
    closed_with_4001(&mut on_second, "the ended session's connection").await;
    assert_eq!(sessions(&server, &first).await.sessions.len(), 1);
}

#[tokio::test]
async fn a_reset_link_sets_a_password_once_and_ends_every_session() {
    let server = TestServer::start().await;
    let (mut admin, _) = server.user("root").await;
    let (ok, output) = natter_user(&server, &["role", "root", "admin"], "").await;
    assert!(ok, "{output}");
    let (mut bob, _) = server.user("bob").await;
    let (mut carol, _) = server.user("carol").await;

    let refused = bob.request(json!({"type": "create_reset_link", "user": "carol"})).await;
    assert!(matches!(refused, ServerMessage::Error { code: ErrorCode::Forbidden, .. }), "{refused:?}");
    let missing = admin.request(json!({"type": "create_reset_link", "user": "nobody"})).await;
    assert!(matches!(missing, ServerMessage::Error { code: ErrorCode::UnknownUser, .. }), "{missing:?}");
    let reply = admin.request(json!({"type": "create_reset_link", "user": "Bob"})).await;
    let (user, token, expires) =
        unpack!(reply, ServerMessage::ResetLink { user, token, expires, .. } => (user, token, expires));
    assert_eq!(user, "Bob");
    assert!(expires > natter::model::now_millis() + 71 * 3_600_000, "three days");

    let (status, body) =
        post(&server, "/api/reset", None, json!({"token": token, "password": "short"})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) =
        post(&server, "/api/reset", None, json!({"token": token, "password": "bob's new one"})).await;
    assert_eq!(status, 200, "{body}");
    let fresh = token_of(body);
    closed_with_4001(&mut bob, "bob's old connection").await;
    assert_eq!(sessions(&server, &fresh).await.sessions.len(), 1, "signed in, the rest ended");
    assert_eq!(login(&server, "bob", "bob's new one").await.0, 200);
    let (status, body) =
        post(&server, "/api/reset", None, json!({"token": token, "password": "again again"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("invalid_reset")), "once");

    // A deactivated account gets no link, and one made before stops working.
    let reply = admin.request(json!({"type": "create_reset_link", "user": "carol"})).await;
    let carol_token = unpack!(reply, ServerMessage::ResetLink { token, .. } => token);
    admin.request(json!({"type": "update_account", "user": "carol", "active": false})).await;
    closed_with_4001(&mut carol, "carol").await;
    let refused = admin.request(json!({"type": "create_reset_link", "user": "carol"})).await;
    assert!(matches!(refused, ServerMessage::Error { code: ErrorCode::Forbidden, .. }), "{refused:?}");
    let (status, _) =
        post(&server, "/api/reset", None, json!({"token": carol_token, "password": "carol's own"})).await;
    assert_eq!(status, 403);

    // The command line makes them too.
    let (ok, output) = natter_user(&server, &["reset-password", "bob"], "").await;
    assert!(ok, "{output}");
    let token = output.split("#reset=").nth(1).expect("a link").trim().to_owned();
    let (status, _) =
        post(&server, "/api/reset", None, json!({"token": token, "password": "bob's third one"})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn cluster_a_password_change_on_one_node_closes_the_other_sessions_on_another() {
    let (Some(database), Some(redis)) = (fresh_postgres_database().await, redis_url()) else { return };
    let node_a = TestServer::start_node(&database, &redis).await;
    let node_b = TestServer::start_node(&database, &redis).await;
    let on_a = node_a.register("alice").await;
    let on_b_token = token_of(login(&node_b, "alice", PASSWORD).await.1);
    let mut on_b = connected(&node_b, &on_b_token).await;
    let change = json!({"current": PASSWORD, "password": "a new password"});
    assert_eq!(post(&node_a, "/api/password", Some(&on_a), change).await.0, 204);
    closed_with_4001(&mut on_b, "alice's session on the other node").await;
}
