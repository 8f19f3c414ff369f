//! What an import holds each line to before the store sees it: the
//! product's own limits (names, bodies, client ids, emoji), as the request
//! that made the row was held to them, and the lines read before it (no id
//! twice, no reference to a user or channel not yet read, each channel's
//! messages in seq order without a gap, up to its `last_seq`). What only
//! the database can tell cheaply (a duplicate message id or client id, a
//! reaction to a message that is not there) the store refuses, naming the
//! line all the same.
//!
//! It keeps what later lines are checked against: the ids of users and
//! channels, the names taken, and each channel's head and next seq. That
//! is a few dozen bytes per user and channel; nothing per message.

use std::collections::{HashMap, HashSet};

use super::format::{ChannelLine, Kind, MemberLine, MessageLine, ReactionLine, UserLine};
use crate::model::{
    ChannelName, ClientId, Emoji, GENERAL_ID, MAX_BODY_CHARS, MAX_DM_PEOPLE, MAX_USER_NAME_CHARS,
    MessageBody, UserName, is_bidi_control, parse_description, parse_display_name, parse_time_zone,
    parse_topic,
};

/// Longest name of a DM channel: its users' names (up to eight) with a comma and a
/// space between them.
const MAX_DM_NAME_CHARS: usize = MAX_DM_PEOPLE * (MAX_USER_NAME_CHARS + 2);

/// The keys a channel is stored under, made from its name as the store
/// makes them when the channel is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelKeys {
    /// The name as natter stores it (normalised and trimmed, as
    /// `ChannelName` makes it; a DM's as it is).
    pub name: String,
    /// `name_key` and `look_key`; `None` for a DM.
    pub name_key: Option<String>,
    pub look_key: Option<String>,
    /// `min:max` of a DM's two user ids; `None` otherwise.
    pub dm_key: Option<String>,
}

/// A channel read so far.
struct ChannelState {
    /// Its line in `channels.jsonl`.
    line: u64,
    last_seq: i64,
    last_rev: i64,
    /// The seq its next message must have.
    next_seq: i64,
    /// The revs its messages hold so far: each is one message's latest
    /// change, so no two messages share one.
    revs: HashSet<i64>,
}

#[derive(Default)]
pub(super) struct Checker {
    users: HashSet<i64>,
    /// Keys of the names held (`UserName::key`).
    user_names: HashSet<String>,
    channels: HashMap<i64, ChannelState>,
    /// Keys of public channels' names: unique among public channels.
    public_keys: HashSet<String>,
    public_looks: HashSet<String>,
    dm_pairs: HashSet<Vec<i64>>,
}

impl Checker {
    /// Checks a user; returns the key their name is stored under.
    pub(super) fn user(&mut self, user: &UserLine) -> Result<String, String> {
        if user.id < 1 {
            return Err(format!("user id {} is not positive", user.id));
        }
        let name = UserName::parse(&user.name).map_err(|why| format!("name {:?}: {why}", user.name))?;
        // A profile follows the rules it was set by.
        if parse_display_name(&user.display_name).as_deref() != Ok(user.display_name.as_str()) {
            return Err(
                "a display name is at most 64 characters, trimmed, without control or bidi characters".into(),
            );
        }
        if parse_time_zone(&user.time_zone).as_deref() != Ok(user.time_zone.as_str()) {
            return Err("a time zone is an IANA name such as Europe/Berlin".into());
        }
        if !self.users.insert(user.id) {
            return Err(format!("user id {} appears twice", user.id));
        }
        if !user.holds_name {
            // As the store sets aside a name that passed on: '~' is in no
            // username, so no name can take this key.
            return Ok(format!("~{}", user.id));
        }
        let key = name.key();
        if !self.user_names.insert(key.clone()) {
            return Err(format!("name {:?} is held twice (names are unique without case)", user.name));
        }
        Ok(key)
    }

