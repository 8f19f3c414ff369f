//! `natter import --slack FILE.zip`: a Slack workspace export loaded into
//! natter, on SQLite or PostgreSQL (docs/export.md, "Slack import", says
//! what becomes what).
//!
//! Two passes over the zip. The first (`export`) reads and checks all of
//! it, within limits (`archive`), before the database is opened: a hostile
//! or damaged archive, a file that is not the JSON it should be, is refused
//! with nothing written. The second (`load`) writes it through the store's
//! use cases, a conversation at a time, each message with a client id made
//! from its conversation and Slack `ts`; the store refuses a client id
//! twice, and users and channels are found by name, so running the import
//! again writes nothing new, and an import stopped by a failure resumes
//! where it stopped. There is no one transaction around it all.
//!
//! `format` is Slack's JSON, `names` makes its names natter's, `text` its
//! markup, `convert` its messages. This module knows no SQL.

mod archive;
mod convert;
mod export;
mod format;
mod load;
mod names;
mod text;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use archive::Limits;
pub use convert::Tally;
pub use names::PLACEHOLDER;

use crate::metrics::Metrics;
use crate::store::{StoreError, open_for_admin};

/// Why a Slack import stopped. All but `Store` come before anything is
/// written.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// The zip itself: not one, damaged, truncated, too many entries.
    #[error("{}: {reason}", path.display())]
    Archive { path: PathBuf, reason: String },
    /// One entry of the zip: a name that climbs out of it, more bytes than
    /// allowed, damage, JSON that is not what a Slack export holds there.
    #[error("{entry:?}: {reason}")]
    Entry { entry: String, reason: String },
    #[error("{}: no users.json and channels.json at its top: not a Slack export", .0.display())]
    NotAnExport(PathBuf),
    /// A natter name the import would use belongs to a guest here.
    #[error(
        "the name {0} belongs to a guest account here: a Slack user's history would go to whoever holds it; \
         nothing was written"
    )]
    GuestHoldsName(String),
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    /// The database refused or failed while writing; what was written
    /// stays, and running the import again carries on from there.
    #[error("{what}: {error} (what was imported before stays; run the import again to carry on)")]
    Store { what: String, error: StoreError },
}

impl SlackError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |error| SlackError::Io { what, error }
    }
}

/// How many of something this run made, and how many it found made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NewAndFound {
    pub new: u64,
    pub found: u64,
}

impl NewAndFound {
    fn count(&mut self, created: bool) {
        if created { self.new += 1 } else { self.found += 1 }
    }
}

impl fmt::Display for NewAndFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} new, {} already there", self.new, self.found)
    }
}

/// What an import did, and what of the export it did not take as it was.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub users: NewAndFound,
    /// Channels and DMs.
    pub channels: NewAndFound,
    /// Stored messages (a message split in parts counts each).
    pub messages: NewAndFound,
    /// Reactions stored with the new messages.
    pub reactions: u64,
    pub tally: Tally,
    /// Folders of the zip no conversation names: not imported.
    pub unlisted_folders: Vec<String>,
    /// Anything else worth saying, in words.
    pub notes: Vec<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "users: {}", self.users)?;
        writeln!(f, "channels and DMs: {}", self.channels)?;
        writeln!(f, "messages: {} ({} reactions with the new ones)", self.messages, self.reactions)?;
        let tally = &self.tally;
        let mut lines = Vec::new();
        if !tally.notices.is_empty() {
            let kinds: Vec<String> = tally.notices.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
            lines.push(format!("Slack notices skipped: {}", kinds.join(", ")));
        }
        let counted = [
            (tally.split, format!("messages over 4000 characters stored in {} parts", tally.parts)),
            (tally.empty, "messages without text, file or attachment skipped".to_owned()),
            (tally.cleaned, "messages had control or bidi characters removed".to_owned()),
            (tally.unknown_authors, format!("messages by unknown authors written as {PLACEHOLDER}")),
            (tally.orphan_replies, "thread replies without their parent stored as messages".to_owned()),
            (tally.custom_reactions, "reactions with custom emoji not imported".to_owned()),
            (tally.reactions_over_limit, "reactions past 20 emoji on a message not imported".to_owned()),
        ];
        for (count, what) in counted {
            if count > 0 {
                lines.push(format!("{count} {what}"));
            }
        }
        if !self.unlisted_folders.is_empty() {
            let folders = self.unlisted_folders.join(", ");
            lines.push(format!("folders no conversation lists, not imported: {folders}"));
        }
        lines.extend(self.notes.iter().cloned());
        for line in lines {
            writeln!(f, "  {line}")?;
        }
        write!(f, "accounts have no password: give them one with natter user reset-password NAME")
    }
}

/// Imports the Slack export at `zip` into the database at `database_url`
/// (which may hold a workspace already: see docs/export.md for how names
/// are matched). The whole zip is checked before the database is opened.
pub async fn import(database_url: &str, zip: &Path, limits: Limits) -> Result<Summary, SlackError> {
    let zip = zip.to_owned();
    let read = tokio::task::spawn_blocking(move || {
        let mut archive = archive::Archive::open(&zip, limits)?;
        let export = export::Export::read(&mut archive)?;
        Ok::<_, SlackError>((archive, export))
    })
    .await
    .map_err(|error| SlackError::Io {
        what: "reading the export".into(),
        error: std::io::Error::other(error),
    })?;
    let (archive, export) = read?;
    let store = open_for_admin(database_url, Arc::new(Metrics::default()))
        .await
        .map_err(|error| SlackError::Store { what: "opening the database".into(), error })?;
    let loaded = load::Loader::new(store.as_ref(), &export).load(archive).await;
    store.close().await;
    loaded
}
