//! Messages that change, over real sockets: `edit` and `delete` are
//! answered `changed` (or refused, echoing the `ref`), and every connection
//! of every member hears the change as one `update`. Resuming after
//! changes is in `changes_resume.rs`, across nodes in `changes_cluster.rs`.

use natter::limits::Limits;
use natter::protocol::http::SessionResponse;
use natter::protocol::{DeletedBy, ErrorCode, MessageInfo, ServerMessage};
use serde_json::{Value, json};

use crate::harness::{Client, GENERAL, ServerMessageExt, TestServer, natter_user, recv, test_limits, unpack};

/// How a change reached a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Message,
    Update,
}

/// Whether a frame is a `message` or an `update` of `channel`.
pub fn is_change(frame: &ServerMessage, channel: i64) -> bool {
    matches!(frame, ServerMessage::Message(m) | ServerMessage::Update(m) if m.channel == channel)
}

/// The next `count` messages and updates of `channel`, in arrival order.
pub async fn changes(client: &mut Client, channel: i64, count: usize) -> Vec<(Kind, MessageInfo)> {
    let mut received = Vec::with_capacity(count);
    while received.len() < count {
        let what = format!("change {} of {count} in channel {channel}", received.len() + 1);
        received.push(match client.recv_until(&what, |frame| is_change(frame, channel)).await {
            ServerMessage::Message(message) => (Kind::Message, message),
            ServerMessage::Update(message) => (Kind::Update, message),
            other => unreachable!("{other:?}"),
        });
    }
    received
}

/// `(kind, seq, rev)` of each change.
pub fn summary(changes: &[(Kind, MessageInfo)]) -> Vec<(Kind, i64, i64)> {
    changes.iter().map(|(kind, m)| (*kind, m.seq, m.rev)).collect()
}

/// Asserts that no further message, update or reset of `channel` arrives.
pub async fn assert_no_more_changes(client: &mut Client, channel: i64) {
    client
        .assert_none("another change", |frame| {
            is_change(frame, channel)
                || matches!(frame, ServerMessage::Reset { channel: id, .. } if *id == channel)
        })
        .await;
}

/// Sends `frame` with `reference` as its `ref` and returns the reply that
/// echoes it (a reply that does not fails the test by timing out).
pub async fn ask(client: &mut Client, mut frame: Value, reference: Value) -> ServerMessage {
    frame["ref"] = reference.clone();
    client.send(frame.clone()).await;
    client.recv_until(&format!("the reply to {frame}"), |reply| reply.reference() == Some(&reference)).await
}

/// Edits `seq` of `channel` to `body`; the `changed` answer's message.
pub async fn edit(client: &mut Client, channel: i64, seq: i64, body: &str) -> MessageInfo {
    let reply = client.request(json!({"type": "edit", "channel": channel, "seq": seq, "body": body})).await;
    unpack!(reply, ServerMessage::Changed { message, changed: true, .. } => message)
}

/// Deletes `seq` of `channel`; the `changed` answer's message.
pub async fn delete(client: &mut Client, channel: i64, seq: i64) -> MessageInfo {
    let reply = client.request(json!({"type": "delete", "channel": channel, "seq": seq})).await;
    unpack!(reply, ServerMessage::Changed { message, changed: true, .. } => message)
}

/// The id of the channel a `create_channel` request made.
async fn create(client: &mut Client, name: &str, private: bool) -> i64 {
    let reply = client.request(json!({"type": "create_channel", "name": name, "private": private})).await;
    unpack!(reply, ServerMessage::Channel { channel, .. } => channel.id)
}

/// Sends `frame` with `reference` and asserts it is refused with `code`,
/// echoing the ref.
async fn refused(client: &mut Client, frame: Value, reference: Value, code: ErrorCode) {
    let reply = ask(client, frame.clone(), reference.clone()).await;
    assert_eq!(reply.error_code(), Some(code), "{frame} answered {reply:?}");
    assert_eq!(reply.reference(), Some(&reference));
}