    /// Checks a channel (at `line` of its file); returns its keys.
    pub(super) fn channel(&mut self, channel: &ChannelLine, line: u64) -> Result<ChannelKeys, String> {
        if channel.id < 1 {
            return Err(format!("channel id {} is not positive", channel.id));
        }
        if self.channels.contains_key(&channel.id) {
            return Err(format!("channel id {} appears twice", channel.id));
        }
        if channel.id == GENERAL_ID.0 && channel.kind != Kind::Public {
            return Err("channel 1 is General, which is public".into());
        }
        self.known_user_or_none(channel.created_by, "created_by")?;
        // What a channel says about itself follows the rules it was set by.
        if parse_topic(&channel.topic).as_deref() != Ok(channel.topic.as_str()) {
            return Err(
                "a topic is one line of at most 250 characters, trimmed, without control or bidi characters"
                    .into(),
            );
        }
        if parse_description(&channel.description).as_deref() != Ok(channel.description.as_str()) {
            return Err("a description is at most 1000 characters, trimmed, without control characters besides line breaks and tabs".into());
        }
        if channel.kind == Kind::Dm
            && (!channel.topic.is_empty() || !channel.description.is_empty() || channel.archived.is_some())
        {
            return Err("a DM has no topic, description or archive".into());
        }
        if channel.id == GENERAL_ID.0 && channel.archived.is_some() {
            return Err("General cannot be archived".into());
        }
        if channel.last_seq < 0 || channel.last_rev < channel.last_seq {
            return Err(format!(
                "last_seq {} and last_rev {}: a channel's last_rev is at least its last_seq, which is at least 0",
                channel.last_seq, channel.last_rev
            ));
        }
        let keys = match (channel.kind, channel.dm_users.clone()) {
            (Kind::Dm, Some(users)) => self.dm(&channel.name, &users)?,
            (Kind::Dm, None) => return Err("a DM needs dm_users".into()),
            (_, Some(_)) => return Err("only a DM has dm_users".into()),
            (kind, None) => self.named(&channel.name, kind, channel.id)?,
        };
        let state = ChannelState {
            line,
            last_seq: channel.last_seq,
            last_rev: channel.last_rev,
            next_seq: 1,
            revs: HashSet::new(),
        };
        self.channels.insert(channel.id, state);
        Ok(keys)
    }

