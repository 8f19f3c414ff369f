//! Convergence of changing messages: random interleavings of send, edit,
//! delete, react, disconnect, reconnect (resuming by rev) and server restart
//! across three clients. Each client keeps what it was shown by the merge
//! rule (per seq, the highest rev); at the end every client's state equals
//! a fresh read of the history. Seeded: a failure names its seed, and
//! `CONVERGENCE_SEED=n` replays it.

use std::collections::BTreeMap;

use natter::protocol::{MessageInfo, ServerMessage};
use serde_json::json;

use crate::harness::{Client, GENERAL, TestServer, unpack};

/// A small deterministic generator (xorshift64*), so a seed replays a run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// What one client holds of General, as a client following the protocol
/// would: messages by seq (the highest rev wins), and how far the stream of
/// changes has brought it (`stream_rev`: only `message`/`update` frames move
/// it, never a history page, which may show a change whose predecessors are
/// still on their way).
pub struct Member {
    pub name: &'static str,
    pub token: String,
    pub client: Option<Client>,
    pub held: BTreeMap<i64, MessageInfo>,
    pub stream_rev: i64,
}

impl Member {
    fn keep(&mut self, message: MessageInfo) {
        match self.held.get(&message.seq) {
            Some(known) if known.rev >= message.rev => {}
            _ => {
                self.held.insert(message.seq, message);
            }
        }
    }

    pub fn new(name: &'static str, token: String) -> Self {
        Self { name, token, client: None, held: BTreeMap::new(), stream_rev: 0 }
    }

    /// Connects, resuming from what it holds (or loading the latest page
    /// the first time and after a reset).
    pub async fn connect(&mut self, server: &TestServer) {
        let mut client = Client::connect(server, &self.token).await;
        let resume = match (self.held.keys().next(), self.held.keys().next_back()) {
            (Some(first), Some(last)) => {
                json!({ GENERAL.to_string(): {"seq": last, "rev": self.stream_rev, "held_from": first} })
            }
            _ => json!({}),
        };
        let welcome = client.hello(resume).await;
        if self.held.is_empty() {
            let head = welcome.channels.iter().find(|c| c.id == GENERAL).expect("General").last_rev;
            self.stream_rev = self.stream_rev.max(head);
            let reply = client.request(json!({"type": "history", "channel": GENERAL, "limit": 200})).await;
            for message in unpack!(reply, ServerMessage::History { messages, .. } => messages) {
                self.keep(message);
            }
        }
        self.client = Some(client);
    }

    pub async fn ensure_connected(&mut self, server: &TestServer) -> &mut Client {
        if self.client.is_none() {
            self.connect(server).await;
        }
        self.client.as_mut().expect("connected")
    }

    /// Takes every change frame up to `rev`, in the order they come.
    pub async fn catch_up_to(&mut self, rev: i64) {
        while self.stream_rev < rev {
            let client = self.client.as_mut().expect("connected");
            let what = format!("{}'s changes up to rev {rev} (at {})", self.name, self.stream_rev);
            let frame = client
                .recv_until(&what, |f| {
                    matches!(
                        f,
                        ServerMessage::Message(_) | ServerMessage::Update(_) | ServerMessage::Reset { .. }
                    )
                })
                .await;
            match frame {
                ServerMessage::Message(message) | ServerMessage::Update(message) => {
                    assert!(
                        message.rev > self.stream_rev,
                        "{}: rev {} after {}",
                        self.name,
                        message.rev,
                        self.stream_rev
                    );
                    self.stream_rev = message.rev;
                    self.keep(message);
                }
                other => panic!("{}: no reset is expected at this size: {other:?}", self.name),
            }
        }
    }
}

