//! Behind a trusted proxy (`--trusted-proxy`), per-address limits apply to
//! the client named in `X-Forwarded-For`; from anyone else that header is
//! ignored.

use std::net::IpAddr;

use natter::server::Config;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{TestServer, test_limits};

/// A server that trusts 127.0.0.1 as its proxy and lets each client address
/// create two accounts a minute and hold one connection.
async fn behind_proxy() -> TestServer {
    let limits = natter::limits::Limits {
        account_creations_per_minute: 2.0,
        max_connections_per_ip: 1,
        ..test_limits()
    };
    TestServer::start_config(Config {
        limits,
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..Config::default()
    })
    .await
}

fn http_from(address: &str) -> reqwest::Client {
    let address: IpAddr = address.parse().unwrap();
    reqwest::Client::builder().local_address(address).build().unwrap()
}

async fn register(http: &reqwest::Client, server: &TestServer, name: &str, forwarded_for: &str) -> u16 {
    http.post(server.url("/api/register"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"username": name, "password": "correct horse"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn proxy_clients_behind_a_trusted_proxy_are_throttled_apart() {
    let server = behind_proxy().await;
    let proxy = http_from("127.0.0.1");
    assert_eq!(register(&proxy, &server, "amy", "203.0.113.1").await, 201);
    assert_eq!(register(&proxy, &server, "ann", "203.0.113.1").await, 201);
    assert_eq!(register(&proxy, &server, "ava", "203.0.113.1").await, 429, "203.0.113.1 used its allowance");
    // Another client behind the same proxy has its own allowance.
    assert_eq!(register(&proxy, &server, "bob", "203.0.113.2").await, 201);
    // A forged entry left of the proxy's own does not buy a fresh allowance.
    assert_eq!(register(&proxy, &server, "ben", "198.51.100.9, 203.0.113.1").await, 429);
}

#[tokio::test]
async fn proxy_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let server = behind_proxy().await;
    let direct = http_from("127.0.0.21");
    assert_eq!(register(&direct, &server, "cat", "203.0.113.3").await, 201);
    assert_eq!(register(&direct, &server, "cid", "203.0.113.4").await, 201);
    assert_eq!(
        register(&direct, &server, "col", "203.0.113.5").await,
        429,
        "one address, whatever it claims"
    );
}

#[tokio::test]
async fn proxy_connection_caps_count_the_forwarded_client() {
    let server = behind_proxy().await;
    let token = server.register("dan").await;
    let connect = |forwarded_for: &'static str| {
        let mut request = server.ws_url().into_client_request().unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        request.headers_mut().insert("x-forwarded-for", forwarded_for.parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    let first = connect("203.0.113.1").await.expect("the first client's connection");
    let second = connect("203.0.113.2").await.expect("another client behind the same proxy");
    match connect("203.0.113.1").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429, "the first client is at its cap of one")
        }
        other => panic!("expected 429 for a second connection of 203.0.113.1, got {other:?}"),
    }
    drop((first, second));
}
