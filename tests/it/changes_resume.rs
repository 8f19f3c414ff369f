//! Resuming after messages changed: `hello` with `{seq, rev, held_from}`
//! replays, in rev order, each changed message the client holds once (as
//! `update`, at its latest rev) and each new message once (as `message`);
//! a bare seq replays only the new messages; too much to replay is a
//! `reset`. Also across a server restart.

use std::collections::BTreeMap;

use natter::limits::Limits;
use natter::protocol::{DeletedBy, MessageInfo, ServerMessage};
use serde_json::json;

use crate::changes::{Kind, assert_no_more_changes, changes, delete, edit, summary};
use crate::harness::{Client, GENERAL, TestServer, test_limits, unpack};

/// Alice posts five messages, bob receives them (holding seqs and revs
/// 1..=5) and goes away; then alice edits seq 2 three times (revs 6-8),
/// deletes seq 4 (rev 9), posts seq 6 (rev 10), edits seq 3 (rev 11) and
/// posts seq 7 (rev 12). Returns alice and bob's token.
async fn changed_while_bob_was_away(server: &TestServer) -> (Client, String) {
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    for n in 1..=5 {
        alice.post(GENERAL, &format!("m{n}"), &format!("a-{n}")).await;
    }
    let held = changes(&mut bob, GENERAL, 5).await;
    assert_eq!(summary(&held), (1..=5).map(|n| (Kind::Message, n, n)).collect::<Vec<_>>());
    let token = bob.token.clone();
    bob.close().await;

    for round in 1..=3 {
        assert_eq!(edit(&mut alice, GENERAL, 2, &format!("m2 edit {round}")).await.rev, 5 + round);
    }
    assert_eq!(delete(&mut alice, GENERAL, 4).await.rev, 9);
    assert_eq!(alice.post(GENERAL, "m6", "a-6").await.seq, 6);
    assert_eq!(edit(&mut alice, GENERAL, 3, "m3 edited").await.rev, 11);
    assert_eq!(alice.post(GENERAL, "m7", "a-7").await.seq, 7);
    (alice, token)
}

/// Connects with `token` and says hello resuming General at `point`.
async fn resume(server: &TestServer, token: &str, point: serde_json::Value) -> Client {
    let mut client = Client::connect(server, token).await;
    let welcome = client.hello(json!({ GENERAL.to_string(): point })).await;
    let general = welcome.channels.iter().find(|c| c.id == GENERAL).expect("General");
    assert_eq!((general.last_seq, general.last_rev), (7, 12), "the welcome tells the head");
    client
}

#[tokio::test]
async fn resuming_by_rev_brings_each_change_once_at_its_latest_rev_in_rev_order() {
    let server = TestServer::start().await;
    let (mut alice, token) = changed_while_bob_was_away(&server).await;
    let mut bob = resume(&server, &token, json!({"seq": 5, "rev": 5, "held_from": 1})).await;
    let got = changes(&mut bob, GENERAL, 5).await;
    assert_eq!(
        summary(&got),
        [
            (Kind::Update, 2, 8),
            (Kind::Update, 4, 9),
            (Kind::Message, 6, 10),
            (Kind::Update, 3, 11),
            (Kind::Message, 7, 12)
        ],
        "three edits of seq 2 arrive as one update, at the latest"
    );
    assert_eq!(got[0].1.body, "m2 edit 3");
    assert_eq!((got[1].1.body.as_str(), got[1].1.deleted), ("", Some(DeletedBy::Sender)));
    assert_eq!((got[3].1.body.as_str(), got[3].1.edited_at.is_some()), ("m3 edited", true));
    assert_no_more_changes(&mut bob, GENERAL).await;

    // Then live, from where the replay ended.
    alice.post(GENERAL, "m8", "a-8").await;
    assert_eq!(summary(&changes(&mut bob, GENERAL, 1).await), [(Kind::Message, 8, 13)]);
    edit(&mut alice, GENERAL, 1, "m1 edited").await;
    assert_eq!(summary(&changes(&mut bob, GENERAL, 1).await), [(Kind::Update, 1, 14)]);
    assert_no_more_changes(&mut bob, GENERAL).await;
}

