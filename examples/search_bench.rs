//! Search on a large generated history: how big the index is beside the
//! text, how fast it is written, and how long searches take.
//!
//! `cargo run --release --example search_bench -- [messages] [database URL]`
//!
//! Messages (default 1,000,000) in mixed languages (English-like words,
//! Chinese, Japanese, Korean, Russian, German with diacritics, IP
//! addresses, paths, emoji) are appended through the real store by 64
//! writers that each wait for their commit, into ten channels. Then a
//! fixed mix of queries drawn from the stored text (common, middling and
//! rare words, two-word queries, phrases, prefixes, one to three CJK
//! characters, Hangul words, IP parts, emoji, exclusions) runs through
//! `Store::search` as a member of every channel, newest first, 21 hits a
//! page, each query several times; p50 and p99 over all of them. The
//! database defaults to a SQLite file in a temporary directory; pass
//! `postgres://...` (an empty database) for PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use natter::metrics::Metrics;
use natter::model::{ChannelId, ChannelKind, ChannelName, ClientId, MessageBody, UserId, UserName};
use natter::search::query::parse;
use natter::store::{MessageSearch, NewMessage, Store};

const CHANNELS: usize = 10;
const WRITERS: usize = 64;
const ROUNDS: usize = 5;

/// A small deterministic generator (SplitMix64): the same history every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Roughly Zipf-distributed ranks below `n`: a few words are common,
    /// most are rare, as in real text.
    fn zipf(&mut self, n: usize) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) as usize).saturating_sub(1).min(n - 1)
    }

    fn chars(&mut self, from: u32, count: u32, len: usize) -> String {
        (0..len).filter_map(|_| char::from_u32(from + (self.next() % u64::from(count)) as u32)).collect()
    }

    /// `min` to `min + spread - 1` characters from the block at `from`.
    fn run(&mut self, from: u32, count: u32, min: usize, spread: usize) -> String {
        let len = min + self.below(spread);
        self.chars(from, count, len)
    }

    /// `min` to `min + spread - 1` items made by `item`.
    fn several(
        &mut self,
        min: usize,
        spread: usize,
        mut item: impl FnMut(&mut Self) -> String,
    ) -> Vec<String> {
        let count = min + self.below(spread);
        (0..count).map(|_| item(self)).collect()
    }
}

/// Pseudo-words of Latin letters: syllables put together, 20,000 of them.
fn vocabulary() -> Vec<String> {
    const SYLLABLES: [&str; 24] = [
        "ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "de", "va", "gor", "lin", "ex", "qua", "ber", "tis",
        "fan", "mod", "zu", "ple", "ment", "ing", "ion", "ly",
    ];
    let mut random = Random(7);
    let mut words: Vec<String> = ["deploy", "release", "meeting", "server", "database", "review", "ticket"]
        .iter()
        .map(|word| (*word).to_owned())
        .collect();
    while words.len() < 20_000 {
        let syllables = 1 + random.below(4);
        words.push((0..syllables).map(|_| SYLLABLES[random.below(SYLLABLES.len())]).collect());
    }
    words
}

