//! The conformance suite for administration: the accounts page, deactivation
//! (sessions end, login and guest claims refused, messages kept) and who is
//! an admin; invite and setup links and settings. Every backend runs these same checks (one line per test at the
//! bottom).

use std::sync::Arc;

use natter::metrics::Metrics;
use natter::model::{MAX_LIVE_INVITES, NewInvite, Seq, UserId, now_millis};
use natter::store::{MessageRemoval, SessionOrigin, Store, StoreError};

use super::{GENERAL, message, name};

async fn deactivation(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "hash-a").await.unwrap();
    let bob = store.create_user(&name("Bob"), "hash-b").await.unwrap();
    store.create_session(bob.id, [1u8; 32], i64::MAX, &Default::default()).await.unwrap();
    store.create_session(bob.id, [2u8; 32], i64::MAX, &Default::default()).await.unwrap();
    store.create_session(alice.id, [3u8; 32], i64::MAX, &Default::default()).await.unwrap();
    store.append_message(message(GENERAL, bob.id, "b-1", "before")).await.unwrap();

    let found = store.find_user("bob").await.unwrap().unwrap();
    assert!(!found.deactivated);
    let deactivated = store.set_deactivated(&name("BOB"), true).await.unwrap().expect("found by key");
    assert_eq!((deactivated.id, deactivated.name.as_str()), (bob.id, "Bob"));
    assert!(store.find_user("bob").await.unwrap().unwrap().deactivated, "login sees it");
    for key in [[1u8; 32], [2u8; 32]] {
        assert!(store.session_user(key, 0).await.unwrap().is_none(), "every session of theirs ended");
    }
    assert_eq!(store.session_user([3u8; 32], 0).await.unwrap().map(|u| u.id), Some(alice.id), "others stay");
    // A login that raced the deactivation gets no session at all (one
    // stored now would come back to life with a reactivation).
    let raced = store.create_session(bob.id, [4u8; 32], i64::MAX, &Default::default()).await;
    assert!(matches!(raced, Err(StoreError::Deactivated)), "{raced:?}");
    // Their messages stay.
    let history = store.history(GENERAL, None, 10).await.unwrap();
    assert_eq!(
        history.iter().map(|m| (m.sender_name.as_str(), m.body.as_str())).collect::<Vec<_>>(),
        [("Bob", "before")]
    );
    assert!(store.set_deactivated(&name("nobody"), true).await.unwrap().is_none());
    // Nodes find it by when it happened.
    let now = natter::model::now_millis();
    assert_eq!(store.deactivated_since(now - 60_000).await.unwrap(), [bob.id]);
    assert!(store.deactivated_since(now + 60_000).await.unwrap().is_empty(), "not after it");

    let reactivated = store.set_deactivated(&name("bob"), false).await.unwrap().unwrap();
    assert_eq!(reactivated.id, bob.id);
    assert!(!store.find_user("bob").await.unwrap().unwrap().deactivated);
    store.create_session(bob.id, [5u8; 32], i64::MAX, &Default::default()).await.unwrap();
    assert_eq!(store.session_user([5u8; 32], 0).await.unwrap().map(|u| u.id), Some(bob.id));
    assert!(store.session_user([1u8; 32], 0).await.unwrap().is_none(), "ended sessions stay ended");
    assert!(store.deactivated_since(0).await.unwrap().is_empty(), "reactivated is not deactivated");

    // A deactivated guest's name is not passed on to the next guest.
    let guest = store.claim_guest(&name("visitor")).await.unwrap();
    store.set_deactivated(&name("visitor"), true).await.unwrap().unwrap();
    assert!(matches!(store.claim_guest(&name("visitor")).await, Err(StoreError::NameTaken)));
    store.set_deactivated(&name("visitor"), false).await.unwrap().unwrap();
    let next = store.claim_guest(&name("visitor")).await.unwrap();
    assert_ne!(next.id, guest.id, "an active guest's name passes on as before");
}

