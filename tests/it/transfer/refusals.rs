//! What `natter import` refuses, naming the file and the line, and that a
//! refused import writes nothing (a later good import still finds the
//! database empty); what `natter export` refuses. The export the damaged
//! copies start from comes from a small SQLite workspace; the checks that
//! involve the target database run on both backends.

use std::path::{Path, PathBuf};

use natter::model::Rev;
use natter::store::TransferError;
use natter::transfer::{CHANNELS, FileError, MESSAGES, REACTIONS, USERS};
use serde_json::Value;

use super::{GENERAL, open, post, react};

/// A small workspace, exported into `dir/name`: alice and bob, three
/// messages in General (one with a reaction), two in a private channel.
async fn exported(dir: &Path, name: &str) -> PathBuf {
    let url = super::sqlite::url(dir, &format!("{name}.db"));
    let store = open(&url).await;
    let alice = store.create_user(&super::name("alice"), "h").await.unwrap().id;
    let bob = store.create_user(&super::name("bob"), "h").await.unwrap().id;
    for (n, sender) in [alice, bob, alice].into_iter().enumerate() {
        store
            .append_message(post(GENERAL, sender, &format!("g-{n}"), &format!("hello {n}"), None))
            .await
            .unwrap();
    }
    store.react(react(GENERAL, natter::model::Seq(1), bob, "👍")).await.unwrap();
    let private = super::channel_name("p");
    let private =
        store.create_channel(&private, natter::model::ChannelKind::Private, alice, 10).await.unwrap();
    for n in 0..2 {
        store.append_message(post(private.id, alice, &format!("p-{n}"), "private", None)).await.unwrap();
    }
    store.close().await;
    let export = dir.join(name);
    natter::store::export(&url, &export).await.unwrap();
    export
}

fn lines(export: &Path, file: &str) -> Vec<String> {
    std::fs::read_to_string(export.join(file)).unwrap().lines().map(str::to_owned).collect()
}

fn write_lines(export: &Path, file: &str, lines: &[String]) {
    std::fs::write(export.join(file), lines.iter().map(|line| format!("{line}\n")).collect::<String>())
        .unwrap();
}

/// Changes line `index` (from 0) of `file` as JSON.
fn edit_line(export: &Path, file: &str, index: usize, edit: impl FnOnce(&mut Value)) {
    let mut all = lines(export, file);
    let mut value: Value = serde_json::from_str(&all[index]).unwrap();
    edit(&mut value);
    all[index] = value.to_string();
    write_lines(export, file, &all);
}

