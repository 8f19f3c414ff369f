//! Writing a checked export into the store, through its use cases: users
//! (`backfill_user`), channels (`create_channel`, `open_dm`, found by name
//! when they exist), members (`add_member`), messages (`backfill_message`,
//! each with a client id made from its conversation and `ts`), read
//! markers (`mark_read`) and channel settings (`update_channel`). Every
//! step finds what a run before it made and leaves it be, so running the
//! import again changes nothing, and an import stopped half-way (the
//! database went away) carries on where it stopped when run again.

use std::collections::HashMap;
use std::sync::Arc;

use super::archive::Archive;
use super::convert::{Author, Planned};
use super::export::{Conversation, Export, Kind, messages};
use super::format::SlackTs;
use super::names::numbered_channel;
use super::text::Directory;
use super::{SlackError, Summary};
use crate::model::{
    ChannelId, ChannelKind, GENERAL_ID, MAX_DESCRIPTION_CHARS, MAX_TOPIC_CHARS, Seq, UserId, is_bidi_control,
    parse_description, parse_topic,
};
use crate::store::{
    Appended, BackfillMessage, BackfillUser, ChannelUpdate, Queued, Store, StoreError, StoreResult,
};

/// Messages queued before their answers are awaited: enough to fill the
/// writer's batches, few enough that a failure stops the import soon.
const WINDOW: usize = 256;

/// Names tried for a channel whose name natter has for a channel of
/// another kind (`random`, `random 2`, ...) before giving up.
const MAX_NAME_ATTEMPTS: u32 = 50;

pub struct Loader<'a> {
    store: &'a dyn Store,
    export: &'a Export,
    users: HashMap<String, UserId>,
    placeholder: Option<UserId>,
    summary: Summary,
}

impl<'a> Loader<'a> {
    pub fn new(store: &'a dyn Store, export: &'a Export) -> Self {
        Self { store, export, users: HashMap::new(), placeholder: None, summary: Summary::default() }
    }

    /// Writes everything: checked first that no name natter will use is a
    /// guest's (that would hand a stranger someone's history).
    pub async fn load(mut self, mut archive: Archive) -> Result<Summary, SlackError> {
        let names = self.export.users.iter().map(|(_, name)| name).chain([&self.export.placeholder]);
        for name in names {
            let found = self.store.find_user(name.as_str()).await.map_err(stored("looking up users"))?;
            if found.is_some_and(|found| found.user.guest) {
                return Err(SlackError::GuestHoldsName(name.as_str().to_owned()));
            }
        }
        self.load_users().await?;
        for conversation in &self.export.conversations {
            let messages;
            (archive, messages) = read_messages(archive, &self.export.directory, conversation).await?;
            let what = format!("conversation {} ({})", conversation.name.as_str(), conversation.id);
            self.load_conversation(conversation, messages).await.map_err(stored(&what))?;
        }
        self.summary.tally = self.export.tally.clone();
        self.summary.unlisted_folders = self.export.unlisted_folders.clone();
        Ok(self.summary)
    }

    async fn load_users(&mut self) -> Result<(), SlackError> {
        for (user, name) in &self.export.users {
            let bot = user.is_bot || user.is_app_user || user.id == "USLACKBOT";
            let wanted = BackfillUser {
                name: name.clone(),
                admin: (user.is_admin || user.is_owner || user.is_primary_owner) && !bot,
                deactivated: user.deleted || bot,
            };
            let (made, created) = self.store.backfill_user(wanted).await.map_err(stored("storing users"))?;
            // A guest who took the name since the check above gets nothing.
            if made.guest {
                return Err(SlackError::GuestHoldsName(made.name));
            }
            self.summary.users.count(created);
            self.users.insert(user.id.clone(), made.id);
        }
        Ok(())
    }

    /// The natter account of an author, making the placeholder at its
    /// first use.
    async fn user(&mut self, author: &Author) -> StoreResult<UserId> {
        if let Author::Known(id) = author
            && let Some(&user) = self.users.get(id)
        {
            return Ok(user);
        }
        if let Some(user) = self.placeholder {
            return Ok(user);
        }
        let wanted = BackfillUser { name: self.export.placeholder.clone(), admin: false, deactivated: true };
        let (made, created) = self.store.backfill_user(wanted).await?;
        // A guest holding the placeholder's name is not its author.
        if made.guest {
            return Err(crate::store::StoreError::NameTaken);
        }
        self.summary.users.count(created);
        self.placeholder = Some(made.id);
        Ok(made.id)
    }

