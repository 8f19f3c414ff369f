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
