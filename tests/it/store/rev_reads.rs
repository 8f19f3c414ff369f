//! The rev stream's reads (`changes_after`, `rev_before`) against a model of
//! every change made: pseudo-random sends, edits, deletions and reactions
//! in two channels, then every resume point read at several page sizes and
//! compared with what the model says. And the same for a database made
//! before messages kept the rev they were sent at (`first_rev`), which the
//! migration derives, and for changes made by the previous release's
//! statements (an older node during a rolling upgrade), which the
//! database's trigger keeps right. Every backend runs these.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use natter::metrics::Metrics;

use natter::model::{ChannelId, ChannelKind, Emoji, Rev, Seq, UserId};
use natter::store::{Changed, MessageReaction, Store, StoreError};

use super::changes::edit;
use super::{channel_name, message, name};

/// One channel as the model sees it: per seq, the rev the message was sent
/// at and the rev of its latest change.
#[derive(Default, Debug)]
struct ChannelModel {
    messages: BTreeMap<i64, (i64, i64)>,
    last_rev: i64,
}

impl ChannelModel {
    /// What `changes_after(after, limit)` must answer, as `(seq, rev)`.
    fn changes_after(&self, after: i64, limit: usize) -> Vec<(i64, i64)> {
        let mut changed: Vec<(i64, i64)> = self
            .messages
            .iter()
            .filter(|(_, (_, rev))| *rev > after)
            .map(|(seq, (_, rev))| (*seq, *rev))
            .collect();
        changed.sort_by_key(|(_, rev)| *rev);
        changed.truncate(limit);
        changed
    }

    /// The lowest latest rev of any message past `seq`, less one.
    fn lowest_after(&self, seq: i64) -> Option<i64> {
        self.messages.range(seq + 1..).map(|(_, (_, rev))| rev - 1).min()
    }

    fn changed(&mut self, changed: Result<Changed, StoreError>) {
        if let Ok(Changed { message, changed: true }) = changed {
            self.changed_at(message.seq.0, message.rev.0);
        }
    }

    fn changed_at(&mut self, seq: i64, rev: i64) {
        self.messages.get_mut(&seq).expect("a change to a message the model has").1 = rev;
        self.last_rev = rev;
    }
}

/// Two rooms and the people acting in them.
struct Scene {
    rooms: [ChannelId; 2],
    alice: UserId,
    bob: UserId,
    models: [ChannelModel; 2],
    sent: u64,
}

impl Scene {
    async fn new(store: &Arc<dyn Store>) -> Self {
        let alice = store.create_user(&name("alice"), "h").await.unwrap().id;
        let bob = store.create_user(&name("bob"), "h").await.unwrap().id;
        let mut rooms = [ChannelId(0); 2];
        for (room, label) in rooms.iter_mut().zip(["one", "two"]) {
            *room =
                store.create_channel(&channel_name(label), ChannelKind::Public, alice, 10).await.unwrap().id;
            assert!(store.add_member(*room, bob, None).await.unwrap());
        }
        Self { rooms, alice, bob, models: Default::default(), sent: 0 }
    }

    /// `steps` operations drawn from `seed`: four in ten sends, the rest
    /// changes to earlier messages (some of them refused or changing
    /// nothing: edits of deleted messages, reactions already there).
    async fn act(&mut self, store: &Arc<dyn Store>, seed: u64, steps: u32) {
        let mut random = seed | 1;
        let mut next = move |below: u64| {
            // xorshift64: repeatable, and enough to mix the operations.
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            random % below
        };
        let emoji = [Emoji::parse("👍").unwrap(), Emoji::parse("🎉").unwrap()];
        for _ in 0..steps {
            let which = next(2) as usize;
            let (room, model) = (self.rooms[which], &mut self.models[which]);
            let last_seq = model.messages.keys().next_back().copied().unwrap_or(0);
            let seq = if last_seq == 0 { 0 } else { 1 + next(last_seq as u64) as i64 };
            match (seq, next(10)) {
                (0, _) | (_, 0..=3) => {
                    self.sent += 1;
                    let new = message(
                        room,
                        self.alice,
                        &format!("m-{}", self.sent),
                        &format!("body {}", self.sent),
                    );
                    let appended = store.append_message(new).await.unwrap().message;
                    model.messages.insert(appended.seq.0, (appended.rev.0, appended.rev.0));
                    model.last_rev = appended.rev.0;
                }
                (_, 4..=5) => {
                    let body = format!("edit {}", next(1_000));
                    model.changed(store.edit_message(edit(room, seq, self.alice, &body, None)).await);
                }
                (_, 6) => {
                    let removal =
                        natter::store::MessageRemoval { channel: room, seq: Seq(seq), by: self.alice };
                    model.changed(store.delete_message(removal).await);
                }
                (_, _) => {
                    let reaction = MessageReaction {
                        channel: room,
                        seq: Seq(seq),
                        user: if next(2) == 0 { self.alice } else { self.bob },
                        emoji: emoji[next(2) as usize].clone(),
                        add: next(3) != 0,
                    };
                    model.changed(store.react(reaction).await);
                }
            }
        }
    }

