//! A small Slack workspace export, written in code and zipped at test time:
//! a few channels (General among them, one archived), a private channel, a
//! group DM and a DM; threads, reactions (a custom emoji among them), an
//! edit, file shares, a bot and an unknown author, Slack's notices, unicode
//! and emoji, control characters, a message over natter's limit, and users
//! whose names need making fit (one clashing with another, one with a
//! natter account already). Its ids, times and texts are what `slack.rs`
//! checks the import against.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};
use zip::write::SimpleFileOptions;

/// One file of an export: its name in the zip and its bytes.
pub type Entry = (String, Vec<u8>);

fn file(name: &str, value: Value) -> Entry {
    (name.to_owned(), serde_json::to_vec_pretty(&value).unwrap())
}

/// The long message: 4,500 characters over several lines.
pub fn essay() -> String {
    (0..90).map(|line| format!("{line:02} {}", "word ".repeat(9))).collect::<Vec<_>>().join("\n")
}

pub fn entries() -> Vec<Entry> {
    vec![
        file(
            "users.json",
            json!([
                {"id": "U01", "name": "ada", "is_admin": true, "is_owner": true, "profile": {"real_name": "Ada L"}},
                {"id": "U02", "name": "bob", "real_name": "Bob"},
                {"id": "U03", "name": "josé.garcía"},
                {"id": "U04", "name": "jose.garcia"},
                {"id": "U05", "name": "carol", "deleted": true},
                {"id": "U06", "name": "buildbot", "is_bot": true},
                {"id": "U07", "name": "dora", "is_admin": true},
                {"id": "U08", "name": "岡田"}
            ]),
        ),
        file(
            "channels.json",
            json!([
                {"id": "C01", "name": "general", "is_general": true, "creator": "U01",
                 "members": ["U01", "U02", "U03", "U04", "U07"], "topic": {"value": "Company-wide"}},
                {"id": "C02", "name": "random", "creator": "U02", "members": ["U01", "U02", "U03"],
                 "topic": {"value": "<@U02>'s corner"}, "purpose": {"value": "Anything &amp; everything"}},
                {"id": "C03", "name": "old-stuff", "creator": "U01", "members": ["U01"], "is_archived": true}
            ]),
        ),
        file(
            "groups.json",
            json!([{"id": "G01", "name": "secret", "creator": "U01", "members": ["U01", "U02"]}]),
        ),
        file(
            "mpims.json",
            json!([{"id": "G02", "name": "mpdm-ada--bob--jose.garcia-1", "creator": "U02",
                    "members": ["U01", "U02", "U04"]}]),
        ),
        file("dms.json", json!([{"id": "D01", "created": 1614556800, "members": ["U01", "U02"]}])),
        file("integration_logs.json", json!({"logs": []})),
        file(
            "general/2021-03-01.json",
            json!([
                {"type": "message", "user": "U01", "ts": "1614556800.000100",
                 "text": "Welcome <!channel>! Read <https://example.com/rules|the rules> &amp; say hi :wave:",
                 "thread_ts": "1614556800.000100", "reply_count": 1,
                 "reactions": [{"name": "+1", "users": ["U02", "U03"], "count": 2},
                               {"name": "partyparrot", "users": ["U02"], "count": 1}]},
                {"type": "message", "subtype": "channel_join", "user": "U02", "ts": "1614556860.000200",
                 "text": "<@U02> has joined the channel"},
                {"type": "message", "user": "U02", "ts": "1614556900.000300", "thread_ts": "1614556800.000100",
                 "parent_user_id": "U01", "text": "Hi <@U01>, *great* to be here ~not~",
                 "edited": {"user": "U02", "ts": "1614557000.000000"}}
            ]),
        ),
        // Out of order within the day, as nothing promises otherwise.
        file(
            "general/2021-03-02.json",
            json!([
                {"type": "message", "user": "U03", "ts": "1614643300.000000",
                 "text": "Ça va? 日本語のテキスト 🎉 see <#C02|random> and <@U08>"},
                {"type": "message", "subtype": "bot_message", "bot_id": "B01", "username": "GitHub",
                 "ts": "1614643200.000000", "text": "Build passed"},
                {"type": "message", "user": "U99", "ts": "1614643250.000000", "text": "who am I?"},
                {"type": "message", "subtype": "file_share", "user": "U01", "ts": "1614643400.000000",
                 "text": "here is the plan", "files": [{"id": "F01", "name": "plan.pdf", "title": "Plan"}]},
                {"type": "message", "user": "U07", "ts": "1614643500.000000", "text": "",
                 "files": [{"id": "F02", "name": "photo.png"}]},
                {"type": "message", "user": "U01", "ts": "1614643600.000000", "text": essay(),
                 "reactions": [{"name": "tada", "users": ["U02"], "count": 1}]},
                {"type": "message", "user": "U02", "ts": "1614643700.000000", "thread_ts": "1614643600.000000",
                 "text": "nice essay :+1::skin-tone-3:"},
                {"type": "message", "user": "U06", "subtype": "bot_message", "ts": "1614643800.000000",
                 "text": "", "attachments": [{"fallback": "Deploy finished", "text": "details"}]}
            ]),
        ),
        file(
            "random/2021-03-01.json",
            json!([
                {"type": "message", "user": "U01", "ts": "1614556801.000000", "text": "<@U02> :smile:"},
                {"type": "message", "user": "U04", "ts": "1614556802.000000",
                 "text": "bell\u{0007} and \u{202e}flipped"},
                {"type": "message", "subtype": "channel_topic", "user": "U02", "ts": "1614556803.000000",
                 "text": "set the channel topic: x", "topic": "x"}
            ]),
        ),
        file(
            "old-stuff/2021-01-01.json",
            json!([{"type": "message", "user": "U05", "ts": "1609459200.000000", "text": "archived history"}]),
        ),
        file(
            "secret/2021-03-01.json",
            json!([
                {"type": "message", "user": "U01", "ts": "1614556900.000000", "text": "the plan, <@U02>"},
                {"type": "message", "user": "U02", "ts": "1614556901.000000", "thread_ts": "1614556900.000000",
                 "text": "ok"}
            ]),
        ),
        file(
            "D01/2021-03-01.json",
            json!([
                {"type": "message", "user": "U02", "ts": "1614556950.000000", "text": "psst"},
                {"type": "message", "user": "U01", "ts": "1614556960.000000", "text": "yes?"}
            ]),
        ),
        file(
            "mpdm-ada--bob--jose.garcia-1/2021-03-01.json",
            json!([{"type": "message", "user": "U04", "ts": "1614556970.000000", "text": "group hello"}]),
        ),
        // A folder no conversation lists.
        file(
            "stray/2021-03-01.json",
            json!([{"type": "message", "user": "U01", "ts": "1.0", "text": "lost"}]),
        ),
    ]
}

/// Writes `entries` to a new zip at `path`, deflated.
pub fn zip_up(path: &Path, entries: &[Entry]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// `entries` with the one named `name` replaced by `bytes` (or added).
pub fn with_file(mut entries: Vec<Entry>, name: &str, bytes: &[u8]) -> Vec<Entry> {
    entries.retain(|(existing, _)| existing != name);
    entries.push((name.to_owned(), bytes.to_vec()));
    entries
}
