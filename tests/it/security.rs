//! Regressions for the outside security review (oversized replies, channel
//! capture, look-alike names, login lockout, read budgets): each attack as
//! the review tried it, and what must hold now.

use std::net::IpAddr;

use natter::protocol::{ErrorCode, ServerMessage};
use serde_json::{Value, json};

use crate::harness::{Client, GENERAL, ServerMessageExt, TestServer, recv, test_limits, unpack};

/// The largest frame the server may send in answer to a request.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// The frame's size on the wire: the server encodes the same type the same way.
fn frame_len(frame: &ServerMessage) -> usize {
    serde_json::to_string(frame).expect("a protocol message encodes").len()
}

/// The id of the channel a reply announces; anything else fails the test.
fn channel_id(reply: ServerMessage) -> i64 {
    unpack!(reply, ServerMessage::Channel { channel, .. } => channel.id)
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
async fn pipelined(client: &mut Client, requests: Vec<Value>, first_ref: u64) -> Vec<ServerMessage> {
    for (offset, mut request) in requests.iter().cloned().enumerate() {
        request["ref"] = json!(format!("bulk-{}", first_ref + offset as u64));
        client.send(request).await;
    }
    let mut replies = Vec::with_capacity(requests.len());
    for offset in 0..requests.len() {
        let reference = json!(format!("bulk-{}", first_ref + offset as u64));
        let what = format!("the pipelined reply {reference}");
        replies.push(client.recv_until(&what, |reply| reply.reference() == Some(&reference)).await);
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
        assert!(frame_len(&page) <= MAX_REPLY_BYTES, "a page of {} bytes", frame_len(&page));
        let (messages, has_more) = match page {
            ServerMessage::History { messages, has_more, .. } => (messages, has_more),
            other => panic!("expected a history page, got {:.200}", format!("{other:?}")),
        };
        let seqs: Vec<i64> = messages.iter().map(|m| m.seq).collect();
        assert!(!seqs.is_empty(), "a page makes progress");
        seen.splice(0..0, seqs.iter().copied());
        before = seqs.first().copied();
        if !has_more {
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
        assert_eq!(reply.error_code(), Some(ErrorCode::InvalidBody), "{body:?} answered {reply:?}");
    }
    alice.post(GENERAL, "two\r\nlines\ttabbed", "ok-1").await;
    assert_eq!(alice.message_with_body("two\nlines\ttabbed").await.seq, 1, "line breaks normalised");
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
    let ids: Vec<i64> = created.into_iter().map(channel_id).collect();
    let invites = ids.iter().map(|id| json!({"type": "invite", "channel": id, "user": "carol"})).collect();
    for reply in pipelined(&mut mallory, invites, 10_000).await {
        assert!(matches!(reply, ServerMessage::Channel { .. }), "{reply:?}");
    }

    // Carol connects: the welcome comes in frames that each fit, and lists
    // every channel, each saying who put her there.
    let mut carol = Client::connect(&server, &carol_token).await;
    let welcome = carol.hello(json!({})).await;
    let mut complete = welcome.complete;
    let mut frames = vec![ServerMessage::Welcome {
        user: welcome.user,
        channels: welcome.channels,
        online: welcome.online,
        complete: welcome.complete,
    }];
    while !complete {
        let more = recv!(carol, "the rest of the welcome", more @ ServerMessage::WelcomeMore { .. } => more);
        complete = matches!(more, ServerMessage::WelcomeMore { complete: true, .. });
        frames.push(more);
    }
    assert!(frames.len() > 1, "{count} channels do not fit one frame");
    let mut listed = 0;
    let mut online = Vec::new();
    for frame in &frames {
        assert!(frame_len(frame) <= MAX_REPLY_BYTES, "a welcome frame of {} bytes", frame_len(frame));
        let (ServerMessage::Welcome { channels, online: users, .. }
        | ServerMessage::WelcomeMore { channels, online: users, .. }) = frame
        else {
            unreachable!("only welcome frames are collected")
        };
        for channel in channels {
            if channel.id != GENERAL {
                assert_eq!(channel.added_by.as_deref(), Some("mallory"), "{channel:?}");
            }
            listed += 1;
        }
        online.extend(users.iter().cloned());
    }
    assert_eq!(listed, count + 1, "General and every channel she was put in");
    assert!(online.iter().any(|n| n == "carol"), "{online:?}");
    // And she can leave any of them.
    let reply = carol.request(json!({"type": "leave", "channel": ids[1234]})).await;
    assert!(matches!(reply, ServerMessage::Left { .. }), "{reply:?}");
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
        ids.push(channel_id(reply));
    }
    for id in &ids[..3] {
        let reply = mallory.request(json!({"type": "invite", "channel": id, "user": "carol"})).await;
        assert!(matches!(reply, ServerMessage::Channel { .. }), "{reply:?}");
    }
    let reply = mallory.request(json!({"type": "invite", "channel": ids[3], "user": "carol"})).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::LimitReached), "{reply:?}");
    // Someone else can still add her: mallory used up only her own allowance.
    let (mut dave, _) = server.user("dave").await;
    let daves = dave.request(json!({"type": "create_channel", "name": "daves", "private": true})).await;
    let reply = dave.request(json!({"type": "invite", "channel": channel_id(daves), "user": "carol"})).await;
    assert!(matches!(reply, ServerMessage::Channel { .. }), "{reply:?}");
    // Carol was told who added her, and leaves.
    let added = recv!(carol, "the first invite", ServerMessage::Channel { channel, .. } if channel.id == ids[0] => channel);
    assert_eq!(added.added_by.as_deref(), Some("mallory"));
    let reply = carol.request(json!({"type": "leave", "channel": ids[0]})).await;
    assert!(matches!(reply, ServerMessage::Left { .. }), "{reply:?}");
    // Inviting someone who is in already, or into General, says so.
    let reply = mallory.request(json!({"type": "invite", "channel": ids[1], "user": "carol"})).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::AlreadyMember), "{reply:?}");
    let reply = mallory.request(json!({"type": "invite", "channel": GENERAL, "user": "carol"})).await;
    let refusal = unpack!(reply, ServerMessage::Error { code, message, .. } => (code, message));
    assert_eq!(refusal, (ErrorCode::Forbidden, "everyone is in General".to_owned()));
}