    /// Every resume point of both rooms read at several page sizes, and
    /// whole catch-ups page by page, against the model.
    async fn check_changes(&self, store: &Arc<dyn Store>) {
        for (room, model) in self.rooms.iter().zip(&self.models) {
            for after in 0..=model.last_rev + 1 {
                for limit in [1, 3, 500] {
                    let read = store.changes_after(*room, Rev(after), limit).await.unwrap();
                    let read: Vec<(i64, i64)> = read.iter().map(|m| (m.seq.0, m.rev.0)).collect();
                    assert_eq!(
                        read,
                        model.changes_after(after, limit as usize),
                        "room {room:?} after {after} limit {limit}"
                    );
                }
            }
            let mut paged = Vec::new();
            let mut after = Rev(0);
            loop {
                let page = store.changes_after(*room, after, 4).await.unwrap();
                paged.extend(page.iter().map(|m| (m.seq.0, m.rev.0)));
                match page.last() {
                    Some(last) if page.len() == 4 => after = last.rev,
                    _ => break,
                }
            }
            assert_eq!(paged, model.changes_after(0, usize::MAX), "room {room:?}: a catch-up in pages of 4");
        }
    }

    /// `rev_before` of every seq of both rooms: just before the lowest rev
    /// past it, the head past the last message.
    async fn check_rev_before(&self, store: &Arc<dyn Store>) {
        for (room, model) in self.rooms.iter().zip(&self.models) {
            let last_seq = model.messages.keys().next_back().copied().unwrap_or(0);
            for seq in 0..=last_seq + 1 {
                let wanted = model.lowest_after(seq).unwrap_or(model.last_rev);
                let read = store.rev_before(*room, Seq(seq)).await.unwrap();
                assert_eq!(read, Rev(wanted), "room {room:?} seq {seq}");
            }
        }
    }

    /// Edits, by `older_edit`, the first message of the first room that
    /// has not changed since it was sent.
    async fn edit_as_before<E, EFut>(&mut self, older_edit: &E)
    where
        E: Fn(ChannelId, i64) -> EFut,
        EFut: Future<Output = i64>,
    {
        let model = &mut self.models[0];
        let seq =
            *model.messages.iter().find(|(_, (sent, rev))| sent == rev).expect("an unchanged message").0;
        let rev = older_edit(self.rooms[0], seq).await;
        model.changed_at(seq, rev);
    }
}

/// On a store that kept every message's sent rev from the start.
async fn reads_follow_the_model(store: Arc<dyn Store>) {
    let mut scene = Scene::new(&store).await;
    for seed in [0x9e37_79b9, 0x2545_f491] {
        scene.act(&store, seed, 120).await;
        scene.check_changes(&store).await;
        scene.check_rev_before(&store).await;
    }
    let changed =
        scene.models.iter().flat_map(|m| m.messages.values()).filter(|(sent, rev)| sent != rev).count();
    assert!(changed > 20, "the scene changed enough messages to test anything: {changed}");
}