fn body(random: &mut Random, words: &[String]) -> String {
    let word = |random: &mut Random| words[random.zipf(words.len())].clone();
    match random.below(10) {
        0..=3 => random.several(5, 12, word).join(" "),
        // Chinese: common ideographs (the first 1,500 of the block).
        4 => format!("{}。{}", random.run(0x4E00, 1500, 6, 20), random.chars(0x4E00, 1500, 4)),
        // Japanese: hiragana, katakana and ideographs.
        5 => format!(
            "{}{}の{}です",
            random.run(0x30A1, 90, 3, 4),
            random.chars(0x4E00, 1500, 2),
            random.run(0x3041, 83, 3, 5)
        ),
        // Korean: words of Hangul syllables, with spaces.
        6 => random.several(3, 5, |random| random.run(0xAC00, 2000, 2, 3)).join(" "),
        // Russian-like and German-like words.
        7 => {
            let cyrillic = random.several(4, 6, |random| random.run(0x430, 32, 3, 6));
            format!("{} über Straße café", cyrillic.join(" "))
        }
        // Operations: hosts, paths, links, emoji.
        8 => format!(
            "{} on 10.{}.{}.{} see src/{}/{}.rs https://example.com/{} 👍🏽",
            words[random.zipf(words.len())],
            random.below(256),
            random.below(256),
            random.below(256),
            words[random.zipf(words.len())],
            words[random.zipf(words.len())],
            random.below(1000)
        ),
        // Mixed: English with Chinese.
        _ => format!("{} 部署 {}", random.several(3, 1, word).join(" "), random.chars(0x4E00, 1500, 3)),
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let messages: usize = args.next().map_or(1_000_000, |a| a.parse().expect("messages is a number"));
    let dir = tempfile::tempdir().expect("temp dir");
    let url = args.next().unwrap_or_else(|| format!("sqlite://{}", dir.path().join("search.db").display()));
    let store = natter::store::open(&url, Arc::new(Metrics::default())).await.expect("open the store");
    let words = vocabulary();

    let (searcher, channels) = setup(&store).await;
    let started = Instant::now();
    let appended = fill(&store, &channels, messages, &words).await;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "stored {appended} messages in {elapsed:.1} s: {:.0} messages/s with the index written",
        appended as f64 / elapsed
    );
    store.close().await;
    drop(store);
    report_sizes(&url).await;

    let store = natter::store::open(&url, Arc::new(Metrics::default())).await.expect("reopen the store");
    let queries = queries(&words);
    let mut latencies = Vec::new();
    let mut hits = 0;
    for _ in 0..ROUNDS {
        for (_, text) in &queries {
            let search = search_for(searcher, text);
            let asked = Instant::now();
            hits += store.search(search).await.expect("search").len();
            latencies.push(asked.elapsed());
        }
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{} searches ({} queries x {ROUNDS}), {hits} hits: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        queries.len(),
        ms(at(0.5)),
        ms(at(0.99)),
        ms(latencies[latencies.len() - 1])
    );
    // The slowest queries, to say where the time goes.
    let mut slowest: Vec<(Duration, &str)> = Vec::new();
    for (category, text) in &queries {
        let search = search_for(searcher, text);
        let asked = Instant::now();
        store.search(search).await.expect("search");
        slowest.push((asked.elapsed(), category));
    }
    slowest.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    let top: Vec<String> =
        slowest.iter().take(5).map(|(took, category)| format!("{category} {:.1} ms", ms(*took))).collect();
    println!("slowest kinds: {}", top.join(", "));
    store.close().await;
}

/// The store's search for `text` by `searcher`: a page of 21, as the
/// server asks for a page of 20 and one more.
fn search_for(searcher: UserId, text: &str) -> MessageSearch {
    let query = parse(text).expect("the bench's queries parse");
    MessageSearch {
        searcher,
        terms: query.terms,
        excluded: query.excluded,
        has_link: query.has_link,
        limit: 21,
        ..MessageSearch::default()
    }
}

async fn setup(store: &Arc<dyn Store>) -> (UserId, Vec<ChannelId>) {
    let searcher = store.create_user(&UserName::parse("searcher").unwrap(), "not a hash").await.unwrap().id;
    let mut channels = vec![ChannelId(1)];
    for n in 1..CHANNELS {
        let name = ChannelName::parse(&format!("room-{n}")).unwrap();
        channels.push(store.create_channel(&name, ChannelKind::Public, searcher, 100).await.unwrap().id);
    }
    (searcher, channels)
}

