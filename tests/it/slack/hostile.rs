//! What `natter import --slack` refuses: entries that climb out of the
//! export or are absolute, decompression bombs (one file, many files, and
//! a file whose declared size lies), too many entries, JSON that is not
//! what Slack writes there, a truncated or damaged zip, a zip that is no
//! Slack export, bad timestamps. Each is refused with an error that names
//! what is wrong, before the database is even opened. And a name held by
//! a guest, which is found in the database and refused before anything is
//! written.

use std::path::Path;

use natter::slack::{Limits, SlackError};
use natter::store::Store;

use super::fixture::{Entry, entries, with_file, zip_up};

fn url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("natter.db").display())
}

/// Imports `entries` zipped (then passed through `damage`) with `limits`,
/// expecting a refusal; returns it, having checked that no database was made.
async fn refused(entries: &[Entry], limits: Limits, damage: impl FnOnce(&mut Vec<u8>)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("export.zip");
    zip_up(&zip, entries);
    let mut bytes = std::fs::read(&zip).unwrap();
    damage(&mut bytes);
    std::fs::write(&zip, &bytes).unwrap();
    let error = natter::slack::import(&url(dir.path()), &zip, limits).await.expect_err("refused");
    assert!(!matches!(error, SlackError::Store { .. }), "refused before writing: {error}");
    assert!(!dir.path().join("natter.db").exists(), "the database was not touched: {error}");
    error.to_string()
}

/// Every place the zip holds `from` (entry names, in the local headers and
/// the central directory) now holds `to`, of the same length.
fn rename(bytes: &mut [u8], from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let mut found = 0;
    for at in 0..bytes.len() - from.len() {
        if &bytes[at..at + from.len()] == from.as_bytes() {
            bytes[at..at + to.len()].copy_from_slice(to.as_bytes());
            found += 1;
        }
    }
    assert!(found >= 2, "{from} is in a local header and the central directory");
}

/// The offsets of `name`'s local header and central directory record.
fn headers(bytes: &[u8], name: &str) -> (usize, usize) {
    let u16_at = |at: usize| usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
    let named = |at: usize, length_at: usize, name_at: usize| {
        bytes.get(at + name_at..at + name_at + u16_at(at + length_at)) == Some(name.as_bytes())
    };
    let find = |signature: &[u8], length_at, name_at| {
        (0..bytes.len() - 4)
            .find(|&at| &bytes[at..at + 4] == signature && named(at, length_at, name_at))
            .unwrap()
    };
    (find(b"PK\x03\x04", 26, 30), find(b"PK\x01\x02", 28, 46))
}

#[tokio::test]
async fn entries_that_climb_out_or_are_absolute_are_refused() {
    let sneaky = with_file(entries(), "xx/evil.json", b"[]");
    let error =
        refused(&sneaky, Limits::default(), |bytes| rename(bytes, "xx/evil.json", "../evil.json")).await;
    assert!(error.contains("\"../evil.json\"") && error.contains("climbs out"), "{error}");
    let absolute = with_file(entries(), "_etc/passwd", b"x");
    let error =
        refused(&absolute, Limits::default(), |bytes| rename(bytes, "_etc/passwd", "/etc/passwd")).await;
    assert!(error.contains("\"/etc/passwd\"") && error.contains("absolute path"), "{error}");
}

#[tokio::test]
async fn a_decompression_bomb_is_refused() {
    let limits = Limits { max_entry_bytes: 1 << 20, ..Limits::default() };
    let bomb = format!("[{}]", " ".repeat(8 << 20));
    let bombed = with_file(entries(), "general/2021-03-01.json", bomb.as_bytes());
    let error = refused(&bombed, limits, |bytes| assert!(bytes.len() < 100_000, "it is a bomb")).await;
    assert!(
        error.contains("general/2021-03-01.json") && error.contains("more than 1048576 bytes"),
        "{error}"
    );

    // Many files, each within the limit, past the total.
    let limits = Limits { max_total_bytes: 1 << 20, ..Limits::default() };
    let day = format!("[{}]", " ".repeat(200 << 10));
    let mut many = entries();
    for n in 1..=9 {
        many = with_file(many, &format!("random/2021-04-0{n}.json"), day.as_bytes());
    }
    let error = refused(&many, limits, |_| {}).await;
    assert!(error.contains("takes the export past 1048576 bytes"), "{error}");
}