/// Makes the manifest count `count` lines of `file` (`"messages"`, say).
fn set_count(export: &Path, file: &str, count: i64) {
    let path = export.join("manifest.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest["counts"][file] = count.into();
    std::fs::write(path, manifest.to_string()).unwrap();
}

/// The import's error, which must name `file` and the line `line`.
fn assert_line_error(
    result: Result<natter::transfer::Counts, TransferError>,
    file: &str,
    line: u64,
    says: &str,
) {
    match result {
        Err(TransferError::Files(FileError::Line { file: named, line: at, reason })) => {
            assert_eq!((named, at), (file, line), "{reason}");
            assert!(reason.contains(says), "{reason:?} does not say {says:?}");
        }
        other => panic!("expected an error at {file}:{line}, got {other:?}"),
    }
}

/// Nothing of the export is in the database at `url`.
async fn assert_nothing_imported(url: &str) {
    let store = open(url).await;
    assert!(store.find_user("alice").await.unwrap().is_none());
    assert!(store.accounts(None, 10).await.unwrap().is_empty());
    assert_eq!(store.channel_heads().await.unwrap(), [(GENERAL, Rev(0))]);
    store.close().await;
}

async fn refuses_a_non_empty_database(target: &str, dir: &Path) {
    let export = exported(dir, "export").await;
    let store = open(target).await;
    let zed = store.create_user(&super::name("zed"), "h").await.unwrap().id;
    let before = store.append_message(post(GENERAL, zed, "z-1", "mine", None)).await.unwrap().message;
    store.close().await;
    match natter::store::import(target, &export).await {
        Err(TransferError::NotEmpty(held)) => {
            assert!(held.contains(&"users") && held.contains(&"messages"), "{held:?}")
        }
        other => panic!("expected NotEmpty, got {other:?}"),
    }
    let store = open(target).await;
    assert_eq!(store.history(GENERAL, None, 10).await.unwrap(), [before], "nothing changed");
    assert!(store.find_user("alice").await.unwrap().is_none());
    store.close().await;
}

async fn refuses_a_truncated_messages_file(target: &str, dir: &Path) {
    let export = exported(dir, "export").await;
    let damaged = exported(dir, "damaged").await;
    let whole = std::fs::read(damaged.join(MESSAGES)).unwrap();
    std::fs::write(damaged.join(MESSAGES), &whole[..whole.len() - 20]).unwrap();
    let result = natter::store::import(target, &damaged).await;
    assert_line_error(result, MESSAGES, 5, "cut short");
    assert_nothing_imported(target).await;
    // Nothing was left behind: the intact export goes in.
    assert_eq!(natter::store::import(target, &export).await.unwrap().messages, 5);
}

async fn refuses_a_message_in_an_unknown_channel(target: &str, dir: &Path) {
    let export = exported(dir, "export").await;
    edit_line(&export, MESSAGES, 1, |message| message["channel"] = 999.into());
    let result = natter::store::import(target, &export).await;
    assert_line_error(result, MESSAGES, 2, "channel 999 is not in channels.jsonl");
    assert_nothing_imported(target).await;
}

/// Refused by the database rather than the reader: the line is named all
/// the same, and the rows stored before it are rolled back.
async fn refuses_a_duplicate_message_id(target: &str, dir: &Path) {
    let export = exported(dir, "export").await;
    let first: Value = serde_json::from_str(&lines(&export, MESSAGES)[0]).unwrap();
    edit_line(&export, MESSAGES, 1, |message| message["id"] = first["id"].clone());
    let result = natter::store::import(target, &export).await;
    assert_line_error(result, MESSAGES, 2, "cannot be stored");
    assert_nothing_imported(target).await;
}

async fn refuses_a_reaction_to_a_missing_message(target: &str, dir: &Path) {
    let export = exported(dir, "export").await;
    edit_line(&export, REACTIONS, 0, |reaction| reaction["message"] = 9999.into());
    let result = natter::store::import(target, &export).await;
    assert_line_error(result, REACTIONS, 1, "message 9999");
    assert_nothing_imported(target).await;
}

mod sqlite {
    use super::*;
    use crate::transfer::sqlite::url;

    macro_rules! on_sqlite {
        ($($check:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $check() {
                let dir = tempfile::tempdir().unwrap();
                super::$check(&url(dir.path(), "target.db"), dir.path()).await;
            }
        )*};
    }

    on_sqlite!(
        refuses_a_non_empty_database,
        refuses_a_truncated_messages_file,
        refuses_a_message_in_an_unknown_channel,
        refuses_a_duplicate_message_id,
        refuses_a_reaction_to_a_missing_message,
    );

    #[tokio::test]
    async fn a_line_of_bad_json_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let export = exported(dir.path(), "export").await;
        let mut all = lines(&export, MESSAGES);
        all[2] = r#"{"id": 3, "channel": "#.to_owned();
        write_lines(&export, MESSAGES, &all);
        let target = url(dir.path(), "target.db");
        let error = natter::store::import(&target, &export).await.unwrap_err().to_string();
        assert!(error.starts_with("messages.jsonl:3: "), "{error}");
        assert_nothing_imported(&target).await;
    }

    #[tokio::test]
    async fn counts_must_match_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let target = url(dir.path(), "target.db");
        for (name, change) in [("more", 1), ("fewer", -1)] {
            let export = exported(dir.path(), name).await;
            set_count(&export, "messages", 5 + change);
            let result = natter::store::import(&target, &export).await;
            match (change, result) {
                (1, Err(TransferError::Files(FileError::File { file, reason }))) => {
                    assert_eq!(file, MESSAGES);
                    assert!(reason.contains("holds 5 lines, but manifest.json counts 6"), "{reason}");
                }
                (-1, result) => assert_line_error(result, MESSAGES, 5, "manifest.json counts 4"),
                (_, other) => panic!("expected a count error, got {other:?}"),
            }
            assert_nothing_imported(&target).await;
        }
    }

    #[tokio::test]
    async fn order_and_references_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let target = url(dir.path(), "target.db");
        // A seq gap: General's second message is gone, and not counted.
        let export = exported(dir.path(), "gap").await;
        let mut all = lines(&export, MESSAGES);
        all.remove(1);
        write_lines(&export, MESSAGES, &all);
        set_count(&export, "messages", 4);
        let result = natter::store::import(&target, &export).await;
        assert_line_error(result, MESSAGES, 2, "seq 3 in channel 1, where seq 2 comes next");

        // Two messages of a channel at one rev.
        let export = exported(dir.path(), "same-rev").await;
        let first: Value = serde_json::from_str(&lines(&export, MESSAGES)[0]).unwrap();
        let first_rev = first["rev"].clone();
        edit_line(&export, MESSAGES, 1, |message| message["rev"] = first_rev.clone());
        let result = natter::store::import(&target, &export).await;
        let expected = format!("rev {first_rev} is an earlier message's in channel 1");
        assert_line_error(result, MESSAGES, 2, &expected);

        let export = exported(dir.path(), "twice").await;
        edit_line(&export, USERS, 1, |user| user["id"] = 1.into());
        assert_line_error(natter::store::import(&target, &export).await, USERS, 2, "user id 1 appears twice");

        let export = exported(dir.path(), "stranger").await;
        edit_line(&export, MESSAGES, 0, |message| message["sender"] = 77.into());
        let result = natter::store::import(&target, &export).await;
        assert_line_error(result, MESSAGES, 1, "sender: user 77 is not in users.jsonl");

        // A head past the channel's messages is named at the channel's line.
        let export = exported(dir.path(), "short").await;
        edit_line(&export, CHANNELS, 0, |general| general["last_seq"] = 4.into());
        let result = natter::store::import(&target, &export).await;
        assert_line_error(
            result,
            CHANNELS,
            1,
            "channel 1 has last_seq 4, but messages.jsonl holds its seqs 1 to 3",
        );
        assert_nothing_imported(&target).await;
    }

    #[tokio::test]
    async fn lines_past_the_limits_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let target = url(dir.path(), "target.db");
        let export = exported(dir.path(), "long-body").await;
        edit_line(&export, MESSAGES, 0, |message| message["body"] = "a".repeat(4001).into());
        let result = natter::store::import(&target, &export).await;
        assert_line_error(result, MESSAGES, 1, "at most 4000 characters");

        let export = exported(dir.path(), "bad-name").await;
        edit_line(&export, USERS, 1, |user| user["name"] = "bob smith".into());
        assert_line_error(natter::store::import(&target, &export).await, USERS, 2, "bob smith");

        let export = exported(dir.path(), "long-line").await;
        edit_line(&export, MESSAGES, 0, |message| message["body"] = "\u{1}".repeat(200_000).into());
        assert_line_error(
            natter::store::import(&target, &export).await,
            MESSAGES,
            1,
            "longer than 1048576 bytes",
        );

        let export = exported(dir.path(), "missing").await;
        std::fs::remove_file(export.join(REACTIONS)).unwrap();
        let error = natter::store::import(&target, &export).await.unwrap_err().to_string();
        assert!(error.starts_with("reactions.jsonl: missing"), "{error}");
        assert_nothing_imported(&target).await;
    }

    #[tokio::test]
    async fn an_export_goes_only_into_a_new_or_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        let source = url(dir.path(), "source.db");
        open(&source).await.close().await;
        let occupied = dir.path().join("occupied");
        std::fs::create_dir(&occupied).unwrap();
        std::fs::write(occupied.join("notes.txt"), "mine").unwrap();
        match natter::store::export(&source, &occupied).await {
            Err(TransferError::Files(FileError::Directory { path, reason })) => {
                assert_eq!(path, occupied);
                assert!(reason.contains("not empty"), "{reason}");
            }
            other => panic!("expected the directory to be refused, got {other:?}"),
        }
        let names: Vec<_> =
            std::fs::read_dir(&occupied).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert_eq!(names, ["notes.txt"], "nothing written beside it");
        // An empty one is fine; so is a new one; a missing database is not made.
        std::fs::remove_file(occupied.join("notes.txt")).unwrap();
        assert_eq!(natter::store::export(&source, &occupied).await.unwrap().counts.users, 0);
        let missing = url(dir.path(), "missing.db");
        let refused = natter::store::export(&missing, &dir.path().join("new")).await;
        assert!(matches!(refused, Err(TransferError::NoDatabase(_))), "{refused:?}");
        assert!(!dir.path().join("missing.db").exists() && !dir.path().join("new").exists());
    }

    /// The commands print one line each; a second import is refused.
    #[tokio::test]
    async fn the_commands_say_what_they_moved() {
        let dir = tempfile::tempdir().unwrap();
        let export = exported(dir.path(), "export").await;
        let again = dir.path().join("again");
        let run = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_natter"))
                .args(args)
                .env("NATTER_LOG", "error")
                .output()
                .expect("natter runs")
        };
        let source = url(dir.path(), "export.db");
        let exported = run(&["export", again.to_str().unwrap(), "--database", &source]);
        let said = String::from_utf8_lossy(&exported.stdout);
        assert!(exported.status.success(), "{exported:?}");
        assert!(said.contains("2 users, 2 channels, 3 memberships, 5 messages, 1 reactions"), "{said}");
        let target = url(dir.path(), "target.db");
        let imported = run(&["import", export.to_str().unwrap(), "--database", &target]);
        let said = String::from_utf8_lossy(&imported.stdout);
        assert!(imported.status.success() && said.starts_with("imported "), "{imported:?}");
        assert!(said.contains("5 messages"), "{said}");
        let refused = run(&["import", again.to_str().unwrap(), "--database", &target]);
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("not empty"), "{refused:?}");
    }
}

mod postgres {
    use crate::services::fresh_postgres_database;

    macro_rules! on_postgres {
        ($($check:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $check() {
                let Some(target) = fresh_postgres_database().await else { return };
                let dir = tempfile::tempdir().unwrap();
                super::$check(&target, dir.path()).await;
            }
        )*};
    }

    on_postgres!(
        refuses_a_non_empty_database,
        refuses_a_truncated_messages_file,
        refuses_a_message_in_an_unknown_channel,
        refuses_a_duplicate_message_id,
        refuses_a_reaction_to_a_missing_message,
    );
}
