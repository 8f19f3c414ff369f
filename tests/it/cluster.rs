//! Several nodes on one PostgreSQL and one Redis: users on different nodes
//! chat as if on one server.

use std::time::Duration;

use natter::limits::Limits;
use natter::protocol::{ErrorCode, ServerMessage, SystemInfo, SystemKind};
use serde_json::json;

use crate::harness::{Client, GENERAL, ServerMessageExt, TestServer, recv, test_limits, unpack};
use crate::services::{PrivatePostgres, PrivateRedis, fresh_database_on, fresh_postgres_database, redis_url};

/// `count` nodes on a fresh database and the test Redis; `None` to skip.
async fn cluster(count: usize) -> Option<Vec<TestServer>> {
    let database = fresh_postgres_database().await?;
    let redis = redis_url()?;
    let mut nodes = Vec::with_capacity(count);
    for _ in 0..count {
        nodes.push(TestServer::start_node(&database, &redis).await);
    }
    Some(nodes)
}

/// The bodies of the next `count` messages of `channel` a client receives,
/// checking that their seqs follow each other.
async fn bodies(client: &mut Client, channel: i64, count: usize) -> Vec<(i64, String)> {
    let mut received = Vec::with_capacity(count);
    while received.len() < count {
        let what = format!("message {} of {count} in channel {channel}", received.len() + 1);
        let message =
            recv!(client, &what, ServerMessage::Message(message) if message.channel == channel => message);
        received.push((message.seq, message.body));
    }
    for pair in received.windows(2) {
        assert_eq!(pair[1].0, pair[0].0 + 1, "seqs follow each other: {received:?}");
    }
    received
}

#[tokio::test]
async fn cluster_three_nodes_chat_in_public_and_private_channels() {
    let Some(nodes) = cluster(3).await else { return };
    let (mut alice, alice_welcome) = nodes[0].user("alice").await;
    let (mut bob, bob_welcome) = nodes[1].user("bob").await;
    let (mut carol, carol_welcome) = nodes[2].user("carol").await;

    // Presence is cluster-wide: each sees the others come online (or finds
    // them in its welcome), and every node then gives the same list.
    for (client, welcome) in
        [(&mut alice, &alice_welcome), (&mut bob, &bob_welcome), (&mut carol, &carol_welcome)]
    {
        for name in ["alice", "bob", "carol"] {
            let listed = welcome.online.iter().any(|n| n == name);
            if !listed {
                assert!(client.presence_of(name).await, "{name} comes online");
            }
        }
        client.discard_unread();
    }
    for node in &nodes {
        let token = node.register(&format!("watcher{}", node.addr.port())).await;
        let mut watcher = Client::connect(node, &token).await;
        let online = watcher.hello(json!({})).await.online;
        let others: Vec<&str> =
            online.iter().map(String::as_str).filter(|n| !n.starts_with("watcher")).collect();
        assert_eq!(others, ["alice", "bob", "carol"], "the online list on {}", node.addr);
        watcher.close().await;
    }

    // Everyone posts in General at once; all three see one order.
    for round in 0..10 {
        for (client, name) in [(&mut alice, "alice"), (&mut bob, "bob"), (&mut carol, "carol")] {
            let body = format!("{name} {round}");
            client
                .send(json!({"type": "send", "channel": GENERAL, "body": body, "client_id": format!("{name}-{round}")}))
                .await;
        }
    }
    let seen_by_alice = bodies(&mut alice, GENERAL, 30).await;
    let seen_by_bob = bodies(&mut bob, GENERAL, 30).await;
    let seen_by_carol = bodies(&mut carol, GENERAL, 30).await;
    assert_eq!(seen_by_alice, seen_by_bob);
    assert_eq!(seen_by_alice, seen_by_carol);
    assert_eq!(seen_by_alice.first().map(|m| m.0), Some(1));
    for client in [&mut alice, &mut bob, &mut carol] {
        client.assert_no_message().await;
        client.discard_unread();
    }
    // Typing in General crosses nodes too.
    carol.send(json!({"type": "typing", "channel": GENERAL})).await;
    let carol_typing = ServerMessage::Typing { channel: GENERAL, user: "carol".to_owned() };
    assert_eq!(recv!(alice, "carol's typing", typing @ ServerMessage::Typing { .. } => typing), carol_typing);
    assert_eq!(recv!(bob, "carol's typing", typing @ ServerMessage::Typing { .. } => typing), carol_typing);

    // A private channel on node 0, an invite for bob on node 1: carol on
    // node 2 sees nothing of it.
    let reply = alice.request(json!({"type": "create_channel", "name": "plans", "private": true})).await;
    let private = unpack!(reply, ServerMessage::Channel { channel, .. } => channel.id);
    let reply = alice.request(json!({"type": "invite", "channel": private, "user": "bob"})).await;
    assert!(matches!(reply, ServerMessage::Channel { .. }), "{reply:?}");
    recv!(bob, "the invite", ServerMessage::Channel { channel, .. } if channel.id == private => ());
    // The invite is a system line (seq 1), stored once for both nodes. (It
    // may be committed before bob's node reads the channel's head for him,
    // in which case his `channel` frame already counts it and he reads it
    // from history rather than live.)
    let history = bob.request(json!({"type": "history", "channel": private})).await;
    let line = unpack!(history, ServerMessage::History { mut messages, .. } => messages.remove(0));
    let added = SystemInfo { kind: SystemKind::Added, user: "bob".to_owned(), by: Some("alice".to_owned()) };
    assert_eq!((line.seq, line.body.as_str(), line.system), (1, "alice added bob", Some(added)));
    alice.post(private, "for bob", "a-p1").await;
    assert_eq!(bob.message_with_body("for bob").await.channel, private);
    bob.post(private, "for alice", "b-p1").await;
    assert_eq!(alice.message_with_body("for alice").await.seq, 3);
    bob.send(json!({"type": "typing", "channel": private})).await;
    let bob_typing = ServerMessage::Typing { channel: private, user: "bob".to_owned() };
    assert_eq!(recv!(alice, "bob's typing", typing @ ServerMessage::Typing { .. } => typing), bob_typing);
    carol.assert_none("anything of the private channel", |f| about_channel(f, private)).await;
}

