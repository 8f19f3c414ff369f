//! A native session's requests: each frame parsed, checked against the
//! budgets, handed to the use cases (`app`), and answered with one frame.

use std::sync::Arc;
use std::time::Instant;

use super::super::bounded::{LIST_BUDGET, encoded_len, first_within, first_within_or_none, newest_within};
use super::super::convert::{channel_info, channel_updated, error_code, message_info};
use super::super::session::Cost;
use super::upgrade::End;
use super::{WsSession, administering, error_message};
use crate::app::{
    ChannelChange, Committing, DEFAULT_SEARCH_PAGE, HistoryPage, HistoryRead, RequestError, SearchPage,
    SearchRequest, search_cursor_after,
};
use crate::hub::WATCH_MAX;
use crate::model::{ChannelId, ChannelName, ClientId, Emoji, FileId, MessageBody, MessageId, Rev, Seq};
use crate::protocol::convert::notify_level_from;
use crate::protocol::{
    ChannelInfo, ClientMessage, DirectoryUser, ErrorCode, MessageInfo, Ref, SearchHitInfo, ServerMessage,
    parse_client_message, reference_of,
};

/// Most public channels in one `channels` page (fewer when their names are
/// long: pages are bounded in bytes too).
const CHANNEL_PAGE: u32 = 100;

/// A send on its way to the store: its client id and `ref` for the ack.
pub(super) type NewSend = (String, Option<Ref>, Committing);

/// What a request costs: sends have the user's message rate and typing its
/// own interval; reads also draw on the budgets of the user and the
/// address, which all their connections share.
fn cost_of(request: &ClientMessage) -> Cost {
    match request {
        // Edits and deletions draw on the message rate, like sends.
        ClientMessage::Send { .. }
        | ClientMessage::Typing { .. }
        | ClientMessage::Edit { .. }
        | ClientMessage::Delete { .. }
        | ClientMessage::React { .. } => Cost::Free,
        ClientMessage::History { .. }
        | ClientMessage::ListChannels { .. }
        | ClientMessage::ListUsers { .. }
        | ClientMessage::Members { .. }
        // A read marker or a level is a write and then a count of what is
        // unread: priced as a read.
        | ClientMessage::Read { .. }
        | ClientMessage::Notify { .. }
        // A search also has its own per-user rate (`App::search`).
        | ClientMessage::Search { .. }
        | ClientMessage::ListAccounts { .. }
        | ClientMessage::Profile { .. }
        | ClientMessage::ListInvites { .. }
        // Watching rewrites an index under the hub's lock: priced as a read,
        // so one user or one address cannot make it cheap by connecting
        // many times.
        | ClientMessage::Watch { .. } => Cost::Read,
        _ => Cost::Request,
    }
}

