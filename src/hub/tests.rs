//! The hub on its own: no store, no sockets, no runtime. Every test checks
//! the hub's invariants after every step.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use proptest::prelude::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::model::{ChannelKind, MessageId, Seq};

mod concurrent;

const QUEUE: usize = 8;

fn hub() -> (Arc<Hub>, mpsc::UnboundedReceiver<HubRequest>) {
    Hub::new(vec![(ChannelId(1), Rev(0))], QUEUE, Arc::new(Metrics::default()), CancellationToken::new())
}

fn user(id: i64, name: &str) -> User {
    User { id: UserId(id), name: name.into(), guest: true }
}

fn view(channel: i64, last_seq: i64) -> ChannelView {
    ChannelView {
        channel: Channel { id: ChannelId(channel), name: format!("c{channel}"), kind: ChannelKind::Public },
        last_seq: Seq(last_seq),
        last_rev: Rev(last_seq),
        unread: 0,
        mentions: 0,
        notify: crate::model::NotifyLevel::All,
        read_seq: Seq(0),
        member: true,
        dm_members: Vec::new(),
        added_by: None,
        joined_at: 0,
        about: Default::default(),
    }
}

fn message(channel: i64, seq: i64) -> Message {
    Message {
        id: MessageId(channel * 1000 + seq),
        channel: ChannelId(channel),
        seq: Seq(seq),
        sender: UserId(1),
        sender_name: "ann".into(),
        client_id: format!("c-{seq}"),
        body: format!("message {seq}"),
        ts: 0,
        system: None,
        rev: Rev(seq),
        edited_at: None,
        deleted: None,
        reactions: Vec::new(),
        reply_to: None,
        mentions: Default::default(),
        files: Vec::new(),
    }
}

fn events(registration: &mut Registration) -> Vec<Event> {
    std::iter::from_fn(|| registration.deliveries.try_recv()).map(|d| d.event.clone()).collect()
}

/// Flushes the hub's presence interval, then the changes `registration` was
/// told, with their numbers.
fn presence_changes(hub: &Hub, registration: &mut Registration) -> Vec<(String, bool, u64)> {
    hub.flush_presence();
    events(registration)
        .into_iter()
        .flat_map(|event| match event {
            Event::Presence(changes) => changes.to_vec(),
            _ => Vec::new(),
        })
        .map(|change| (change.name, change.online, change.version))
        .collect()
}

fn presence(hub: &Hub, registration: &mut Registration) -> Vec<(String, bool)> {
    presence_changes(hub, registration).into_iter().map(|(name, online, _)| (name, online)).collect()
}

/// The online list a new connection is welcomed with, after a flush.
fn told(hub: &Hub) -> Vec<String> {
    hub.flush_presence();
    hub.online_users().names
}

fn seqs(registration: &mut Registration) -> Vec<i64> {
    events(registration)
        .into_iter()
        .filter_map(|event| match event {
            Event::Message { message, .. } => Some(message.seq.0),
            _ => None,
        })
        .collect()
}

fn requests(receiver: &mut mpsc::UnboundedReceiver<HubRequest>) -> Vec<HubRequest> {
    std::iter::from_fn(|| receiver.try_recv().ok()).collect()
}

#[test]
fn a_guest_name_is_claimed_once_and_reclaimed_only_when_allowed() {
    let (hub, mut asked) = hub();
    let bob = user(2, "bob");
    let first = hub.claim(&bob, NO_SESSION, Interests::default(), false).expect("a free name");
    hub.check_invariants();
    // Connected: nobody gets it, reclaim or not.
    assert_eq!(hub.claim(&bob, NO_SESSION, Interests::default(), true).err(), Some(ClaimError::InUse));
    hub.unregister(first.id);
    hub.check_invariants();
    let generation = match requests(&mut asked).pop() {
        Some(HubRequest::ExpirePresence { user, generation }) if user == bob.id => generation,
        other => panic!("expected the grace period to be asked for, got {other:?}"),
    };
    // Gone but still shown online (grace): only a permitted reclaim wins.
    assert!(hub.is_online("bob"));
    assert_eq!(hub.claim(&bob, NO_SESSION, Interests::default(), false).err(), Some(ClaimError::InUse));
    let again = hub.claim(&bob, NO_SESSION, Interests::default(), true).expect("reclaimed");
    hub.check_invariants();
    // The grace period that ran for the first connection ends nothing now.
    hub.expire_presence(bob.id, generation);
    assert_eq!(told(&hub), ["bob"]);
    hub.unregister(again.id);
    let HubRequest::ExpirePresence { generation, .. } = requests(&mut asked).pop().expect("asked again")
    else {
        panic!("expected the grace period to be asked for");
    };
    hub.expire_presence(bob.id, generation);
    hub.check_invariants();
    assert!(!hub.is_online("bob"));
}