#[tokio::test]
async fn resuming_by_seq_brings_only_the_new_messages() {
    let server = TestServer::start().await;
    let (mut alice, token) = changed_while_bob_was_away(&server).await;
    let mut bob = resume(&server, &token, json!(5)).await;
    let got = changes(&mut bob, GENERAL, 2).await;
    assert_eq!(summary(&got), [(Kind::Message, 6, 10), (Kind::Message, 7, 12)]);
    assert_no_more_changes(&mut bob, GENERAL).await;
    // Changes made from now on are heard live, like anyone's.
    edit(&mut alice, GENERAL, 1, "m1 edited").await;
    assert_eq!(summary(&changes(&mut bob, GENERAL, 1).await), [(Kind::Update, 1, 13)]);
}

#[tokio::test]
async fn changes_below_held_from_are_left_out() {
    let server = TestServer::start().await;
    let (_alice, token) = changed_while_bob_was_away(&server).await;
    // Bob holds seqs 3 to 5 only: seq 2's edits are none of his business.
    let mut bob = resume(&server, &token, json!({"seq": 5, "rev": 5, "held_from": 3})).await;
    let got = changes(&mut bob, GENERAL, 4).await;
    assert_eq!(
        summary(&got),
        [(Kind::Update, 4, 9), (Kind::Message, 6, 10), (Kind::Update, 3, 11), (Kind::Message, 7, 12)]
    );
    assert_no_more_changes(&mut bob, GENERAL).await;
}

/// A message posted and then edited while the client was away is new to
/// it: it comes once, as a `message`, in its latest state. The design:
/// "messages after S as `message`".
#[tokio::test]
async fn a_message_posted_and_edited_while_away_comes_as_a_message_when_resuming_by_rev() {
    let server = TestServer::start().await;
    let (mut alice, token) = posted_and_edited_while_bob_was_away(&server).await;
    let mut bob = Client::connect(&server, &token).await;
    bob.hello(json!({ GENERAL.to_string(): {"seq": 3, "rev": 3, "held_from": 1} })).await;
    let got = changes(&mut bob, GENERAL, 2).await;
    assert_no_more_changes(&mut bob, GENERAL).await;
    assert_eq!(summary(&got), [(Kind::Message, 5, 5), (Kind::Message, 4, 6)], "{got:?}");
    assert_eq!(got[1].1.body, "m4 edited");
    alice.post(GENERAL, "m6", "a-6").await;
    assert_eq!(summary(&changes(&mut bob, GENERAL, 1).await), [(Kind::Message, 6, 7)]);
}

/// The same with a bare seq: "replay every `message` after that seq", as
/// before revs existed, so a client that knows nothing of `update` misses
/// nothing.
#[tokio::test]
async fn a_message_posted_and_edited_while_away_comes_as_a_message_when_resuming_by_seq() {
    let server = TestServer::start().await;
    let (_alice, token) = posted_and_edited_while_bob_was_away(&server).await;
    let mut bob = Client::connect(&server, &token).await;
    bob.hello(json!({ GENERAL.to_string(): 3 })).await;
    let got = changes(&mut bob, GENERAL, 2).await;
    assert_no_more_changes(&mut bob, GENERAL).await;
    let mut kinds: Vec<(Kind, i64)> = got.iter().map(|(kind, m)| (*kind, m.seq)).collect();
    kinds.sort_by_key(|(_, seq)| *seq);
    assert_eq!(kinds, [(Kind::Message, 4), (Kind::Message, 5)], "each new message as a message: {got:?}");
    // Replays go in rev order (a consistent cut of the store, whatever is
    // edited meanwhile): seq 4, edited after seq 5 was posted, comes last.
    // Without edits that is seq order, as before revs.
    assert_eq!(summary(&got), [(Kind::Message, 5, 5), (Kind::Message, 4, 6)], "in rev order");
}

