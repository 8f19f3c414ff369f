//! Two nodes behind nginx, configured with `docs/nginx/natter.conf` itself:
//! a client through nginx chats with one connected to a node directly.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use natter::protocol::http::SessionResponse;
use serde_json::json;

use crate::harness::{Client, GENERAL, TestServer};
use crate::services::{fresh_postgres_database, redis_url};

/// Where the documented config writes its access log; tests move it into
/// their own directory.
const ACCESS_LOG: &str = "/var/log/nginx/natter.access.log";

struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// nginx in the foreground with the documented site config, its upstream
    /// ports pointed at `nodes` and listening on a free port.
    async fn start(nodes: [&TestServer; 2]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let site = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/nginx/natter.conf"))
            .expect("the documented config");
        assert!(site.contains("127.0.0.1:3001") && site.contains("listen 8080;"), "the documented ports");
        assert!(site.contains(ACCESS_LOG), "the documented access log");
        let prefix = dir.path().display().to_string();
        let site = site
            .replace("127.0.0.1:3001", &nodes[0].addr.to_string())
            .replace("127.0.0.1:3002", &nodes[1].addr.to_string())
            .replace("listen 8080;", &format!("listen 127.0.0.1:{port};"))
            .replace(ACCESS_LOG, &format!("{prefix}/access.log"));
        std::fs::write(dir.path().join("natter.conf"), site).unwrap();
        let main = format!(
            "worker_processes 1;
             pid {prefix}/nginx.pid;
             error_log {prefix}/error.log warn;
             events {{ worker_connections 256; }}
             http {{
                 access_log off;
                 client_body_temp_path {prefix}/body;
                 proxy_temp_path {prefix}/proxy;
                 fastcgi_temp_path {prefix}/fastcgi;
                 uwsgi_temp_path {prefix}/uwsgi;
                 scgi_temp_path {prefix}/scgi;
                 include {prefix}/natter.conf;
             }}"
        );
        std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
        let nginx = ["/usr/sbin/nginx", "nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("nginx");
        let child = Command::new(nginx)
            .args(["-p", &prefix, "-c", &format!("{prefix}/nginx.conf"), "-g", "daemon off;"])
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx runs (scripts/test-services installs it)");
        // Owned before waiting, so a failure below still stops it (Drop).
        let nginx = Self { child, port, _dir: dir };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return nginx;
            }
            // nginx says nothing when it listens and a refused connect
            // returns at once, so readiness is polled.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("nginx did not start listening on {port}");
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// The access log once it has a line containing `marker` (nginx writes
    /// a request's line when it finishes, possibly after the client has its
    /// answer).
    async fn access_log_with(&self, marker: &str) -> String {
        let path = self._dir.path().join("access.log");
        for _ in 0..500 {
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            if log.contains(marker) {
                return log;
            }
            // nginx appends the line after answering, with no signal to a
            // client, so the file (what is under test) is polled.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no access log line containing {marker:?} within 5 s");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master stops its workers too.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn nginx_a_client_through_the_proxy_chats_with_one_connected_directly() {
    let Some(database) = fresh_postgres_database().await else { return };
    let Some(redis) = redis_url() else { return };
    let nodes =
        [TestServer::start_node(&database, &redis).await, TestServer::start_node(&database, &redis).await];
    let nginx = Nginx::start([&nodes[0], &nodes[1]]).await;

    // Alice signs up and connects through nginx, twice over: round robin
    // puts her sockets on both nodes, and both must work.
    let response = reqwest::Client::new()
        .post(nginx.url("/api/register"))
        .json(&json!({"username": "alice", "password": "correct horse"}))
        .send()
        .await
        .expect("register through nginx");
    assert_eq!(response.status(), 201);
    let token = response.json::<SessionResponse>().await.unwrap().token;
    let proxied_ws = format!("ws://127.0.0.1:{}/ws", nginx.port);
    let mut alice = Client::connect_url(&proxied_ws, &token).await;
    alice.hello(json!({})).await;
    let mut alice_again = Client::connect_url(&proxied_ws, &token).await;
    alice_again.hello(json!({})).await;
    // Bob connects to the second node directly.
    let (mut bob, _) = nodes[1].user("bob").await;

    alice.post(GENERAL, "via nginx", "a-1").await;
    assert_eq!(bob.message_with_body("via nginx").await.sender, "alice");
    bob.post(GENERAL, "direct", "b-1").await;
    assert_eq!(alice.message_with_body("direct").await.seq, 2);
    assert_eq!(alice_again.message_with_body("direct").await.sender, "bob");
    assert_eq!(alice_again.message_with_body("via nginx").await.seq, 1);
    let health = reqwest::get(nginx.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn nginx_access_log_leaves_out_query_strings_that_may_hold_tokens() {
    let server = TestServer::start().await;
    let nginx = Nginx::start([&server, &server]).await;
    let token = server.register("erin").await;
    let proxied_ws = format!("ws://127.0.0.1:{}/ws?token={token}", nginx.port);
    let (mut socket, _) =
        tokio_tungstenite::connect_async(proxied_ws).await.expect("/ws?token= through nginx");
    futures_util::SinkExt::close(&mut socket).await.expect("close");
    let health = reqwest::get(nginx.url("/healthz?token=not-a-real-secret")).await.unwrap();
    assert_eq!(health.status(), 200);
    nginx.access_log_with("GET /ws").await;
    let log = nginx.access_log_with("GET /healthz").await;
    assert!(!log.contains(&token) && !log.contains("not-a-real-secret"), "a token in the access log:\n{log}");
    assert!(!log.contains("token="), "{log}");
}