/// Whether a frame says anything about `channel`.
fn about_channel(frame: &ServerMessage, channel: i64) -> bool {
    match frame {
        ServerMessage::Message(message) | ServerMessage::Update(message) => message.channel == channel,
        ServerMessage::Changed { message, .. } => message.channel == channel,
        ServerMessage::SearchResults { hits, .. } => hits.iter().any(|hit| hit.message.channel == channel),
        ServerMessage::Reset { channel: id, .. } | ServerMessage::Members { channel: id, .. } => {
            *id == channel
        }
        ServerMessage::Channel { channel: info, .. } => info.id == channel,
        ServerMessage::ChannelUpdated { channel: id, .. }
        | ServerMessage::MemberRemoved { channel: id, .. } => *id == channel,
        ServerMessage::History { channel: id, .. }
        | ServerMessage::Left { channel: id, .. }
        | ServerMessage::Typing { channel: id, .. }
        | ServerMessage::Read { channel: id, .. }
        | ServerMessage::Ack { channel: id, .. } => *id == channel,
        ServerMessage::Error { channel: id, .. } => *id == Some(channel),
        ServerMessage::Welcome { channels, .. }
        | ServerMessage::WelcomeMore { channels, .. }
        | ServerMessage::Channels { channels, .. } => channels.iter().any(|info| info.id == channel),
        ServerMessage::Users { .. }
        | ServerMessage::Presence { .. }
        | ServerMessage::OnlinePage { .. }
        | ServerMessage::Watching { .. }
        | ServerMessage::Accounts { .. }
        | ServerMessage::Profile { .. }
        | ServerMessage::AccountUpdated { .. }
        | ServerMessage::InviteCreated { .. }
        | ServerMessage::ResetLink { .. }
        | ServerMessage::Invites { .. }
        | ServerMessage::InviteRevoked { .. }
        | ServerMessage::Registration { .. }
        | ServerMessage::Pong { .. } => false,
    }
}

