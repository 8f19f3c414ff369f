//! Regressions for the outside security review (oversized replies, channel
//! capture, look-alike names, login lockout, read budgets): each attack as
//! the review tried it, and what must hold now.

use std::net::IpAddr;

use serde_json::{Value, json};

use crate::harness::{Client, GENERAL, TestServer, test_limits};

/// The largest frame the server may send in answer to a request.
const MAX_REPLY_BYTES: usize = 64 * 1024;

fn frame_len(frame: &Value) -> usize {
    frame.to_string().len()
}

/// Limits that let one test set up thousands of channels quickly.
fn bulk_limits() -> natter::limits::Limits {
    natter::limits::Limits {
        channels_per_user: 100_000,
        invitations_per_hour: 1e9,
        requests_per_second: 1e9,
        request_burst: 1e9,
        reads_per_user_per_second: 1e9,
        reads_per_address_per_second: 1e9,
        ..test_limits()
    }
}

/// Sends every request at once, then collects the replies in order.
async fn pipelined(client: &mut Client, requests: Vec<Value>, first_ref: u64) -> Vec<Value> {
    for (offset, mut request) in requests.iter().cloned().enumerate() {
        request["ref"] = json!(format!("bulk-{}", first_ref + offset as u64));
        client.send(request).await;
    }
    let mut replies = Vec::with_capacity(requests.len());
    for offset in 0..requests.len() {
        let reference = json!(format!("bulk-{}", first_ref + offset as u64));
        replies.push(client.take(|reply| reply["ref"] == reference, "a pipelined reply").await);
    }
    replies
}

#[tokio::test]
async fn history_pages_stop_at_the_byte_budget_and_every_message_stays_reachable() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    // Thirty messages of 4,000 four-byte characters: 480 KB, more than any
    // one frame may carry.
    let body = "😀".repeat(4000);
    for n in 1..=30 {
        alice.post(GENERAL, &body, &format!("big-{n}")).await;
    }
    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let mut request = json!({"type": "history", "channel": GENERAL, "limit": 50});
        if let Some(before) = before {
            request["before"] = json!(before);
        }
        let page = bob.request(request).await;
        assert_eq!(page["type"], "history", "{}", &page.to_string()[..200.min(page.to_string().len())]);
        assert!(frame_len(&page) <= MAX_REPLY_BYTES, "a page of {} bytes", frame_len(&page));
        let seqs: Vec<i64> =
            page["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        assert!(!seqs.is_empty(), "a page makes progress");
        seen.splice(0..0, seqs.iter().copied());
        before = seqs.first().copied();
        if page["has_more"] == false {
            break;
        }
    }
    assert_eq!(seen, (1..=30).collect::<Vec<i64>>(), "every message, once, in order");
}

#[tokio::test]
async fn control_characters_and_bidi_overrides_in_bodies_are_refused() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    for (n, body) in ["nul\u{0}here", "\u{1b}[2J\u{1b}[31mred", "del\u{7f}", "\u{202E}fdp.exe", "x\u{2066}y"]
        .iter()
        .enumerate()
    {
        let reply = alice
            .request(json!({"type": "send", "channel": GENERAL, "body": body, "client_id": format!("c-{n}")}))
            .await;
        assert_eq!(reply["code"], "invalid_body", "{body:?} answered {reply}");
    }
    alice.post(GENERAL, "two\r\nlines\ttabbed", "ok-1").await;
    assert_eq!(alice.message_with_body("two\nlines\ttabbed").await["seq"], 1, "line breaks normalised");
}