#[test]
fn presence_says_who_changed_and_the_list_follows() {
    let (hub, mut asked) = hub();
    let (alice, bob) = (user(1, "alice"), user(2, "bob"));
    let mut watcher = hub.register(&alice, NO_SESSION, Interests::default());
    let bobs = hub.register(&bob, NO_SESSION, Interests::default());
    hub.check_invariants();
    // Nothing is told before the interval's flush, asked for once.
    assert_eq!(requests(&mut asked), [HubRequest::FlushPresence]);
    assert!(events(&mut watcher).is_empty());
    assert_eq!(hub.online_users().names, ["alice", "bob"], "the list is live before it is told");
    hub.flush_presence();
    hub.check_invariants();
    let batch = events(&mut watcher);
    assert_eq!(batch.len(), 1, "both arrivals in one delivery");
    let Event::Presence(changes) = &batch[0] else { panic!("expected presence, got {batch:?}") };
    let names: Vec<(&str, bool)> = changes.iter().map(|c| (c.name.as_str(), c.online)).collect();
    assert_eq!(names, [("alice", true), ("bob", true)]);
    assert_eq!(told(&hub), ["alice", "bob"]);
    // This node's list went to the bus once, at the flush.
    let published: Vec<usize> = requests(&mut asked)
        .into_iter()
        .filter_map(|request| match request {
            HubRequest::LocalPresence(list) => Some(list.len()),
            _ => None,
        })
        .collect();
    assert_eq!(published, [2]);
    // A second connection of bob's is no news.
    let second = hub.register(&bob, NO_SESSION, Interests::default());
    assert!(presence(&hub, &mut watcher).is_empty());
    hub.unregister(bobs.id);
    hub.unregister(second.id);
    let HubRequest::ExpirePresence { generation, .. } = requests(&mut asked).pop().expect("grace") else {
        panic!("expected the grace period to be asked for");
    };
    hub.expire_presence(bob.id, generation);
    hub.check_invariants();
    assert_eq!(presence(&hub, &mut watcher), [("bob".into(), false)]);
    assert_eq!(told(&hub), ["alice"]);
}

#[test]
fn remote_presence_is_merged_with_local_and_announced_once() {
    let (hub, _asked) = hub();
    let alice = user(1, "alice");
    let mut watching = hub.register(&alice, NO_SESSION, Interests::default());
    presence(&hub, &mut watching);
    let (bob_id, carol_id) = (UserId(900), UserId(901));

    // Bob and Carol are on other nodes.
    hub.set_remote_presence(vec![(bob_id, "bob".into()), (carol_id, "carol".into())]);
    hub.check_invariants();
    assert_eq!(presence(&hub, &mut watching), [("bob".into(), true), ("carol".into(), true)]);
    assert_eq!(told(&hub), ["alice", "bob", "carol"]);
    assert!(hub.is_online("CAROL"), "a remote name is taken");
    // The same report again is no news.
    hub.set_remote_presence(vec![(bob_id, "bob".into()), (carol_id, "carol".into())]);
    assert!(presence(&hub, &mut watching).is_empty());

    // Alice also connects on another node, then Carol leaves hers: only
    // Carol's departure is news; Alice was online here all along.
    hub.set_remote_presence(vec![(alice.id, "alice".into()), (bob_id, "bob".into())]);
    assert_eq!(presence(&hub, &mut watching), [("carol".into(), false)]);
    assert_eq!(told(&hub), ["alice", "bob"]);
    // Bob's node dies (its record expired): Bob goes offline.
    hub.set_remote_presence(vec![(alice.id, "alice".into())]);
    assert_eq!(presence(&hub, &mut watching), [("bob".into(), false)]);
    assert!(!hub.is_online("bob"));
    hub.check_invariants();
}

