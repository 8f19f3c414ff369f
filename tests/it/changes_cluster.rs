//! Messages that change, across nodes on one PostgreSQL and one Redis: a
//! change made on one node reaches clients on another as `update`, live
//! and when they resume there by rev.

use natter::protocol::DeletedBy;
use serde_json::json;

use crate::changes::{Kind, assert_no_more_changes, changes, delete, edit, summary};
use crate::harness::{Client, GENERAL, TestServer};
use crate::services::{fresh_postgres_database, redis_url};

/// Two nodes on a fresh database and the test Redis; `None` to skip.
async fn two_nodes() -> Option<(TestServer, TestServer)> {
    let database = fresh_postgres_database().await?;
    let redis = redis_url()?;
    Some((TestServer::start_node(&database, &redis).await, TestServer::start_node(&database, &redis).await))
}

#[tokio::test]
async fn cluster_an_edit_and_a_delete_on_one_node_reach_another_as_updates() {
    let Some((node_a, node_b)) = two_nodes().await else { return };
    let (mut alice, _) = node_a.user("alice").await;
    let (mut bob, _) = node_b.user("bob").await;
    alice.post(GENERAL, "one", "a-1").await;
    alice.post(GENERAL, "two", "a-2").await;
    assert_eq!(summary(&changes(&mut bob, GENERAL, 2).await), [(Kind::Message, 1, 1), (Kind::Message, 2, 2)]);

    let edited = edit(&mut alice, GENERAL, 1, "one, edited").await;
    let deleted = delete(&mut alice, GENERAL, 2).await;
    assert_eq!((edited.rev, deleted.rev, deleted.deleted), (3, 4, Some(DeletedBy::Sender)));
    let got = changes(&mut bob, GENERAL, 2).await;
    assert_eq!(got, [(Kind::Update, edited), (Kind::Update, deleted)], "on node b, as answered on node a");
    assert_no_more_changes(&mut bob, GENERAL).await;

    // And back: bob's message on b, edited on b, reaches alice on a.
    bob.post(GENERAL, "three", "b-1").await;
    let edited = edit(&mut bob, GENERAL, 3, "three, edited").await;
    let got = changes(&mut alice, GENERAL, 6).await;
    assert_eq!(
        summary(&got),
        [
            (Kind::Message, 1, 1),
            (Kind::Message, 2, 2),
            (Kind::Update, 1, 3),
            (Kind::Update, 2, 4),
            (Kind::Message, 3, 5),
            (Kind::Update, 3, 6)
        ]
    );
    assert_eq!(got[5].1, edited);
    assert_no_more_changes(&mut alice, GENERAL).await;
}

#[tokio::test]
async fn cluster_resuming_by_rev_on_another_node_brings_the_changes_made_on_the_first() {
    let Some((node_a, node_b)) = two_nodes().await else { return };
    let (mut alice, _) = node_a.user("alice").await;
    let (mut bob, _) = node_b.user("bob").await;
    for n in 1..=3 {
        alice.post(GENERAL, &format!("m{n}"), &format!("a-{n}")).await;
    }
    assert_eq!(changes(&mut bob, GENERAL, 3).await.len(), 3);
    let token = bob.token.clone();
    bob.close().await;

    edit(&mut alice, GENERAL, 2, "m2 edit 1").await;
    edit(&mut alice, GENERAL, 2, "m2 edit 2").await;
    delete(&mut alice, GENERAL, 3).await;
    alice.post(GENERAL, "m4", "a-4").await;

    let mut bob = Client::connect(&node_b, &token).await;
    let welcome = bob.hello(json!({ GENERAL.to_string(): {"seq": 3, "rev": 3, "held_from": 1} })).await;
    assert_eq!((welcome.channels[0].last_seq, welcome.channels[0].last_rev), (4, 7));
    let got = changes(&mut bob, GENERAL, 3).await;
    assert_eq!(summary(&got), [(Kind::Update, 2, 5), (Kind::Update, 3, 6), (Kind::Message, 4, 7)]);
    assert_eq!((got[0].1.body.as_str(), got[1].1.deleted), ("m2 edit 2", Some(DeletedBy::Sender)));
    assert_no_more_changes(&mut bob, GENERAL).await;
    // Then live across the nodes.
    edit(&mut alice, GENERAL, 1, "m1 edited").await;
    assert_eq!(summary(&changes(&mut bob, GENERAL, 1).await), [(Kind::Update, 1, 8)]);
    assert_no_more_changes(&mut bob, GENERAL).await;
}

/// A storm of edits, reactions and deletions on node a while Redis goes
/// away and comes back: a client live on node b and one resuming there by
/// rev afterwards both end holding exactly what a fresh history read shows
/// (the bus's lost frames are rev gaps, filled from the store).
#[tokio::test]
async fn cluster_a_storm_of_changes_across_a_redis_restart_converges() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::convergence::{Member, fresh_history};
    use crate::services::PrivateRedis;

    let Some(database) = fresh_postgres_database().await else { return };
    let Some(mut redis) = PrivateRedis::start().await else { return };
    let (node_a, node_b) = (
        TestServer::start_node(&database, &redis.url()).await,
        TestServer::start_node(&database, &redis.url()).await,
    );
    let (mut alice, _) = node_a.user("alice").await;
    let mut bob = Member::new("bob", node_b.register("bob").await);
    let mut carol = Member::new("carol", node_b.register("carol").await);
    bob.connect(&node_b).await;
    carol.connect(&node_b).await;
    for n in 1..=30 {
        alice.post(GENERAL, &format!("m{n}"), &format!("a-{n}")).await;
    }
    carol.catch_up_to(30).await;
    carol.client = None;

    // The storm: alice edits, reacts to and deletes her messages on a.
    const EMOJI: [&str; 2] = ["👍", "🎉"];
    let done = Arc::new(AtomicUsize::new(0));
    let storm = {
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            for step in 0..90_i64 {
                let seq = 1 + (step * 7) % 30;
                let request = match step % 6 {
                    0..=2 => {
                        json!({"type": "edit", "channel": GENERAL, "seq": seq, "body": format!("m{seq} edit {step}")})
                    }
                    3 | 4 => {
                        json!({"type": "react", "channel": GENERAL, "seq": seq, "emoji": EMOJI[(step % 2) as usize], "add": step % 4 != 0})
                    }
                    _ => json!({"type": "delete", "channel": GENERAL, "seq": seq}),
                };
                // A change of a deleted message is refused; either way it is answered.
                alice.request(request).await;
                done.fetch_add(1, Ordering::SeqCst);
            }
            alice
        })
    };
    // Take Redis away once the storm is under way, for a stretch of it.
    while done.load(Ordering::SeqCst) < 15 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    redis.kill();
    while done.load(Ordering::SeqCst) < 45 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    redis.restart().await;
    let _alice = storm.await.expect("every request of the storm answered");

    let history = fresh_history(&node_b, &bob.token).await;
    let head = history.values().map(|m| m.rev).max().unwrap_or(0);
    for member in [&mut bob, &mut carol] {
        member.ensure_connected(&node_b).await;
        member.catch_up_to(head).await;
        assert_eq!(member.held, history, "{} holds what history shows", member.name);
    }
}