async fn admins_and_the_accounts_page(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "hash-a").await.unwrap();
    let carol = store.create_user(&name("Carol"), "hash-c").await.unwrap();
    let bob = store.create_user(&name("bob"), "hash-b").await.unwrap();
    let guest = store.claim_guest(&name("drifter")).await.unwrap();
    // A guest whose name passed on holds no name: never listed.
    store.claim_guest(&name("drifter")).await.unwrap();
    assert!(!store.is_admin(alice.id).await.unwrap());
    assert!(store.set_admin(&name("alice"), true).await.unwrap());
    assert!(store.is_admin(alice.id).await.unwrap());
    store.create_session(bob.id, [7u8; 32], i64::MAX, &Default::default()).await.unwrap();

    let page = store.accounts(None, 10).await.unwrap();
    let names: Vec<&str> = page.iter().map(|a| a.user.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "Carol", "drifter"], "by name without case");
    let alice_row = &page[0];
    assert!(alice_row.admin && !alice_row.deactivated && !alice_row.user.guest);
    assert!(alice_row.last_login_ms.is_none(), "never logged in");
    assert!(page[1].last_login_ms.is_some_and(|at| at >= page[1].created_ms), "bob has a session");
    assert!(page[3].user.guest && page[3].user.id != guest.id, "the guest now holding the name");
    assert!(page.iter().all(|a| a.created_ms > 0));
    let rest = store.accounts(Some("bob"), 10).await.unwrap();
    assert_eq!(rest.iter().map(|a| a.user.id).collect::<Vec<_>>()[..1], [carol.id], "pages after a key");
    assert_eq!(store.accounts(None, 2).await.unwrap().len(), 2);

    // A deactivated admin is an admin no more: no deleting others' messages.
    store.append_message(message(GENERAL, bob.id, "b-1", "hello")).await.unwrap();
    store.set_deactivated(&name("alice"), true).await.unwrap().unwrap();
    assert!(!store.is_admin(alice.id).await.unwrap());
    let removal = MessageRemoval { channel: GENERAL, seq: Seq(1), by: alice.id };
    assert!(matches!(store.delete_message(removal.clone()).await, Err(StoreError::NotSender)));
    let listed = store.accounts(None, 1).await.unwrap();
    assert!(listed[0].admin && listed[0].deactivated, "the page shows both");
    store.set_deactivated(&name("alice"), false).await.unwrap().unwrap();
    assert!(store.is_admin(alice.id).await.unwrap());
    assert!(store.delete_message(removal).await.unwrap().changed);
}

fn new_invite(token: u8, by: Option<UserId>, expires_ms: Option<i64>, max_uses: u32) -> NewInvite {
    NewInvite { token_hash: [token; 32], created_by: by, expires_ms, max_uses, makes_admin: by.is_none() }
}