/// The refusal of `frame`: its code and text.
async fn refusal(client: &mut Client, frame: Value) -> (ErrorCode, String) {
    let reply = client.request(frame.clone()).await;
    unpack!(reply, ServerMessage::Error { code, message, .. } => (code, message))
}

#[tokio::test]
async fn an_edit_and_a_delete_reach_every_connection_as_an_update() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let mut alice_tab = Client::connect(&server, &alice.token).await;
    alice_tab.hello(json!({})).await;
    let (mut bob, _) = server.user("bob").await;
    alice.post(GENERAL, "hello", "a-1").await;
    for client in [&mut alice, &mut alice_tab, &mut bob] {
        let message = client.message_with_body("hello").await;
        assert_eq!((message.seq, message.rev, message.edited_at), (1, 1, None));
    }

    let reply = ask(
        &mut alice,
        json!({"type": "edit", "channel": GENERAL, "seq": 1, "body": "hello, edited", "if_rev": 1}),
        json!("edit-1"),
    )
    .await;
    let edited = unpack!(reply, ServerMessage::Changed { message, changed: true, .. } => message);
    assert_eq!((edited.seq, edited.rev, edited.body.as_str(), edited.deleted), (1, 2, "hello, edited", None));
    assert!(edited.edited_at.is_some(), "{edited:?}");
    // The same body again changes nothing and tells no one.
    let reply = ask(
        &mut alice,
        json!({"type": "edit", "channel": GENERAL, "seq": 1, "body": "hello, edited"}),
        json!(2),
    )
    .await;
    let unchanged = unpack!(reply, ServerMessage::Changed { message, changed: false, .. } => message);
    assert_eq!(unchanged, edited);

    let reply =
        ask(&mut alice, json!({"type": "delete", "channel": GENERAL, "seq": 1}), json!({"op": "delete"}))
            .await;
    let deleted = unpack!(reply, ServerMessage::Changed { message, changed: true, .. } => message);
    assert_eq!((deleted.rev, deleted.body.as_str(), deleted.deleted), (3, "", Some(DeletedBy::Sender)));
    assert_eq!(
        (deleted.id, deleted.sender.as_str(), deleted.edited_at),
        (edited.id, "alice", edited.edited_at)
    );

    // Every connection of every member, the requester's too: one update
    // per change, never a `message` for a message they hold.
    for (who, client) in [("alice", &mut alice), ("alice's tab", &mut alice_tab), ("bob", &mut bob)] {
        let got = changes(client, GENERAL, 2).await;
        assert_eq!(summary(&got), [(Kind::Update, 1, 2), (Kind::Update, 1, 3)], "{who}");
        assert_eq!((&got[0].1, &got[1].1), (&edited, &deleted), "{who}: the message as answered");
        assert_no_more_changes(client, GENERAL).await;
    }

    // A message past what a connection holds is a `message`, at the next rev.
    bob.post(GENERAL, "after", "b-1").await;
    let got = changes(&mut alice_tab, GENERAL, 1).await;
    assert_eq!(summary(&got), [(Kind::Message, 2, 4)]);
    let mut fresh = Client::connect(&server, &bob.token).await;
    let general = fresh.hello(json!({})).await.channels.remove(0);
    assert_eq!((general.last_seq, general.last_rev), (2, 4));
}

