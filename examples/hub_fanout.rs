//! Fan-out through the hub alone, without sockets or a store: how many
//! messages per second T threads push through `Hub::accept_message`, each
//! thread publishing to rooms of its own and draining its rooms'
//! subscribers' queues, as the connections' tasks would. It shows whether
//! fan-out for different channels runs in parallel (a lock per route shard)
//! or in turn (one lock for the whole hub).
//!
//! `cargo run --release --example hub_fanout -- [seconds] [rooms per thread] [room size] [repetitions]`
//!
//! Prints, per thread count up to the machine's cores, the median of the
//! repetitions (and their range) in messages and deliveries per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use natter::hub::{Hub, Interests, NO_SESSION, Registration};
use natter::metrics::Metrics;
use natter::model::{
    Channel, ChannelId, ChannelKind, ChannelView, Message, MessageId, NotifyLevel, Rev, Seq, User, UserId,
};
use tokio_util::sync::CancellationToken;

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().expect("arguments are numbers"));
    let seconds = args.next().unwrap_or(2);
    let rooms = args.next().unwrap_or(100) as i64;
    let room_size = args.next().unwrap_or(10) as i64;
    let repetitions = args.next().unwrap_or(3);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{rooms} rooms of {room_size} per thread, {seconds} s a run, {repetitions} repetitions, {cores} cores"
    );
    println!("{:>7} {:>14} {:>22} {:>16}", "threads", "messages/s", "(range)", "deliveries/s");
    for threads in 1..=cores {
        let mut rates: Vec<f64> = (0..repetitions).map(|_| run(threads, rooms, room_size, seconds)).collect();
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        let range = format!("({:.0}-{:.0})", rates[0], rates[rates.len() - 1]);
        println!("{threads:>7} {median:>14.0} {range:>22} {:>16.0}", median * room_size as f64);
    }
}

/// One run: messages per second over all threads.
fn run(threads: usize, rooms: i64, room_size: i64, seconds: u64) -> f64 {
    let heads: Vec<(ChannelId, Rev)> = Vec::new();
    let (hub, _requests) = Hub::new(heads, 64, Arc::new(Metrics::default()), CancellationToken::new());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..threads as i64)
        .map(|thread| {
            let hub = Arc::clone(&hub);
            let first_room = thread * rooms + 1;
            // Registered before the clock matters: every thread's rooms and
            // subscribers exist before any thread publishes much.
            let mut subscribers = subscribe(&hub, first_room, rooms, room_size);
            std::thread::spawn(move || {
                let mut sent = 0u64;
                let mut seq = 0;
                while Instant::now() < deadline {
                    seq += 1;
                    for room in first_room..first_room + rooms {
                        hub.accept_message(message(room, seq));
                    }
                    sent += rooms as u64;
                    for registration in &mut subscribers {
                        while registration.deliveries.try_recv().is_some() {}
                    }
                }
                sent
            })
        })
        .collect();
    let sent: u64 = workers.into_iter().map(|worker| worker.join().expect("a worker panicked")).sum();
    sent as f64 / started.elapsed().as_secs_f64()
}

/// `room_size` connections (each its own user) in each of `rooms` rooms.
fn subscribe(hub: &Hub, first_room: i64, rooms: i64, room_size: i64) -> Vec<Registration> {
    let mut registrations = Vec::new();
    for room in first_room..first_room + rooms {
        for member in 0..room_size {
            let id = room * 1_000 + member;
            let user = User { id: UserId(id), name: format!("u{id}"), guest: true };
            let registration = hub.register(&user, NO_SESSION, Interests::default());
            hub.subscribe(registration.id, &[view(room)]);
            registrations.push(registration);
        }
    }
    registrations
}

fn view(room: i64) -> ChannelView {
    ChannelView {
        channel: Channel { id: ChannelId(room), name: format!("room{room}"), kind: ChannelKind::Public },
        last_seq: Seq(0),
        last_rev: Rev(0),
        unread: 0,
        mentions: 0,
        notify: NotifyLevel::All,
        read_seq: Seq(0),
        member: true,
        dm_members: Vec::new(),
        added_by: None,
        joined_at: 0,
        about: Default::default(),
    }
}

fn message(room: i64, seq: i64) -> Message {
    Message {
        id: MessageId(room * 1_000_000 + seq),
        channel: ChannelId(room),
        seq: Seq(seq),
        sender: UserId(room * 1_000),
        sender_name: "sender".into(),
        client_id: String::new(),
        body: "hello".into(),
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
