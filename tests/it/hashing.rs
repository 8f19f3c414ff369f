//! Password hashing does not inflate the process: the real binary's
//! resident memory after bursts of sign-ups and sign-ins is within a few
//! MiB of where it started.

use std::net::IpAddr;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;

use crate::process::NatterProcess;

/// Growth of the resident size allowed over the bursts: the database's page
/// cache, sessions and allocator slack, not one more 19 MiB hash buffer.
const ALLOWED_GROWTH_KIB: u64 = 8 * 1024;

async fn post(http: &reqwest::Client, url: String, name: String) -> u16 {
    let request = http.post(url).json(&json!({"username": name, "password": "correct horse battery"}));
    tokio::time::timeout(Duration::from_secs(60), request.send())
        .await
        .expect("an answer within 60 s")
        .expect("a response")
        .status()
        .as_u16()
}

#[tokio::test]
async fn hashing_bursts_of_sign_ups_and_sign_ins_leave_memory_where_it_was() {
    let server = NatterProcess::start(&["--account-creations-per-minute", "100000"], |_| {}).await;
    let http = reqwest::Client::new();
    let before = server.rss_kib();

    // 100 registrations, ten at a time.
    for batch in 0..10 {
        let statuses =
            join_all((0..10).map(|n| post(&http, server.url("/api/register"), format!("user{batch}x{n}"))))
                .await;
        assert!(statuses.iter().all(|s| *s == 201), "batch {batch}: {statuses:?}");
    }
    let after_sign_ups = server.rss_kib();

    // 100 sign-ins ten at a time, half with unknown names (the decoy
    // verification), each from its own address so no throttle refuses.
    for batch in 0..10 {
        let statuses = join_all((0..10).map(|n| {
            let address: IpAddr = format!("127.0.4.{}", batch * 10 + n + 1).parse().unwrap();
            let http = reqwest::Client::builder().local_address(address).build().unwrap();
            let name = if n % 2 == 0 { format!("user{batch}x{n}") } else { format!("nobody{batch}x{n}") };
            let url = server.url("/api/login");
            async move { post(&http, url, name).await }
        }))
        .await;
        let expected: Vec<u16> = (0..10).map(|n| if n % 2 == 0 { 200 } else { 401 }).collect();
        assert_eq!(statuses, expected, "batch {batch}");
    }
    let after_sign_ins = server.rss_kib();

    println!(
        "RSS: {before} KiB at start, {after_sign_ups} KiB after 100 sign-ups (10 at a time), \
         {after_sign_ins} KiB after 100 sign-ins (10 at a time); {} threads",
        server.threads()
    );
    for (what, rss) in [("sign-ups", after_sign_ups), ("sign-ins", after_sign_ins)] {
        assert!(
            rss <= before + ALLOWED_GROWTH_KIB,
            "after the {what} RSS is {rss} KiB, {} KiB above the {before} KiB at start",
            rss - before
        );
    }
}