#[tokio::test]
async fn a_user_put_in_thousands_of_channels_still_connects_and_can_leave_them() {
    let server = TestServer::start_with(bulk_limits(), false).await;
    let (mut mallory, _) = server.user("mallory").await;
    let carol_token = server.register("carol").await;
    let count = 2_000;
    let creates = (0..count)
        .map(|n| json!({"type": "create_channel", "name": format!("{n:04}-{}", "w".repeat(59)), "private": true}))
        .collect();
    let created = pipelined(&mut mallory, creates, 0).await;
    let ids: Vec<i64> = created
        .iter()
        .map(|reply| {
            assert_eq!(reply["type"], "channel", "{reply}");
            reply["channel"]["id"].as_i64().unwrap()
        })
        .collect();
    let invites = ids.iter().map(|id| json!({"type": "invite", "channel": id, "user": "carol"})).collect();
    for reply in pipelined(&mut mallory, invites, 10_000).await {
        assert_eq!(reply["type"], "channel", "{reply}");
    }

    // Carol connects: the welcome comes in frames that each fit, and lists
    // every channel, each saying who put her there.
    let mut carol = Client::connect(&server, &carol_token).await;
    let welcome = carol.hello(json!({})).await;
    let mut frames = vec![welcome];
    while frames.last().unwrap()["complete"] == false {
        frames.push(carol.expect("welcome_more").await);
    }
    assert!(frames.len() > 1, "{count} channels do not fit one frame");
    let mut listed = 0;
    for frame in &frames {
        assert!(frame_len(frame) <= MAX_REPLY_BYTES, "a welcome frame of {} bytes", frame_len(frame));
        for channel in frame["channels"].as_array().unwrap() {
            if channel["id"] != GENERAL {
                assert_eq!(channel["added_by"], "mallory", "{channel}");
            }
            listed += 1;
        }
    }
    assert_eq!(listed, count + 1, "General and every channel she was put in");
    assert!(frames.iter().any(|f| f["online"].as_array().unwrap().iter().any(|n| n == "carol")));
    // And she can leave any of them.
    let reply = carol.request(json!({"type": "leave", "channel": ids[1234]})).await;
    assert_eq!(reply["type"], "left", "{reply}");
}

#[tokio::test]
async fn nobody_can_be_added_to_channels_faster_than_the_limit() {
    let limits = natter::limits::Limits { invitations_per_hour: 3.0, ..test_limits() };
    let server = TestServer::start_with(limits, false).await;
    let (mut mallory, _) = server.user("mallory").await;
    let (mut carol, _) = server.user("carol").await;
    let mut ids = Vec::new();
    for n in 0..4 {
        let reply = mallory
            .request(json!({"type": "create_channel", "name": format!("trap-{n}"), "private": true}))
            .await;
        ids.push(reply["channel"]["id"].as_i64().unwrap());
    }
    for id in &ids[..3] {
        let reply = mallory.request(json!({"type": "invite", "channel": id, "user": "carol"})).await;
        assert_eq!(reply["type"], "channel", "{reply}");
    }
    let reply = mallory.request(json!({"type": "invite", "channel": ids[3], "user": "carol"})).await;
    assert_eq!(reply["code"], "limit_reached", "{reply}");
    // Someone else can still add her: mallory used up only her own allowance.
    let (mut dave, _) = server.user("dave").await;
    let daves = dave.request(json!({"type": "create_channel", "name": "daves", "private": true})).await;
    let reply =
        dave.request(json!({"type": "invite", "channel": daves["channel"]["id"], "user": "carol"})).await;
    assert_eq!(reply["type"], "channel", "{reply}");
    // Carol was told who added her, and leaves.
    let added =
        carol.take(|f| f["type"] == "channel" && f["channel"]["id"] == ids[0], "the first invite").await;
    assert_eq!(added["channel"]["added_by"], "mallory");
    assert_eq!(carol.request(json!({"type": "leave", "channel": ids[0]})).await["type"], "left");
    // Inviting someone who is in already, or into General, says so.
    let reply = mallory.request(json!({"type": "invite", "channel": ids[1], "user": "carol"})).await;
    assert_eq!(reply["code"], "already_member", "{reply}");
    let reply = mallory.request(json!({"type": "invite", "channel": GENERAL, "user": "carol"})).await;
    assert_eq!(
        (reply["code"].as_str(), reply["message"].as_str()),
        (Some("forbidden"), Some("everyone is in General"))
    );
}