#[tokio::test]
async fn refusals_say_why_and_echo_their_ref() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let (mut carol, _) = server.user("carol").await;
    let room = create(&mut alice, "room", false).await;
    let joined = bob.request(json!({"type": "join", "channel": room})).await;
    assert!(matches!(joined, ServerMessage::Channel { .. }), "{joined:?}");
    // seq 1 is bob's join line, seq 2 alice's message.
    let acked = alice.post(room, "alice's", "a-1").await;
    assert_eq!(acked.seq, 2);

    let edit_frame = |channel: i64, seq: i64, body: &str| json!({"type": "edit", "channel": channel, "seq": seq, "body": body});
    let delete_frame = |channel: i64, seq: i64| json!({"type": "delete", "channel": channel, "seq": seq});
    use ErrorCode::*;
    refused(&mut alice, edit_frame(room, 99, "x"), json!("missing"), NotFound).await;
    refused(&mut alice, delete_frame(room, 99), json!(17), NotFound).await;
    refused(&mut bob, edit_frame(room, 1, "I did not join"), json!({"n": 3}), NotFound).await;
    refused(&mut bob, delete_frame(room, 1), json!([1, "x"]), NotFound).await;
    refused(&mut carol, edit_frame(room, 2, "not in the room"), json!("c-1"), NotMember).await;
    refused(&mut carol, delete_frame(room, 2), json!("c-2"), NotMember).await;
    refused(&mut bob, edit_frame(room, 2, "bob's words"), json!("b-1"), Forbidden).await;
    refused(&mut bob, delete_frame(room, 2), json!("b-2"), Forbidden).await;
    refused(&mut alice, edit_frame(room, 2, ""), json!("empty"), InvalidBody).await;
    refused(&mut alice, edit_frame(room, 2, "\u{202e}desrever"), json!("bidi"), InvalidBody).await;
    refused(&mut alice, edit_frame(room, 2, "\u{1b}[31mred"), json!("ansi"), InvalidBody).await;
    let stale = json!({"type": "edit", "channel": room, "seq": 2, "body": "late", "if_rev": 1});
    refused(&mut alice, stale, json!("stale"), Conflict).await;

    // Nothing refused took a rev or told anyone anything.
    bob.assert_none("an update after refusals", |f| matches!(f, ServerMessage::Update(_))).await;
    let mut fresh = Client::connect(&server, &alice.token).await;
    let welcome = fresh.hello(json!({})).await;
    let info = welcome.channels.iter().find(|c| c.id == room).expect("the room");
    assert_eq!((info.last_seq, info.last_rev), (2, 2));

    // A deleted message is gone for edits; deleting it again changes nothing.
    let deleted = delete(&mut alice, room, 2).await;
    assert_eq!((deleted.rev, deleted.deleted), (3, Some(DeletedBy::Sender)));
    refused(&mut alice, edit_frame(room, 2, "back"), json!("deleted"), NotFound).await;
    let again = alice.request(delete_frame(room, 2)).await;
    assert_eq!(unpack!(again, ServerMessage::Changed { message, changed: false, .. } => message), deleted);
    // Bob heard his join line and alice's message, then the one deletion.
    let got = changes(&mut bob, room, 3).await;
    assert_eq!(summary(&got), [(Kind::Message, 1, 1), (Kind::Message, 2, 2), (Kind::Update, 2, 3)]);
    assert_no_more_changes(&mut bob, room).await;
}

#[tokio::test]
async fn edits_and_deletions_draw_on_the_message_rate() {
    let limits = Limits { messages_per_second: 0.01, message_burst: 3.0, ..test_limits() };
    let server = TestServer::start_with(limits, false).await;
    let (mut alice, _) = server.user("alice").await;
    alice.post(GENERAL, "one", "a-1").await;
    edit(&mut alice, GENERAL, 1, "two").await;
    edit(&mut alice, GENERAL, 1, "three").await;
    let frame = json!({"type": "edit", "channel": GENERAL, "seq": 1, "body": "four"});
    refused(&mut alice, frame, json!("too fast"), ErrorCode::RateLimited).await;
    let frame = json!({"type": "delete", "channel": GENERAL, "seq": 1});
    refused(&mut alice, frame, json!("too fast again"), ErrorCode::RateLimited).await;
    let history = alice.request(json!({"type": "history", "channel": GENERAL})).await;
    let messages = unpack!(history, ServerMessage::History { messages, .. } => messages);
    assert_eq!((messages[0].body.as_str(), messages[0].rev, messages[0].deleted), ("three", 3, None));
}