/// A group DM cannot be left, so putting someone in group DMs draws on the
/// same hourly invitations as adding them to channels.
#[tokio::test]
async fn nobody_can_be_put_in_group_dms_faster_than_the_limit() {
    let limits = natter::limits::Limits { invitations_per_hour: 2.0, ..test_limits() };
    let server = TestServer::start_with(limits, false).await;
    let (mut mallory, _) = server.user("mallory").await;
    for name in ["carol", "p1", "p2", "p3"] {
        server.register(name).await;
    }
    for others in [["carol", "p1"], ["carol", "p2"]] {
        let reply = mallory.request(json!({"type": "open_dm", "users": others})).await;
        assert!(matches!(reply, ServerMessage::Channel { .. }), "{reply:?}");
    }
    let reply = mallory.request(json!({"type": "open_dm", "users": ["carol", "p3"]})).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::LimitReached), "{reply:?}");
    // A one-to-one DM is no invitation: it can be ignored, and is one per pair.
    let reply = mallory.request(json!({"type": "open_dm", "user": "carol"})).await;
    assert!(matches!(reply, ServerMessage::Channel { .. }), "{reply:?}");
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
        assert!(matches!(reply, ServerMessage::Channel { .. }), "{reply:?}");
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
        assert!(frame_len(&page) <= MAX_REPLY_BYTES, "a page of {} bytes", frame_len(&page));
        let (channels, has_more, next) = unpack!(page, ServerMessage::Channels { channels, has_more, next, .. } => (channels, has_more, next));
        pages += 1;
        names.extend(channels.into_iter().map(|c| c.name));
        if !has_more {
            assert_eq!(next, None, "no cursor on the last page");
            break;
        }
        after = Some(next.expect("a cursor when more follow"));
    }
    assert!(pages > 1);
    let mut expected: Vec<String> = (0..count).map(|n| format!("{n:04}-{}", "p".repeat(59))).collect();
    expected.push("General".into());
    expected.sort();
    assert_eq!(names, expected, "every public channel once, in name order");
    // A prefix narrows the listing.
    let page = alice.request(json!({"type": "list_channels", "prefix": "19"})).await;
    assert_eq!(unpack!(page, ServerMessage::Channels { channels, .. } => channels.len()), 100);
    let page = alice.request(json!({"type": "list_channels", "prefix": "gEN"})).await;
    assert_eq!(
        unpack!(page, ServerMessage::Channels { channels, .. } => channels[0].name.clone()),
        "General"
    );
}