async fn invites_and_setup_links(store: Arc<dyn Store>) {
    assert_eq!(store.setting("registration").await.unwrap(), None);
    store.set_setting("registration", "invite").await.unwrap();
    store.set_setting("registration", "closed").await.unwrap();
    assert_eq!(store.setting("registration").await.unwrap().as_deref(), Some("closed"));

    // First start: no admin, two setup links (two nodes started).
    assert!(!store.has_admin().await.unwrap());
    let setup = store.create_invite(new_invite(1, None, None, 1)).await.unwrap();
    assert!(setup.makes_admin && setup.created_by.is_none() && setup.is_usable(now_millis()));
    store.create_invite(new_invite(2, None, None, 1)).await.unwrap();
    assert!(store.invites(10).await.unwrap().is_empty(), "setup links are not listed");
    // Only a setup link works with `setup_only`; an unknown token never.
    let unknown = store.create_user_with_invite(&name("eve"), "h", [9; 32], false).await;
    assert!(matches!(unknown, Err(StoreError::InvalidInvite)), "{unknown:?}");
    let root = store.create_user_with_invite(&name("root"), "h", [1; 32], true).await.unwrap();
    assert!(store.is_admin(root.id).await.unwrap() && store.has_admin().await.unwrap());
    for token in [1, 2] {
        let again = store.create_user_with_invite(&name("mallory"), "h", [token; 32], true).await;
        assert!(matches!(again, Err(StoreError::InvalidInvite)), "setup link {token} after the first admin");
    }
    // Retired for good: not even once the workspace has no active admin.
    store.set_deactivated(&name("root"), true).await.unwrap();
    let orphaned = store.create_user_with_invite(&name("mallory"), "h", [2; 32], true).await;
    assert!(matches!(orphaned, Err(StoreError::InvalidInvite)), "{orphaned:?}");
    store.set_deactivated(&name("root"), false).await.unwrap();
    // Making an admin any other way retires links made meanwhile.
    store.create_invite(new_invite(13, None, None, 1)).await.unwrap();
    let someone = store.create_user(&name("someone"), "h").await.unwrap();
    store.set_admin(&name("someone"), true).await.unwrap();
    store.set_deactivated(&name("root"), true).await.unwrap();
    store.set_deactivated(&name("someone"), true).await.unwrap();
    assert!(!store.has_admin().await.unwrap());
    let late = store.create_user_with_invite(&name("mallory"), "h", [13; 32], true).await;
    assert!(matches!(late, Err(StoreError::InvalidInvite)), "set_admin retired it: {late:?}");
    store.set_deactivated(&name("root"), false).await.unwrap();
    store.set_deactivated(&name("someone"), false).await.unwrap();
    let _ = someone;
    assert!(store.find_user("mallory").await.unwrap().is_none(), "nothing half-done");

    // An admin's link: uses counted, then used up; expired; revoked.
    let link =
        store.create_invite(new_invite(3, Some(root.id), Some(now_millis() + 60_000), 2)).await.unwrap();
    assert_eq!(
        (link.created_by.as_deref(), link.max_uses, link.uses, link.makes_admin),
        (Some("root"), 2, 0, false)
    );
    let refused = store.create_user_with_invite(&name("ann"), "h", [3; 32], true).await;
    assert!(matches!(refused, Err(StoreError::InvalidInvite)), "not a setup link: closed registration");
    let ann = store.create_user_with_invite(&name("ann"), "h", [3; 32], false).await.unwrap();
    assert!(!store.is_admin(ann.id).await.unwrap(), "an invite does not make an admin");
    let taken = store.create_user_with_invite(&name("ANN"), "h", [3; 32], false).await;
    assert!(matches!(taken, Err(StoreError::NameTaken)), "{taken:?}");
    store.create_user_with_invite(&name("ben"), "h", [3; 32], false).await.unwrap();
    let used_up = store.create_user_with_invite(&name("cat"), "h", [3; 32], false).await;
    assert!(matches!(used_up, Err(StoreError::InvalidInvite)), "{used_up:?}");
    let listed = store.invites(10).await.unwrap();
    assert_eq!((listed[0].id, listed[0].uses), (link.id, 2), "the name taken used nothing");

    store.create_invite(new_invite(4, Some(root.id), Some(now_millis() - 1), 5)).await.unwrap();
    let expired = store.create_user_with_invite(&name("cat"), "h", [4; 32], false).await;
    assert!(matches!(expired, Err(StoreError::InvalidInvite)), "{expired:?}");
    let revocable = store.create_invite(new_invite(5, Some(root.id), None, 5)).await.unwrap();
    assert!(store.revoke_invite(revocable.id).await.unwrap());
    assert!(!store.revoke_invite(setup.id).await.unwrap(), "setup links are not admins' to revoke");
    assert!(!store.revoke_invite(9_999).await.unwrap());
    let revoked = store.create_user_with_invite(&name("cat"), "h", [5; 32], false).await;
    assert!(matches!(revoked, Err(StoreError::InvalidInvite)), "{revoked:?}");
    let listed = store.invites(10).await.unwrap();
    assert_eq!(listed.iter().map(|i| i.id).collect::<Vec<_>>()[0], revocable.id, "newest first");
    assert!(listed[0].revoked && !listed[0].is_usable(now_millis()));

    // At most MAX_LIVE_INVITES usable links; used-up, expired and revoked ones do not count.
    for n in 0..MAX_LIVE_INVITES {
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&(1000 + n as u64).to_le_bytes());
        let invite = NewInvite { token_hash: hash, ..new_invite(0, Some(root.id), None, 1) };
        store.create_invite(invite).await.unwrap();
    }
    let over = store.create_invite(new_invite(6, Some(root.id), None, 1)).await;
    assert!(matches!(over, Err(StoreError::LimitReached)), "{over:?}");
}

