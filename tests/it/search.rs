//! Search over real sockets: the `search` request with its filters (typed
//! and as fields), permissions as the searcher has them now (a private
//! channel they are not in answers exactly like a missing one, in `in:`
//! too), highlights, pages, refusals with their codes and `ref`, the rate
//! limit, and a cluster where what one node stored is found on another.

use natter::limits::Limits;
use natter::protocol::{ErrorCode, SearchHitInfo, ServerMessage};
use serde_json::{Value, json};

use crate::harness::{Client, GENERAL, ServerMessageExt, TestServer, test_limits, unpack};
use crate::services::{fresh_postgres_database, redis_url};

/// The hits and `next` of a search, or the error code it was refused with.
async fn search(
    client: &mut Client,
    request: Value,
) -> Result<(Vec<SearchHitInfo>, Option<String>), ErrorCode> {
    let mut frame = request;
    frame["type"] = json!("search");
    let reply = client.request(frame).await;
    if let Some(code) = reply.error_code() {
        assert!(reply.reference().is_some(), "a refusal echoes the ref");
        return Err(code);
    }
    Ok(unpack!(reply, ServerMessage::SearchResults { hits, next, .. } => (hits, next)))
}

/// The bodies found for `query`, newest first.
async fn bodies(client: &mut Client, query: &str) -> Vec<String> {
    let (hits, _) = search(client, json!({"query": query})).await.unwrap();
    hits.into_iter().map(|hit| hit.message.body).collect()
}

async fn create_channel(client: &mut Client, name: &str, private: bool) -> i64 {
    let reply = client.request(json!({"type": "create_channel", "name": name, "private": private})).await;
    unpack!(reply, ServerMessage::Channel { channel, .. } => channel.id)
}

#[tokio::test]
async fn search_finds_words_with_highlights_and_pages_newest_first() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    alice.post(GENERAL, "我家在上海东边。", "a-1").await;
    alice.post(GENERAL, "We deploy on Fridays", "a-2").await;
    let (hits, next) = search(&mut alice, json!({"query": "上海"})).await.unwrap();
    assert_eq!((hits.len(), next), (1, None));
    // 上海 is the 4th and 5th UTF-16 units of the body.
    assert_eq!(hits[0].highlights, [[3, 5]]);
    let (hits, _) = search(&mut alice, json!({"query": "deplo"})).await.unwrap();
    assert_eq!(hits[0].highlights, [[3, 9]], "a prefix marks the whole word");

    for n in 0..5 {
        alice.post(GENERAL, &format!("status report {n}"), &format!("s-{n}")).await;
    }
    let (first, next) = search(&mut alice, json!({"query": "status", "limit": 2})).await.unwrap();
    let first: Vec<String> = first.into_iter().map(|hit| hit.message.body).collect();
    assert_eq!(first, ["status report 4", "status report 3"]);
    let (rest, last) =
        search(&mut alice, json!({"query": "status", "limit": 10, "cursor": next.unwrap()})).await.unwrap();
    assert_eq!(rest.len(), 3);
    assert_eq!(last, None);

    // Operators see them counted and timed.
    let metrics = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("natter_searches_total 4"), "{metrics}");
    assert!(metrics.contains("natter_search_seconds_count 4"), "{metrics}");
}

#[tokio::test]
async fn search_follows_edits_and_deletions() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let seq = alice.post(GENERAL, "the zebra plan", "a-1").await.seq;
    alice.request(json!({"type": "edit", "channel": GENERAL, "seq": seq, "body": "the giraffe plan"})).await;
    assert!(bodies(&mut alice, "zebra").await.is_empty(), "the old text is not found");
    assert_eq!(bodies(&mut alice, "giraffe").await, ["the giraffe plan"]);
    alice.request(json!({"type": "delete", "channel": GENERAL, "seq": seq})).await;
    assert!(bodies(&mut alice, "giraffe").await.is_empty());
    assert!(bodies(&mut alice, "plan").await.is_empty());
}

#[tokio::test]
async fn search_shows_only_channels_the_searcher_is_in_now() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let plans = create_channel(&mut alice, "plans", true).await;
    let lounge = create_channel(&mut alice, "lounge", false).await;
    alice.post(plans, "secret zebra", "a-1").await;
    alice.post(lounge, "lounge zebra", "a-2").await;
    alice.post(GENERAL, "open zebra", "a-3").await;
    assert_eq!(bodies(&mut alice, "zebra").await, ["open zebra", "lounge zebra", "secret zebra"]);
    assert_eq!(bodies(&mut bob, "zebra").await, ["open zebra"], "not in plans, not joined to lounge");

    // `in:` a private channel one is not in answers like a missing one,
    // typed or as a field; a public one not joined says so.
    let missing = search(&mut bob, json!({"query": "zebra in:#nowhere"})).await.unwrap_err();
    assert_eq!(missing, ErrorCode::NotFound);
    assert_eq!(search(&mut bob, json!({"query": "zebra in:#plans"})).await.unwrap_err(), missing);
    assert_eq!(search(&mut bob, json!({"query": "zebra", "channel": plans})).await.unwrap_err(), missing);
    assert_eq!(search(&mut bob, json!({"query": "zebra", "channel": 999_999})).await.unwrap_err(), missing);
    assert_eq!(
        search(&mut bob, json!({"query": "zebra in:#lounge"})).await.unwrap_err(),
        ErrorCode::NotMember
    );
    assert_eq!(bodies(&mut alice, "zebra in:#plans").await, ["secret zebra"]);

    // Invited, Bob finds it; gone again, so are its hits.
    alice.request(json!({"type": "invite", "channel": plans, "user": "bob"})).await;
    assert_eq!(bodies(&mut bob, "zebra in:plans").await, ["secret zebra"]);
    bob.request(json!({"type": "leave", "channel": plans})).await;
    assert_eq!(bodies(&mut bob, "zebra").await, ["open zebra"]);
    assert_eq!(search(&mut bob, json!({"query": "zebra in:#plans"})).await.unwrap_err(), ErrorCode::NotFound);
}