#[test]
fn new_public_channels_are_announced_to_those_who_asked() {
    let (hub, _asked) = hub();
    let listening_interests =
        Interests { announcements: true, follows_memberships: false, watched_presence: false };
    let mut listening = hub.register(&user(1, "alice"), NO_SESSION, listening_interests);
    let mut native = hub.register(&user(2, "bob"), NO_SESSION, Interests::default());
    hub.announce_channel(view(7, 0).channel);
    hub.check_invariants();
    assert!(
        events(&mut listening).iter().any(|e| matches!(e, Event::ChannelCreated(c) if c.id == ChannelId(7)))
    );
    assert!(!events(&mut native).iter().any(|e| matches!(e, Event::ChannelCreated(_))), "not asked for");
}

#[test]
fn messages_are_delivered_in_order_and_a_gap_asks_for_one_fill() {
    let (hub, mut asked) = hub();
    let mut reader = hub.register(&user(1, "ann"), NO_SESSION, Interests::default());
    hub.subscribe(reader.id, &[view(1, 0)]);
    requests(&mut asked);
    hub.accept_message(message(1, 1));
    hub.accept_message(message(1, 3));
    hub.accept_message(message(1, 4));
    hub.check_invariants();
    assert_eq!(seqs(&mut reader), [1], "3 and 4 wait for 2");
    assert_eq!(requests(&mut asked), [HubRequest::FillGap(ChannelId(1))], "one fill for the gap");
    assert_eq!(hub.fill_from(ChannelId(1)), Some(Rev(1)));
    // The fill (or the late message itself) closes the gap.
    hub.accept_message(message(1, 2));
    hub.accept_message(message(1, 2));
    hub.check_invariants();
    assert_eq!(seqs(&mut reader), [2, 3, 4]);
    assert_eq!(hub.fill_from(ChannelId(1)), None, "nothing waits: the fill is over");
    hub.check_invariants();
}

#[test]
fn a_connection_that_cannot_keep_up_is_dropped_alone() {
    let (hub, _asked) = hub();
    let mut reader = hub.register(&user(1, "ann"), NO_SESSION, Interests::default());
    let stuck = hub.register(&user(2, "bob"), NO_SESSION, Interests::default());
    hub.subscribe(reader.id, &[view(1, 0)]);
    hub.subscribe(stuck.id, &[view(1, 0)]);
    hub.flush_presence();
    events(&mut reader);
    // Stuck never reads: its queue holds the presence batch and fills up
    // with messages.
    for seq in 1..=QUEUE as i64 {
        hub.accept_message(message(1, seq));
        seqs(&mut reader);
        hub.check_invariants();
    }
    assert!(stuck.end.ended.is_cancelled(), "the full queue dropped the connection");
    assert_eq!(stuck.end.ended_by_hub(), Some(Ended::TooSlow));
    assert!(!reader.end.ended.is_cancelled(), "the reader keeps up and stays");
    assert!(!hub.is_subscribed(stuck.id, ChannelId(1)));
    hub.accept_message(message(1, QUEUE as i64 + 1));
    assert_eq!(seqs(&mut reader), [QUEUE as i64 + 1]);
    hub.unregister(stuck.id);
    hub.check_invariants();
}