/// Bob holds seqs 1..=3 and goes away; alice posts seq 4 (rev 4) and 5
/// (rev 5), then edits seq 4 (rev 6).
async fn posted_and_edited_while_bob_was_away(server: &TestServer) -> (Client, String) {
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    for n in 1..=3 {
        alice.post(GENERAL, &format!("m{n}"), &format!("a-{n}")).await;
    }
    assert_eq!(changes(&mut bob, GENERAL, 3).await.len(), 3);
    let token = bob.token.clone();
    bob.close().await;
    alice.post(GENERAL, "m4", "a-4").await;
    alice.post(GENERAL, "m5", "a-5").await;
    assert_eq!(edit(&mut alice, GENERAL, 4, "m4 edited").await.rev, 6);
    (alice, token)
}

#[tokio::test]
async fn more_changes_than_max_resume_changes_is_a_reset() {
    let limits = Limits { max_resume_changes: 3, ..test_limits() };
    let server = TestServer::start_with(limits, false).await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    alice.post(GENERAL, "one", "a-1").await;
    alice.post(GENERAL, "two", "a-2").await;
    assert_eq!(changes(&mut bob, GENERAL, 2).await.len(), 2);
    let token = bob.token.clone();
    bob.close().await;
    for round in 1..=4 {
        edit(&mut alice, GENERAL, 1, &format!("one, edit {round}")).await;
    }

    // Four changes since rev 2: more than 3, so a reset and no replay.
    let mut behind = Client::connect(&server, &token).await;
    behind.hello(json!({ GENERAL.to_string(): {"seq": 2, "rev": 2, "held_from": 1} })).await;
    let reset = behind.recv_until("the reset", |f| matches!(f, ServerMessage::Reset { .. })).await;
    assert_eq!(reset, ServerMessage::Reset { channel: GENERAL, last_seq: 2, last_rev: 6 });
    assert_no_more_changes(&mut behind, GENERAL).await;
    // Three since rev 3: exactly the limit, so a replay.
    let mut near = Client::connect(&server, &token).await;
    near.hello(json!({ GENERAL.to_string(): {"seq": 2, "rev": 3, "held_from": 1} })).await;
    let got = changes(&mut near, GENERAL, 1).await;
    assert_eq!(summary(&got), [(Kind::Update, 1, 6)]);
    assert_eq!(got[0].1.body, "one, edit 4");
    assert_no_more_changes(&mut near, GENERAL).await;

    // After the reset, live from the head.
    alice.post(GENERAL, "three", "a-3").await;
    for client in [&mut behind, &mut near] {
        assert_eq!(summary(&changes(client, GENERAL, 1).await), [(Kind::Message, 3, 7)]);
        assert_no_more_changes(client, GENERAL).await;
    }
}

/// Keeps, per seq, the copy with the highest rev.
fn apply(state: &mut BTreeMap<i64, MessageInfo>, message: MessageInfo) {
    match state.get(&message.seq) {
        Some(held) if held.rev >= message.rev => {}
        _ => {
            state.insert(message.seq, message);
        }
    }
}

