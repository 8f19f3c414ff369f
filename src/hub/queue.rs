//! One connection's delivery queue: bounded, filled by the hub without
//! waiting, drained by the connection's task.
//!
//! Why not `tokio::sync::mpsc`: a bounded tokio channel allocates its
//! cache-padded state and its first block of slots when it is created,
//! about 800 bytes per connection before anything is delivered, and most
//! connections sit idle. This queue is one small allocation; its slots are
//! allocated at the first delivery and released when a large backlog has
//! drained. A wake is sent only when the task is waiting: deliveries that
//! arrive while it is busy are picked up by the same wake.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

use super::Delivery;

/// Slots allocated at the first delivery.
const FIRST_SLOTS: usize = 4;
/// Slots kept after the queue drains: what a busy connection takes per
/// wake (a write batch is 64 deliveries), so it does not reallocate under
/// the hub's lock on every burst. A larger backlog's slots are freed.
const SLOTS_KEPT: usize = 64;

/// The hub's end: offers deliveries. Dropping it ends the receiver's stream
/// once what is queued has been taken.
pub(super) struct DeliverySender {
    shared: Arc<Shared>,
}

/// The connection's end.
pub struct Deliveries {
    shared: Arc<Shared>,
}

/// Why a delivery was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotQueued {
    Full,
    /// The receiver is gone.
    Closed,
}

struct Shared {
    state: Mutex<State>,
    waker: AtomicWaker,
}

struct State {
    items: VecDeque<Arc<Delivery>>,
    capacity: usize,
    sender_alive: bool,
    receiver_alive: bool,
}

/// A queue holding at most `capacity` deliveries.
pub(super) fn delivery_queue(capacity: usize) -> (DeliverySender, Deliveries) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            capacity,
            sender_alive: true,
            receiver_alive: true,
        }),
        waker: AtomicWaker::new(),
    });
    (DeliverySender { shared: Arc::clone(&shared) }, Deliveries { shared })
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned state is whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DeliverySender {
    pub(super) fn try_send(&self, delivery: Arc<Delivery>) -> Result<(), NotQueued> {
        {
            let mut state = self.shared.lock();
            if !state.receiver_alive {
                return Err(NotQueued::Closed);
            }
            if state.items.len() >= state.capacity {
                return Err(NotQueued::Full);
            }
            if state.items.capacity() == 0 {
                state.items.reserve_exact(FIRST_SLOTS);
            }
            state.items.push_back(delivery);
        }
        self.shared.waker.wake();
        Ok(())
    }
}

impl Drop for DeliverySender {
    fn drop(&mut self) {
        self.shared.lock().sender_alive = false;
        self.shared.waker.wake();
    }
}

impl Deliveries {
    /// The next delivery; `None` once the hub let go of the connection and
    /// everything queued was taken. Cancel-safe: a delivery is taken only
    /// when it is returned.
    pub fn recv(&mut self) -> impl Future<Output = Option<Arc<Delivery>>> + '_ {
        poll_fn(|context| self.poll_recv(context))
    }

    /// The next delivery if one is queued.
    pub fn try_recv(&mut self) -> Option<Arc<Delivery>> {
        self.take().ok()
    }

    fn poll_recv(&self, context: &mut Context<'_>) -> Poll<Option<Arc<Delivery>>> {
        if let Ok(delivery) = self.take() {
            return Poll::Ready(Some(delivery));
        }
        // Register, then look again: a delivery queued in between is
        // either seen now or wakes the registered waker.
        self.shared.waker.register(context.waker());
        match self.take() {
            Ok(delivery) => Poll::Ready(Some(delivery)),
            Err(Open::No) => Poll::Ready(None),
            Err(Open::Yes) => Poll::Pending,
        }
    }

    /// The front delivery, or whether more may come.
    fn take(&self) -> Result<Arc<Delivery>, Open> {
        let mut state = self.shared.lock();
        match state.items.pop_front() {
            Some(delivery) => {
                if state.items.is_empty() && state.items.capacity() > SLOTS_KEPT {
                    state.items = VecDeque::new();
                }
                Ok(delivery)
            }
            None if state.sender_alive => Err(Open::Yes),
            None => Err(Open::No),
        }
    }
}

