//! The session cookie's flags behind HTTPS, and `/metrics` on a listener of
//! its own.

use std::net::IpAddr;
use std::time::Duration;

use natter::server::{Config, serve_with_metrics};
use serde_json::json;

use crate::harness::{TestServer, test_limits};

fn http_from(address: &str) -> reqwest::Client {
    let address: IpAddr = address.parse().unwrap();
    reqwest::Client::builder().local_address(address).build().unwrap()
}

/// Registers `name` from `http`, saying `X-Forwarded-Proto: https`; returns
/// the `Set-Cookie` value and the token.
async fn register_over_https(http: &reqwest::Client, server: &TestServer, name: &str) -> (String, String) {
    let response = http
        .post(server.url("/api/register"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"username": name, "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    let token = response.json::<natter::protocol::http::SessionResponse>().await.unwrap().token;
    (cookie, token)
}

async fn me_with_cookie(server: &TestServer, cookie: &str) -> u16 {
    reqwest::Client::new()
        .get(server.url("/api/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn edge_the_session_cookie_is_secure_when_a_trusted_proxy_says_https() {
    let server = TestServer::start_config(Config {
        limits: test_limits(),
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..Config::default()
    })
    .await;
    let (cookie, token) = register_over_https(&http_from("127.0.0.1"), &server, "fay").await;
    assert!(cookie.starts_with(&format!("__Host-natter_session={token}; Secure;")), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Path=/") && !cookie.contains("Domain"),
        "{cookie}"
    );
    assert_eq!(me_with_cookie(&server, &format!("__Host-natter_session={token}")).await, 200);
    // The old name keeps working for browsers that hold it.
    assert_eq!(me_with_cookie(&server, &format!("natter_session={token}")).await, 200);

    // Logging out over HTTPS clears both names.
    let logout = http_from("127.0.0.1")
        .post(server.url("/api/logout"))
        .header("x-forwarded-proto", "https")
        .header("cookie", format!("__Host-natter_session={token}"))
        .send()
        .await
        .unwrap();
    let cleared: Vec<&str> =
        logout.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(cleared.iter().any(|c| c.starts_with("__Host-natter_session=; Secure;")), "{cleared:?}");
    assert!(cleared.iter().any(|c| c.starts_with("natter_session=;")), "{cleared:?}");
    assert_eq!(me_with_cookie(&server, &format!("__Host-natter_session={token}")).await, 401);

    // A client that is not the proxy cannot ask for a Secure cookie (nor
    // does it matter): it gets the plain one.
    let (cookie, _) = register_over_https(&http_from("127.0.0.23"), &server, "gus").await;
    assert!(cookie.starts_with("natter_session=") && !cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn edge_metrics_are_served_only_on_their_own_listener() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        database_url: format!("sqlite://{}", dir.path().join("metrics.db").display()),
        limits: test_limits(),
        ..Config::default()
    };
    let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (main_addr, metrics_addr) = (main.local_addr().unwrap(), metrics.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with_metrics(main, Some(metrics), config, async move {
        let _ = stopped.await;
    }));
    let get = |url: String| async move {
        tokio::time::timeout(Duration::from_secs(10), reqwest::get(url))
            .await
            .expect("an answer within 10 s")
            .expect("a response")
    };
    let scraped = get(format!("http://{metrics_addr}/metrics")).await;
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.unwrap().contains("# TYPE"), "Prometheus text");
    let public = get(format!("http://{main_addr}/metrics")).await;
    assert_eq!(public.status(), 404, "/metrics is not on the public listener");
    assert_eq!(get(format!("http://{main_addr}/healthz")).await.status(), 200);
    assert_eq!(get(format!("http://{metrics_addr}/healthz")).await.status(), 404, "only /metrics there");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), server).await.expect("stops").unwrap().unwrap();
}
