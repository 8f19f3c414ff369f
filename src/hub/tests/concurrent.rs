//! The hub from several threads at once: channels fan out under their own
//! route shards while connections come, join, leave and go under the hub's
//! lock. Each channel's subscribers still get its messages once each, in
//! rev order, and a joining connection hears `Joined` before any message of
//! the channel. And what that relies on: an outlet the hub ended offers
//! nothing more.

use std::sync::Barrier;
use std::thread;

use super::*;

/// Messages each publishing thread sends to its channel.
const MESSAGES: i64 = 2_000;
const PUBLISHERS: i64 = 4;

/// A queue long enough that no reader here is ever too slow.
fn roomy_hub() -> Arc<Hub> {
    let heads = (1..=PUBLISHERS).map(|channel| (ChannelId(channel), Rev(0))).collect();
    Hub::new(heads, 1 << 16, Arc::new(Metrics::default()), CancellationToken::new()).0
}

#[test]
fn channels_fan_out_in_parallel_each_in_order() {
    let hub = roomy_hub();
    // One steady reader per channel, subscribed before anything is sent.
    let mut readers: Vec<Registration> = (1..=PUBLISHERS)
        .map(|channel| {
            let reader =
                hub.register(&user(channel, &format!("reader{channel}")), NO_SESSION, Interests::default());
            hub.subscribe(reader.id, &[view(channel, 0)]);
            reader
        })
        .collect();
    let start = Arc::new(Barrier::new(PUBLISHERS as usize + 1));
    let publishers: Vec<_> = (1..=PUBLISHERS)
        .map(|channel| {
            let (hub, start) = (Arc::clone(&hub), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                for seq in 1..=MESSAGES {
                    hub.accept_message(message(channel, seq));
                }
            })
        })
        .collect();
    // Meanwhile connections come and go, joining and leaving every channel.
    let churn = {
        let hub = Arc::clone(&hub);
        thread::spawn(move || {
            start.wait();
            for round in 0..200 {
                let visitor = user(1_000 + round, &format!("visitor{round}"));
                let mut registration = hub.register(&visitor, NO_SESSION, Interests::default());
                for channel in 1..=PUBLISHERS {
                    hub.member_joined(visitor.id, view(channel, 0));
                }
                joined_before_its_messages(&mut registration);
                for channel in 1..=PUBLISHERS {
                    hub.member_left(visitor.id, ChannelId(channel));
                }
                hub.unregister(registration.id);
            }
        })
    };
    for publisher in publishers {
        publisher.join().expect("a publisher panicked");
    }
    churn.join().expect("the churn panicked");
    hub.check_invariants();
    for reader in &mut readers {
        assert_eq!(seqs(reader), (1..=MESSAGES).collect::<Vec<_>>(), "every message once, in order");
        assert!(!reader.end.ended.is_cancelled(), "no reader was judged too slow");
    }
}

/// Every message a connection got follows its channel's `Joined`.
fn joined_before_its_messages(registration: &mut Registration) {
    let mut joined = std::collections::HashSet::new();
    for event in events(registration) {
        match event {
            Event::Joined(view) => {
                joined.insert(view.channel.id);
            }
            Event::Message { message, .. } => {
                assert!(
                    joined.contains(&message.channel),
                    "a message of {:?} came before Joined",
                    message.channel
                );
            }
            _ => {}
        }
    }
}

#[test]
fn a_connection_whose_session_ended_is_offered_nothing_more() {
    let hub = roomy_hub();
    let ann = user(1, "ann");
    let mut ended = hub.register(&ann, [7; 32], Interests::default());
    let mut other = hub.register(&user(2, "bob"), NO_SESSION, Interests::default());
    hub.subscribe(ended.id, &[view(1, 0)]);
    hub.subscribe(other.id, &[view(1, 0)]);
    hub.accept_message(message(1, 1));
    hub.end_session([7; 32]);
    assert_eq!(ended.end.ended_by_hub(), Some(Ended::SessionEnded));
    hub.accept_message(message(1, 2));
    hub.check_invariants();
    assert_eq!(seqs(&mut ended), [1], "nothing after its end");
    assert_eq!(seqs(&mut other), [1, 2]);
}