/// The store at `url` after `downgrade` took its database back to the
/// schema before `first_rev` and `older_edit` edited a message there as
/// the previous release did (the body, the time and the channel's next
/// rev, which it returns): the migration derives `first_rev`, and the reads
/// agree with the model then, after more changes, and after `older_edit`
/// changed another message on the migrated database (as an older node
/// does until it is upgraded, or an older binary started on it).
async fn a_database_without_sent_revs_migrates<D, DFut, E, EFut>(url: &str, downgrade: D, older_edit: E)
where
    D: FnOnce() -> DFut,
    DFut: Future<Output = ()>,
    E: Fn(ChannelId, i64) -> EFut,
    EFut: Future<Output = i64>,
{
    let open = || async { natter::store::open(url, Arc::new(Metrics::default())).await.expect("it opens") };
    let store = open().await;
    let mut scene = Scene::new(&store).await;
    scene.act(&store, 0x85eb_ca6b, 200).await;
    store.close().await;
    drop(store);
    downgrade().await;
    scene.edit_as_before(&older_edit).await;

    let store = open().await;
    scene.check_changes(&store).await;
    scene.check_rev_before(&store).await;
    scene.act(&store, 0xc2b2_ae35, 120).await;
    scene.check_changes(&store).await;
    scene.check_rev_before(&store).await;
    store.close().await;
    drop(store);

    scene.edit_as_before(&older_edit).await;
    let store = open().await;
    scene.check_changes(&store).await;
    scene.check_rev_before(&store).await;
    store.close().await;
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn reads_follow_the_model_in_memory() {
        let store = natter::store::open("sqlite::memory:", Arc::new(Metrics::default())).await.unwrap();
        super::reads_follow_the_model(store).await;
    }

    /// As the release before `first_rev` left it: no such column or
    /// trigger, an index on every message's rev, and one schema version
    /// less; and its edit.
    #[tokio::test]
    async fn a_database_without_sent_revs_migrates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revs.db");
        let url = format!("sqlite://{}", path.display());
        let downgrade = || async {
            let old = rusqlite::Connection::open(&path).unwrap();
            let version: i64 = old.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
            old.execute_batch(&format!(
                "DROP TRIGGER messages_first_rev;
                 DROP INDEX messages_changed;
                 ALTER TABLE messages DROP COLUMN first_rev;
                 CREATE UNIQUE INDEX messages_by_rev ON messages(channel_id, rev);
                 PRAGMA user_version = {};",
                version - 1
            ))
            .unwrap();
        };
        let older_edit = |room: ChannelId, seq: i64| {
            let path = path.clone();
            async move {
                let old = rusqlite::Connection::open(&path).unwrap();
                old.execute_batch("BEGIN IMMEDIATE").unwrap();
                let rev: i64 = old
                    .query_row(
                        "UPDATE channels SET last_rev = last_rev + 1 WHERE id = ?1 RETURNING last_rev",
                        [room.0],
                        |row| row.get(0),
                    )
                    .unwrap();
                let edited = old
                    .execute(
                        "UPDATE messages SET body = 'edited by an older release', edited_at = 0, rev = ?3
                         WHERE channel_id = ?1 AND seq = ?2",
                        rusqlite::params![room.0, seq, rev],
                    )
                    .unwrap();
                assert_eq!(edited, 1);
                old.execute_batch("COMMIT").unwrap();
                rev
            }
        };
        super::a_database_without_sent_revs_migrates(&url, downgrade, older_edit).await;
    }
}

mod postgres {
    use super::*;
    use crate::services::fresh_postgres_database;

    #[tokio::test]
    async fn pg_reads_follow_the_model() {
        let Some(url) = fresh_postgres_database().await else { return };
        let store = natter::store::open(&url, Arc::new(Metrics::default())).await.unwrap();
        super::reads_follow_the_model(store).await;
    }

    #[tokio::test]
    async fn pg_a_database_without_sent_revs_migrates() {
        let Some(url) = fresh_postgres_database().await else { return };
        let connect = || async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            client
        };
        let downgrade = || async {
            connect()
                .await
                .batch_execute(
                    "DROP TRIGGER messages_first_rev ON messages;
                     DROP FUNCTION messages_keep_first_rev();
                     DROP INDEX messages_changed;
                     ALTER TABLE messages DROP COLUMN first_rev;
                     CREATE UNIQUE INDEX messages_by_rev ON messages(channel_id, rev);
                     DELETE FROM natter_schema WHERE version = (SELECT MAX(version) FROM natter_schema);",
                )
                .await
                .unwrap();
        };
        // The previous release's edit statement, less the search column.
        let older_edit = |room: ChannelId, seq: i64| async move {
            let row = connect()
                .await
                .query_one(
                    "WITH bump AS (UPDATE channels SET last_rev = last_rev + 1 WHERE id = $1 RETURNING last_rev)
                     UPDATE messages m SET body = 'edited by an older release', edited_at = 0, rev = bump.last_rev
                     FROM bump WHERE m.channel_id = $1 AND m.seq = $2
                     RETURNING m.rev",
                    &[&room.0, &seq],
                )
                .await
                .unwrap();
            row.get::<_, i64>(0)
        };
        super::a_database_without_sent_revs_migrates(&url, downgrade, older_edit).await;
    }
}
