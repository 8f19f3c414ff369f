//! The HTTP side: accounts, sessions, cookies, headers, health, metrics and
//! the WebSocket upgrade's checks.

use natter::protocol::http::{ErrorResponse, MeResponse, SessionResponse};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{Client, TestServer, test_limits};

/// The body of an account API answer, decoded into the protocol's HTTP
/// types on demand.
#[derive(Debug, PartialEq)]
struct Body(String);

impl Body {
    /// The session of a successful register, login or guest sign-in.
    fn session(&self) -> SessionResponse {
        serde_json::from_str(&self.0).unwrap_or_else(|e| panic!("expected a session ({e}), got {}", self.0))
    }

    /// The stable code of an error answer; `None` if the body is not one.
    fn error_code(&self) -> Option<String> {
        serde_json::from_str::<ErrorResponse>(&self.0).ok().map(|answer| answer.error.code)
    }
}

async fn post(server: &TestServer, path: &str, body: Value) -> (StatusCode, Body) {
    let response = reqwest::Client::new().post(server.url(path)).json(&body).send().await.unwrap();
    let status = response.status();
    (status, Body(response.text().await.unwrap()))
}

#[tokio::test]
async fn registration_validates_and_names_are_unique_without_case() {
    let server = TestServer::start().await;
    let cases = [
        (json!({"username": "", "password": "long enough"}), 400, "invalid_username"),
        (json!({"username": "a".repeat(33), "password": "long enough"}), 400, "invalid_username"),
        (json!({"username": "<script>", "password": "long enough"}), 400, "invalid_username"),
        (json!({"username": "alice", "password": "short"}), 400, "invalid_password"),
        (json!({"username": "alice"}), 400, "bad_request"),
        (json!({"username": "alice", "password": "long enough", "admin": true}), 400, "bad_request"),
    ];
    for (body, status, code) in cases {
        let (got, answer) = post(&server, "/api/register", body.clone()).await;
        assert_eq!((got.as_u16(), answer.error_code().as_deref()), (status, Some(code)), "{body}");
    }
    let (status, answer) =
        post(&server, "/api/register", json!({"username": "Alice", "password": "long enough"})).await;
    assert_eq!(status, 201);
    let user = answer.session().user;
    assert_eq!((user.name.as_str(), user.guest), ("Alice", false));
    let (status, answer) =
        post(&server, "/api/register", json!({"username": "aLiCe", "password": "other one"})).await;
    assert_eq!((status.as_u16(), answer.error_code().as_deref()), (409, Some("name_taken")));
    // Not JSON at all.
    let response = reqwest::Client::new()
        .post(server.url("/api/register"))
        .header("content-type", "application/json")
        .body("{{{{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Over the body limit.
    let response = reqwest::Client::new()
        .post(server.url("/api/register"))
        .header("content-type", "application/json")
        .body(format!("{{\"username\":\"{}\"}}", "x".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn login_answers_alike_for_unknown_users_and_wrong_passwords() {
    let server = TestServer::start().await;
    server.register("alice").await;
    let wrong_password =
        post(&server, "/api/login", json!({"username": "alice", "password": "not the one"})).await;
    let unknown_user =
        post(&server, "/api/login", json!({"username": "nobody", "password": "not the one"})).await;
    assert_eq!(wrong_password.0, 401);
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(wrong_password.1.error_code().as_deref(), Some("invalid_credentials"));
    // Names are matched without case at login too.
    let (status, answer) =
        post(&server, "/api/login", json!({"username": "ALICE", "password": "correct horse"})).await;
    assert_eq!(status, 200);
    assert_eq!(answer.session().user.name, "alice");
}

#[tokio::test]
async fn the_cookie_is_httponly_and_logout_revokes_the_session() {
    let server = TestServer::start().await;
    let http = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let response = http
        .post(server.url("/api/register"))
        .json(&json!({"username": "alice", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("natter_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    let token = response.json::<SessionResponse>().await.unwrap().token;
    let mut open_socket = Client::connect(&server, &token).await;
    open_socket.hello(json!({})).await;
    // The cookie alone authenticates.
    let me = http.get(server.url("/api/me")).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let me = me.json::<MeResponse>().await.unwrap();
    assert_eq!((me.user.name.as_str(), me.admin), ("alice", false));

    let logout = http.post(server.url("/api/logout")).send().await.unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(http.get(server.url("/api/me")).send().await.unwrap().status(), 401);
    // A socket opened with the session is closed with 4001.
    match open_socket.recv_control().await {
        WsMessage::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4001, "{frame:?}"),
        other => panic!("expected a 4001 close, got {other:?}"),
    }
    // The token is dead for every client, not just the browser.
    let mut request = server.ws_url().into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let refused = tokio_tungstenite::connect_async(request).await.expect_err("revoked token is refused");
    assert!(refused.to_string().contains("401"), "{refused}");
}

#[tokio::test]
async fn websocket_upgrades_need_a_session_and_the_right_origin() {
    let server = TestServer::start().await;
    let token = server.register("alice").await;
    let refused = tokio_tungstenite::connect_async(server.ws_url()).await.expect_err("no token");
    assert!(refused.to_string().contains("401"), "{refused}");
    let bogus = format!("{}?token=forged", server.ws_url());
    assert!(tokio_tungstenite::connect_async(bogus).await.is_err());

    let mut foreign = format!("{}?token={token}", server.ws_url()).into_client_request().unwrap();
    foreign.headers_mut().insert("Origin", "http://evil.example".parse().unwrap());
    let refused = tokio_tungstenite::connect_async(foreign).await.expect_err("foreign origin");
    assert!(refused.to_string().contains("403"), "{refused}");

    let mut own = format!("{}?token={token}", server.ws_url()).into_client_request().unwrap();
    own.headers_mut().insert("Origin", format!("http://{}", server.addr).parse().unwrap());
    tokio_tungstenite::connect_async(own).await.expect("same origin is fine");
}

#[tokio::test]
async fn pages_carry_security_headers_and_ops_endpoints_answer() {
    let server = TestServer::start().await;
    let page = reqwest::get(server.url("/")).await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(reqwest::get(server.url("/no/such/file.js")).await.unwrap().status(), 404);

    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!((health.status().as_u16(), health.text().await.unwrap()), (200, "ok".to_owned()));

    let (mut alice, _) = server.user("alice").await;
    alice.post(crate::harness::GENERAL, "count me", "m-1").await;
    let metrics = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
    for line in ["natter_connections 1", "natter_messages_total 1", "natter_commit_batch_size_count"] {
        assert!(metrics.contains(line), "metrics lack {line}:\n{metrics}");
    }
}

#[tokio::test]
async fn guests_need_the_flag_and_never_take_a_registered_or_online_name() {
    let closed = TestServer::start().await;
    let (status, answer) = post(&closed, "/api/guest", json!({"username": "visitor"})).await;
    assert_eq!((status.as_u16(), answer.error_code().as_deref()), (403, Some("guests_disabled")));

    let server = TestServer::start_with(test_limits(), true).await;
    server.register("alice").await;
    let (status, answer) = post(&server, "/api/guest", json!({"username": "ALICE"})).await;
    assert_eq!((status.as_u16(), answer.error_code().as_deref()), (409, Some("name_taken")));

    let (status, answer) = post(&server, "/api/guest", json!({"username": "visitor"})).await;
    assert_eq!(status, 200);
    let session = answer.session();
    assert!(session.user.guest, "{session:?}");
    let mut visitor = Client::connect(&server, &session.token).await;
    visitor.hello(json!({})).await;
    let (status, answer) = post(&server, "/api/guest", json!({"username": "Visitor"})).await;
    assert_eq!((status.as_u16(), answer.error_code().as_deref()), (409, Some("name_in_use")));
    // Registering over a guest's name is refused too.
    let (status, _) =
        post(&server, "/api/register", json!({"username": "visitor", "password": "long enough"})).await;
    assert_eq!(status, 409);
    visitor.post(crate::harness::GENERAL, "hello as a guest", "g-1").await;
}

/// Malformed input of every kind to every HTTP endpoint: each gets its clear
/// error (JSON with a stable code where the endpoint speaks JSON), and the
/// server keeps serving.
#[tokio::test]
async fn catalogue_of_malformed_http_requests() {
    let server = TestServer::start_with(test_limits(), true).await;
    let http = reqwest::Client::new();
    let long_password = "p".repeat(300);
    /// (method, path, content type, body, status, error code)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<u8>, u16, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("POST", "/api/register", Some("application/json"), b"".to_vec(), 400, Some("bad_request")),
        // What a cross-site HTML form can send is refused: no login CSRF.
        (
            "POST",
            "/api/login",
            Some("text/plain"),
            b"{\"username\":\"alice\",\"password\":\"x=\"}".to_vec(),
            415,
            Some("unsupported_media_type"),
        ),
        ("POST", "/api/register", Some("application/x-www-form-urlencoded"), b"a=b".to_vec(), 415, None),
        (
            "POST",
            "/api/guest",
            Some("application/json; charset=utf-8"),
            b"{\"username\":\"ok\"}".to_vec(),
            200,
            None,
        ),
        ("POST", "/api/register", Some("application/json"), b"null".to_vec(), 400, Some("bad_request")),
        (
            "POST",
            "/api/register",
            Some("application/json"),
            b"[\"alice\"]".to_vec(),
            400,
            Some("bad_request"),
        ),
        (
            "POST",
            "/api/register",
            None,
            b"{\"username\":1,\"password\":2}".to_vec(),
            400,
            Some("bad_request"),
        ),
        (
            "POST",
            "/api/register",
            None,
            b"{\"username\":\"a\",\"password\":null}".to_vec(),
            400,
            Some("bad_request"),
        ),
        ("POST", "/api/register", None, vec![0xff, 0xfe, 0x00], 400, Some("bad_request")),
        (
            "POST",
            "/api/register",
            None,
            format!("{{\"username\":\"alice\",\"password\":\"{long_password}\"}}").into_bytes(),
            400,
            Some("invalid_password"),
        ),
        (
            "POST",
            "/api/register",
            None,
            "{\"username\":\"ünïcode\",\"password\":\"long enough\"}".as_bytes().to_vec(),
            400,
            Some("invalid_username"),
        ),
        ("POST", "/api/login", None, b"{}".to_vec(), 400, Some("bad_request")),
        (
            "POST",
            "/api/login",
            None,
            format!("{{\"username\":\"alice\",\"password\":\"{long_password}\"}}").into_bytes(),
            401,
            Some("invalid_credentials"),
        ),
        ("POST", "/api/guest", None, b"{\"username\":\"\"}".to_vec(), 400, Some("invalid_username")),
        ("POST", "/api/guest", None, b"{\"name\":\"x\"}".to_vec(), 400, Some("bad_request")),
        ("POST", "/api/login", None, vec![b'x'; 20_000], 413, None),
        ("GET", "/api/me", None, vec![], 401, Some("unauthorized")),
        // Not an upgrade at all: the WebSocket layer says so in plain text.
        ("GET", "/ws", None, vec![], 400, None),
        ("GET", "/../../etc/passwd", None, vec![], 404, None),
        ("GET", "/%2e%2e/Cargo.toml", None, vec![], 404, None),
        ("DELETE", "/index.html", None, vec![], 405, None),
    ];
    for (method, path, content_type, body, status, code) in cases {
        let request = http
            .request(method.parse().unwrap(), server.url(path))
            .header("content-type", content_type.unwrap_or("application/json"))
            .body(body.clone());
        let response = request.send().await.unwrap();
        let got = response.status().as_u16();
        let text = response.text().await.unwrap();
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        assert_eq!(got, status, "{method} {path} {shown:?} answered {got} {text}");
        if let Some(code) = code {
            let answer: ErrorResponse =
                serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON error body: {text}"));
            assert_eq!(answer.error.code, code, "{method} {path} {shown:?}");
            assert!(!text.contains("panicked") && !text.contains("src/"), "no internals leak: {text}");
        }
    }
    // Tokens that are not tokens.
    for authorization in
        ["Bearer ", "Bearer x", "Basic YWxpY2U6cHc=", &format!("Bearer {}", "a".repeat(5000))]
    {
        let response =
            http.get(server.url("/api/me")).header("authorization", authorization).send().await.unwrap();
        assert_eq!(response.status(), 401, "{authorization}");
    }
    let response =
        http.get(server.url("/api/me")).header("cookie", "natter_session=; other=\u{1}").send().await;
    assert!(response.map(|r| r.status() == 401).unwrap_or(true));
    // Still serving.
    assert_eq!(reqwest::get(server.url("/healthz")).await.unwrap().status(), 200);
}
