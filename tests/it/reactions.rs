//! Reactions, replies and history around or after a seq, over real sockets:
//! every rule with its refusal code, and what other members see.

use natter::protocol::{ErrorCode, MessageInfo, QuoteInfo, ReactionInfo, ServerMessage};
use serde_json::{Value, json};

use crate::harness::{Client, GENERAL, ServerMessageExt, TestServer, recv, unpack};

/// Sends a `react` and returns the message as the `changed` answer shows it,
/// and whether it changed.
async fn react(client: &mut Client, seq: i64, emoji: &str, add: bool) -> (MessageInfo, bool) {
    let reply = client
        .request(json!({"type": "react", "channel": GENERAL, "seq": seq, "emoji": emoji, "add": add}))
        .await;
    unpack!(reply, ServerMessage::Changed { message, changed, .. } => (message, changed))
}

/// The error code a request is refused with, checking that it echoes the `ref`.
async fn refusal(client: &mut Client, request: Value) -> ErrorCode {
    let reply = client.request(request.clone()).await;
    assert!(reply.reference().is_some(), "the refusal of {request} echoes its ref");
    reply.error_code().unwrap_or_else(|| panic!("{request} answered {reply:?}"))
}

fn reaction(emoji: &str, users: &[&str]) -> ReactionInfo {
    ReactionInfo {
        emoji: emoji.to_owned(),
        count: users.len() as u32,
        users: users.iter().map(|name| (*name).to_owned()).collect(),
    }
}

#[tokio::test]
async fn reactions_are_counted_exactly_and_reach_every_member() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let seq = alice.post(GENERAL, "ship it?", "a-1").await.seq;
    bob.message_with_body("ship it?").await;

    let (message, changed) = react(&mut bob, seq, "👍🏽", true).await;
    assert!(changed);
    assert_eq!(message.reactions, [reaction("👍🏽", &["bob"])]);
    let seen = recv!(alice, "bob's reaction", ServerMessage::Update(m) if m.seq == seq => m);
    assert_eq!((seen.reactions.clone(), seen.rev), (message.reactions.clone(), message.rev));

    let (message, _) = react(&mut alice, seq, "👍🏽", true).await;
    assert_eq!(message.reactions, [reaction("👍🏽", &["bob", "alice"])], "in the order they reacted");
    let (message, _) = react(&mut alice, seq, "🎉", true).await;
    assert_eq!(message.reactions, [reaction("👍🏽", &["bob", "alice"]), reaction("🎉", &["alice"])]);

    // The state wanted, not a toggle: a retry changes nothing and takes no rev.
    let (again, changed) = react(&mut alice, seq, "🎉", true).await;
    assert!(!changed, "already there");
    assert_eq!(again.rev, message.rev);
    let (message, changed) = react(&mut bob, seq, "👍🏽", false).await;
    assert!(changed);
    assert_eq!(message.reactions, [reaction("👍🏽", &["alice"]), reaction("🎉", &["alice"])]);
    let (_, changed) = react(&mut bob, seq, "👍🏽", false).await;
    assert!(!changed, "already gone");

    // History shows them as they stand.
    let reply = bob.request(json!({"type": "history", "channel": GENERAL})).await;
    let page = unpack!(reply, ServerMessage::History { messages, .. } => messages);
    assert_eq!(page.last().map(|m| m.reactions.clone()), Some(message.reactions));
}

#[tokio::test]
async fn a_reaction_is_one_emoji_on_a_message_that_stands() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let seq = alice.post(GENERAL, "hello", "a-1").await.seq;
    for not_one in ["", "a", "👍👍", ":+1:", "<img src=x>", "🏽"] {
        let request = json!({"type": "react", "channel": GENERAL, "seq": seq, "emoji": not_one, "add": true});
        assert_eq!(refusal(&mut alice, request).await, ErrorCode::InvalidEmoji, "{not_one:?}");
    }
    let missing = json!({"type": "react", "channel": GENERAL, "seq": 999, "emoji": "👍", "add": true});
    assert_eq!(refusal(&mut alice, missing).await, ErrorCode::NotFound);
    let nowhere = json!({"type": "react", "channel": 999, "seq": seq, "emoji": "👍", "add": true});
    assert_eq!(refusal(&mut alice, nowhere).await, ErrorCode::NotFound);

    // Twenty different emoji, then no twenty-first; an existing one still counts.
    let emoji = [
        "😀", "😃", "😄", "😁", "😆", "😅", "😂", "🤣", "😊", "😇", "🙂", "🙃", "😉", "😌", "😍", "🥰", "😘",
        "😗", "😙", "😚",
    ];
    for one in emoji {
        react(&mut alice, seq, one, true).await;
    }
    let more = json!({"type": "react", "channel": GENERAL, "seq": seq, "emoji": "🤔", "add": true});
    assert_eq!(refusal(&mut alice, more).await, ErrorCode::LimitReached);
    let (bob_client, _) = server.user("bob").await;
    let mut bob = bob_client;
    let (message, changed) = react(&mut bob, seq, "😀", true).await;
    assert!(changed, "an emoji already there is not a new kind");
    assert_eq!(message.reactions.len(), 20);

    // A deleted message keeps no reactions and takes none.
    let reply = alice.request(json!({"type": "delete", "channel": GENERAL, "seq": seq})).await;
    let deleted = unpack!(reply, ServerMessage::Changed { message, .. } => message);
    assert!(deleted.reactions.is_empty(), "{deleted:?}");
    let on_deleted = json!({"type": "react", "channel": GENERAL, "seq": seq, "emoji": "👍", "add": true});
    assert_eq!(refusal(&mut bob, on_deleted).await, ErrorCode::NotFound);
}

