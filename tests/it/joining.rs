//! Who may join, over real sockets and HTTP: the setup link a fresh server
//! prints makes the first admin (once); the registration mode (open,
//! invite, closed) and invite links, made, used up, expired and revoked.

use natter::model::RegistrationMode;
use natter::protocol::http::{ErrorResponse, MeResponse, SessionResponse};
use natter::protocol::{ErrorCode, InviteInfo, Registration, ServerMessage};
use natter::server::Config;
use serde_json::{Value, json};

use crate::harness::{Client, TestServer, natter_user, test_limits, unpack};
use crate::process::NatterProcess;
use crate::services::{fresh_postgres_database, redis_url};

/// Signs up at `base` (an `http://` address); the status and the body.
async fn sign_up(base: &str, name: &str, invite: Option<&str>) -> (u16, Value) {
    let mut body = json!({"username": name, "password": "correct horse"});
    if let Some(invite) = invite {
        body["invite"] = json!(invite);
    }
    let response =
        reqwest::Client::new().post(format!("{base}/api/register")).json(&body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

async fn is_admin(base: &str, token: &str) -> bool {
    let me = reqwest::Client::new().get(format!("{base}/api/me")).bearer_auth(token).send().await.unwrap();
    me.json::<MeResponse>().await.unwrap().admin
}

/// The setup link's token in what the server logged.
fn setup_token(log: &str) -> Option<String> {
    let start = log.rfind("#setup=")? + "#setup=".len();
    Some(log[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect())
}

#[tokio::test]
async fn the_setup_link_makes_the_first_admin_once_and_signing_up_first_does_not() {
    let mut server = NatterProcess::start(&[], |_| {}).await;
    let token = setup_token(&server.log()).expect("a fresh server logs a setup link");
    assert!(token.len() >= 40, "a long random token: {token}");

    // Signing up first makes nobody an admin.
    let (status, body) = sign_up(&server.base, "early", None).await;
    assert_eq!(status, 201, "{body}");
    let early: SessionResponse = serde_json::from_value(body).unwrap();
    assert!(!is_admin(&server.base, &early.token).await);

    let (status, body) = sign_up(&server.base, "root", Some(&token)).await;
    assert_eq!(status, 201, "{body}");
    let root: SessionResponse = serde_json::from_value(body).unwrap();
    assert!(is_admin(&server.base, &root.token).await, "the setup link made the admin");
    let (status, body) = sign_up(&server.base, "second", Some(&token)).await;
    assert_eq!((status, code(&body)), (403, "invalid_invite"), "a setup link works once: {body}");

    // With an admin, a restart prints no new link.
    server.kill_and_restart().await;
    let log = server.log();
    let starts = log.matches("#setup=").count();
    assert_eq!(starts, 1, "only the first start logged a link:\n{log}");
    let (status, body) = sign_up(&server.base, "third", Some(&token)).await;
    assert_eq!((status, code(&body)), (403, "invalid_invite"), "{body}");
}

#[tokio::test]
async fn an_admin_made_on_the_command_line_retires_the_setup_links() {
    let server = NatterProcess::start(&[], |_| {}).await;
    let token = setup_token(&server.log()).expect("a setup link");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_natter"))
        .args(["user", "add", "--admin", "boss", "--database", &server.database_url()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"a long password\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(output.status.success());
    let (status, body) = sign_up(&server.base, "latecomer", Some(&token)).await;
    assert_eq!((status, code(&body)), (403, "invalid_invite"), "the workspace has its admin: {body}");
    // Retired, not merely blocked: with that admin gone, the link from the
    // first start's log still makes nobody an admin.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_natter"))
        .args(["user", "deactivate", "boss", "--database", &server.database_url()])
        .output()
        .unwrap();
    assert!(output.status.success());
    let (status, body) = sign_up(&server.base, "latecomer", Some(&token)).await;
    assert_eq!((status, code(&body)), (403, "invalid_invite"), "{body}");
}

async fn invite_server(registration: RegistrationMode) -> (TestServer, Client) {
    let config = Config { registration, limits: test_limits(), ..Config::default() };
    let server = TestServer::start_config(config).await;
    let (status, body) = sign_up(&format!("http://{}", server.addr), "alice", None).await;
    assert_eq!(status, 403, "{body}");
    let (ok, output) = natter_user(&server, &["add", "--admin", "alice"], "correct horse\n").await;
    assert!(ok, "{output}");
    let login = reqwest::Client::new()
        .post(server.url("/api/login"))
        .json(&json!({"username": "alice", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    let token = login.json::<SessionResponse>().await.unwrap().token;
    let mut alice = Client::connect(&server, &token).await;
    alice.hello(json!({})).await;
    (server, alice)
}

async fn create_invite(admin: &mut Client, frame: Value) -> (InviteInfo, String) {
    let reply = admin.request(frame).await;
    unpack!(reply, ServerMessage::InviteCreated { invite, token, .. } => (invite, token))
}

async fn refused(client: &mut Client, frame: Value) -> ErrorCode {
    unpack!(client.request(frame).await, ServerMessage::Error { code, .. } => code)
}

#[tokio::test]
async fn invite_links_let_people_in_where_registration_needs_them() {
    let (server, mut alice) = invite_server(RegistrationMode::Invite).await;
    let base = format!("http://{}", server.addr);
    let (status, body) = sign_up(&base, "bob", None).await;
    assert_eq!((status, code(&body)), (403, "registration_closed"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("invite link"), "{body}");

    let (invite, token) =
        create_invite(&mut alice, json!({"type": "create_invite", "max_uses": 2, "expires_in_hours": 1}))
            .await;
    assert_eq!(
        (invite.uses, invite.max_uses, invite.usable, invite.created_by.as_deref()),
        (0, 2, true, Some("alice"))
    );
    let hour = invite.expires.unwrap() - invite.created;
    assert!((3_599_000..=3_601_000).contains(&hour), "expires an hour after it was made: {hour}");
    for name in ["bob", "carol"] {
        let (status, body) = sign_up(&base, name, Some(&token)).await;
        assert_eq!(status, 201, "{name}: {body}");
    }
    let (status, body) = sign_up(&base, "dave", Some(&token)).await;
    assert_eq!((status, code(&body)), (403, "invalid_invite"), "used up: {body}");
    let (status, body) = sign_up(&base, "dave", Some("not-a-token")).await;
    assert_eq!((status, code(&body)), (403, "invalid_invite"), "{body}");

    let (other, other_token) = create_invite(&mut alice, json!({"type": "create_invite"})).await;
    assert_eq!(other.max_uses, 25, "the default");
    let revoked = alice.request(json!({"type": "revoke_invite", "id": other.id})).await;
    assert!(matches!(revoked, ServerMessage::InviteRevoked { id, .. } if id == other.id), "{revoked:?}");
    let (status, body) = sign_up(&base, "dave", Some(&other_token)).await;
    assert_eq!((status, code(&body)), (403, "invalid_invite"), "revoked: {body}");
    let listed = alice.request(json!({"type": "list_invites"})).await;
    let (invites, mode) =
        unpack!(listed, ServerMessage::Invites { invites, registration, .. } => (invites, registration));
    assert_eq!(mode, Registration::Invite);
    let summary: Vec<(i64, u32, bool, bool)> =
        invites.iter().map(|i| (i.id, i.uses, i.revoked, i.usable)).collect();
    assert_eq!(summary, [(other.id, 0, true, false), (invite.id, 2, false, false)], "newest first");

    // Closed: even a valid link is refused; open: no link needed.
    let (_, fresh) = create_invite(&mut alice, json!({"type": "create_invite"})).await;
    let set = alice.request(json!({"type": "set_registration", "mode": "closed"})).await;
    assert!(matches!(set, ServerMessage::Registration { mode: Registration::Closed, .. }), "{set:?}");
    let (status, body) = sign_up(&base, "erin", Some(&fresh)).await;
    assert_eq!((status, code(&body)), (403, "registration_closed"), "{body}");
    let (status, body) = sign_up(&base, "erin", None).await;
    assert_eq!((status, code(&body)), (403, "registration_closed"), "{body}");
    alice.request(json!({"type": "set_registration", "mode": "open"})).await;
    let (status, body) = sign_up(&base, "erin", None).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = sign_up(&base, "fred", Some(&fresh)).await;
    assert_eq!(status, 201, "a link still works where anyone may sign up");
}

#[tokio::test]
async fn only_admins_handle_invites_and_bad_values_are_refused() {
    let (server, mut alice) = invite_server(RegistrationMode::Invite).await;
    let (_, token) = create_invite(&mut alice, json!({"type": "create_invite", "max_uses": 1})).await;
    let (status, body) = sign_up(&format!("http://{}", server.addr), "bob", Some(&token)).await;
    let bob: SessionResponse = serde_json::from_value(body).unwrap();
    assert_eq!(status, 201);
    let mut bob = Client::connect(&server, &bob.token).await;
    bob.hello(json!({})).await;
    for frame in [
        json!({"type": "create_invite"}),
        json!({"type": "list_invites"}),
        json!({"type": "revoke_invite", "id": 1}),
        json!({"type": "revoke_invite", "id": 999}),
        json!({"type": "set_registration", "mode": "open"}),
    ] {
        assert_eq!(refused(&mut bob, frame.clone()).await, ErrorCode::Forbidden, "{frame}");
    }
    for (frame, code) in [
        (json!({"type": "create_invite", "max_uses": 0}), ErrorCode::BadRequest),
        (json!({"type": "create_invite", "max_uses": 1001}), ErrorCode::BadRequest),
        (json!({"type": "create_invite", "expires_in_hours": 0}), ErrorCode::BadRequest),
        (json!({"type": "create_invite", "expires_in_hours": 721}), ErrorCode::BadRequest),
        (json!({"type": "create_invite", "max_uses": -1}), ErrorCode::BadRequest),
        (json!({"type": "revoke_invite", "id": 999}), ErrorCode::NotFound),
        (json!({"type": "set_registration", "mode": "everyone"}), ErrorCode::BadRequest),
    ] {
        assert_eq!(refused(&mut alice, frame.clone()).await, code, "{frame}");
    }
    // An unknown field in a sign-up is refused, not ignored.
    let response = reqwest::Client::new()
        .post(server.url("/api/register"))
        .json(&json!({"username": "x", "password": "correct horse", "invitation": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<ErrorResponse>().await.unwrap().error.code, "bad_request");
}

#[tokio::test]
async fn cluster_the_registration_mode_holds_on_every_node() {
    let (Some(database), Some(redis)) = (fresh_postgres_database().await, redis_url()) else { return };
    let node_a = TestServer::start_node(&database, &redis).await;
    let node_b = TestServer::start_node(&database, &redis).await;
    let (mut alice, _) = node_a.user("alice").await;
    let (ok, output) = natter_user(&node_a, &["role", "alice", "admin"], "").await;
    assert!(ok, "{output}");
    alice.request(json!({"type": "set_registration", "mode": "invite"})).await;
    let (status, body) = sign_up(&format!("http://{}", node_b.addr), "bob", None).await;
    assert_eq!((status, code(&body)), (403, "registration_closed"), "{body}");
    let (_, token) = create_invite(&mut alice, json!({"type": "create_invite", "max_uses": 1})).await;
    let (status, body) = sign_up(&format!("http://{}", node_b.addr), "bob", Some(&token)).await;
    assert_eq!(status, 201, "a link made on one node works on another: {body}");
}