impl WsSession {
    /// Handles one request frame. A `send` is returned as a pending commit so
    /// the loop can go on while the store works.
    pub(super) async fn handle_text(&mut self, text: &str) -> Result<Option<NewSend>, End> {
        let request = match parse_client_message(text) {
            Ok(request) => request,
            Err((code, message)) => {
                self.reply(error_message(code, &message, reference_of(text))).await?;
                return Ok(None);
            }
        };
        let app = Arc::clone(&self.state.app);
        let user = self.user.clone();
        if !self.budget.take(&self.state, Some(&user), cost_of(&request)) {
            let error =
                error_message(ErrorCode::RateLimited, "too many requests; slow down", reference_of(text));
            self.reply(error).await?;
            return Ok(None);
        }
        let reply = match request {
            ClientMessage::Send { channel, body, client_id, reply_to, files, reference } => {
                let client_id = match ClientId::parse(client_id) {
                    Ok(client_id) => client_id,
                    Err(why) => {
                        self.reply(error_message(ErrorCode::InvalidClientId, why, reference)).await?;
                        return Ok(None);
                    }
                };
                let Some(files) = files.iter().map(|id| FileId::parse(id)).collect::<Option<Vec<_>>>() else {
                    let why = "files holds ids from POST /api/files";
                    self.reply(error_message(ErrorCode::NoSuchFile, why, reference)).await?;
                    return Ok(None);
                };
                let body = if files.is_empty() {
                    MessageBody::parse(body)
                } else {
                    MessageBody::parse_beside_files(body)
                };
                let body = match body {
                    Ok(body) => body,
                    Err(why) => {
                        self.reply(error_message(ErrorCode::InvalidBody, why, reference)).await?;
                        return Ok(None);
                    }
                };
                let key = client_id.clone().into_string();
                let reply_to = reply_to.map(Seq);
                return Ok(Some((
                    key,
                    reference,
                    app.post(&user, ChannelId(channel), client_id, body, reply_to, files).await,
                )));
            }
            ClientMessage::Hello { reference, .. } => {
                error_message(ErrorCode::BadSequence, "hello was already received", reference)
            }
            ClientMessage::History { channel, before, after, around, limit, reference } => {
                let page = match (before, after, around) {
                    (before, None, None) => HistoryPage::Before(before.map(Seq)),
                    (None, Some(after), None) => HistoryPage::After(Seq(after)),
                    (None, None, Some(around)) => HistoryPage::Around(Seq(around)),
                    _ => {
                        let why = "history takes at most one of before, after and around";
                        self.reply(error_message(ErrorCode::BadRequest, why, reference)).await?;
                        return Ok(None);
                    }
                };
                match app.history(&user, ChannelId(channel), page, limit.unwrap_or(50)).await {
                    Ok(read) => history_reply(channel, page, read, reference),
                    Err(error) => request_error(&error, reference),
                }
            }
            ClientMessage::CreateChannel { name, private, reference } => match ChannelName::parse(&name) {
                Err(why) => error_message(ErrorCode::InvalidName, why, reference),
                Ok(name) => match app.create_channel(&user, &name, private).await {
                    Ok(view) => ServerMessage::Channel { channel: channel_info(&view), reference },
                    Err(error) => request_error(&error, reference),
                },
            },
            ClientMessage::ListChannels { prefix, after, reference } => {
                let prefix = prefix.unwrap_or_default();
                let after = after.as_deref().and_then(parse_channel_cursor);
                match app.public_channels(&user, &prefix, after, CHANNEL_PAGE).await {
                    Ok(mut views) => {
                        let more_rows = views.len() > CHANNEL_PAGE as usize;
                        views.truncate(CHANNEL_PAGE as usize);
                        let (channels, rest) =
                            first_within(views.iter().map(channel_info).collect(), LIST_BUDGET);
                        let has_more = more_rows || !rest.is_empty();
                        let next = has_more.then(|| channels.last().map(channel_cursor)).flatten();
                        ServerMessage::Channels { channels, has_more, next, reference }
                    }
                    Err(error) => request_error(&error, reference),
                }
            }
            ClientMessage::Join { channel, reference } => match app.join(&user, ChannelId(channel)).await {
                Ok(view) => ServerMessage::Channel { channel: channel_info(&view), reference },
                Err(error) => request_error(&error, reference),
            },
            ClientMessage::Leave { channel, reference } => match app.leave(&user, ChannelId(channel)).await {
                Ok(()) => ServerMessage::Left { channel, reference },
                Err(error) => request_error(&error, reference),
            },
            ClientMessage::Invite { channel, user: invitee, reference } => {
                match app.invite(&user, ChannelId(channel), &invitee).await {
                    Ok(view) => ServerMessage::Channel { channel: channel_info(&view), reference },
                    Err(error) => request_error(&error, reference),
                }
            }
            ClientMessage::Edit { channel, seq, body, if_rev, reference } => match MessageBody::parse(body) {
                Err(why) => error_message(ErrorCode::InvalidBody, why, reference),
                Ok(body) => {
                    let edited = app.edit(&user, ChannelId(channel), Seq(seq), body, if_rev.map(Rev)).await;
                    changed_reply(edited, reference)
                }
            },
            ClientMessage::Delete { channel, seq, reference } => {
                changed_reply(app.delete(&user, ChannelId(channel), Seq(seq)).await, reference)
            }
            ClientMessage::React { channel, seq, emoji, add, reference } => match Emoji::parse(&emoji) {
                Err(why) => error_message(ErrorCode::InvalidEmoji, why, reference),
                Ok(emoji) => {
                    let reacted = app.react(&user, ChannelId(channel), Seq(seq), emoji, add).await;
                    changed_reply(reacted, reference)
                }
            },
            ClientMessage::Search {
                query,
                from,
                channel,
                before,
                after,
                on,
                has_link,
                is_mention,
                utc_offset,
                cursor,
                limit,
                reference,
            } => {
                let request = SearchRequest {
                    query,
                    from,
                    channel: channel.map(ChannelId),
                    before,
                    after,
                    on,
                    has_link,
                    is_mention,
                    utc_offset_minutes: utc_offset.unwrap_or(0),
                    cursor,
                    limit: limit.unwrap_or(DEFAULT_SEARCH_PAGE),
                };
                search_reply(app.search(&user, request).await, reference)
            }
            ClientMessage::OpenDm { user: other, users, reference } => {
                let others = match (other, users) {
                    (Some(other), users) if users.is_empty() => vec![other],
                    (None, users) => users,
                    (Some(_), _) => {
                        let why = "open_dm takes `user` or `users`, not both";
                        self.reply(error_message(ErrorCode::BadRequest, why, reference)).await?;
                        return Ok(None);
                    }
                };
                match app.open_dm(&user, &others).await {
                    Ok(view) => ServerMessage::Channel { channel: channel_info(&view), reference },
                    Err(error) => request_error(&error, reference),
                }
            }
            ClientMessage::Typing { channel, reference } => {
                let channel = ChannelId(channel);
                let interval = app.limits().typing_interval;
                if self.typing_relayed.get(&channel).is_some_and(|at| at.elapsed() < interval) {
                    self.budget.note_limit("typing rate");
                    app.count_rate_limited();
                    let message = format!("at most one typing event per channel every {interval:?}");
                    error_message(ErrorCode::RateLimited, &message, reference)
                } else {
                    // Typing in a channel the connection is not in is dropped
                    // without a word: an answer would say the channel exists.
                    if app.typing(self.registration.id, &user, channel) {
                        self.typing_relayed.insert(channel, Instant::now());
                    }
                    return Ok(None);
                }
            }
            ClientMessage::Read { channel, seq, reference } => {
                match app.mark_read(&user, ChannelId(channel), Seq(seq)).await {
                    // The new marker reaches this connection as a `read` delivery.
                    Ok(()) => return Ok(None),
                    Err(error) => request_error(&error, reference),
                }
            }
            ClientMessage::ListUsers { prefix, after, limit, online: true, reference } => {
                match (directory_name(prefix), directory_name(after)) {
                    (Ok(prefix), Ok(after)) => {
                        let limit = limit.unwrap_or(DEFAULT_DIRECTORY_PAGE);
                        let (names, has_more) = app.online_directory(prefix.as_ref(), after.as_ref(), limit);
                        let users =
                            names.into_iter().map(|name| DirectoryUser { name, online: true }).collect();
                        ServerMessage::Users { users, has_more, reference }
                    }
                    (Err(why), _) | (_, Err(why)) => error_message(ErrorCode::BadRequest, why, reference),
                }
            }
            ClientMessage::ListUsers { prefix, after, limit, online: false, reference } => {
                match (directory_name(prefix), directory_name(after)) {
                    (Ok(prefix), Ok(after)) => {
                        let limit = limit.unwrap_or(DEFAULT_DIRECTORY_PAGE);
                        match app.user_directory(prefix.as_ref(), after.as_ref(), limit).await {
                            Ok((users, has_more)) => ServerMessage::Users {
                                users: users
                                    .into_iter()
                                    .map(|(name, online)| DirectoryUser { name, online })
                                    .collect(),
                                has_more,
                                reference,
                            },
                            Err(error) => request_error(&error, reference),
                        }
                    }
                    (Err(why), _) | (_, Err(why)) => error_message(ErrorCode::BadRequest, why, reference),
                }
            }
            ClientMessage::Watch { users, reference } => match watch_names(users) {
                Err(why) => error_message(ErrorCode::BadRequest, why, reference),
                Ok(names) => {
                    let (status, as_of) = app.hub().watch_presence(self.registration.id, &names);
                    // Watched: batches already queued bring nothing this
                    // answer does not show. (Hearing everyone, they bring
                    // changes of others, still news.)
                    if self.watched_presence {
                        self.presence_seen = self.presence_seen.max(as_of);
                    }
                    let users =
                        status.into_iter().map(|(name, online)| DirectoryUser { name, online }).collect();
                    ServerMessage::Watching { users, reference }
                }
            },
            ClientMessage::Members { channel, prefix, after, limit, reference } => {
                match (directory_name(prefix), directory_name(after)) {
                    (Err(why), _) | (_, Err(why)) => error_message(ErrorCode::BadRequest, why, reference),
                    (Ok(prefix), Ok(after)) => {
                        let limit = limit.unwrap_or(DEFAULT_DIRECTORY_PAGE);
                        let (channel_id, prefix, after) =
                            (ChannelId(channel), prefix.as_ref(), after.as_ref());
                        match app.channel_members(&user, channel_id, prefix, after, limit).await {
                            Ok((users, has_more)) => {
                                ServerMessage::Members { channel, users, has_more, reference }
                            }
                            Err(error) => request_error(&error, reference),
                        }
                    }
                }
            }
            ClientMessage::Notify { channel, level, reference } => {
                // Every connection of the user also gets the channel's
                // view, this one too.
                match app.set_notify(&user, ChannelId(channel), notify_level_from(level)).await {
                    Ok(view) => ServerMessage::Channel { channel: channel_info(&view), reference },
                    Err(error) => request_error(&error, reference),
                }
            }
            ClientMessage::ListAccounts { after, limit, reference } => {
                administering::list_accounts(&app, &user, after, limit, reference).await
            }
            ClientMessage::UpdateAccount { user: name, active, role, reference } => {
                administering::update_account(&app, &user, name, active, role, reference).await
            }
            ClientMessage::Profile { user: name, reference } => match crate::model::UserName::parse(&name) {
                Err(why) => error_message(ErrorCode::BadRequest, why, reference),
                Ok(name) => match app.profile(&name).await {
                    Ok((profile, online)) => {
                        ServerMessage::Profile { profile: profile_info(profile, online), reference }
                    }
                    Err(error) => request_error(&error, reference),
                },
            },
            ClientMessage::UpdateProfile { display_name, time_zone, reference } => {
                match app.update_profile(&user, display_name, time_zone).await {
                    Ok((profile, online)) => {
                        ServerMessage::Profile { profile: profile_info(profile, online), reference }
                    }
                    Err(error) => request_error(&error, reference),
                }
            }
            ClientMessage::RemoveMember { channel, user: name, reference } => {
                match app.remove_member(&user, ChannelId(channel), &name).await {
                    Ok(removed) => ServerMessage::MemberRemoved { channel, user: removed.name, reference },
                    Err(error) => request_error(&error, reference),
                }
            }
            ClientMessage::UpdateChannel { channel, name, topic, description, archived, reference } => {
                let change = ChannelChange { name, topic, description, archived };
                match app.update_channel(&user, ChannelId(channel), change).await {
                    Ok((channel, about)) => channel_updated(&channel, &about, reference),
                    Err(error) => request_error(&error, reference),
                }
            }
            ClientMessage::CreateResetLink { user: name, reference } => {
                administering::reset_link(&app, &user, name, reference).await
            }
            ClientMessage::CreateInvite { expires_in_hours, max_uses, reference } => {
                administering::create_invite(&app, &user, expires_in_hours, max_uses, reference).await
            }
            ClientMessage::ListInvites { reference } => {
                administering::list_invites(&app, &user, reference).await
            }
            ClientMessage::RevokeInvite { id, reference } => {
                administering::revoke_invite(&app, &user, id, reference).await
            }
            ClientMessage::SetRegistration { mode, reference } => {
                administering::set_registration(&app, &user, mode, reference).await
            }
            ClientMessage::Ping { reference } => ServerMessage::Pong { reference },
        };
        self.reply(reply).await?;
        Ok(None)
    }
}