    async fn load_conversation(
        &mut self,
        conversation: &Conversation,
        planned: Vec<Planned>,
    ) -> StoreResult<()> {
        let channel = self.channel(conversation).await?;
        let mut members = Vec::new();
        for member in &conversation.members {
            let user = self.user(member).await?;
            self.store.add_member(channel, user, None).await?;
            members.push(user);
        }
        if let Some(last_seq) = self.messages(channel, planned).await? {
            // History is not news: every member has read what was imported.
            for &member in &members {
                self.store.mark_read(channel, member, last_seq).await?;
            }
        }
        self.settings(channel, conversation).await
    }

    /// The channel a conversation goes into, made or found.
    async fn channel(&mut self, conversation: &Conversation) -> StoreResult<ChannelId> {
        let kind = match conversation.kind {
            Kind::General => {
                self.summary.channels.count(false);
                return Ok(GENERAL_ID);
            }
            Kind::Direct => {
                let first = self.user(&conversation.members[0]).await?;
                let second = match conversation.members.get(1) {
                    Some(other) => self.user(other).await?,
                    None => first,
                };
                let (channel, created) = self.store.open_dm(first, &[second]).await?;
                self.summary.channels.count(created);
                return Ok(channel.id);
            }
            Kind::Public => ChannelKind::Public,
            Kind::Private => ChannelKind::Private,
        };
        let creator = self.user(&conversation.creator).await?;
        for attempt in 1..=MAX_NAME_ATTEMPTS {
            let name = numbered_channel(&conversation.name, attempt);
            match self.store.create_channel(&name, kind, creator, u32::MAX).await {
                Ok(channel) => {
                    self.summary.channels.count(true);
                    return Ok(channel.id);
                }
                Err(StoreError::ChannelExists(channel)) if channel.kind == kind => {
                    self.summary.channels.count(false);
                    return Ok(channel.id);
                }
                // Natter has the name for a channel of the other kind.
                Err(StoreError::ChannelExists(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Err(StoreError::NotAllowed("every name tried for the channel is taken by a channel of another kind"))
    }

    /// Stores a conversation's messages in order, pipelined; returns the
    /// seq of the last (`None` when there are none).
    async fn messages(&mut self, channel: ChannelId, planned: Vec<Planned>) -> StoreResult<Option<Seq>> {
        let mut seqs: HashMap<SlackTs, Seq> = HashMap::new();
        let mut pending: Vec<(SlackTs, bool, Queued<Appended>)> = Vec::new();
        let mut last = None;
        for message in planned {
            let mut reply_to = None;
            if let Some(parent) = message.thread_parent {
                if !seqs.contains_key(&parent) && pending.iter().any(|(ts, _, _)| *ts == parent) {
                    self.flush(&mut pending, &mut seqs, &mut last).await?;
                }
                reply_to = seqs.get(&parent).copied();
            }
            let sender = self.user(&message.author).await?;
            let mut reactions = Vec::with_capacity(message.reactions.len());
            for (emoji, author) in &message.reactions {
                reactions.push((emoji.clone(), self.user(author).await?));
            }
            for (part, (client_id, body)) in message.parts.into_iter().enumerate() {
                let first = part == 0;
                let queued = self.store.backfill_message(BackfillMessage {
                    channel,
                    sender,
                    client_id,
                    body,
                    ts: message.ts.millis(),
                    edited_at: message.edited_at,
                    reply_to: if first { reply_to } else { None },
                    reactions: if first { std::mem::take(&mut reactions) } else { Vec::new() },
                });
                pending.push((message.ts, first, queued));
            }
            if pending.len() >= WINDOW {
                self.flush(&mut pending, &mut seqs, &mut last).await?;
            }
        }
        self.flush(&mut pending, &mut seqs, &mut last).await?;
        Ok(last)
    }

    /// Awaits every queued message, noting the seq of each message's first
    /// part (what replies refer to).
    async fn flush(
        &mut self,
        pending: &mut Vec<(SlackTs, bool, Queued<Appended>)>,
        seqs: &mut HashMap<SlackTs, Seq>,
        last: &mut Option<Seq>,
    ) -> StoreResult<()> {
        for (ts, first, queued) in pending.drain(..) {
            let appended = queued.await?;
            self.summary.messages.count(appended.created);
            if appended.created {
                self.summary.reactions +=
                    appended.message.reactions.iter().map(|r| u64::from(r.count)).sum::<u64>();
            }
            if first {
                seqs.insert(ts, appended.message.seq);
            }
            *last = Some(last.map_or(appended.message.seq, |seq: Seq| seq.max(appended.message.seq)));
        }
        Ok(())
    }

    /// The topic and purpose (where natter's channel has none) and the
    /// archival of a channel, by its creator. What natter refuses (the
    /// creator may not change a channel natter had already, General cannot
    /// be archived) is noted in the summary, not an error.
    async fn settings(&mut self, channel: ChannelId, conversation: &Conversation) -> StoreResult<()> {
        if matches!(conversation.kind, Kind::Direct) {
            return Ok(());
        }
        let by = self.user(&conversation.creator).await?;
        let about = self.store.channel_view(channel, by).await?.about;
        if about.archived {
            return Ok(());
        }
        let topic = parse_topic(&one_line(&conversation.topic, MAX_TOPIC_CHARS)).ok();
        let purpose = parse_description(&cut(&conversation.purpose, MAX_DESCRIPTION_CHARS)).ok();
        let described = ChannelUpdate {
            channel,
            by,
            name: None,
            topic: topic.filter(|topic| about.topic.is_empty() && !topic.is_empty()),
            description: purpose.filter(|purpose| about.description.is_empty() && !purpose.is_empty()),
            archived: None,
        };
        if described.topic.is_some() || described.description.is_some() {
            self.update(described, conversation, "its topic and purpose").await?;
        }
        if conversation.archived {
            let archived = ChannelUpdate {
                channel,
                by,
                name: None,
                topic: None,
                description: None,
                archived: Some(true),
            };
            self.update(archived, conversation, "that it is archived").await?;
        }
        Ok(())
    }

    /// Applies a channel's setting; a refusal becomes a note.
    async fn update(
        &mut self,
        update: ChannelUpdate,
        conversation: &Conversation,
        what: &str,
    ) -> StoreResult<()> {
        match self.store.update_channel(update).await {
            Ok(_) => Ok(()),
            Err(refused @ (StoreError::NotAllowed(_) | StoreError::NotMember | StoreError::Archived)) => {
                let name = conversation.name.as_str();
                self.summary.notes.push(format!("{name}: {what} not imported: {refused}"));
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}

/// Reads a conversation's messages on a blocking thread (inflating and
/// parsing block), handing the archive there and back.
async fn read_messages(
    mut archive: Archive,
    directory: &Arc<Directory>,
    conversation: &Conversation,
) -> Result<(Archive, Vec<Planned>), SlackError> {
    let (directory, conversation) = (Arc::clone(directory), conversation.clone());
    let (archive, messages) = tokio::task::spawn_blocking(move || {
        let messages = messages(&mut archive, &conversation, &directory);
        (archive, messages)
    })
    .await
    .map_err(|error| SlackError::Io {
        what: "reading messages".into(),
        error: std::io::Error::other(error),
    })?;
    Ok((archive, messages?))
}

/// `text` on one line (line breaks as spaces), cut to `most` characters.
fn one_line(text: &str, most: usize) -> String {
    cut(&text.split_whitespace().collect::<Vec<_>>().join(" "), most)
}

/// `text` without control (but line breaks and tabs) or bidi characters,
/// cut to `most` characters, with `…` when cut.
fn cut(text: &str, most: usize) -> String {
    let removed = |c: char| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c);
    let text: String = text.chars().filter(|&c| !removed(c)).collect();
    if text.chars().count() <= most {
        return text;
    }
    let kept: String = text.chars().take(most - 1).collect();
    format!("{}…", kept.trim_end())
}

fn stored(what: &str) -> impl FnOnce(StoreError) -> SlackError {
    let what = what.to_owned();
    move |error| SlackError::Store { what, error }
}