async fn sessions_passwords_and_reset_links(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "hash-1").await.unwrap();
    let phone = SessionOrigin { device: Some("Phone".into()), address: Some("10.0.0.2".into()) };
    store.create_session(alice.id, [1; 32], i64::MAX, &Default::default()).await.unwrap();
    store.create_session(alice.id, [2; 32], i64::MAX, &phone).await.unwrap();
    store.create_session(alice.id, [3; 32], 5, &Default::default()).await.unwrap();
    let listed = store.sessions_of(alice.id, 10).await.unwrap();
    assert_eq!(listed.len(), 2, "expired ones are not listed");
    let second = listed.iter().find(|s| s.key == [2; 32]).unwrap();
    assert_eq!((second.device.as_deref(), second.address.as_deref()), (Some("Phone"), Some("10.0.0.2")));
    assert_eq!(second.created_ms, second.last_used_ms, "used when made");
    // Touched: only once the record is an hour old.
    store.touch_session([2; 32], second.last_used_ms + 1_000).await.unwrap();
    let same = store.sessions_of(alice.id, 10).await.unwrap();
    assert_eq!(same.iter().find(|s| s.key == [2; 32]).unwrap().last_used_ms, second.last_used_ms);
    let later = second.last_used_ms + 3_700_000;
    store.touch_session([2; 32], later).await.unwrap();
    let touched = store.sessions_of(alice.id, 10).await.unwrap();
    assert_eq!(touched[0].key, [2; 32], "most recently used first");
    assert_eq!(touched[0].last_used_ms, later);

    let bob = store.create_user(&name("bob"), "hash-b").await.unwrap();
    assert!(!store.end_session_of(bob.id, [1; 32]).await.unwrap(), "not bob's");
    assert!(store.end_session_of(alice.id, [1; 32]).await.unwrap());
    assert!(store.session_user([1; 32], 0).await.unwrap().is_none());

    store.create_session(alice.id, [4; 32], i64::MAX, &Default::default()).await.unwrap();
    let kept = store.set_password(alice.id, "hash-2", false, None).await.unwrap();
    assert!(kept.is_empty());
    assert_eq!(store.find_user("alice").await.unwrap().unwrap().password_hash.as_deref(), Some("hash-2"));
    let mut ended = store.set_password(alice.id, "hash-3", true, Some([4; 32])).await.unwrap();
    ended.sort();
    assert_eq!(ended, [[2; 32], [3; 32]], "all but the one kept, the expired one too");
    assert!(store.session_user([4; 32], 0).await.unwrap().is_some());

    store.create_password_reset(alice.id, [7; 32], now_millis() + 60_000).await.unwrap();
    store.create_password_reset(alice.id, [8; 32], now_millis() + 60_000).await.unwrap();
    store.create_password_reset(bob.id, [9; 32], now_millis() - 1).await.unwrap();
    assert!(store.reset_password([9; 32], "x", now_millis()).await.unwrap().is_none(), "expired");
    assert!(store.reset_password([6; 32], "x", now_millis()).await.unwrap().is_none(), "unknown");
    let (user, ended) = store.reset_password([7; 32], "hash-4", now_millis()).await.unwrap().unwrap();
    assert_eq!((user.id, ended), (alice.id, vec![[4; 32]]), "every session ends");
    assert_eq!(store.find_user("alice").await.unwrap().unwrap().password_hash.as_deref(), Some("hash-4"));
    assert!(store.reset_password([7; 32], "x", now_millis()).await.unwrap().is_none(), "used");
    assert!(store.reset_password([8; 32], "x", now_millis()).await.unwrap().is_none(), "retired with it");
    store.create_password_reset(bob.id, [5; 32], now_millis() + 60_000).await.unwrap();
    store.set_deactivated(&name("bob"), true).await.unwrap();
    assert!(store.reset_password([5; 32], "x", now_millis()).await.unwrap().is_none(), "deactivated");
    store.set_deactivated(&name("bob"), false).await.unwrap();
    assert!(
        store.reset_password([5; 32], "x", now_millis()).await.unwrap().is_none(),
        "not after reactivating"
    );
    // A new password retires the links made for the old one.
    store.create_password_reset(bob.id, [11; 32], now_millis() + 60_000).await.unwrap();
    store.set_password(bob.id, "hash-b2", false, None).await.unwrap();
    assert!(
        store.reset_password([11; 32], "x", now_millis()).await.unwrap().is_none(),
        "retired by a new password"
    );
    // A link made for a guest whose name has passed on sets nothing.
    let drifter = store.claim_guest(&name("drifter")).await.unwrap();
    store.create_password_reset(drifter.id, [12; 32], now_millis() + 60_000).await.unwrap();
    store.claim_guest(&name("drifter")).await.unwrap();
    assert!(
        store.reset_password([12; 32], "x", now_millis()).await.unwrap().is_none(),
        "no longer holds the name"
    );
    // A guest given a password becomes a registered account.
    let guest = store.claim_guest(&name("visitor")).await.unwrap();
    store.create_password_reset(guest.id, [10; 32], now_millis() + 60_000).await.unwrap();
    let (user, _) = store.reset_password([10; 32], "hash-g", now_millis()).await.unwrap().unwrap();
    assert!(!user.guest && !store.find_user("visitor").await.unwrap().unwrap().user.guest);
}