#[tokio::test]
async fn cluster_a_client_resumes_on_another_node_with_nothing_lost_or_doubled() {
    let Some(database) = fresh_postgres_database().await else { return };
    let Some(redis) = redis_url() else { return };
    // Presence records that outlive any receive timeout: if Bob goes offline
    // below, it is because his node withdrew his record, not because it expired.
    let ttl = 6 * crate::harness::RECEIVE_TIMEOUT;
    let mut nodes = [
        TestServer::start_node_with_ttl(&database, &redis, test_limits(), ttl).await,
        TestServer::start_node_with_ttl(&database, &redis, test_limits(), ttl).await,
    ];
    let (mut alice, _) = nodes[0].user("alice").await;
    let bob_token = nodes[1].register("bob").await;
    let mut bob = Client::connect(&nodes[1], &bob_token).await;
    bob.hello(json!({})).await;
    for n in 1..=5 {
        alice.post(GENERAL, &format!("m{n}"), &format!("a-{n}")).await;
    }
    let first = bodies(&mut bob, GENERAL, 5).await;
    assert_eq!(first.last().unwrap().0, 5);

    // Bob's node stops cleanly; it withdraws its presence record, so Bob
    // goes offline for Alice at once (the TTL is for nodes that die).
    nodes[1].stop().await;
    assert!(alice.presence_of("bob").await, "bob came online");
    assert!(!alice.presence_of("bob").await, "bob goes offline when his node stops, long before any TTL");
    // Alice keeps talking; Bob comes back on node 0.
    for n in 6..=10 {
        alice.post(GENERAL, &format!("m{n}"), &format!("a-{n}")).await;
    }
    let mut bob = Client::connect(&nodes[0], &bob_token).await;
    bob.hello(json!({ GENERAL.to_string(): 5 })).await;
    alice.post(GENERAL, "m11", "a-11").await;
    let rest = bodies(&mut bob, GENERAL, 6).await;
    assert_eq!(rest.iter().map(|m| m.0).collect::<Vec<_>>(), (6..=11).collect::<Vec<_>>());
    bob.assert_no_message().await;
}

/// Alice's stream of posts: her task, and how many of them are acked so far.
struct Posting {
    task: tokio::task::JoinHandle<Client>,
    acked: tokio::sync::watch::Receiver<usize>,
}

impl Posting {
    /// Waits until `more` further sends (or all of them) are acked, counted
    /// from now.
    async fn acked_further(&mut self, more: usize, count: usize) {
        let target = (*self.acked.borrow() + more).min(count);
        tokio::time::timeout(crate::harness::RECEIVE_TIMEOUT, self.acked.wait_for(|acked| *acked >= target))
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for alice's sends to reach {target} acks"))
            .expect("alice's task reports its acks");
    }
}