#[tokio::test]
async fn search_filters_by_sender_place_day_link_and_mention() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    alice.post(GENERAL, "release notes at https://example.com/notes", "a-1").await;
    bob.post(GENERAL, "release today @alice", "b-1").await;
    let reply = alice.request(json!({"type": "open_dm", "user": "bob"})).await;
    let dm = unpack!(reply, ServerMessage::Channel { channel, .. } => channel.id);
    bob.post(dm, "release between us", "b-2").await;

    assert_eq!(bodies(&mut alice, "release from:bob").await, ["release between us", "release today @alice"]);
    assert_eq!(bodies(&mut alice, "release from:@Bob in:@bob").await, ["release between us"]);
    assert_eq!(bodies(&mut alice, "has:link").await, ["release notes at https://example.com/notes"]);
    assert_eq!(bodies(&mut alice, "release is:mention").await, ["release today @alice"]);
    let (fields, _) =
        search(&mut alice, json!({"query": "release", "from": "bob", "channel": GENERAL})).await.unwrap();
    assert_eq!(fields.len(), 1);
    assert_eq!(search(&mut alice, json!({"query": "from:carol"})).await.unwrap_err(), ErrorCode::UnknownUser);
    assert_eq!(search(&mut alice, json!({"query": "x in:@carol"})).await.unwrap_err(), ErrorCode::NotFound);

    // Days are the client's: everything was sent today in UTC; in UTC+14
    // or UTC-12 "today" may differ, so ask around it.
    let today = chrono_free_today();
    assert_eq!(bodies(&mut alice, &format!("release on:{today}")).await.len(), 3);
    assert!(bodies(&mut alice, &format!("release before:{today}")).await.is_empty());
    assert!(bodies(&mut alice, &format!("release after:{today}")).await.is_empty());
    let (hits, _) =
        search(&mut alice, json!({"query": "release", "on": today, "utc_offset": 0})).await.unwrap();
    assert_eq!(hits.len(), 3);
}

/// Today's date in UTC, as `YYYY-MM-DD`, from the system clock.
fn chrono_free_today() -> String {
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[tokio::test]
async fn search_refuses_bad_queries_with_invalid_query() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    for query in ["", "   ", "-alone", "on:2026-02-30", "from:a from:b", &"x ".repeat(300)] {
        let refused = search(&mut alice, json!({"query": query})).await;
        assert_eq!(refused.unwrap_err(), ErrorCode::InvalidQuery, "{query:?}");
    }
    let refused = search(&mut alice, json!({"query": "x", "on": "yesterday"})).await;
    assert_eq!(refused.unwrap_err(), ErrorCode::InvalidQuery);
    let refused = search(&mut alice, json!({"query": "x", "cursor": "not a cursor"})).await;
    assert_eq!(refused.unwrap_err(), ErrorCode::InvalidQuery);
    let refused = search(&mut alice, json!({"query": "x", "utc_offset": 100_000})).await;
    assert_eq!(refused.unwrap_err(), ErrorCode::InvalidQuery);
    let refused = search(&mut alice, json!({"query": "from:alice", "from": "alice"})).await;
    assert_eq!(refused.unwrap_err(), ErrorCode::InvalidQuery, "a filter typed and given as a field");
    // Filters alone are a valid query, typed or as fields.
    assert!(search(&mut alice, json!({"query": "from:alice"})).await.is_ok());
    assert!(search(&mut alice, json!({"query": "", "from": "alice"})).await.is_ok());
}

#[tokio::test]
async fn search_has_a_rate_limit_per_user() {
    let limits = Limits { searches_per_minute: 3.0, ..test_limits() };
    let server = TestServer::start_with(limits, false).await;
    let (mut alice, _) = server.user("alice").await;
    for _ in 0..3 {
        assert!(search(&mut alice, json!({"query": "x"})).await.is_ok());
    }
    // Another connection of the same user shares the budget; another
    // user has their own.
    let mut alice_again = Client::connect(&server, &alice.token).await;
    alice_again.hello(json!({})).await;
    assert_eq!(search(&mut alice_again, json!({"query": "x"})).await.unwrap_err(), ErrorCode::RateLimited);
    let (mut bob, _) = server.user("bob").await;
    assert!(search(&mut bob, json!({"query": "x"})).await.is_ok());
}

#[tokio::test]
async fn search_on_one_node_finds_what_another_stored_as_its_members_see_it() {
    let Some(database) = fresh_postgres_database().await else { return };
    let Some(redis) = redis_url() else { return };
    let nodes =
        [TestServer::start_node(&database, &redis).await, TestServer::start_node(&database, &redis).await];
    let (mut alice, _) = nodes[0].user("alice").await;
    let (mut bob, _) = nodes[1].user("bob").await;
    let plans = create_channel(&mut alice, "plans", true).await;
    alice.post(plans, "会议记录 on the first node", "a-1").await;
    alice.post(GENERAL, "会议 for everyone", "a-2").await;
    assert_eq!(bodies(&mut bob, "会议").await, ["会议 for everyone"], "bob is not in plans");
    let mut alice_there = Client::connect(&nodes[1], &alice.token).await;
    alice_there.hello(json!({})).await;
    assert_eq!(bodies(&mut alice_there, "会议").await, ["会议 for everyone", "会议记录 on the first node"]);
    assert_eq!(search(&mut bob, json!({"query": "x in:#plans"})).await.unwrap_err(), ErrorCode::NotFound);
}