/// Every message of General as it stands, read fresh.
pub async fn fresh_history(server: &TestServer, token: &str) -> BTreeMap<i64, MessageInfo> {
    let mut reader = Client::connect(server, token).await;
    reader.hello(json!({})).await;
    let mut all = BTreeMap::new();
    let mut before: Option<i64> = None;
    loop {
        let mut request = json!({"type": "history", "channel": GENERAL, "limit": 200});
        if let Some(before) = before {
            request["before"] = json!(before);
        }
        let reply = reader.request(request).await;
        let (messages, has_more) =
            unpack!(reply, ServerMessage::History { messages, has_more, .. } => (messages, has_more));
        before = messages.first().map(|m| m.seq);
        all.extend(messages.into_iter().map(|m| (m.seq, m)));
        if !has_more {
            return all;
        }
    }
}

async fn run(seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut server = TestServer::start().await;
    let mut members = Vec::new();
    for name in ["alice", "bob", "carol"] {
        members.push(Member::new(name, server.register(name).await));
    }
    // Each client's own messages, by seq, to edit and delete.
    let mut sent: Vec<Vec<i64>> = vec![Vec::new(); 3];
    let emoji = ["👍", "🎉", "👀"];
    for step in 0..40 {
        let who = rng.below(3);
        let roll = rng.below(100);
        if roll < 4 {
            server.restart().await;
            members.iter_mut().for_each(|member| member.client = None);
            continue;
        }
        if roll < 12 {
            members[who].client = None;
            continue;
        }
        let member = &mut members[who];
        let client = member.ensure_connected(&server).await;
        let reply = if roll < 45 || sent[who].is_empty() {
            let body = format!("{} {step}", ["m", "@bob hi", "@channel", "x\ny"][rng.below(4)]);
            let reply = client
                .request(json!({"type": "send", "channel": GENERAL, "body": body, "client_id": format!("{who}-{step}")}))
                .await;
            let seq = unpack!(reply, ServerMessage::Ack { seq, .. } => seq);
            sent[who].push(seq);
            continue;
        } else if roll < 65 {
            let seq = sent[who][rng.below(sent[who].len())];
            let body = format!("edited {step}");
            client.request(json!({"type": "edit", "channel": GENERAL, "seq": seq, "body": body})).await
        } else if roll < 75 {
            let seq = sent[who][rng.below(sent[who].len())];
            client.request(json!({"type": "delete", "channel": GENERAL, "seq": seq})).await
        } else {
            let owner = rng.below(3);
            let Some(&seq) = sent[owner].get(rng.below(sent[owner].len().max(1))) else { continue };
            let add = rng.below(3) > 0;
            client
                .request(json!({"type": "react", "channel": GENERAL, "seq": seq, "emoji": emoji[rng.below(3)], "add": add}))
                .await
        };
        // An edit or reaction of a deleted message is refused: fine.
        assert!(
            matches!(reply, ServerMessage::Changed { .. } | ServerMessage::Error { .. }),
            "seed {seed} step {step}: {reply:?}"
        );
    }

    let history = fresh_history(&server, &members[0].token).await;
    let head = history.values().map(|m| m.rev).max().unwrap_or(0);
    for member in &mut members {
        member.ensure_connected(&server).await;
        member.catch_up_to(head).await;
        let first = *member.held.keys().next().unwrap_or(&1);
        let expected: BTreeMap<i64, MessageInfo> =
            history.range(first..).map(|(seq, m)| (*seq, m.clone())).collect();
        assert_eq!(member.held, expected, "seed {seed}: {} differs from a fresh history read", member.name);
    }
    // And nothing more comes: the stream ended at the head.
    for member in &mut members {
        let client = member.client.as_mut().expect("connected");
        client
            .assert_none("a change past the head", |f| {
                matches!(f, ServerMessage::Message(_) | ServerMessage::Update(_))
            })
            .await;
    }
}

#[tokio::test]
async fn random_interleavings_converge_to_the_history() {
    let seeds: Vec<u64> = match std::env::var("CONVERGENCE_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => (1..=6).collect(),
    };
    for seed in seeds {
        run(seed).await;
    }
}
