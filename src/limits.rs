//! Limits on everything a client controls, and the token bucket that enforces
//! rates. The numbers are policy, so they live in one struct with documented
//! defaults that the CLI can override.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Largest frame the server sends in answer to a request (a history page, a
/// channel page, a welcome frame). Connections buffer up to four frames of
/// `max_frame_bytes` (64 KiB) for writing; a bigger reply could never be
/// sent, and the client would be dropped instead of answered. Lists that
/// would be longer are cut and say so (`has_more`, `welcome_more`).
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Messages a user may post per second, sustained (over all connections).
    pub messages_per_second: f64,
    /// Messages a user may post in a burst above the sustained rate.
    pub message_burst: f64,
    /// Typing events relayed per channel per connection: at most one per this.
    pub typing_interval: Duration,
    /// Channels one user may create.
    pub channels_per_user: u32,
    /// Largest WebSocket message (and frame) accepted; bigger closes with 1009.
    pub max_frame_bytes: usize,
    /// Frames queued to one connection before it is judged too slow.
    pub outbound_queue: usize,
    /// Grace period after a user's last connection closes before they are
    /// shown offline, so a reload does not flap.
    pub presence_grace: Duration,
    /// How often the server pings each WebSocket.
    pub heartbeat_interval: Duration,
    /// A connection that sends nothing (not even a pong) for this long is closed.
    pub idle_timeout: Duration,
    /// Largest HTTP request body.
    pub max_http_body_bytes: usize,
    /// How long an HTTP connection may take to send a complete request head,
    /// counted from when it opened or from its last response: one timer
    /// closes both connections that trickle headers and idle keep-alive
    /// connections. Requests in progress and WebSockets are not affected.
    pub http_header_timeout: Duration,
    /// How long a session stays valid.
    pub session_ttl: Duration,
    /// Connections (plain HTTP, WebSocket and Socket.IO alike) the node
    /// holds at once; more are refused (503). Clamped at start to what the
    /// open-files limit allows.
    pub max_connections: usize,
    /// Connections from one client address at once; more are refused (429).
    /// Generous, because an office may share one address. A trusted proxy's
    /// own connections are exempt; its clients' sessions count against them.
    pub max_connections_per_ip: usize,
    /// Consecutive failed logins for one username (from one address, and
    /// from all addresses that failed) before it is locked out; each further
    /// failure doubles the lockout, starting at one second, up to 15 minutes.
    pub login_failures_before_lockout: u32,
    /// Failed logins one client address may make per minute (also the
    /// burst); more are refused with 429. Successful logins do not count.
    pub failed_logins_per_minute: f64,
    /// Accounts (registered or guest) one client address may create per
    /// minute, also the burst; more are refused with 429.
    pub account_creations_per_minute: f64,
    /// Requests other than `send` one connection may make per second
    /// (history, joins, invites...), sustained, and in a burst.
    pub requests_per_second: f64,
    pub request_burst: f64,
    /// Channels one user may be added to by others per hour (also the
    /// burst); more invitations are refused with `limit_reached`.
    pub invitations_per_hour: f64,
    /// Reads (history pages, channel lists, channel switches) one user may
    /// make per second over all their connections, sustained; twice that in
    /// a burst. More are refused with `rate_limited`.
    pub reads_per_user_per_second: f64,
    /// The same for all connections from one client address.
    pub reads_per_address_per_second: f64,
    /// Changes a resuming client may have missed in one channel (`hello`
    /// with a rev) before it is sent `reset` instead of a replay.
    pub max_resume_changes: u64,
    /// Searches one user may make per minute over all their connections
    /// (also the burst); more are refused with `rate_limited`.
    pub searches_per_minute: f64,
    /// Largest file one upload may hold (`POST /api/files`); a larger one
    /// is cut off at this size with `413 file_too_large`.
    pub max_file_bytes: u64,
    /// Most bytes one user may hold in files (those not deleted); an
    /// upload past it is refused with `413 quota_exceeded`.
    pub upload_quota_bytes: u64,
    /// How long an upload may wait to be attached to a message before it
    /// is deleted.
    pub upload_ttl: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            messages_per_second: 10.0,
            message_burst: 20.0,
            typing_interval: Duration::from_secs(2),
            channels_per_user: 100,
            max_frame_bytes: 64 * 1024,
            outbound_queue: 1024,
            presence_grace: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            max_http_body_bytes: 16 * 1024,
            http_header_timeout: Duration::from_secs(10),
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            max_connections: 100_000,
            max_connections_per_ip: 1_000,
            login_failures_before_lockout: 5,
            failed_logins_per_minute: 10.0,
            account_creations_per_minute: 30.0,
            requests_per_second: 20.0,
            request_burst: 50.0,
            invitations_per_hour: 30.0,
            reads_per_user_per_second: 40.0,
            reads_per_address_per_second: 100.0,
            max_resume_changes: 5_000,
            searches_per_minute: 30.0,
            max_file_bytes: 100 * 1024 * 1024,
            upload_quota_bytes: 1024 * 1024 * 1024,
            upload_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// A token bucket: `rate` tokens per second, holding at most `burst`.
