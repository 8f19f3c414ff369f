//! The user directory (`list_users`) over the native protocol: paged by name,
//! filtered by prefix without case, with presence, and bounded.

use natter::protocol::{DirectoryUser, ErrorCode, ServerMessage};
use serde_json::{Value, json};

use crate::harness::{Client, ServerMessageExt, TestServer, unpack};

/// The `users` reply to a request, decoded into the protocol's own type.
async fn directory(client: &mut Client, request: Value) -> (Vec<DirectoryUser>, bool) {
    let reply = client.request(request).await;
    unpack!(reply, ServerMessage::Users { users, has_more, .. } => (users, has_more))
}

fn entry(name: &str, online: bool) -> DirectoryUser {
    DirectoryUser { name: name.to_owned(), online }
}

#[tokio::test]
async fn the_directory_lists_everyone_by_name_with_presence_in_pages() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    for name in ["Carl", "carol", "cathy", "Dora"] {
        server.register(name).await;
    }
    let (mut bob, _) = server.user("bob").await;

    let (everyone, has_more) = directory(&mut alice, json!({"type": "list_users"})).await;
    assert!(!has_more);
    assert_eq!(
        everyone,
        [
            entry("alice", true),
            entry("bob", true),
            entry("Carl", false),
            entry("carol", false),
            entry("cathy", false),
            entry("Dora", false)
        ]
    );

    // Two at a time from "ca", continued after the last name of each page.
    let (first, more) = directory(&mut bob, json!({"type": "list_users", "prefix": "CA", "limit": 2})).await;
    assert_eq!((first, more), (vec![entry("Carl", false), entry("carol", false)], true));
    let (second, more) =
        directory(&mut bob, json!({"type": "list_users", "prefix": "ca", "after": "carol", "limit": 2}))
            .await;
    assert_eq!((second, more), (vec![entry("cathy", false)], false));
}

#[tokio::test]
async fn directory_requests_are_bounded_and_checked() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    for n in 0..105 {
        server.register(&format!("user{n:03}")).await;
    }
    // A limit over the maximum gets the maximum: 100 names.
    let (page, has_more) = directory(&mut alice, json!({"type": "list_users", "limit": 5000})).await;
    assert_eq!(page.len(), 100);
    assert!(has_more);
    // A prefix that no name can start with is refused with a stable code.
    for bad in ["%", "a b", "x".repeat(33).as_str(), "~1"] {
        let reply = alice.request(json!({"type": "list_users", "prefix": bad})).await;
        assert_eq!(reply.error_code(), Some(ErrorCode::BadRequest), "{bad}: {reply:?}");
    }
    let reply = alice.request(json!({"type": "list_users", "after": "no spaces"})).await;
    assert_eq!(reply.error_code(), Some(ErrorCode::BadRequest), "{reply:?}");
    // The connection carries on.
    let (page, _) = directory(&mut alice, json!({"type": "list_users", "prefix": "user10"})).await;
    assert_eq!(
        page.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
        ["user100", "user101", "user102", "user103", "user104"]
    );
}

/// Profiles: anyone reads anyone's; only one's own changes; values checked.
#[tokio::test]
async fn a_profile_shows_a_display_name_role_and_time_zone() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.user("alice").await;
    let (mut bob, _) = server.user("bob").await;
    let change =
        json!({"type": "update_profile", "display_name": "  Alice Liddell ", "time_zone": "Europe/London"});
    let reply = alice.request(change).await;
    let own = unpack!(reply, ServerMessage::Profile { profile, .. } => profile);
    assert_eq!((own.display_name.as_str(), own.time_zone.as_str()), ("Alice Liddell", "Europe/London"));
    let reply = bob.request(json!({"type": "profile", "user": "ALICE"})).await;
    let seen = unpack!(reply, ServerMessage::Profile { profile, .. } => profile);
    assert_eq!(seen, own, "anyone sees the same card");
    assert!(seen.online && !seen.guest && seen.role == natter::protocol::Role::Member);
    // Only the time zone: the display name stays; empty clears.
    alice.request(json!({"type": "update_profile", "time_zone": ""})).await;
    let reply = bob.request(json!({"type": "profile", "user": "alice"})).await;
    let seen = unpack!(reply, ServerMessage::Profile { profile, .. } => profile);
    assert_eq!((seen.display_name.as_str(), seen.time_zone.as_str()), ("Alice Liddell", ""));
    for (frame, code) in [
        (json!({"type": "profile", "user": "nobody"}), ErrorCode::UnknownUser),
        (json!({"type": "profile", "user": "bad name!"}), ErrorCode::BadRequest),
        (json!({"type": "update_profile"}), ErrorCode::BadRequest),
        (json!({"type": "update_profile", "display_name": "x".repeat(65)}), ErrorCode::BadRequest),
        (json!({"type": "update_profile", "display_name": "evil\u{202e}"}), ErrorCode::BadRequest),
        (json!({"type": "update_profile", "time_zone": "Mars/<b>"}), ErrorCode::BadRequest),
    ] {
        let reply = bob.request(frame.clone()).await;
        assert_eq!(reply.error_code(), Some(code), "{frame}: {reply:?}");
    }
}