#[tokio::test]
async fn public_channel_listings_page_by_bytes_and_cursor() {
    let server = TestServer::start_with(bulk_limits(), false).await;
    let (mut alice, _) = server.user("alice").await;
    let count = 2_000;
    let creates = (0..count)
        .map(|n| json!({"type": "create_channel", "name": format!("{n:04}-{}", "p".repeat(59))}))
        .collect();
    for reply in pipelined(&mut alice, creates, 0).await {
        assert_eq!(reply["type"], "channel", "{reply}");
    }
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut request = json!({"type": "list_channels"});
        if let Some(after) = &after {
            request["after"] = json!(after);
        }
        let page = alice.request(request).await;
        assert_eq!(page["type"], "channels", "{page}");
        assert!(frame_len(&page) <= MAX_REPLY_BYTES, "a page of {} bytes", frame_len(&page));
        pages += 1;
        names.extend(
            page["channels"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()),
        );
        if page["has_more"] == false {
            assert!(page.get("next").is_none(), "{page}");
            break;
        }
        after = Some(page["next"].as_str().expect("a cursor when more follow").to_owned());
    }
    assert!(pages > 1);
    let mut expected: Vec<String> = (0..count).map(|n| format!("{n:04}-{}", "p".repeat(59))).collect();
    expected.push("General".into());
    expected.sort();
    assert_eq!(names, expected, "every public channel once, in name order");
    // A prefix narrows the listing.
    let page = alice.request(json!({"type": "list_channels", "prefix": "19"})).await;
    assert_eq!(page["channels"].as_array().unwrap().len(), 100);
    let page = alice.request(json!({"type": "list_channels", "prefix": "gEN"})).await;
    assert_eq!(page["channels"][0]["name"], "General");
}

#[tokio::test]
async fn a_new_private_channel_is_never_someone_elses() {
    let server = TestServer::start().await;
    let (mut mallory, _) = server.user("mallory").await;
    let (mut carol, _) = server.user("carol").await;
    let trap =
        mallory.request(json!({"type": "create_channel", "name": "board-room", "private": true})).await;
    let trap_id = trap["channel"]["id"].as_i64().unwrap();
    mallory.request(json!({"type": "invite", "channel": trap_id, "user": "carol"})).await;
    carol.take(|f| f["type"] == "channel" && f["channel"]["id"] == trap_id, "the invite").await;
    // Carol thinks she is making a new private channel: she is told it
    // exists, and which one, rather than silently handed mallory's.
    for (name, private) in [("Board-Room", true), ("board-room", false), ("Bоard-Rооm", true)] {
        let reply = carol.request(json!({"type": "create_channel", "name": name, "private": private})).await;
        assert_eq!(reply["type"], "error", "{name}: {reply}");
        assert_eq!(reply["code"], "channel_exists", "{name}: {reply}");
        assert_eq!(reply["channel"], trap_id, "{name}: {reply}");
    }
    // Someone who cannot see mallory's channel learns nothing: theirs is new.
    let (mut dave, _) = server.user("dave").await;
    let own = dave.request(json!({"type": "create_channel", "name": "Board-Room", "private": true})).await;
    assert_eq!(own["type"], "channel", "{own}");
    assert_ne!(own["channel"]["id"], trap_id);
}

#[tokio::test]
async fn look_alike_and_invisible_channel_names_are_refused() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    for look_alike in ["Gеneral", "ＧＥＮＥＲＡＬ", "GENERAL", "Gen\u{0435}ral", "GeneraI", "Genera1"]
    {
        let reply = alice.request(json!({"type": "create_channel", "name": look_alike})).await;
        assert_eq!(
            (reply["code"].as_str(), reply["channel"].as_i64()),
            (Some("channel_exists"), Some(GENERAL)),
            "{look_alike:?}"
        );
    }
    for invisible in
        ["Gen\u{200B}eral", "\u{202E}lareneG", "\u{200B}\u{200C}\u{2060}", "General\u{FEFF}", "x #12"]
    {
        let reply = alice.request(json!({"type": "create_channel", "name": invisible})).await;
        assert_eq!(reply["code"], "invalid_name", "{invisible:?} answered {reply}");
    }
}