/// Alice posts `count` messages in General on her node, a few milliseconds
/// apart; her task returns her client once every one is acked.
fn alice_keeps_posting(mut alice: Client, count: usize) -> Posting {
    let (report, acked) = tokio::sync::watch::channel(0);
    let task = tokio::spawn(async move {
        for n in 1..=count {
            alice.post(GENERAL, &format!("m{n}"), &format!("a-{n}")).await;
            report.send_replace(n);
            // A steady stream rather than a burst, so that it is still going
            // while Redis is down and after it is back: pacing, not
            // synchronisation.
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        alice
    });
    Posting { task, acked }
}

/// Sends committed while Redis is down: the outage lasts until this many
/// more of Alice's sends are acked.
const SENDS_DURING_OUTAGE: usize = 20;

#[tokio::test]
async fn cluster_redis_restart_loses_and_doubles_nothing() {
    let Some(database) = fresh_postgres_database().await else { return };
    let Some(mut redis) = PrivateRedis::start().await else { return };
    let nodes = [
        TestServer::start_node(&database, &redis.url()).await,
        TestServer::start_node(&database, &redis.url()).await,
    ];
    let (alice, _) = nodes[0].user("alice").await;
    let (mut bob, _) = nodes[1].user("bob").await;

    let count = 200;
    let mut sending = alice_keeps_posting(alice, count);
    // Wait until messages flow across, then take Redis away mid-stream.
    bob.message_with_body("m5").await;
    redis.kill();
    sending.acked_further(SENDS_DURING_OUTAGE, count).await;
    redis.restart().await;
    let _alice = sending.task.await.expect("every send acked: the store never went away");

    // Bob (on the other node) gets every committed message exactly once, in order.
    bob.discard_unread();
    let bob_token = bob.token.clone();
    drop(bob);
    // And a fresh look from the start confirms it: a new connection resumes
    // from 0 and sees 1..=count, then nothing more.
    let mut again = Client::connect(&nodes[1], &bob_token).await;
    again.hello(json!({ GENERAL.to_string(): 0 })).await;
    let all = bodies(&mut again, GENERAL, count).await;
    assert_eq!(all.first().unwrap().0, 1);
    again.assert_no_message().await;
}

#[tokio::test]
async fn cluster_redis_restart_live_delivery_is_exactly_once() {
    let Some(database) = fresh_postgres_database().await else { return };
    let Some(mut redis) = PrivateRedis::start().await else { return };
    let nodes = [
        TestServer::start_node(&database, &redis.url()).await,
        TestServer::start_node(&database, &redis.url()).await,
    ];
    let (alice, _) = nodes[0].user("alice").await;
    let (mut bob, _) = nodes[1].user("bob").await;

    let count = 200;
    let mut sending = alice_keeps_posting(alice, count);
    bob.message_with_body("m5").await;
    // m1..m4 were read on the way to m5; m6 and later were not.
    bob.discard_unread();
    redis.kill();
    sending.acked_further(SENDS_DURING_OUTAGE, count).await;
    redis.restart().await;
    sending.task.await.expect("every send acked");
    // m1..m5 were taken above; the live stream goes on with m6 and never
    // repeats or skips, across the outage.
    let rest = bodies(&mut bob, GENERAL, count - 5).await;
    assert_eq!((rest.first().unwrap().0, rest.last().unwrap().0), (6, count as i64));
    bob.assert_no_message().await;
}

#[tokio::test]
async fn cluster_postgres_restart_refuses_sends_clearly_then_resumes() {
    let Some(mut postgres) = PrivatePostgres::start().await else { return };
    let Some(redis) = redis_url() else { return };
    let database = fresh_database_on(&postgres.url()).await;
    let nodes =
        [TestServer::start_node(&database, &redis).await, TestServer::start_node(&database, &redis).await];
    let (mut alice, _) = nodes[0].user("alice").await;
    let (mut bob, _) = nodes[1].user("bob").await;
    alice.post(GENERAL, "before", "a-1").await;
    assert_eq!(bob.message_with_body("before").await.seq, 1);

    postgres.stop();
    // Nothing is acked that is not stored: the send fails, saying so.
    let send = json!({"type": "send", "channel": GENERAL, "body": "during", "client_id": "a-2"});
    let reply = alice.request(send.clone()).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::Unavailable), "{reply:?}");
    let health = reqwest::get(nodes[0].url("/healthz")).await.expect("healthz answers");
    assert_ne!(health.status(), 200, "a node without its database is not healthy");
    bob.assert_no_message().await;

    postgres.start_again();
    // The client's retry (same client id) is stored once and delivered everywhere.
    let ack = alice.request(send).await;
    assert_eq!(unpack!(ack, ServerMessage::Ack { seq, .. } => seq), 2);
    assert_eq!(bob.message_with_body("during").await.seq, 2);
    alice.post(GENERAL, "after", "a-3").await;
    assert_eq!(bob.message_with_body("after").await.seq, 3);
    // New sign-ins work again too.
    let (mut carol, _) = nodes[1].user("carol").await;
    let history = carol.request(json!({"type": "history", "channel": GENERAL})).await;
    let messages = unpack!(history, ServerMessage::History { messages, .. } => messages);
    let seen: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(seen, ["before", "during", "after"]);
}

/// A natter binary as one node of a cluster, to be killed with SIGKILL.
struct NodeProcess {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl NodeProcess {
    fn start(database: &str, redis: &str, cluster: &str) -> Self {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_natter"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database", database, "--redis", redis])
            .args(["--cluster-name", cluster, "--presence-ttl-secs", "1"])
            .env("NATTER_LOG", "error")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start natter");
        let line = crate::harness::listening_line(&mut child);
        let base = line.trim().strip_prefix("natter listening on http://").expect("listening line");
        Self { child, addr: base.parse().expect("an address") }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }
}