#[tokio::test]
async fn a_declared_size_is_never_believed() {
    let limits = Limits { max_entry_bytes: 1 << 20, ..Limits::default() };
    let bomb = format!("[{}]", " ".repeat(8 << 20));
    let bombed = with_file(entries(), "general/2021-03-01.json", bomb.as_bytes());
    let error = refused(&bombed, limits, |bytes| {
        // The archive claims the file holds 100 bytes.
        let (local, central) = headers(bytes, "general/2021-03-01.json");
        bytes[local + 22..local + 26].copy_from_slice(&100_u32.to_le_bytes());
        bytes[central + 24..central + 28].copy_from_slice(&100_u32.to_le_bytes());
    })
    .await;
    // The zip reader stops at the size declared, and natter's own count
    // at its limit, whichever comes first: never past either.
    assert!(error.contains("general/2021-03-01.json"), "{error}");
    assert!(error.contains("larger than its declared uncompressed size"), "{error}");
}

#[tokio::test]
async fn too_many_entries_are_refused() {
    let limits = Limits { max_entries: 5, ..Limits::default() };
    let error = refused(&entries(), limits, |_| {}).await;
    assert!(
        error.contains(&format!("holds {} entries, more than the 5 allowed", entries().len())),
        "{error}"
    );
}

#[tokio::test]
async fn malformed_json_names_its_file() {
    let cut = with_file(entries(), "random/2021-03-01.json", br#"[{"ts": "1.0", "text": "#);
    let error = refused(&cut, Limits::default(), |_| {}).await;
    assert!(error.contains("\"random/2021-03-01.json\"") && error.contains("EOF while parsing"), "{error}");
    let shaped = with_file(entries(), "users.json", br#"{"members": []}"#);
    let error = refused(&shaped, Limits::default(), |_| {}).await;
    assert!(error.contains("\"users.json\"") && error.contains("invalid type: map"), "{error}");
    let typed = with_file(entries(), "channels.json", br#"[{"id": "C01", "members": "everyone"}]"#);
    let error = refused(&typed, Limits::default(), |_| {}).await;
    assert!(error.contains("\"channels.json\"") && error.contains("invalid type: string"), "{error}");
    let late = with_file(entries(), "D01/2021-03-02.json", br#"[{"ts": "yesterday", "user": "U01"}]"#);
    let error = refused(&late, Limits::default(), |_| {}).await;
    assert!(
        error.contains("D01/2021-03-02.json") && error.contains("message 1: ts \"yesterday\""),
        "{error}"
    );
}

#[tokio::test]
async fn a_truncated_or_damaged_zip_is_refused() {
    let error = refused(&entries(), Limits::default(), |bytes| bytes.truncate(bytes.len() / 2)).await;
    assert!(error.contains("not a zip archive, or a damaged or truncated one"), "{error}");
    let error = refused(&entries(), Limits::default(), |bytes| {
        // Scrambles the middle of one file's deflated data; the listing stays.
        let (local, _) = headers(bytes, "general/2021-03-02.json");
        let u16_at = |at: usize| usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
        let data = local + 30 + u16_at(local + 26) + u16_at(local + 28);
        for byte in &mut bytes[data + 20..data + 60] {
            *byte ^= 0x5a;
        }
    })
    .await;
    assert!(error.contains("general/2021-03-02.json") && error.contains("cannot be inflated"), "{error}");
}

#[tokio::test]
async fn a_zip_that_is_no_slack_export_is_refused() {
    let other: Vec<Entry> = vec![("notes.txt".into(), b"hello".to_vec())];
    let error = refused(&other, Limits::default(), |_| {}).await;
    assert!(error.contains("not a Slack export"), "{error}");
}

/// A Slack user's name held by a guest here: refused before anything is
/// written, as the guest (anyone who claimed the name) would get their
/// history and channels.
#[tokio::test]
async fn a_name_held_by_a_guest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("export.zip");
    zip_up(&zip, &entries());
    let store = super::open(&url(dir.path())).await;
    store.claim_guest(&natter::model::UserName::parse("bob").unwrap()).await.unwrap();
    store.close().await;
    let error = natter::slack::import(&url(dir.path()), &zip, Limits::default()).await.unwrap_err();
    assert!(matches!(&error, SlackError::GuestHoldsName(name) if name == "bob"), "{error}");
    let store: std::sync::Arc<dyn Store> = super::open(&url(dir.path())).await;
    assert_eq!(store.accounts(None, 10).await.unwrap().len(), 1, "only the guest");
    assert_eq!(store.channel_heads().await.unwrap().len(), 1, "only General");
    store.close().await;
}