#[test]
fn memberships_reach_connections_that_follow_them() {
    let (hub, _asked) = hub();
    let ann = user(1, "ann");
    let mut native = hub.register(&ann, NO_SESSION, Interests::default());
    let one_at_a_time =
        Interests { announcements: true, follows_memberships: false, watched_presence: false };
    let mut tutorial = hub.register(&ann, NO_SESSION, one_at_a_time);
    hub.member_joined(ann.id, view(5, 3));
    hub.check_invariants();
    assert!(hub.is_subscribed(native.id, ChannelId(5)));
    assert!(!hub.is_subscribed(tutorial.id, ChannelId(5)), "subscribes to the channel it shows");
    assert!(
        events(&mut tutorial).iter().any(|e| matches!(e, Event::Joined(v) if v.channel.id == ChannelId(5)))
    );
    hub.accept_message(message(5, 4));
    assert_eq!(seqs(&mut native), [4], "live delivery starts after the joined head");
    assert!(seqs(&mut tutorial).is_empty());
    hub.member_left(ann.id, ChannelId(5));
    hub.check_invariants();
    assert!(!hub.is_subscribed(native.id, ChannelId(5)));
    assert!(events(&mut native).iter().any(|e| matches!(e, Event::Left(ChannelId(5)))));
}

#[test]
fn typing_reaches_the_others_in_the_channel() {
    let (hub, _asked) = hub();
    let (ann, bob) = (user(1, "ann"), user(2, "bob"));
    let anns = hub.register(&ann, NO_SESSION, Interests::default());
    let mut bobs = hub.register(&bob, NO_SESSION, Interests::default());
    assert!(!hub.relay_typing(anns.id, &ann, ChannelId(1)), "not in the channel");
    hub.subscribe(anns.id, &[view(1, 0)]);
    hub.subscribe(bobs.id, &[view(1, 0)]);
    events(&mut bobs);
    assert!(hub.relay_typing(anns.id, &ann, ChannelId(1)));
    let typing: Vec<Event> = events(&mut bobs);
    assert!(matches!(&typing[..], [Event::Typing { user, .. }] if user == "ann"), "{typing:?}");
    hub.check_invariants();
}

/// One step of a random run against the hub.
#[derive(Debug, Clone)]
enum Op {
    Register {
        user: u8,
        follows: bool,
        watched: bool,
    },
    /// A connection watches the users in this bit set (names in capitals:
    /// watching compares without case).
    Watch {
        pick: u8,
        users: u8,
    },
    Unregister {
        pick: u8,
    },
    Subscribe {
        pick: u8,
        channel: u8,
    },
    Unsubscribe {
        pick: u8,
        channel: u8,
    },
    /// Commits the channel's next seq; it reaches the hub `delay` steps later.
    Commit {
        channel: u8,
        delay: u8,
    },
    Joined {
        user: u8,
        channel: u8,
    },
    Left {
        user: u8,
        channel: u8,
    },
    Expire {
        user: u8,
    },
    Fill {
        channel: u8,
    },
    /// The presence interval ends.
    FlushPresence,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..4u8, any::<bool>(), any::<bool>())
            .prop_map(|(user, follows, watched)| Op::Register { user, follows, watched }),
        1 => (any::<u8>(), 0..16u8).prop_map(|(pick, users)| Op::Watch { pick, users }),
        1 => any::<u8>().prop_map(|pick| Op::Unregister { pick }),
        1 => (any::<u8>(), 0..3u8).prop_map(|(pick, channel)| Op::Subscribe { pick, channel }),
        1 => (any::<u8>(), 0..3u8).prop_map(|(pick, channel)| Op::Unsubscribe { pick, channel }),
        3 => (0..3u8, 0..4u8).prop_map(|(channel, delay)| Op::Commit { channel, delay }),
        1 => (0..4u8, 0..3u8).prop_map(|(user, channel)| Op::Joined { user, channel }),
        1 => (0..4u8, 0..3u8).prop_map(|(user, channel)| Op::Left { user, channel }),
        1 => (0..4u8).prop_map(|user| Op::Expire { user }),
        1 => (0..3u8).prop_map(|channel| Op::Fill { channel }),
        1 => Just(Op::FlushPresence),
    ]
}