#[tokio::test]
async fn cluster_a_killed_nodes_users_go_offline_within_the_ttl_and_resume_elsewhere() {
    let Some(database) = fresh_postgres_database().await else { return };
    let Some(redis) = redis_url() else { return };
    let cluster = database.rsplit('/').next().unwrap().to_owned();
    let survivor = TestServer::start_node(&database, &redis).await;
    let doomed = NodeProcess::start(&database, &redis, &cluster);
    let (mut alice, _) = survivor.user("alice").await;
    let dave_token = survivor.register("dave").await;
    let erin_token = survivor.register("erin").await;

    // Dave and Erin are on the node that will die.
    let url = format!("ws://{}/ws?token=", doomed.addr);
    let (mut dave, _) =
        tokio_tungstenite::connect_async(format!("{url}{dave_token}")).await.expect("dave connects");
    let (mut erin, _) =
        tokio_tungstenite::connect_async(format!("{url}{erin_token}")).await.expect("erin connects");
    use futures_util::SinkExt;
    for socket in [&mut dave, &mut erin] {
        socket.send(json!({"type": "hello"}).to_string().into()).await.unwrap();
    }
    assert!(alice.presence_of("dave").await, "dave comes online");
    assert!(alice.presence_of("erin").await, "erin comes online");
    alice.post(GENERAL, "one", "a-1").await;

    doomed.kill();
    alice.post(GENERAL, "two", "a-2").await;
    // Dave comes back on the surviving node and resumes from seq 0: every
    // message once, in order. Erin does not come back.
    let mut dave = Client::connect(&survivor, &dave_token).await;
    dave.hello(json!({ GENERAL.to_string(): 0 })).await;
    let seen = bodies(&mut dave, GENERAL, 2).await;
    assert_eq!(seen, [(1, "one".to_owned()), (2, "two".to_owned())]);
    dave.assert_no_message().await;
    // Nothing withdraws a killed node's records: only their TTL (1 s) can
    // take Erin offline, and it does within the receive timeout.
    assert!(!alice.presence_of("erin").await, "erin goes offline once her dead node's record expires");
    // Dave, back on the surviving node, is online; Erin is not.
    let token = survivor.register("watcher").await;
    let mut watcher = Client::connect(&survivor, &token).await;
    assert_eq!(watcher.hello(json!({})).await.online, ["alice", "dave", "watcher"]);
}

#[tokio::test]
async fn cluster_rate_limits_and_login_throttling_hold_across_nodes() {
    let Some(database) = fresh_postgres_database().await else { return };
    let Some(redis) = redis_url() else { return };
    // Five messages at once, then one every ten seconds, per user.
    let limits = Limits { messages_per_second: 0.1, message_burst: 5.0, ..crate::harness::test_limits() };
    let nodes = [
        TestServer::start_node_with(&database, &redis, limits.clone()).await,
        TestServer::start_node_with(&database, &redis, limits).await,
    ];
    let (mut on_first, _) = nodes[0].user("alice").await;
    let mut on_second = Client::connect(&nodes[1], &on_first.token).await;
    on_second.hello(json!({})).await;
    for n in 0..5 {
        on_first.post(GENERAL, "spent here", &format!("first-{n}")).await;
    }
    // The burst is spent on the first node: the second node's own bucket is
    // full, but the cluster's is not. At most the first send slips through
    // (it goes ahead while the shared bucket answers).
    let mut acked = 0;
    for n in 0..5 {
        let send =
            json!({"type": "send", "channel": GENERAL, "body": "x", "client_id": format!("second-{n}")});
        let reply = on_second.request(send).await;
        match reply {
            ServerMessage::Ack { .. } => acked += 1,
            _ => assert_eq!(reply.error_code(), Some(ErrorCode::RateLimited), "{reply:?}"),
        }
    }
    assert!(acked <= 1, "{acked} of 5 sends through the second node were accepted");

    // Login attempts per address: ten anywhere in the cluster, then no more.
    let http = reqwest::Client::new();
    let login = |node: &TestServer, n: usize| {
        http.post(node.url("/api/login"))
            .json(&json!({"username": format!("nobody{n}"), "password": "wrong password"}))
            .send()
    };
    for n in 0..10 {
        assert_eq!(login(&nodes[n % 2], n).await.unwrap().status(), 401, "attempt {n} is heard");
    }
    assert_eq!(login(&nodes[0], 10).await.unwrap().status(), 429, "the address's attempts are used up");
    assert_eq!(login(&nodes[1], 11).await.unwrap().status(), 429, "on every node");
}

#[tokio::test]
async fn cluster_a_username_locks_out_after_failures_spread_over_nodes() {
    let Some(database) = fresh_postgres_database().await else { return };
    let Some(redis) = redis_url() else { return };
    let nodes =
        [TestServer::start_node(&database, &redis).await, TestServer::start_node(&database, &redis).await];
    nodes[0].register("alice").await;
    let http = reqwest::Client::new();
    let login = |node: &TestServer, password: &str| {
        http.post(node.url("/api/login")).json(&json!({"username": "alice", "password": password})).send()
    };
    // Five failures (the threshold), alternating nodes: neither node saw
    // five by itself, yet the name is locked on both, even for the right
    // password.
    for n in 0..5 {
        assert_eq!(login(&nodes[n % 2], "wrong password").await.unwrap().status(), 401);
    }
    assert_eq!(login(&nodes[1], "correct horse").await.unwrap().status(), 429);
    assert_eq!(login(&nodes[0], "correct horse").await.unwrap().status(), 429);
}