#[tokio::test]
async fn a_reply_quotes_its_parent_as_it_stands() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let long = format!("{}\nsecond line", "x".repeat(150));
    let parent = alice.post(GENERAL, &long, "a-1").await.seq;
    let reply = bob
        .request(json!({"type": "send", "channel": GENERAL, "body": "agreed", "client_id": "b-1", "reply_to": parent}))
        .await;
    unpack!(reply, ServerMessage::Ack { .. } => ());
    let seen = alice.message_with_body("agreed").await;
    let quote = QuoteInfo { seq: parent, sender: "alice".into(), excerpt: "x".repeat(100), deleted: false };
    assert_eq!(seen.reply_to, Some(quote), "the first line, cut at 100 characters");

    // Read later, the quote follows the parent's edit and deletion.
    alice.request(json!({"type": "edit", "channel": GENERAL, "seq": parent, "body": "short now"})).await;
    let page = unpack!(
        bob.request(json!({"type": "history", "channel": GENERAL})).await,
        ServerMessage::History { messages, .. } => messages
    );
    let read = page.iter().find(|m| m.body == "agreed").expect("the reply").reply_to.clone().unwrap();
    assert_eq!(read.excerpt, "short now");
    alice.request(json!({"type": "delete", "channel": GENERAL, "seq": parent})).await;
    let page = unpack!(
        bob.request(json!({"type": "history", "channel": GENERAL})).await,
        ServerMessage::History { messages, .. } => messages
    );
    let read = page.iter().find(|m| m.body == "agreed").expect("the reply").reply_to.clone().unwrap();
    assert_eq!((read.excerpt.as_str(), read.deleted), ("", true));

    // No reply to what does not stand: a deleted message, a missing one.
    for parent in [parent, 999] {
        let send = json!({"type": "send", "channel": GENERAL, "body": "hm", "client_id": format!("b-to-{parent}"),
            "reply_to": parent});
        assert_eq!(refusal(&mut bob, send).await, ErrorCode::NotFound, "reply to {parent}");
    }
}

/// The seqs and flags of a `history` page asked with `fields`.
async fn page(client: &mut Client, fields: Value) -> (Vec<i64>, bool, bool) {
    let mut request = json!({"type": "history", "channel": GENERAL});
    for (key, value) in fields.as_object().unwrap() {
        request[key] = value.clone();
    }
    let reply = client.request(request).await;
    unpack!(reply, ServerMessage::History { messages, has_more, has_newer, .. } =>
        (messages.iter().map(|m| m.seq).collect(), has_more, has_newer))
}

#[tokio::test]
async fn history_reads_around_and_after_a_seq() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    for n in 1..=30 {
        alice.post(GENERAL, &format!("m{n}"), &format!("a-{n}")).await;
    }
    // Seqs 1..=30 (alice's joining of General writes no line).
    let (seqs, has_more, has_newer) = page(&mut alice, json!({"around": 15, "limit": 6})).await;
    assert_eq!(seqs, [12, 13, 14, 15, 16, 17]);
    assert!(has_more && has_newer);
    let (seqs, has_more, has_newer) = page(&mut alice, json!({"after": 27, "limit": 5})).await;
    assert_eq!(seqs, [28, 29, 30]);
    assert!(has_more && !has_newer);
    let (seqs, _, has_newer) = page(&mut alice, json!({"after": 20, "limit": 5})).await;
    assert_eq!(seqs, [21, 22, 23, 24, 25]);
    assert!(has_newer);
    let (seqs, has_more, has_newer) = page(&mut alice, json!({"before": 4, "limit": 5})).await;
    assert_eq!(seqs, [1, 2, 3]);
    assert!(!has_more && has_newer);
    let (seqs, _, has_newer) = page(&mut alice, json!({"limit": 2})).await;
    assert_eq!((seqs, has_newer), (vec![29, 30], false), "the latest page has nothing newer");
    let (seqs, has_more, _) = page(&mut alice, json!({"around": 2, "limit": 6})).await;
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    assert!(!has_more);

    let both = json!({"type": "history", "channel": GENERAL, "before": 5, "after": 2});
    assert_eq!(refusal(&mut alice, both).await, ErrorCode::BadRequest);
}