proptest! {
    /// Any sequence of connections coming and going, subscriptions,
    /// membership changes and messages arriving out of order keeps the
    /// hub's invariants, and every connection sees each channel's seqs in
    /// strictly increasing order.
    #[test]
    fn random_runs_keep_the_invariants(ops in proptest::collection::vec(op(), 1..120)) {
        let (hub, mut asked) = Hub::new(Vec::new(), 64, Arc::new(Metrics::default()), CancellationToken::new());
        let mut live: Vec<Registration> = Vec::new();
        let mut seen: HashMap<ConnectionId, BTreeMap<ChannelId, Seq>> = HashMap::new();
        let mut heads = [0i64; 3];
        let mut in_flight: Vec<(u8, Message)> = Vec::new();
        let mut generations: HashMap<UserId, u64> = HashMap::new();
        for op in ops {
            match op {
                Op::Register { user: id, follows, watched } => {
                    let interests =
                        Interests { announcements: !follows, follows_memberships: follows, watched_presence: watched };
                    live.push(hub.register(&user(i64::from(id), &format!("u{id}")), NO_SESSION, interests));
                }
                Op::Unregister { pick } if !live.is_empty() => {
                    let registration = live.remove(usize::from(pick) % live.len());
                    hub.unregister(registration.id);
                }
                Op::Subscribe { pick, channel } if !live.is_empty() => {
                    let id = live[usize::from(pick) % live.len()].id;
                    let channel = i64::from(channel);
                    hub.subscribe(id, &[view(channel, heads[channel as usize])]);
                }
                Op::Watch { pick, users } if !live.is_empty() => {
                    let id = live[usize::from(pick) % live.len()].id;
                    let names: Vec<String> = (0..4).filter(|n| users & (1 << n) != 0).map(|n| format!("U{n}")).collect();
                    hub.watch_presence(id, &names);
                }
                Op::Unsubscribe { pick, channel } if !live.is_empty() => {
                    let id = live[usize::from(pick) % live.len()].id;
                    hub.unsubscribe(id, ChannelId(i64::from(channel)));
                }
                Op::Commit { channel, delay } => {
                    heads[usize::from(channel)] += 1;
                    in_flight.push((delay, message(i64::from(channel), heads[usize::from(channel)])));
                }
                Op::Joined { user, channel } => {
                    let channel = i64::from(channel);
                    hub.member_joined(UserId(i64::from(user)), view(channel, heads[channel as usize]));
                }
                Op::Left { user, channel } => hub.member_left(UserId(i64::from(user)), ChannelId(i64::from(channel))),
                Op::Expire { user } => {
                    let user = UserId(i64::from(user));
                    if let Some(generation) = generations.get(&user) {
                        hub.expire_presence(user, *generation);
                    }
                }
                Op::FlushPresence => hub.flush_presence(),
                Op::Fill { channel } => {
                    // The driver's fill: everything committed after the
                    // delivered seq, as the store would return it.
                    let channel = ChannelId(i64::from(channel));
                    if let Some(after) = hub.fill_from(channel) {
                        for seq in after.0 + 1..=heads[channel.0 as usize] {
                            hub.accept_message(message(channel.0, seq));
                        }
                    }
                }
                _ => {}
            }
            // Messages in flight arrive when their delay runs out, so
            // commits overtake each other.
            let mut arriving = Vec::new();
            in_flight.retain_mut(|(delay, message)| {
                if *delay == 0 {
                    arriving.push(message.clone());
                    false
                } else {
                    *delay -= 1;
                    true
                }
            });
            arriving.into_iter().for_each(|message| hub.accept_message(message));
            for request in requests(&mut asked) {
                if let HubRequest::ExpirePresence { user, generation } = request {
                    generations.insert(user, generation);
                }
            }
            hub.check_invariants();
            for registration in &mut live {
                let cursors = seen.entry(registration.id).or_default();
                for event in events(registration) {
                    if let Event::Message { message, .. } = event {
                        let last = cursors.insert(message.channel, message.seq);
                        prop_assert!(last.is_none_or(|last| last < message.seq), "{:?} after {last:?}", message.seq);
                    }
                }
            }
        }
    }
}