/// A page of history within the reply budget: a page before a seq keeps
/// its newest messages, one after a seq its oldest, one around a seq the
/// messages nearest it on both sides; what is cut says there is more.
fn history_reply(
    channel: i64,
    page: HistoryPage,
    read: HistoryRead,
    reference: Option<Ref>,
) -> ServerMessage {
    let HistoryRead { messages, mut has_more, mut has_newer } = read;
    let messages: Vec<MessageInfo> = messages.iter().map(message_info).collect();
    let messages = match page {
        HistoryPage::Before(_) => {
            let (kept, cut) = newest_within(messages, LIST_BUDGET);
            has_more |= cut;
            kept
        }
        HistoryPage::After(_) => {
            let (kept, rest) = first_within(messages, LIST_BUDGET);
            has_newer |= !rest.is_empty();
            kept
        }
        HistoryPage::Around(seq) => {
            // The message asked for and the older half within half the
            // budget (always the message itself), the newer half within
            // what is left, perhaps none of it.
            let (older, newer): (Vec<_>, Vec<_>) = messages.into_iter().partition(|m| m.seq <= seq.0);
            let (mut kept, cut) = newest_within(older, LIST_BUDGET / 2);
            let used: usize = kept.iter().map(encoded_len).sum();
            let (mut later, rest) = first_within_or_none(newer, LIST_BUDGET.saturating_sub(used));
            has_more |= cut;
            has_newer |= !rest.is_empty();
            kept.append(&mut later);
            kept
        }
    };
    ServerMessage::History { channel, messages, has_more, has_newer, reference }
}

