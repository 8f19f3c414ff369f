//! The wire types of the native protocol: what clients send over `/ws` and what
//! the server sends back, one JSON object per text frame, tagged by `"type"`.
//!
//! This is the only module that derives `Serialize`/`Deserialize` for what clients
//! see. It knows nothing of sockets, storage or the hub: conversions from domain
//! types live at the server edge, except for the values that travel on two
//! wires (to clients and over the bus), which convert once in [`convert`]. `docs/protocol.md` documents every message with
//! an example; a unit test below keeps the two in step.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod accounts;
pub mod convert;
mod errors;
mod message;
mod names;
mod values;
mod parse;

pub use accounts::{AccountInfo, InviteInfo, Registration, Role};
pub use errors::ErrorCode;
pub use message::{
    AttachmentInfo, DeletedBy, MessageInfo, QuoteInfo, ReactionInfo, SearchHitInfo, SystemInfo, SystemKind,
};
pub use names::{CLIENT_MESSAGE_TYPES, SERVER_MESSAGE_TYPES};
pub use parse::{MAX_REF_BYTES, parse_client_message, reference_of};
pub use values::{ChannelInfo, ChannelKind, DirectoryUser, NotifyLevel, ProfileInfo, UserInfo};

/// A correlation value chosen by the client. A reply or error to a request that
/// carried one echoes it, so clients can match answers to questions.
pub type Ref = serde_json::Value;