#[test]
fn the_list_after_a_departure_leaves_out_who_arrives_after_it() {
    let (hub, _asked) = hub();
    let mut watcher = hub.register(&user(1, "ann"), NO_SESSION, Interests::default());
    hub.set_remote_presence(vec![(UserId(2), "xavier".into())]);
    presence(&hub, &mut watcher);
    // One bus update: xavier went, yann came; then zoe comes here.
    hub.set_remote_presence(vec![(UserId(3), "yann".into())]);
    let zoe = hub.register(&user(4, "zoe"), NO_SESSION, Interests::default());
    let changes = presence_changes(&hub, &mut watcher);
    let names: Vec<(&str, bool)> = changes.iter().map(|(user, online, _)| (user.as_str(), *online)).collect();
    assert_eq!(names, [("xavier", false), ("yann", true), ("zoe", true)]);
    // What the Socket.IO edge sends with xavier's `user has left`, however
    // late it encodes it: the list right after that departure.
    assert_eq!(hub.online_users_after(changes[0].2), ["ann"]);
    assert_eq!(hub.online_users_after(changes[1].2), ["ann", "yann"]);
    assert_eq!(hub.online_users_after(changes[2].2), ["ann", "yann", "zoe"]);
    assert_eq!(told(&hub), ["ann", "yann", "zoe"]);
    hub.unregister(zoe.id);
    hub.check_invariants();
}

#[test]
fn a_connection_knows_which_presence_changes_it_has_been_shown() {
    let (hub, _asked) = hub();
    let _alice = hub.register(&user(1, "alice"), NO_SESSION, Interests::default());
    let _bob = hub.register(&user(2, "bob"), NO_SESSION, Interests::default());
    // Carol registers in the same interval: the batch she will get still
    // holds alice's and bob's arrivals, which her list already shows.
    let mut carol = hub.register(&user(3, "carol"), NO_SESSION, Interests::default());
    let shown = hub.online_users();
    assert_eq!(shown.names, ["alice", "bob", "carol"]);
    assert_eq!(shown.as_of, carol.presence_version, "her own arrival is the last change she was shown");
    hub.set_remote_presence(vec![(UserId(9), "dave".into())]);
    hub.check_invariants();
    let batch = presence_changes(&hub, &mut carol);
    assert_eq!(batch.len(), 4, "everything of the interval is in her batch");
    let news: Vec<(String, bool)> = batch
        .into_iter()
        .filter(|(_, _, version)| *version > carol.presence_version)
        .map(|(name, online, _)| (name, online))
        .collect();
    assert_eq!(news, [("dave".into(), true)]);
}

#[test]
fn a_large_interval_is_told_in_bounded_deliveries() {
    let (hub, _asked) = hub();
    let mut watcher = hub.register(&user(1, "ann"), NO_SESSION, Interests::default());
    hub.flush_presence();
    events(&mut watcher);
    let remote: Vec<(UserId, String)> = (0..600).map(|n| (UserId(1000 + n), format!("u{n:03}"))).collect();
    hub.set_remote_presence(remote);
    hub.flush_presence();
    hub.check_invariants();
    let sizes: Vec<usize> = events(&mut watcher)
        .iter()
        .map(|event| match event {
            Event::Presence(changes) => changes.len(),
            other => panic!("expected presence, got {other:?}"),
        })
        .collect();
    assert_eq!(sizes, [PRESENCE_BATCH_MAX, PRESENCE_BATCH_MAX, 600 - 2 * PRESENCE_BATCH_MAX]);
}

const WATCHING: Interests =
    Interests { announcements: false, follows_memberships: true, watched_presence: true };