/// The answer to `edit` and `delete`.
fn changed_reply(
    result: Result<crate::store::Changed, RequestError>,
    reference: Option<Ref>,
) -> ServerMessage {
    match result {
        Ok(changed) => ServerMessage::Changed {
            message: message_info(&changed.message),
            changed: changed.changed,
            reference,
        },
        Err(error) => request_error(&error, reference),
    }
}

/// The answer to `search`: the hits that fit in one reply; when some do
/// not, `next` starts after the last that did.
fn search_reply(result: Result<SearchPage, RequestError>, reference: Option<Ref>) -> ServerMessage {
    let page = match result {
        Ok(page) => page,
        Err(error) => return request_error(&error, reference),
    };
    let hits: Vec<SearchHitInfo> = page
        .hits
        .iter()
        .map(|hit| SearchHitInfo {
            message: message_info(&hit.message),
            highlights: hit.highlights.iter().map(|&(start, end)| [start, end]).collect(),
        })
        .collect();
    let (hits, rest) = first_within(hits, LIST_BUDGET);
    let next = match (rest.is_empty(), hits.last()) {
        (false, Some(last)) => Some(search_cursor_after(MessageId(last.message.id))),
        _ => page.next,
    };
    ServerMessage::SearchResults { hits, next, reference }
}