/// A client away while messages are edited, deleted and posted, with a
/// server restart in the middle, resumes by rev and ends up holding
/// exactly what a fresh history read shows.
#[tokio::test]
async fn an_offline_client_converges_across_a_restart() {
    let mut server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    for n in 1..=50 {
        alice.post(GENERAL, &format!("post {n}"), &format!("a-{n}")).await;
    }
    let mut state = BTreeMap::new();
    for (kind, message) in changes(&mut bob, GENERAL, 50).await {
        assert_eq!(kind, Kind::Message);
        apply(&mut state, message);
    }
    let held_rev = state.values().map(|m| m.rev).max().unwrap();
    assert_eq!((state.len(), held_rev), (50, 50));
    let (alice_token, bob_token) = (alice.token.clone(), bob.token.clone());
    bob.close().await;

    edit(&mut alice, GENERAL, 10, "post 10, edit 1").await;
    drop(alice);
    server.restart().await;
    let mut alice = Client::connect(&server, &alice_token).await;
    alice.hello(json!({})).await;
    edit(&mut alice, GENERAL, 10, "post 10, edit 2").await;
    assert_eq!(
        edit(&mut alice, GENERAL, 10, "post 10, edit 3").await.rev,
        53,
        "revs go on after the restart"
    );
    delete(&mut alice, GENERAL, 20).await;
    alice.post(GENERAL, "post 51", "a-51").await;

    let mut bob = Client::connect(&server, &bob_token).await;
    bob.hello(json!({ GENERAL.to_string(): {"seq": 50, "rev": held_rev, "held_from": 1} })).await;
    let got = changes(&mut bob, GENERAL, 3).await;
    assert_no_more_changes(&mut bob, GENERAL).await;
    assert_eq!(summary(&got), [(Kind::Update, 10, 53), (Kind::Update, 20, 54), (Kind::Message, 51, 55)]);
    for (_, message) in got {
        apply(&mut state, message);
    }
    let history = bob.request(json!({"type": "history", "channel": GENERAL, "limit": 200})).await;
    let fresh = unpack!(history, ServerMessage::History { messages, .. } => messages);
    assert_eq!(state.into_values().collect::<Vec<_>>(), fresh, "what bob holds is what history shows");
}

/// As [`an_offline_client_converges_across_a_restart`], with the real
/// binary SIGKILLed between the edits: what was acknowledged survives, revs
/// go on from the database, and the resuming client converges.
#[tokio::test]
async fn an_offline_client_converges_across_a_sigkill() {
    let args = ["--messages-per-second", "10000", "--message-burst", "10000"];
    let mut server = crate::process::NatterProcess::start(&args, |_| {}).await;
    let (alice_token, bob_token) = (server.register("alice").await, server.register("bob").await);
    let mut alice = Client::connect_url(&server.ws_url(), &alice_token).await;
    alice.hello(json!({})).await;
    let mut bob = Client::connect_url(&server.ws_url(), &bob_token).await;
    bob.hello(json!({})).await;
    for n in 1..=50 {
        alice.post(GENERAL, &format!("post {n}"), &format!("a-{n}")).await;
    }
    let mut state = BTreeMap::new();
    for (_, message) in changes(&mut bob, GENERAL, 50).await {
        apply(&mut state, message);
    }
    bob.close().await;

    edit(&mut alice, GENERAL, 10, "post 10, edit 1").await;
    edit(&mut alice, GENERAL, 11, "post 11, edit 1").await;
    drop(alice);
    server.kill_and_restart().await;
    let mut alice = Client::connect_url(&server.ws_url(), &alice_token).await;
    alice.hello(json!({})).await;
    assert_eq!(
        edit(&mut alice, GENERAL, 10, "post 10, edit 2").await.rev,
        53,
        "acked revs survived the kill"
    );
    delete(&mut alice, GENERAL, 20).await;
    alice.post(GENERAL, "post 51", "a-51").await;

    let mut bob = Client::connect_url(&server.ws_url(), &bob_token).await;
    bob.hello(json!({ GENERAL.to_string(): {"seq": 50, "rev": 50, "held_from": 1} })).await;
    let got = changes(&mut bob, GENERAL, 4).await;
    assert_no_more_changes(&mut bob, GENERAL).await;
    assert_eq!(
        summary(&got),
        [(Kind::Update, 11, 52), (Kind::Update, 10, 53), (Kind::Update, 20, 54), (Kind::Message, 51, 55)],
        "each change once, at its latest rev, in rev order"
    );
    for (_, message) in got {
        apply(&mut state, message);
    }
    let history = bob.request(json!({"type": "history", "channel": GENERAL, "limit": 200})).await;
    let fresh = unpack!(history, ServerMessage::History { messages, .. } => messages);
    assert_eq!(state.into_values().collect::<Vec<_>>(), fresh, "what bob holds is what history shows");
}