/// An HTTP client whose connections come from `address` (loopback has many).
fn client_from(address: &str) -> reqwest::Client {
    let address: IpAddr = address.parse().unwrap();
    reqwest::Client::builder().local_address(address).build().unwrap()
}

async fn login_status(client: &reqwest::Client, server: &TestServer, password: &str) -> u16 {
    client
        .post(server.url("/api/login"))
        .json(&json!({"username": "alice", "password": password}))
        .send()
        .await
        .expect("login request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn failed_logins_elsewhere_never_lock_the_owner_out() {
    let server = TestServer::start_with(natter::limits::Limits { ..test_limits() }, false).await;
    server.register("alice").await;
    let attacker = client_from("127.0.0.2");
    let statuses: Vec<u16> = {
        let mut statuses = Vec::new();
        for _ in 0..20 {
            statuses.push(login_status(&attacker, &server, "wrong password").await);
        }
        statuses
    };
    assert!(statuses[..5].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses.contains(&429), "the guessing address is stopped: {statuses:?}");
    assert_eq!(login_status(&attacker, &server, "correct horse").await, 429, "even with the right password");
    // The owner, from an address that never failed, signs in at once.
    let owner = client_from("127.0.0.3");
    assert_eq!(login_status(&owner, &server, "correct horse").await, 200);
    // A second guessing address gets its one try, then the name's own lock
    // holds against it too.
    let second = client_from("127.0.0.4");
    assert_eq!(login_status(&second, &server, "wrong again").await, 401);
    assert_eq!(login_status(&second, &server, "correct horse").await, 429);
}

#[tokio::test]
async fn a_burst_of_concurrent_guesses_stops_at_the_lockout_threshold() {
    let server = TestServer::start().await;
    server.register("alice").await;
    let attacker = client_from("127.0.0.6");
    let guesses = (0..60).map(|_| login_status(&attacker, &server, "wrong password"));
    let statuses = futures_util::future::join_all(guesses).await;
    let guessed = statuses.iter().filter(|status| **status == 401).count();
    assert!(guessed <= 5, "{guessed} guesses were checked: {statuses:?}");
    assert_eq!(guessed + statuses.iter().filter(|status| **status == 429).count(), 60, "{statuses:?}");
}

#[tokio::test]
async fn successful_sign_ins_never_use_up_an_address() {
    let server = TestServer::start().await;
    server.register("alice").await;
    let office = client_from("127.0.0.5");
    for attempt in 1..=25 {
        assert_eq!(login_status(&office, &server, "correct horse").await, 200, "sign-in {attempt}");
    }
}

#[tokio::test]
async fn reads_are_budgeted_per_user_across_connections() {
    let limits = natter::limits::Limits {
        reads_per_user_per_second: 5.0,
        requests_per_second: 1_000.0,
        request_burst: 1_000.0,
        ..test_limits()
    };
    let server = TestServer::start_with(limits, false).await;
    let token = server.register("bob").await;
    let mut connections = Vec::new();
    for _ in 0..5 {
        let mut connection = Client::connect(&server, &token).await;
        connection.hello(json!({})).await;
        connections.push(connection);
    }
    let (mut answered, mut refused) = (0, 0);
    let started = std::time::Instant::now();
    for connection in &mut connections {
        let requests = (0..10).map(|_| json!({"type": "history", "channel": GENERAL})).collect();
        for reply in pipelined(connection, requests, 0).await {
            match reply["type"].as_str() {
                Some("history") => answered += 1,
                _ => {
                    assert_eq!(reply["code"], "rate_limited", "{reply}");
                    refused += 1;
                }
            }
        }
    }
    // Fifty reads through five connections: the user's burst of ten and
    // what refilled (5 a second) while the test ran, not five connections'
    // budgets of 1,000.
    let refilled = (started.elapsed().as_secs_f64() * 5.0).ceil() as usize;
    assert!(answered <= 10 + refilled, "{answered} reads answered ({refilled} refilled)");
    assert_eq!(answered + refused, 50);
}