/// The cursor after a channel in a `channels` page: its id and name. The
/// client passes it back as it is.
fn channel_cursor(channel: &ChannelInfo) -> String {
    format!("{}:{}", channel.id, channel.name)
}

fn parse_channel_cursor(cursor: &str) -> Option<(String, ChannelId)> {
    let (id, name) = cursor.split_once(':')?;
    Some((name.to_owned(), ChannelId(id.parse().ok()?)))
}

pub(super) fn request_error(error: &RequestError, reference: Option<Ref>) -> ServerMessage {
    let channel = match error {
        RequestError::ChannelExists(existing) => Some(existing.id.0),
        _ => None,
    };
    ServerMessage::Error { code: error_code(error), message: error.to_string(), channel, reference }
}

/// A profile's wire form.
fn profile_info(profile: crate::model::Profile, online: bool) -> crate::protocol::ProfileInfo {
    let role = if profile.admin { crate::protocol::Role::Admin } else { crate::protocol::Role::Member };
    crate::protocol::ProfileInfo {
        name: profile.name,
        display_name: profile.display_name,
        time_zone: profile.time_zone,
        role,
        guest: profile.guest,
        online,
    }
}

/// A `list_users` page without a `limit` holds this many users.
const DEFAULT_DIRECTORY_PAGE: u32 = 50;

/// The names of a `watch`: at most [`WATCH_MAX`], each a valid username.
fn watch_names(users: Vec<String>) -> Result<Vec<String>, &'static str> {
    if users.len() > WATCH_MAX {
        return Err("watch at most 100 users at once");
    }
    for name in &users {
        crate::model::UserName::parse(name)?;
    }
    Ok(users)
}

/// A directory `prefix` or `after` as a name: absent or empty means none; any
/// other value must be (the start of) a valid username, so that it cannot
/// reach past the names the directory holds.
fn directory_name(raw: Option<String>) -> Result<Option<crate::model::UserName>, &'static str> {
    match raw.as_deref() {
        None | Some("") => Ok(None),
        Some(text) => crate::model::UserName::parse(text).map(Some),
    }
}