/// Appends `messages` generated bodies from [`WRITERS`] writers, each
/// waiting for its commit; returns how many were stored.
async fn fill(store: &Arc<dyn Store>, channels: &[ChannelId], messages: usize, words: &[String]) -> usize {
    let mut writers = Vec::new();
    for n in 0..WRITERS {
        let user = store.create_user(&UserName::parse(&format!("writer{n}")).unwrap(), "h").await.unwrap().id;
        for &channel in &channels[1..] {
            store.add_member(channel, user, None).await.unwrap();
        }
        let (store, channels, words) = (Arc::clone(store), channels.to_vec(), words.to_vec());
        let per_writer = messages / WRITERS;
        writers.push(tokio::spawn(async move {
            let mut random = Random(n as u64 + 1);
            for m in 0..per_writer {
                let message = NewMessage {
                    channel: channels[random.below(channels.len())],
                    sender: user,
                    client_id: ClientId::parse(format!("w{n}-{m}")).unwrap(),
                    body: MessageBody::parse(body(&mut random, &words)).unwrap(),
                    reply_to: None,
                    files: Vec::new(),
                };
                store.append_message(message).await.unwrap();
            }
            per_writer
        }));
    }
    let mut appended = 0;
    for writer in writers {
        appended += writer.await.unwrap();
    }
    appended
}

/// The query mix: (kind, text), drawn from the generator's own words and
/// characters so most of them find something.
fn queries(words: &[String]) -> Vec<(&'static str, String)> {
    let mut random = Random(99);
    let mut queries = Vec::new();
    for _ in 0..4 {
        queries.push(("common word", words[random.below(10)].clone()));
        queries.push(("middling word", words[100 + random.below(900)].clone()));
        queries.push(("rare word", words[5_000 + random.below(15_000)].clone()));
        queries.push(("two words", format!("{} {}", words[random.below(50)], words[random.below(500)])));
        queries.push(("phrase", format!("\"{} {}\"", words[random.below(20)], words[random.below(20)])));
        let stem: String = words[random.below(200)].chars().take(3).collect();
        queries.push(("prefix", stem));
        queries.push(("one ideograph", random.chars(0x4E00, 1500, 1)));
        queries.push(("two ideographs", random.chars(0x4E00, 1500, 2)));
        queries.push(("three ideographs", random.chars(0x4E00, 300, 3)));
        queries.push(("katakana", random.chars(0x30A1, 90, 2)));
        queries.push(("hangul word", random.chars(0xAC00, 2000, 2)));
        queries.push(("ip part", format!("10.{}", random.below(256))));
        queries.push(("emoji", "👍🏽".to_owned()));
        queries.push(("exclusion", format!("{} -{}", words[random.below(10)], words[random.below(10)])));
        queries.push(("mixed", format!("{} 部署", words[random.below(100)])));
    }
    queries
}

/// The index's size beside the text's.
async fn report_sizes(url: &str) {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let connection = rusqlite::Connection::open(path).expect("open the file");
        let size = |sql: &str| -> i64 { connection.query_row(sql, [], |row| row.get(0)).expect(sql) };
        let text = size("SELECT SUM(length(CAST(body AS BLOB))) FROM messages");
        let index = size("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'message_search%'");
        let messages = size("SELECT SUM(pgsize) FROM dbstat WHERE name = 'messages'");
        let file = size("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()");
        println!(
            "SQLite: text {:.1} MB, messages table {:.1} MB, search index {:.1} MB ({:.2}x the text), file {:.1} MB",
            mb(text),
            mb(messages),
            mb(index),
            index as f64 / text as f64,
            mb(file)
        );
    } else {
        let (client, connection) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(connection);
        let size = |sql: &'static str| {
            let client = &client;
            async move { client.query_one(sql, &[]).await.expect(sql).get::<_, i64>(0) }
        };
        let text = size("SELECT SUM(octet_length(body))::BIGINT FROM messages").await;
        let vectors = size("SELECT SUM(pg_column_size(search))::BIGINT FROM messages").await;
        let gin = size("SELECT pg_relation_size('messages_search')").await;
        println!(
            "PostgreSQL: text {:.1} MB, tsvector column {:.1} MB, GIN index {:.1} MB ({:.2}x the text together)",
            mb(text),
            mb(vectors),
            mb(gin),
            (vectors + gin) as f64 / text as f64
        );
    }
}

fn mb(bytes: i64) -> f64 {
    bytes as f64 / 1e6
}