#[tokio::test]
async fn an_admin_may_delete_anyones_message_and_members_see_who_did() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    alice.post(GENERAL, "first", "a-1").await;
    alice.post(GENERAL, "second", "a-2").await;
    let frame = json!({"type": "delete", "channel": GENERAL, "seq": 1});
    refused(&mut bob, frame.clone(), json!("not yet"), ErrorCode::Forbidden).await;

    let (ok, output) = natter_user(&server, &["role", "bob", "admin"], "").await;
    assert!(ok, "natter user role bob admin: {output}");
    let deleted = delete(&mut bob, GENERAL, 1).await;
    assert_eq!((deleted.rev, deleted.body.as_str(), deleted.deleted), (3, "", Some(DeletedBy::Admin)));
    assert_eq!(deleted.sender, "alice", "still shown as alice's");
    let got = changes(&mut alice, GENERAL, 3).await;
    assert_eq!(got[2], (Kind::Update, deleted.clone()), "alice sees the admin's deletion");
    // An admin deletes, but does not put words in anyone's mouth.
    let frame = json!({"type": "edit", "channel": GENERAL, "seq": 2, "body": "admin's words"});
    refused(&mut bob, frame, json!("edit"), ErrorCode::Forbidden).await;

    let (ok, output) = natter_user(&server, &["role", "bob", "member"], "").await;
    assert!(ok, "natter user role bob member: {output}");
    let frame = json!({"type": "delete", "channel": GENERAL, "seq": 2});
    refused(&mut bob, frame.clone(), json!("no more"), ErrorCode::Forbidden).await;
    let (ok, output) = natter_user(&server, &["role", "nobody", "admin"], "").await;
    assert!(!ok, "no such user: {output}");

    // `natter user add --admin` makes an admin from the start.
    let (ok, output) = natter_user(&server, &["add", "--admin", "dora"], "a long password\n").await;
    assert!(ok && output.contains("created user dora"), "{output}");
    let login = reqwest::Client::new()
        .post(server.url("/api/login"))
        .json(&json!({"username": "dora", "password": "a long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let token = login.json::<SessionResponse>().await.unwrap().token;
    let mut dora = Client::connect(&server, &token).await;
    dora.hello(json!({})).await;
    let deleted = delete(&mut dora, GENERAL, 2).await;
    assert_eq!((deleted.rev, deleted.deleted), (4, Some(DeletedBy::Admin)));
    let got = recv!(bob, "the second deletion", ServerMessage::Update(m) if m.seq == 2 => m);
    assert_eq!(got, deleted);
}

/// To someone outside a private channel, editing or deleting in it is
/// refused exactly as in a channel that does not exist, whether or not a
/// message is at that seq, and even for an admin.
#[tokio::test]
async fn a_private_channel_looks_missing_to_a_non_member() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let hideout = create(&mut alice, "hideout", true).await;
    alice.post(hideout, "secret", "a-1").await;
    let (mut mallory, _) = server.user("mallory").await;
    let missing = hideout + 1000;

    let requests: [fn(i64, i64) -> Value; 2] = [
        |channel, seq| json!({"type": "edit", "channel": channel, "seq": seq, "body": "mine now"}),
        |channel, seq| json!({"type": "delete", "channel": channel, "seq": seq}),
    ];
    for request in requests {
        let nowhere = refusal(&mut mallory, request(missing, 1)).await;
        let at_a_message = refusal(&mut mallory, request(hideout, 1)).await;
        let past_the_end = refusal(&mut mallory, request(hideout, 2)).await;
        let what = request(hideout, 1)["type"].clone();
        for (code, _) in [&nowhere, &at_a_message, &past_the_end] {
            assert_eq!(*code, ErrorCode::NotFound, "{what}");
        }
        assert_eq!(at_a_message, nowhere, "{what} at a message of the private channel vs. a missing channel");
        assert_eq!(past_the_end, nowhere, "{what} past the private channel's end vs. a missing channel");
    }
    let (ok, output) = natter_user(&server, &["role", "mallory", "admin"], "").await;
    assert!(ok, "{output}");
    let (code, _) = refusal(&mut mallory, json!({"type": "delete", "channel": hideout, "seq": 1})).await;
    assert_eq!(code, ErrorCode::NotFound, "an admin is no member either");
    let history = alice.request(json!({"type": "history", "channel": hideout})).await;
    let messages = unpack!(history, ServerMessage::History { messages, .. } => messages);
    assert_eq!((messages[0].body.as_str(), messages[0].rev), ("secret", 1), "untouched");
}
