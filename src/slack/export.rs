//! What a Slack export holds, read and checked whole before anything is
//! written: its users (with their natter names), its conversations
//! (channels, private channels, group DMs, DMs) and every message of them,
//! each day file parsed and converted once here, so that any file an
//! import would refuse is refused before the database is touched. The
//! messages are then dropped and read again, a conversation at a time,
//! while they are written ([`Export::messages`]): an export's size costs
//! time, not memory.

use std::collections::HashSet;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::SlackError;
use super::archive::Archive;
use super::convert::{Author, Planned, Tally, plan};
use super::format::{SlackConversation, SlackMessage, SlackUser};
use super::names::{channel_name, group_name, usernames};
use super::text::{Directory, convert};
use crate::model::{ChannelName, GENERAL, UserName};

/// What kind of natter channel a conversation becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Slack's channel every member is in: natter's General.
    General,
    /// A public channel (`channels.json`).
    Public,
    /// A private channel (`groups.json`) or a group DM (`mpims.json`).
    Private,
    /// A DM (`dms.json`).
    Direct,
}

/// A conversation to import.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub kind: Kind,
    /// Slack's id, which its messages' client ids are made of.
    pub id: String,
    /// The folder of its day files.
    pub folder: String,
    /// Its natter name (before any number a clash adds); unused for a DM.
    pub name: ChannelName,
    /// Who makes it in natter: Slack's creator when still a member (or
    /// for a public channel), else its first member.
    pub creator: Author,
    /// Its members now, as far as natter knows them (for a DM, its two).
    pub members: Vec<Author>,
    pub archived: bool,
    /// Its topic and purpose in natter's markup; empty when none.
    pub topic: String,
    pub purpose: String,
}

/// A checked export, without its messages.
#[derive(Debug)]
pub struct Export {
    /// Every user of `users.json` (once each), with their natter name.
    pub users: Vec<(SlackUser, UserName)>,
    pub placeholder: UserName,
    pub directory: Arc<Directory>,
    pub conversations: Vec<Conversation>,
    /// What converting every message skipped, cut or dropped.
    pub tally: Tally,
    /// Folders no conversation of the export names: not read.
    pub unlisted_folders: Vec<String>,
}

impl Export {
    /// Reads and checks the whole export (the second pass over the day
    /// files, [`messages`], starts its byte count afresh).
    pub fn read(archive: &mut Archive) -> Result<Self, SlackError> {
        let users: Vec<SlackUser> = match archive.read_top("users.json")? {
            Some(file) => parse(&file)?,
            None => match archive.read_top("org_users.json")? {
                Some(file) => parse(&file)?,
                None => return Err(SlackError::NotAnExport(archive.path().to_owned())),
            },
        };
        let mut seen = HashSet::new();
        let users: Vec<SlackUser> = users.into_iter().filter(|user| seen.insert(user.id.clone())).collect();
        let (names, placeholder) = usernames(&users);
        let mut directory = Directory::default();
        for (user, name) in users.iter().zip(&names) {
            directory.users.insert(user.id.clone(), name.as_str().to_owned());
        }
        let listed = |archive: &mut Archive, file: &str| -> Result<Vec<SlackConversation>, SlackError> {
            archive.read_top(file)?.map(|file| parse(&file)).transpose().map(Option::unwrap_or_default)
        };
        let Some(channels) = archive.read_top("channels.json")? else {
            return Err(SlackError::NotAnExport(archive.path().to_owned()));
        };
        // Each list with the kind it becomes and whether it holds group DMs.
        let sources = [
            (Kind::Public, false, parse(&channels)?),
            (Kind::Private, false, listed(archive, "groups.json")?),
            (Kind::Private, true, listed(archive, "mpims.json")?),
            (Kind::Direct, false, listed(archive, "dms.json")?),
        ];
        let mut conversations = Vec::new();
        for (kind, is_mpim, listed) in sources {
            for slack in listed {
                let conversation = conversation(kind, is_mpim, slack, &directory);
                directory.channels.insert(conversation.id.clone(), conversation.name.as_str().to_owned());
                conversations.push(conversation);
            }
        }
        let mut export = Self {
            users: users.into_iter().zip(names).collect(),
            placeholder,
            directory: Arc::new(directory),
            conversations,
            tally: Tally::default(),
            unlisted_folders: Vec::new(),
        };
        let folders: HashSet<&str> = export.conversations.iter().map(|c| c.folder.as_str()).collect();
        export.unlisted_folders =
            archive.folders().filter(|f| !folders.contains(f)).map(str::to_owned).collect();
        export.unlisted_folders.sort();
        let mut tally = Tally::default();
        for conversation in &export.conversations {
            messages_counted(archive, conversation, &export.directory, &mut tally)?;
        }
        export.tally = tally;
        archive.reset_count();
        Ok(export)
    }
}