///
/// Hand-written rather than `governor`'s: callers look before they take
/// (several buckets must all have a token before any is taken), give a token
/// back ([`TokenBucket::refund`]) and evict full buckets from maps they own
/// and lock themselves; none of which governor's limiters offer. Rates and
/// bursts are the CLI's plain numbers, zero included, the same ones the
/// cross-node budgets in Redis take.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self { rate, burst, tokens: burst, refilled_at: Instant::now() }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }

    /// Gives back a token taken for something that turned out not to count.
    pub fn refund(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.burst);
    }

    /// Whether a token is there now, without taking it.
    pub fn has_token(&self) -> bool {
        let elapsed = self.refilled_at.elapsed().as_secs_f64();
        self.tokens + elapsed * self.rate >= 1.0
    }

    /// Whether the bucket has refilled completely (its user has been idle).
    pub fn is_full(&self) -> bool {
        let elapsed = self.refilled_at.elapsed().as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst
    }

    fn try_take_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled_at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Keys (addresses, users) tracked per table of token buckets before idle
/// ones are forgotten, bounding memory.
pub const TRACKED_BUCKETS: usize = 10_000;

/// The address a per-address limit counts under: an IPv4 address as it is,
/// an IPv6 address by its /64 network (one customer's allocation, so taking a
/// fresh address from it buys nothing), an IPv4-mapped IPv6 address as IPv4.
pub fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// One token bucket per client address (per [`address_key`]).
pub struct AddressBuckets {
    rate: f64,
    burst: f64,
    buckets: HashMap<IpAddr, TokenBucket>,
}

impl AddressBuckets {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self { rate, burst, buckets: HashMap::new() }
    }

    /// Whether `address`'s bucket has a token, without taking it.
    pub fn has_token(&mut self, address: IpAddr) -> bool {
        self.buckets.get(&address_key(address)).is_none_or(|bucket| bucket.has_token())
    }

    /// Gives a token back to `address`'s bucket (see [`TokenBucket::refund`]).
    pub fn refund(&mut self, address: IpAddr) {
        if let Some(bucket) = self.buckets.get_mut(&address_key(address)) {
            bucket.refund();
        }
    }

    /// Takes a token from `address`'s bucket, if it has one.
    pub fn take(&mut self, address: IpAddr) -> bool {
        if self.buckets.len() >= TRACKED_BUCKETS {
            // Full buckets carry no state worth keeping.
            self.buckets.retain(|_, bucket| !bucket.is_full());
        }
        let (rate, burst) = (self.rate, self.burst);
        self.buckets.entry(address_key(address)).or_insert_with(|| TokenBucket::new(rate, burst)).try_take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket { rate: 10.0, burst: 3.0, tokens: 3.0, refilled_at: start };
        assert!(bucket.try_take_at(start));
        assert!(bucket.try_take_at(start));
        assert!(bucket.try_take_at(start));
        assert!(!bucket.try_take_at(start));
        assert!(bucket.try_take_at(start + Duration::from_millis(100)));
        assert!(!bucket.try_take_at(start + Duration::from_millis(100)));
        // Idle time refills only up to the burst.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| bucket.try_take_at(later)));
        assert!(!bucket.try_take_at(later));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_network() {
        let key = |text: &str| address_key(text.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:10.0.0.1"), key("10.0.0.1"));
        assert_ne!(key("10.0.0.1"), key("10.0.0.2"));
        let mut buckets = AddressBuckets::new(0.0, 2.0);
        assert!(buckets.take("2001:db8::1".parse().unwrap()) && buckets.take("2001:db8::2".parse().unwrap()));
        assert!(!buckets.take("2001:db8::3".parse().unwrap()), "one /64, one budget");
    }
}
