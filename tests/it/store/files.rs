//! The conformance suite for shared files' metadata: uploads and quotas,
//! attaching files to a message (only the sender's own unattached uploads
//! to that channel), who may fetch a file, deletion with the message, and
//! expiry of uploads never attached. Every backend runs these same checks
//! (one line per test at the bottom).

use std::sync::Arc;

use natter::metrics::Metrics;
use natter::model::{Attachment, ChannelKind, FileId, Seq, now_millis};
use natter::store::{MessageRemoval, NewUpload, Store, StoreError};

use super::{GENERAL, channel_name, message, name};

fn attachment(name: &str, size: u64) -> Attachment {
    Attachment {
        id: FileId::generate(),
        name: name.to_owned(),
        size,
        content_type: "image/png".to_owned(),
        dimensions: Some((640, 480)),
        thumbnail: true,
    }
}

fn upload(
    file: &Attachment,
    uploader: natter::model::UserId,
    channel: natter::model::ChannelId,
) -> NewUpload {
    NewUpload { file: file.clone(), uploader, channel, sha256: "00".repeat(32), quota_bytes: 1_000 }
}

async fn uploads_attach_and_delete(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    let bob = store.create_user(&name("bob"), "h").await.unwrap();
    let (first, second) = (attachment("one.png", 300), attachment("two.png", 400));
    store.add_upload(upload(&first, alice.id, GENERAL)).await.unwrap();
    store.add_upload(upload(&second, alice.id, GENERAL)).await.unwrap();
    assert_eq!(store.bytes_stored().await.unwrap(), 700);
    // The quota counts what alice holds: 700 + 400 > 1000.
    let over = store.add_upload(upload(&attachment("three.png", 400), alice.id, GENERAL)).await;
    assert!(matches!(over, Err(StoreError::LimitReached)), "{over:?}");
    // Not attached yet: only the uploader may fetch it.
    assert_eq!(store.file_for(&first.id, alice.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.file_for(&first.id, bob.id).await.unwrap(), None);

    // Someone else's upload cannot be attached.
    let mut stolen = message(GENERAL, bob.id, "b-1", "mine now");
    stolen.files = vec![first.id.clone()];
    let refused = store.append_message(stolen).await;
    assert!(matches!(refused, Err(StoreError::NoSuchFile)), "{refused:?}");
    assert_eq!(store.channel_view(GENERAL, bob.id).await.unwrap().last_seq, Seq(0), "nothing was stored");

    let mut sent = message(GENERAL, alice.id, "a-1", "two pictures");
    sent.files = vec![second.id.clone(), first.id.clone()];
    let appended = store.append_message(sent.clone()).await.unwrap();
    assert_eq!(appended.message.files, [second.clone(), first.clone()], "in the order given");
    let read = store.history(GENERAL, None, 10).await.unwrap();
    assert_eq!(read[0].files, [second.clone(), first.clone()], "history carries them");
    // A retry is the original, although its files are attached now.
    let retried = store.append_message(sent).await.unwrap();
    assert!(!retried.created);
    assert_eq!(retried.message.files.len(), 2);
    // Attached once only.
    let mut again = message(GENERAL, alice.id, "a-2", "again");
    again.files = vec![first.id.clone()];
    assert!(matches!(store.append_message(again).await, Err(StoreError::NoSuchFile)));
    // Attached: every member may fetch it.
    assert_eq!(store.file_for(&first.id, bob.id).await.unwrap(), Some(first.clone()));
    // An edit keeps the files.
    let edit = super::changes::edit(GENERAL, appended.message.seq.0, alice.id, "edited", None);
    assert_eq!(store.edit_message(edit).await.unwrap().message.files.len(), 2);

    // Deleting the message deletes its files: nobody may fetch them, and
    // their bytes are listed for removal until forgotten.
    let removal = MessageRemoval { channel: GENERAL, seq: appended.message.seq, by: alice.id };
    let deleted = store.delete_message(removal).await.unwrap();
    assert!(deleted.message.files.is_empty());
    assert!(store.history(GENERAL, None, 10).await.unwrap()[0].files.is_empty());
    assert_eq!(store.file_for(&first.id, alice.id).await.unwrap(), None);
    let mut listed: Vec<FileId> =
        store.deleted_files(10).await.unwrap().into_iter().map(|file| file.id).collect();
    listed.sort();
    let mut expected = vec![first.id.clone(), second.id.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(store.bytes_stored().await.unwrap(), 0, "deleted files no longer count");
    store.forget_files(&listed).await.unwrap();
    assert!(store.deleted_files(10).await.unwrap().is_empty());
}

async fn who_may_upload_and_fetch(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    let bob = store.create_user(&name("bob"), "h").await.unwrap();
    let secret =
        store.create_channel(&channel_name("secret"), ChannelKind::Private, alice.id, 10).await.unwrap();
    let refused = store.add_upload(upload(&attachment("x.png", 1), bob.id, secret.id)).await;
    assert!(matches!(refused, Err(StoreError::NotMember)), "{refused:?}");
    let missing =
        store.add_upload(upload(&attachment("x.png", 1), bob.id, natter::model::ChannelId(999))).await;
    assert!(matches!(missing, Err(StoreError::NoSuchChannel)), "{missing:?}");

    let file = attachment("plan.png", 10);
    store.add_upload(upload(&file, alice.id, secret.id)).await.unwrap();
    // Made for the secret channel: it cannot be attached in General.
    let mut elsewhere = message(GENERAL, alice.id, "a-1", "look");
    elsewhere.files = vec![file.id.clone()];
    assert!(matches!(store.append_message(elsewhere).await, Err(StoreError::NoSuchFile)));
    let mut here = message(secret.id, alice.id, "a-2", "look");
    here.files = vec![file.id.clone()];
    store.append_message(here).await.unwrap();
    assert_eq!(store.file_for(&file.id, bob.id).await.unwrap(), None, "bob is not in the channel");
    store.add_member(secret.id, bob.id, Some(alice.id)).await.unwrap();
    assert_eq!(store.file_for(&file.id, bob.id).await.unwrap(), Some(file.clone()));
    store.remove_member(secret.id, bob.id).await.unwrap();
    assert_eq!(store.file_for(&file.id, bob.id).await.unwrap(), None, "gone with the membership");
}

async fn unattached_uploads_expire(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("alice"), "h").await.unwrap();
    let (old, kept) = (attachment("old.png", 5), attachment("kept.png", 5));
    store.add_upload(upload(&old, alice.id, GENERAL)).await.unwrap();
    store.add_upload(upload(&kept, alice.id, GENERAL)).await.unwrap();
    let mut sent = message(GENERAL, alice.id, "a-1", "replaced");
    sent.body = natter::model::MessageBody::parse_beside_files(String::new()).unwrap();
    sent.files = vec![kept.id.clone()];
    let appended = store.append_message(sent).await.unwrap();
    assert_eq!(appended.message.body, "", "a file may go on its own");
    assert_eq!(store.expire_uploads(now_millis() + 1).await.unwrap(), 1, "only the unattached one");
    assert_eq!(store.file_for(&old.id, alice.id).await.unwrap(), None);
    let deleted = store.deleted_files(10).await.unwrap();
    assert_eq!(deleted.iter().map(|file| &file.id).collect::<Vec<_>>(), [&old.id]);
    assert!(deleted[0].thumbnail);
    assert_eq!(store.file_for(&kept.id, alice.id).await.unwrap(), Some(kept));
}

async fn pictures(store: Arc<dyn Store>) {
    let alice = store.create_user(&name("Alice"), "h").await.unwrap();
    assert_eq!(store.avatar_of("alice").await.unwrap(), None);
    let version = store.set_avatar(alice.id, true).await.unwrap().expect("a version");
    assert_eq!(store.avatar_of("ALICE").await.unwrap(), Some((alice.id, version)));
    assert_eq!(store.set_avatar(alice.id, false).await.unwrap(), None);
    assert_eq!(store.avatar_of("alice").await.unwrap(), None);
}

mod sqlite {
    async fn memory() -> std::sync::Arc<dyn natter::store::Store> {
        natter::store::open("sqlite::memory:", std::sync::Arc::new(super::Metrics::default())).await.unwrap()
    }

    #[tokio::test]
    async fn uploads_attach_and_delete() {
        super::uploads_attach_and_delete(memory().await).await;
    }

    #[tokio::test]
    async fn who_may_upload_and_fetch() {
        super::who_may_upload_and_fetch(memory().await).await;
    }

    #[tokio::test]
    async fn unattached_uploads_expire() {
        super::unattached_uploads_expire(memory().await).await;
    }

    #[tokio::test]
    async fn pictures() {
        super::pictures(memory().await).await;
    }
}

mod postgres {
    use crate::services::fresh_postgres_database;

    async fn store() -> Option<std::sync::Arc<dyn natter::store::Store>> {
        let url = fresh_postgres_database().await?;
        Some(natter::store::open(&url, std::sync::Arc::new(super::Metrics::default())).await.unwrap())
    }

    #[tokio::test]
    async fn pg_uploads_attach_and_delete() {
        let Some(store) = store().await else { return };
        super::uploads_attach_and_delete(store).await;
    }

    #[tokio::test]
    async fn pg_who_may_upload_and_fetch() {
        let Some(store) = store().await else { return };
        super::who_may_upload_and_fetch(store).await;
    }

    #[tokio::test]
    async fn pg_unattached_uploads_expire() {
        let Some(store) = store().await else { return };
        super::unattached_uploads_expire(store).await;
    }

    #[tokio::test]
    async fn pg_pictures() {
        let Some(store) = store().await else { return };
        super::pictures(store).await;
    }
}
