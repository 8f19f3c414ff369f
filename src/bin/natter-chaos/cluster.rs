//! The test network as `scripts/chaos` builds it: the nodes', the clients'
//! and the probe's addresses, the fault proxy's links, and the workload's
//! users, registered before any scenario runs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::json;

use crate::{client, nemesis};

const CLIENTS: usize = 9;
pub const NODES: [Ipv4Addr; 3] =
    [Ipv4Addr::new(10, 77, 0, 21), Ipv4Addr::new(10, 77, 0, 22), Ipv4Addr::new(10, 77, 0, 23)];
pub const PROBE_SOURCE: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const PASSWORD: &str = "chaos-password";

pub fn node_address(node: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(NODES[node]), 3000)
}

/// The fault proxy's links: node nK reaches PostgreSQL at 10.77.0.1:1543K
/// and Redis at 10.77.0.1:1637K (the ports `scripts/chaos restart NODE
/// proxied` gives it).
pub fn proxy_links() -> Vec<(String, SocketAddr, SocketAddr)> {
    let here = |port| SocketAddr::new(IpAddr::V4(PROBE_SOURCE), port);
    let postgres = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 77, 0, 10)), 5432);
    let redis = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 77, 0, 11)), 6379);
    let mut links = Vec::new();
    for node in 0..NODES.len() {
        let k = u16::try_from(node + 1).expect("three nodes");
        links.push((nemesis::link_name(node, "pg"), here(15430 + k), postgres));
        links.push((nemesis::link_name(node, "redis"), here(16370 + k), redis));
    }
    links
}

/// Registers the workload's users, each from its own address on its home node.
pub async fn register() -> Result<Vec<(String, String)>, String> {
    let mut users = Vec::new();
    for index in 0..CLIENTS {
        let name = format!("c{index}");
        let body = json!({"username": name, "password": PASSWORD});
        let source = client_source(index);
        let (status, answer) = client::http(
            source,
            node_address(index / 3),
            "POST",
            "/api/register",
            Some(&body),
            Duration::from_secs(15),
        )
        .await?;
        if status != 201 {
            return Err(format!("register {name}: {status} {answer}"));
        }
        let value: serde_json::Value = serde_json::from_str(&answer).map_err(|e| e.to_string())?;
        let token = value["token"].as_str().ok_or("no token")?.to_owned();
        users.push((name, token));
    }
    Ok(users)
}

pub fn client_source(index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 77, 0, 41 + u8::try_from(index).expect("fewer than 200 clients")))
}