/// A conversation's messages, read from its day files and converted (what
/// the conversion skipped, cut or dropped counted in `tally`).
pub fn messages_counted(
    archive: &mut Archive,
    conversation: &Conversation,
    directory: &Directory,
    tally: &mut Tally,
) -> Result<Vec<Planned>, SlackError> {
    let mut days = Vec::new();
    for (entry, index) in archive.days(&conversation.folder) {
        let bytes = archive.read(index, &entry)?;
        let messages: Vec<SlackMessage> = parse(&(entry.clone(), bytes))?;
        days.push((entry, messages));
    }
    plan(&conversation.id, days, directory, tally)
}

/// A conversation's messages, read and converted again for writing.
pub fn messages(
    archive: &mut Archive,
    conversation: &Conversation,
    directory: &Directory,
) -> Result<Vec<Planned>, SlackError> {
    messages_counted(archive, conversation, directory, &mut Tally::default())
}

/// A file's JSON as `T`; an error names the file and where in it.
fn parse<T: DeserializeOwned>((entry, bytes): &(String, Vec<u8>)) -> Result<T, SlackError> {
    serde_json::from_slice(bytes).map_err(|error| SlackError::Entry {
        entry: entry.clone(),
        reason: format!("not the JSON a Slack export holds there: {error}"),
    })
}

/// A listed conversation as natter will make it.
fn conversation(kind: Kind, is_mpim: bool, slack: SlackConversation, directory: &Directory) -> Conversation {
    let author = |id: &str| match directory.users.contains_key(id) {
        true => Author::Known(id.to_owned()),
        false => Author::Placeholder,
    };
    let mut members: Vec<Author> = Vec::new();
    for member in &slack.members {
        let member = author(member);
        if !members.contains(&member) {
            members.push(member);
        }
    }
    let kind = if kind == Kind::Public && slack.is_general { Kind::General } else { kind };
    let creator = author(&slack.creator);
    let creator = match kind {
        Kind::Private | Kind::Direct if !members.contains(&creator) => {
            members.first().cloned().unwrap_or(creator)
        }
        _ => creator,
    };
    if kind == Kind::Direct {
        members.truncate(2);
        if members.is_empty() {
            members.push(Author::Placeholder);
        }
    }
    let name = match kind {
        Kind::General => ChannelName::parse(GENERAL).expect("General is a valid name"),
        _ if is_mpim => {
            let names: Vec<&str> = slack
                .members
                .iter()
                .filter_map(|member| directory.users.get(member).map(String::as_str))
                .collect();
            group_name(&names, &slack.id)
        }
        Kind::Direct => channel_name(&slack.id, &slack.id),
        _ => channel_name(&slack.name, &slack.id),
    };
    let folder = if kind == Kind::Direct { slack.id.clone() } else { slack.name.clone() };
    let text = |value: Option<&super::format::SlackText>| {
        value.map(|t| convert(&t.value, directory)).unwrap_or_default()
    };
    Conversation {
        kind,
        folder,
        name,
        creator,
        members,
        archived: slack.is_archived,
        topic: text(slack.topic.as_ref()),
        purpose: text(slack.purpose.as_ref()),
        id: slack.id,
    }
}