mod sqlite {
    async fn memory() -> std::sync::Arc<dyn natter::store::Store> {
        natter::store::open("sqlite::memory:", std::sync::Arc::new(super::Metrics::default())).await.unwrap()
    }

    #[tokio::test]
    async fn deactivation() {
        super::deactivation(memory().await).await;
    }

    #[tokio::test]
    async fn admins_and_the_accounts_page() {
        super::admins_and_the_accounts_page(memory().await).await;
    }

    #[tokio::test]
    async fn invites_and_setup_links() {
        super::invites_and_setup_links(memory().await).await;
    }

    #[tokio::test]
    async fn sessions_passwords_and_reset_links() {
        super::sessions_passwords_and_reset_links(memory().await).await;
    }
}

mod postgres {
    use crate::services::fresh_postgres_database;

    async fn store() -> Option<std::sync::Arc<dyn natter::store::Store>> {
        let url = fresh_postgres_database().await?;
        Some(natter::store::open(&url, std::sync::Arc::new(super::Metrics::default())).await.unwrap())
    }

    #[tokio::test]
    async fn pg_deactivation() {
        let Some(store) = store().await else { return };
        super::deactivation(store).await;
    }

    #[tokio::test]
    async fn pg_admins_and_the_accounts_page() {
        let Some(store) = store().await else { return };
        super::admins_and_the_accounts_page(store).await;
    }

    #[tokio::test]
    async fn pg_invites_and_setup_links() {
        let Some(store) = store().await else { return };
        super::invites_and_setup_links(store).await;
    }

    #[tokio::test]
    async fn pg_sessions_passwords_and_reset_links() {
        let Some(store) = store().await else { return };
        super::sessions_passwords_and_reset_links(store).await;
    }
}