#[tokio::test]
async fn a_new_private_channel_is_never_someone_elses() {
    let server = TestServer::start().await;
    let (mut mallory, _) = server.user("mallory").await;
    let (mut carol, _) = server.user("carol").await;
    let trap =
        mallory.request(json!({"type": "create_channel", "name": "board-room", "private": true})).await;
    let trap_id = channel_id(trap);
    mallory.request(json!({"type": "invite", "channel": trap_id, "user": "carol"})).await;
    recv!(carol, "the invite", ServerMessage::Channel { channel, .. } if channel.id == trap_id => ());
    // Carol thinks she is making a new private channel: she is told it
    // exists, and which one, rather than silently handed mallory's.
    for (name, private) in [("Board-Room", true), ("board-room", false), ("Bоard-Rооm", true)] {
        let reply = carol.request(json!({"type": "create_channel", "name": name, "private": private})).await;
        assert!(
            matches!(reply, ServerMessage::Error { code: ErrorCode::ChannelExists, channel: Some(id), .. } if id == trap_id),
            "{name}: {reply:?}"
        );
    }
    // Someone who cannot see mallory's channel learns nothing: theirs is new.
    let (mut dave, _) = server.user("dave").await;
    let own = dave.request(json!({"type": "create_channel", "name": "Board-Room", "private": true})).await;
    assert_ne!(channel_id(own), trap_id);
}

#[tokio::test]
async fn look_alike_and_invisible_channel_names_are_refused() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    for look_alike in ["Gеneral", "ＧＥＮＥＲＡＬ", "GENERAL", "Gen\u{0435}ral", "GeneraI", "Genera1"]
    {
        let reply = alice.request(json!({"type": "create_channel", "name": look_alike})).await;
        assert!(
            matches!(
                reply,
                ServerMessage::Error { code: ErrorCode::ChannelExists, channel: Some(GENERAL), .. }
            ),
            "{look_alike:?}: {reply:?}"
        );
    }
    for invisible in
        ["Gen\u{200B}eral", "\u{202E}lareneG", "\u{200B}\u{200C}\u{2060}", "General\u{FEFF}", "x #12"]
    {
        let reply = alice.request(json!({"type": "create_channel", "name": invisible})).await;
        assert_eq!(reply.error_code(), Some(ErrorCode::InvalidName), "{invisible:?} answered {reply:?}");
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
            match reply {
                ServerMessage::History { .. } => answered += 1,
                _ => {
                    assert_eq!(reply.error_code(), Some(ErrorCode::RateLimited), "{reply:?}");
                    refused += 1;
                }
            }
        }
    }
    // Fifty reads through five connections: the user's burst of ten and
    // what refilled (5 a second) while the test ran, not five connections'
    // budgets of 1,000. The elapsed time is not a speed bound: it only
    // loosens the upper limit by the documented refill, so a slow run
    // cannot fail it.
    let refilled = (started.elapsed().as_secs_f64() * 5.0).ceil() as usize;
    assert!(answered <= 10 + refilled, "{answered} reads answered ({refilled} refilled)");
    assert_eq!(answered + refused, 50);
}

/// One connection past its own request budget must not spend the read
/// budget its user's other connections (and its address) share: a
/// connection's own budget is taken first.
#[tokio::test]
async fn a_connection_over_its_own_budget_does_not_spend_the_users_reads() {
    let limits = natter::limits::Limits {
        reads_per_user_per_second: 1.0, // a burst of 2
        requests_per_second: 0.01,
        request_burst: 1.0,
        ..test_limits()
    };
    let server = TestServer::start_with(limits, false).await;
    let token = server.register("bob").await;
    let mut flooder = Client::connect(&server, &token).await;
    flooder.hello(json!({})).await;
    let mut other = Client::connect(&server, &token).await;
    other.hello(json!({})).await;
    let requests = (0..10).map(|_| json!({"type": "history", "channel": GENERAL})).collect();
    let replies = pipelined(&mut flooder, requests, 0).await;
    let answered = replies.iter().filter(|r| matches!(r, ServerMessage::History { .. })).count();
    assert_eq!(answered, 1, "the flooder's own budget allows one");
    // The flooder was allowed one read; one of the user's two is left.
    let reply = pipelined(&mut other, vec![json!({"type": "history", "channel": GENERAL})], 100).await;
    assert!(
        matches!(reply[0], ServerMessage::History { .. }),
        "the other connection was refused: {:?}",
        reply[0]
    );
}