    fn dm(&mut self, name: &str, users: &[i64]) -> Result<ChannelKeys, String> {
        let chars = name.chars().count();
        if chars == 0
            || chars > MAX_DM_NAME_CHARS
            || name.chars().any(|c| c.is_control() || is_bidi_control(c))
        {
            return Err(format!("{name:?} is not a DM's name (its users' names)"));
        }
        // One user: a note to self.
        if !(1..=MAX_DM_PEOPLE).contains(&users.len()) {
            return Err("dm_users names 1 to 8 users".into());
        }
        if users.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err("dm_users gives distinct ids, smallest first".into());
        }
        for user in users {
            self.known_user(*user, "dm_users")?;
        }
        if !self.dm_pairs.insert(users.to_vec()) {
            return Err(format!("users {users:?} have a DM already"));
        }
        let dm_key = Some(users.iter().map(i64::to_string).collect::<Vec<_>>().join(":"));
        Ok(ChannelKeys { name: name.to_owned(), name_key: None, look_key: None, dm_key })
    }

    /// The keys of a public or private channel's name. A public name whose
    /// key an older public channel holds already (a look-alike that an
    /// early release let in) is set aside as the migration that brought
    /// those keys in sets it aside: the older channel keeps the name, the
    /// younger stays listed but is found by no name.
    fn named(&mut self, name: &str, kind: Kind, id: i64) -> Result<ChannelKeys, String> {
        let parsed = ChannelName::parse_stored(name).map_err(|why| format!("name {name:?}: {why}"))?;
        let (mut key, mut look) = (parsed.key(), parsed.look_key());
        if kind == Kind::Public {
            if self.public_keys.contains(&key) || self.public_looks.contains(&look) {
                (key, look) = (format!("{key}\u{1}{id}"), format!("{look}\u{1}{id}"));
            }
            self.public_keys.insert(key.clone());
            self.public_looks.insert(look.clone());
        }
        let name = parsed.as_str().to_owned();
        Ok(ChannelKeys { name, name_key: Some(key), look_key: Some(look), dm_key: None })
    }

    /// Every channel is read: General must be among them.
    pub(super) fn channels_done(&self) -> Result<(), String> {
        if self.channels.contains_key(&GENERAL_ID.0) {
            Ok(())
        } else {
            Err("there is no channel 1 (General), which every workspace has".into())
        }
    }

    pub(super) fn member(&self, member: &MemberLine) -> Result<(), String> {
        let channel = self.known_channel(member.channel)?;
        self.known_user(member.user, "user")?;
        self.known_user_or_none(member.added_by, "added_by")?;
        if member.read_seq < 0 || member.read_seq > channel.last_seq {
            return Err(format!(
                "read_seq {} is outside the channel's messages (0 to {})",
                member.read_seq, channel.last_seq
            ));
        }
        Ok(())
    }

    pub(super) fn message(&mut self, message: &MessageLine) -> Result<(), String> {
        if message.id < 1 {
            return Err(format!("message id {} is not positive", message.id));
        }
        self.known_user(message.sender, "sender")?;
        ClientId::parse(message.client_id.clone()).map_err(|why| format!("client_id: {why}"))?;
        match (&message.system, message.deleted) {
            (Some(system), _) => {
                self.known_user(system.user, "system.user")?;
                if message.edited_at.is_some() || message.deleted.is_some() || message.reply_to.is_some() {
                    return Err("a system line is never edited, deleted or a reply".into());
                }
                let chars = message.body.chars().count();
                if chars == 0 || chars > MAX_BODY_CHARS {
                    return Err(format!("a system line's body has 1 to {MAX_BODY_CHARS} characters"));
                }
            }
            (None, Some(_)) if !message.body.is_empty() => {
                return Err("a deleted message keeps no text: its body is empty".into());
            }
            (None, Some(_)) => {}
            (None, None) => {
                // Empty for a message that carried only files (which an
                // export does not hold).
                let body = MessageBody::parse_beside_files(message.body.clone())
                    .map_err(|why| format!("body: {why}"))?;
                if body.as_str() != message.body {
                    return Err("body: line breaks are stored as \\n alone".into());
                }
            }
        }
        let channel = self
            .channels
            .get_mut(&message.channel)
            .ok_or_else(|| format!("channel {} is not in channels.jsonl", message.channel))?;
        if message.seq != channel.next_seq {
            return Err(format!(
                "seq {} in channel {}, where seq {} comes next (a channel's messages go in seq order, from 1, without gaps)",
                message.seq, message.channel, channel.next_seq
            ));
        }
        if message.seq > channel.last_seq {
            return Err(format!("seq {} is past the channel's last_seq {}", message.seq, channel.last_seq));
        }
        if message.rev < 1 || message.rev > channel.last_rev {
            return Err(format!(
                "rev {} is outside the channel's revs (1 to {})",
                message.rev, channel.last_rev
            ));
        }
        if !channel.revs.insert(message.rev) {
            return Err(format!(
                "rev {} is an earlier message's in channel {} (a rev is one change to one message)",
                message.rev, message.channel
            ));
        }
        if let Some(parent) = message.reply_to
            && !(1..message.seq).contains(&parent)
        {
            return Err(format!("reply_to {parent} is not an earlier seq of the channel"));
        }
        channel.next_seq += 1;
        Ok(())
    }

    /// Every message is read: each channel must have all its seqs. The
    /// error names the channel's line in `channels.jsonl`.
    pub(super) fn messages_done(&self) -> Result<(), (u64, String)> {
        let mut short: Vec<(&i64, &ChannelState)> =
            self.channels.iter().filter(|(_, channel)| channel.next_seq - 1 != channel.last_seq).collect();
        short.sort_by_key(|(_, channel)| channel.line);
        match short.first() {
            None => Ok(()),
            Some((id, channel)) => Err((
                channel.line,
                format!(
                    "channel {id} has last_seq {}, but messages.jsonl holds its seqs 1 to {} only",
                    channel.last_seq,
                    channel.next_seq - 1
                ),
            )),
        }
    }

    pub(super) fn reaction(&self, reaction: &ReactionLine) -> Result<(), String> {
        self.known_user(reaction.user, "user")?;
        Emoji::parse(&reaction.emoji).map_err(|why| format!("emoji {:?}: {why}", reaction.emoji))?;
        Ok(())
    }

    fn known_user(&self, user: i64, field: &str) -> Result<(), String> {
        if self.users.contains(&user) {
            Ok(())
        } else {
            Err(format!("{field}: user {user} is not in users.jsonl"))
        }
    }

    fn known_user_or_none(&self, user: Option<i64>, field: &str) -> Result<(), String> {
        user.map_or(Ok(()), |user| self.known_user(user, field))
    }

    fn known_channel(&self, channel: i64) -> Result<&ChannelState, String> {
        self.channels.get(&channel).ok_or_else(|| format!("channel {channel} is not in channels.jsonl"))
    }
}