/// The pages told: names (when they changed) and the count.
fn pages(registration: &mut Registration) -> Vec<(Option<Vec<String>>, usize)> {
    events(registration)
        .into_iter()
        .filter_map(|event| match event {
            Event::OnlinePage { page, names_changed } => {
                Some((names_changed.then(|| page.names.clone()), page.total))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_watching_connection_hears_only_whom_it_watches_and_the_first_page() {
    let (hub, _asked) = hub();
    // The presence clock, in seconds from now: pages are told at most once
    // per ONLINE_PAGE_EVERY (2 s).
    let start = std::time::Instant::now();
    let flush_at = |seconds: f64| hub.flush_presence_at(start + Duration::from_secs_f64(seconds));
    let mut ann = hub.register(&user(1, "ann"), NO_SESSION, WATCHING);
    let mut everyone = hub.register(&user(2, "zed"), NO_SESSION, Interests::default());
    assert_eq!(hub.online_page(), OnlinePage::default(), "nothing told yet");
    flush_at(0.0);
    assert_eq!(pages(&mut ann), [(Some(vec!["ann".into(), "zed".into()]), 2)], "the first page at once");
    assert_eq!(hub.online_page().names, ["ann", "zed"], "a newcomer is welcomed with the page told");
    events(&mut everyone);
    let (status, _) = hub.watch_presence(ann.id, &["BOB".into(), "zed".into()]);
    assert_eq!(
        status,
        [("BOB".into(), false), ("zed".into(), true)],
        "the online spelling, or the one asked"
    );
    hub.check_invariants();

    let _bob = hub.register(&user(3, "bob"), NO_SESSION, Interests::default());
    let _carl = hub.register(&user(4, "carl"), NO_SESSION, Interests::default());
    hub.check_invariants();
    flush_at(0.2);
    hub.check_invariants();
    let heard = events(&mut everyone);
    assert_eq!(heard.len(), 1, "hearing everyone: one batch of both arrivals");
    let heard = events(&mut ann);
    let changes: Vec<(String, bool)> = heard
        .iter()
        .flat_map(|event| match event {
            Event::Presence(changes) => changes.iter().map(|c| (c.name.clone(), c.online)).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(changes, [("bob".into(), true)], "carl is not watched");
    assert!(!heard.iter().any(|event| matches!(event, Event::OnlinePage { .. })), "the page waits its 2 s");
    flush_at(1.0);
    assert!(pages(&mut ann).is_empty(), "still waiting");
    flush_at(2.0);
    assert_eq!(pages(&mut ann), [(Some(vec!["ann".into(), "bob".into(), "carl".into(), "zed".into()]), 4)]);
    hub.check_invariants();

    // A full page of names before everyone's: the names change.
    let mut remote: Vec<(UserId, String)> =
        (0..ONLINE_PAGE as i64).map(|n| (UserId(100 + n), format!("a{n:02}"))).collect();
    hub.set_remote_presence(remote.clone());
    flush_at(5.0);
    let (names, total) = pages(&mut ann).pop().expect("a new page, told at once after a quiet spell");
    let names = names.expect("with its names");
    assert_eq!((names.len(), names[0].as_str(), total), (ONLINE_PAGE, "a00", ONLINE_PAGE + 4));
    flush_at(10.0);
    assert!(pages(&mut ann).is_empty(), "nothing changed, nothing is told");

    // An arrival past the first page changes only the count: told without
    // names.
    remote.push((UserId(999), "zz".into()));
    hub.set_remote_presence(remote);
    flush_at(10.2);
    assert_eq!(pages(&mut ann), [(None, ONLINE_PAGE + 5)]);
    assert_eq!(hub.online_page().total, ONLINE_PAGE + 5);
    assert_eq!(hub.online_names("A0", Some("a07"), 2), (vec!["a08".into(), "a09".into()], false));
    assert!(hub.online_names("a", None, 3).1, "more names start with a");

    // Watching nothing hears nothing but pages; a connection that leaves is
    // forgotten.
    hub.watch_presence(ann.id, &[]);
    hub.unregister(everyone.id);
    hub.expire_presence(UserId(2), 1);
    hub.check_invariants();
    flush_at(20.0);
    let heard = events(&mut ann);
    assert!(!heard.is_empty() && heard.iter().all(|event| matches!(event, Event::OnlinePage { .. })));
    hub.unregister(ann.id);
    hub.check_invariants();
    // With nobody hearing everyone, the list of everyone was not rebuilt at
    // the flushes; the first who hears everyone gets it whole.
    let _late = hub.register(&user(5, "late"), NO_SESSION, Interests::default());
    hub.check_invariants();
    assert_eq!(hub.online_users().names, hub.online_users_after(u64::MAX));
    assert!(hub.online_users().names.contains(&"late".to_owned()));
}