/// Everything a client may send.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Sent once after connecting: where the client is, per channel (keys
    /// are channel ids as strings, as JSON demands): the last `seq` it
    /// holds, or `{seq, rev, held_from}` to also hear what changed in the
    /// messages it holds. The server replays what the client lacks and
    /// then streams live changes.
    Hello {
        #[serde(default)]
        resume: BTreeMap<String, ResumePoint>,
        /// Which presence the client hears (default: everyone).
        #[serde(default)]
        presence: PresenceMode,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Post a message. `client_id` is an idempotency key: resending the same one
    /// (also after a reconnect) never creates a second message.
    Send {
        channel: i64,
        body: String,
        client_id: String,
        /// The seq of the message (in this channel) it replies to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<i64>,
        /// Files uploaded to this channel (`POST /api/files`) to attach,
        /// at most 10; the body may then be empty.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<String>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Replace the body of one of your messages. With `if_rev`, only if
    /// the message's latest change is still that rev (else `conflict`).
    /// Answered by `changed` (and every member gets an `update`).
    Edit {
        channel: i64,
        seq: i64,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        if_rev: Option<i64>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Delete one of your messages (an admin: anyone's). Its text is
    /// erased; members see a tombstone. Answered by `changed`.
    Delete {
        channel: i64,
        seq: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Add (`add: true`) or take back (`add: false`) your reaction with one
    /// emoji. Answered by `changed`.
    React {
        channel: i64,
        seq: i64,
        emoji: String,
        add: bool,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Search the messages of your channels (`docs/protocol.md`, "Search",
    /// has the query syntax); the filters may also come as fields.
    /// Answered by `search_results`, newest first.
    Search {
        query: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        has_link: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_mention: bool,
        /// The client's offset from UTC in minutes, east positive (what
        /// its days mean); 0 when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        utc_offset: Option<i32>,
        /// A previous answer's `next`, for the page after it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Fetch a page of history, newest first in selection but returned oldest
    /// first: the `limit` messages with `seq < before` (or the latest ones).
    History {
        channel: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<i64>,
        /// Instead of `before`: the messages after this seq, oldest first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<i64>,
        /// Instead of `before`: this seq's message and those around it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        around: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Change a channel: its `name`, `topic` (empty clears it),
    /// `description` (empty clears it) or `archived`; any of them. Who may
    /// change what: docs/protocol.md, "Channel settings". Answered by
    /// `channel_updated`, which every member's connections also get.
    UpdateChannel {
        channel: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        archived: Option<bool>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Create a channel, or join it if a public one of that name exists.
    CreateChannel {
        name: String,
        #[serde(default)]
        private: bool,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// List the public channels, for browsing: a page in name order, only
    /// those whose name starts with `prefix` (compared as names are, without
    /// case or look-alike letters), after the cursor `after` (the `next` of
    /// the previous page).
    ListChannels {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Join a public channel.
    Join {
        channel: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Leave a channel (not General, not a DM).
    Leave {
        channel: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Add a user (by name) to a channel the sender is a member of.
    Invite {
        channel: i64,
        user: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Open (or find) the direct-message channel with a user, or with up to
    /// seven people (a group DM): the same people always get the same one.
    OpenDm {
        /// The other person of a one-to-one DM.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// Instead of `user`: the others of a group DM (1 to 7 people).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        users: Vec<String>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Admins only: take `user` out of a channel (not General, not a DM).
    /// They are told `left`; the channel gets a line "ADMIN removed USER".
    /// Answered by `member_removed`.
    RemoveMember {
        channel: i64,
        user: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// "I am typing in this channel." Ephemeral, rate-limited, never stored;
    /// only a refusal is answered (with the `ref`).
    Typing {
        channel: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Move this user's read marker in a channel forward to `seq`. Answered
    /// by a `read` to all of the user's connections, or an error.
    Read {
        channel: i64,
        seq: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// One page of the user directory: the users whose name starts with
    /// `prefix` (compared without case), after the name `after`, by name, at
    /// most `limit` (default 50, at most 100). Answered by `users`.
    ListUsers {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        /// Only those online now (read from presence, not the database).
        #[serde(default)]
        online: bool,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A person's profile (anyone in the workspace). Answered by `profile`.
    Profile {
        user: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Change your own display name and time zone (each absent: left
    /// alone; empty: cleared). Answered by `profile`, your own.
    UpdateProfile {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_zone: Option<String>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Watched presence: hear changes of these users from now on (replaces
    /// the previous list; at most 100 names). Answered by `watching`.
    Watch {
        users: Vec<String>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Members of a channel whose name starts with `prefix` (without case),
    /// by name, at most `limit` (default 50, at most 100): for mention
    /// autocomplete. Answered by `members`.
    Members {
        channel: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        /// The last name of the previous page: the page after it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Your notification level for a channel you are in. Answered by a
    /// `channel` frame to all your connections.
    Notify {
        channel: i64,
        level: NotifyLevel,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Admins only: one page of every account that holds its name, by
    /// name without case, after the name `after`, at most `limit` (default
    /// 50, at most 100). Answered by `accounts`.
    ListAccounts {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Admins only: `active: false` deactivates the account (its sessions
    /// end, its connections close on every node, it cannot log in; its
    /// messages stay), `true` reactivates it; `role` makes it an admin or
    /// a member. Not your own account. Answered by `account_updated`.
    UpdateAccount {
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        active: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<Role>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Admins only: make a password-reset link for the account (valid 72
    /// hours, once). Answered by `reset_link`, with its token.
    CreateResetLink {
        user: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Admins only: make an invite link valid for `expires_in_hours`
    /// (default 168, at most 720) and `max_uses` sign-ups (default 25, at
    /// most 1000). Answered by `invite_created`, with its token.
    CreateInvite {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_in_hours: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_uses: Option<u32>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Admins only: the newest invite links and the registration mode.
    /// Answered by `invites`.
    ListInvites {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Admins only: nobody may sign up with this link any more. Answered by
    /// `invite_revoked`.
    RevokeInvite {
        id: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Admins only: who may sign up with a password from now on, on every
    /// node. Answered by `registration`.
    SetRegistration {
        mode: Registration,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Application-level liveness check; answered by `pong`.
    Ping {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
}

/// Where a client is in one channel, in `hello`'s `resume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ResumePoint {
    /// The last seq held: replay the messages after it.
    Seq(i64),
    /// The last seq and rev held, and the oldest seq held: replay the
    /// messages after `seq` and the latest state of every message from
    /// `held_from` to `seq` that changed after `rev`, in rev order.
    Rev {
        seq: i64,
        rev: i64,
        #[serde(default)]
        held_from: i64,
    },
}

/// Which presence a connection hears, chosen in `hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceMode {
    /// Every change, and the whole online list in `welcome`.
    #[default]
    Everyone,
    /// Changes of the users it `watch`es, and the online list's first page
    /// (`online_page`) whenever it changes.
    Watched,
}

/// Everything the server may send.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First frame after `hello`: who you are, your channels, who is online.
    /// Long lists are split to keep every frame small: then `complete` is
    /// false, and the rest follows in `welcome_more` frames before anything
    /// else.
    Welcome { user: UserInfo, channels: Vec<ChannelInfo>, online: Vec<String>, complete: bool },
    /// More channels and online users of a `welcome`; the last has `complete`.
    WelcomeMore { channels: Vec<ChannelInfo>, online: Vec<String>, complete: bool },
    /// A stored message, live or replayed.
    Message(MessageInfo),
    /// A message the client may hold changed (edited or deleted): this is
    /// its latest state. Keep, per channel and seq, the highest `rev`.
    Update(MessageInfo),
    /// Answer to `search`: the messages found, newest first, as they stand,
    /// each with the UTF-16 ranges of its body the query matched; `next`
    /// asks for the page after this one (absent on the last).
    SearchResults {
        hits: Vec<SearchHitInfo>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Too much changed in this channel while the client was away to
    /// replay: drop what it holds of the channel and load its latest page.
    Reset { channel: i64, last_seq: i64, last_rev: i64 },
    /// Answer to `edit` and `delete`: the message as it stands now, and
    /// whether anything changed (not for the same body again, or a
    /// message deleted already).
    Changed {
        message: MessageInfo,
        changed: bool,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// The message with this `client_id` is committed.
    Ack {
        client_id: String,
        channel: i64,
        id: i64,
        seq: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A page of history, oldest first. `has_more` says whether messages
    /// older than its first exist, `has_newer` whether newer than its last.
    History {
        channel: i64,
        messages: Vec<MessageInfo>,
        has_more: bool,
        #[serde(default)]
        has_newer: bool,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A channel you are in was renamed, given a topic or description,
    /// archived or unarchived: how it stands now (to every member's every
    /// connection, and as the answer to `update_channel`).
    ChannelUpdated {
        channel: i64,
        name: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        topic: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        description: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        archived: bool,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A channel you are a member of was created, joined, or you were added to it.
    Channel {
        channel: ChannelInfo,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// You are no longer a member of this channel.
    Left {
        channel: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A page of public channels, answering `list_channels`. `has_more`
    /// says another page follows; pass `next` as `after` to get it.
    Channels {
        channels: Vec<ChannelInfo>,
        has_more: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A page of the user directory, answering `list_users`, ordered by name
    /// without case. `has_more` says whether a page after the last name exists.
    Users {
        users: Vec<DirectoryUser>,
        has_more: bool,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A user came online or went offline.
    Presence { user: String, online: bool },
    /// Watched presence: the first names of the online list (sorted without
    /// case) and how many are online. Without `users`, only the count
    /// changed: the names are those of the last page.
    OnlinePage {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        users: Option<Vec<String>>,
        total: usize,
    },
    /// Answer to `members`: the names, and whether more match.
    Members {
        channel: i64,
        users: Vec<String>,
        has_more: bool,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Answer to `watch`: whether each watched user is online now.
    Watching {
        users: Vec<DirectoryUser>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A user is typing in a channel you are in.
    Typing { channel: i64, user: String },
    /// Your read marker moved (from this or another of your connections),
    /// and what is unread after it, counted up to the channel's `last_seq`.
    Read { channel: i64, seq: i64, unread: u32, mentions: u32, last_seq: i64 },
    /// A request failed. `code` is stable; `message` is for people.
    Error {
        code: ErrorCode,
        message: String,
        /// With `channel_exists`: the id of the channel that has the name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<i64>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Answer to `profile` and `update_profile`.
    Profile {
        profile: ProfileInfo,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Answer to `remove_member`: the user is out of the channel.
    MemberRemoved {
        channel: i64,
        user: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Answer to `list_accounts`; `has_more` says whether a page after
    /// the last name exists.
    Accounts {
        accounts: Vec<AccountInfo>,
        has_more: bool,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Answer to `update_account`: the change is made.
    AccountUpdated {
        user: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Answer to `create_reset_link`: its token, shown this once; the link
    /// to hand to its user is the server's address with `/#reset=TOKEN`.
    ResetLink {
        user: String,
        token: String,
        /// When it stops working (ms since the epoch).
        expires: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Answer to `create_invite`: the link, and its token, shown this
    /// once (the server keeps only its hash). The link to hand out is the
    /// server's address with `/#invite=TOKEN`.
    InviteCreated {
        invite: InviteInfo,
        token: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Answer to `list_invites`: the newest links (at most 100), newest
    /// first, and who may sign up now.
    Invites {
        invites: Vec<InviteInfo>,
        registration: Registration,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Answer to `revoke_invite`.
    InviteRevoked {
        id: i64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Answer to `set_registration`: the mode now in force.
    Registration {
        mode: Registration,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Answer to `ping`.
    Pong {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
}

/// The JSON bodies of the HTTP account API (`/api/...`).
pub mod http;

/// The Socket.IO compatibility protocol at `/socket.io/`: the events of the
/// Make Chat tutorial app, with its names and payload shapes, plus the few
/// additions natter makes (an `error` event, acknowledgements, and ids on
/// messages). Every payload is a single JSON argument.
pub mod socketio;

/// What nodes tell each other over the bus (Redis pub/sub): one JSON object
/// per event, tagged with the sending node so it can ignore its own echo.
/// Messages travel as the same [`MessageInfo`] clients see, plus the sender's
/// id. Conversions from and to the hub's `BusEvent` live at the bus's edge
/// (`bus::redis`).
pub mod bus;

/// Close codes the server uses beyond the standard ones.
pub mod close_code {
    /// The client did not read fast enough; it should reconnect and resume.
    pub const TOO_SLOW: u16 = 4008;
    /// The session was revoked (logout), expired, or its account deactivated.
    pub const UNAUTHORIZED: u16 = 4001;
}

impl ServerMessage {
    /// Encodes to the JSON text of one frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

#[cfg(test)]
mod tests;