impl Drop for Deliveries {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_alive = false;
        // Nothing will read them; let their memory go now.
        state.items = VecDeque::new();
    }
}

/// Whether the queue may still deliver.
enum Open {
    Yes,
    No,
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures_util::task::ArcWake;

    use super::*;
    use crate::hub::Event;
    use crate::model::ChannelId;

    fn delivery() -> Arc<Delivery> {
        Delivery::new(Event::Left(ChannelId(1)))
    }

    #[test]
    fn holds_at_most_its_capacity_in_order() {
        let (sender, mut receiver) = delivery_queue(2);
        let (first, second) = (delivery(), delivery());
        sender.try_send(Arc::clone(&first)).unwrap();
        sender.try_send(Arc::clone(&second)).unwrap();
        assert_eq!(sender.try_send(delivery()), Err(NotQueued::Full));
        assert!(Arc::ptr_eq(&receiver.try_recv().unwrap(), &first));
        assert!(Arc::ptr_eq(&receiver.try_recv().unwrap(), &second));
        assert!(receiver.try_recv().is_none());
    }

    /// A waker that records whether it was woken, and polls a receiver
    /// with itself as `recv` does.
    struct Watcher(AtomicBool);

    impl ArcWake for Watcher {
        fn wake_by_ref(watcher: &Arc<Self>) {
            watcher.0.store(true, Ordering::SeqCst);
        }
    }

    impl Watcher {
        fn new() -> Arc<Self> {
            Arc::new(Self(AtomicBool::new(false)))
        }

        fn poll(self: &Arc<Self>, receiver: &Deliveries) -> Poll<Option<Arc<Delivery>>> {
            let waker = futures_util::task::waker(Arc::clone(self));
            receiver.poll_recv(&mut Context::from_waker(&waker))
        }

        fn woken(&self) -> bool {
            self.0.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn a_closed_receiver_refuses_and_a_dropped_sender_ends_the_stream_after_the_backlog() {
        let (sender, receiver) = delivery_queue(4);
        drop(receiver);
        assert_eq!(sender.try_send(delivery()), Err(NotQueued::Closed));

        let (sender, receiver) = delivery_queue(4);
        sender.try_send(delivery()).unwrap();
        drop(sender);
        let watcher = Watcher::new();
        assert!(matches!(watcher.poll(&receiver), Poll::Ready(Some(_))));
        assert!(matches!(watcher.poll(&receiver), Poll::Ready(None)));
    }

    #[test]
    fn a_waiting_receiver_is_woken_by_a_delivery_and_when_the_hub_lets_go() {
        let (sender, receiver) = delivery_queue(4);
        let watcher = Watcher::new();
        assert!(watcher.poll(&receiver).is_pending());
        sender.try_send(delivery()).unwrap();
        assert!(watcher.woken(), "the delivery woke the waiting receiver");
        assert!(matches!(watcher.poll(&receiver), Poll::Ready(Some(_))));

        let watcher = Watcher::new();
        assert!(watcher.poll(&receiver).is_pending());
        drop(sender);
        assert!(watcher.woken(), "the hub letting go woke the waiting receiver");
        assert!(matches!(watcher.poll(&receiver), Poll::Ready(None)));
    }

    #[test]
    fn a_drained_backlog_lets_its_slots_go() {
        let (sender, mut receiver) = delivery_queue(1024);
        for _ in 0..500 {
            sender.try_send(delivery()).unwrap();
        }
        while receiver.try_recv().is_some() {}
        assert_eq!(receiver.shared.lock().items.capacity(), 0);
    }
}
