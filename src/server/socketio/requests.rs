//! The tutorial's events, each handled for one socket: naming a guest,
//! listing channels and who is online, switching and creating channels,
//! and sending messages.

use std::net::IpAddr;
use std::sync::Arc;

use super::super::bounded::{LIST_BUDGET, first_within, newest_within};
use super::super::convert::{chat_message, online_users, user_info};
use super::super::session::{Cost, Cursor, PendingSends, SendOutcome};
use super::session::{Arrival, Current, Failure, Outcome, RequestRefusal, SocketEnd, SocketIoSession, done};
use super::{HISTORY_PAGE, INTERESTS, Inbound, LISTED_PUBLIC_CHANNELS};
use crate::app::{Committing, HistoryPage, HistoryRead, RequestError, names};
use crate::auth::{AuthError, token_hash};
use crate::hub::{ClaimError, NO_SESSION};
use crate::model::{Channel, ChannelKind, ChannelName, ClientId, MessageBody, Seq, User};
use crate::protocol::ErrorCode;
use crate::protocol::socketio::{
    Ack, CHANNEL_LIST_EVENTS, ChannelHistory, ChatMessage, GET_ONLINE_USERS, NEW_CHANNEL, NEW_MESSAGE,
    NEW_USER, NewMessage, USER_CHANGED_CHANNEL,
};
use socketioxide::extract::AckSender;

impl SocketIoSession {
    // ----- requests -----------------------------------------------------------

    pub(super) async fn handle(
        &mut self,
        request: Inbound,
        pending: &mut PendingSends<Option<AckSender>>,
    ) -> Result<(), SocketEnd> {
        let Inbound { event, payload, ack } = request;
        // Every event draws on the socket's budget, except a `new message` to
        // the channel on screen: that costs no lookup, and the hub limits
        // messages per user. One to another channel costs store lookups even
        // when it is refused, so it pays.
        // Reads also draw on the budgets all of the user's and the
        // address's connections share.
        let cost = if event == NEW_MESSAGE && self.names_current_channel(&payload) {
            Cost::Free
        } else if event == USER_CHANGED_CHANNEL || CHANNEL_LIST_EVENTS.contains(&event.as_str()) {
            Cost::Read
        } else {
            Cost::Request
        };
        let user = self.identity.as_ref().map(|me| me.user.clone());
        if !self.budget.take(&self.shared.state, user.as_ref(), cost) {
            let refusal = RequestRefusal::new(ErrorCode::RateLimited, "too many requests; slow down");
            return self.conclude(&event, ack, Err(refusal.into()));
        }
        if event == NEW_MESSAGE {
            return match self.new_message(payload).await {
                Ok(committing) => {
                    pending.push(ack, committing);
                    Ok(())
                }
                Err(failure) => self.conclude(&event, ack, Err(failure)),
            };
        }
        let outcome = match event.as_str() {
            NEW_USER => self.new_user(payload, ack.is_some()).await,
            GET_ONLINE_USERS => self.get_online_users(),
            NEW_CHANNEL => self.new_channel(payload).await,
            USER_CHANGED_CHANNEL => self.change_channel(payload).await,
            listing => match CHANNEL_LIST_EVENTS.iter().find(|name| **name == listing) {
                Some(listing) => self.list_channels(listing).await,
                None => {
                    let shown: String = event.chars().take(40).collect();
                    Err(RequestRefusal::new(ErrorCode::UnknownEvent, format!("unknown event {shown:?}"))
                        .into())
                }
            },
        };
        self.conclude(&event, ack, outcome)
    }

    fn signed_in(&self) -> Result<&User, RequestRefusal> {
        match &self.identity {
            Some(identity) => Ok(&identity.user),
            None => {
                Err(RequestRefusal::new(ErrorCode::Unauthorized, "choose a name first (new user), or log in"))
            }
        }
    }

    /// `new user`: names a guest, then answers the reads that waited.
    async fn new_user(&mut self, payload: serde_json::Value, wants_token: bool) -> Outcome {
        let serde_json::Value::String(raw) = payload else {
            return Err(RequestRefusal::bad_request("new user takes the username as a string").into());
        };
        let name = raw.trim();
        if let Some(me) = &self.identity {
            if me.user.name.eq_ignore_ascii_case(name) {
                return Ok(Ack { ok: true, user: Some(user_info(&me.user)), ..Ack::default() });
            }
            let message = format!("this connection is already signed in as {}", me.user.name);
            return Err(RequestRefusal::new(ErrorCode::AlreadyNamed, message).into());
        }
        let app = self.app();
        let hub = Arc::clone(app.hub());
        let accounts = Arc::clone(&self.shared.state.accounts);
        let grace = app.limits().presence_grace;
        let names = accounts.guest_names().await;
        // The same client coming back within the grace period takes its own
        // guest user back, conversations and all, with no store write. Anyone
        // else gets the name as a new guest user, and only if nobody online
        // holds it: the handover never touches someone who is still here.
        let holder = accounts.existing_guest(name).await?;
        let returning = holder.filter(|holder| {
            self.guest_secret.is_some_and(|secret| self.shared.departures.is_recent(holder.id, secret, grace))
        });
        let (user, registration) = match returning {
            Some(holder) => match hub.claim(&holder, NO_SESSION, INTERESTS, true) {
                Ok(registration) => {
                    tracing::info!(user = holder.id.0, "guest name reclaimed after a reconnect");
                    (holder, registration)
                }
                Err(ClaimError::InUse) => return Err(AuthError::NameInUse.into()),
            },
            None => {
                if hub.is_online(name) {
                    return Err(AuthError::NameInUse.into());
                }
                let client = self.peer.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
                let user = accounts.hand_over_guest(client, name).await?;
                match hub.claim(&user, NO_SESSION, INTERESTS, false) {
                    Ok(registration) => (user, registration),
                    Err(ClaimError::InUse) => return Err(AuthError::NameInUse.into()),
                }
            }
        };
        drop(names);
        self.shared.departures.forget(user.id);
        // Adopted before anything else can fail, so the registration is
        // always released when the socket ends.
        let connection = registration.id;
        self.adopt(user.clone(), registration, Arrival::Named);
        let channels = app.channels_of(&user).await?;
        channels.iter().for_each(|view| self.remember_membership(view));

        // In the tutorial's page-load order: the others online, then this
        // user (its clients append both to one list), then channels.
        if std::mem::take(&mut self.waiting.online_users) {
            let online = hub.online_users();
            self.shown_presence_up_to(online.as_of);
            let others = online.names.iter().filter(|other| !other.eq_ignore_ascii_case(&user.name));
            self.emit(GET_ONLINE_USERS, &online_users(others))?;
        }
        self.emit(NEW_USER, &user.name)?;
        for listing in std::mem::take(&mut self.waiting.channel_lists) {
            let outcome = self.list_channels(listing).await;
            self.conclude(listing, None, outcome)?;
        }
        if let Some(channel) = self.waiting.switch.take() {
            let outcome = self.switch_by_name(&channel).await;
            self.conclude(USER_CHANGED_CHANNEL, None, outcome)?;
        }
        // Only a client that asked for an ack can keep the token.
        let token = match wants_token {
            true => match accounts.session_for(user.clone()).await {
                Ok(session) => {
                    // Logging this token out must close this socket too.
                    hub.attach_session(connection, token_hash(&session.token));
                    Some(session.token)
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot issue a guest session; the name stays without one");
                    None
                }
            },
            false => None,
        };
        Ok(Ack { ok: true, user: Some(user_info(&user)), token, ..Ack::default() })
    }

    fn get_online_users(&mut self) -> Outcome {
        if self.identity.is_none() {
            self.waiting.online_users = true;
            return done();
        }
        let online = self.app().hub().online_users();
        self.shown_presence_up_to(online.as_of);
        self.emit(GET_ONLINE_USERS, &online_users(online.names.iter()))?;
        done()
    }

    async fn list_channels(&mut self, listing: &'static str) -> Outcome {
        let Some(me) = &self.identity else {
            self.waiting.channel_lists.insert(listing);
            return done();
        };
        let channels = self.app().visible_channels(&me.user, LISTED_PUBLIC_CHANNELS).await?;
        let names: Vec<&str> = channels.iter().map(|(_, name)| name.as_str()).collect();
        // One event of at most the reply budget: the oldest channels first.
        let (names, _left_out) = first_within(names, LIST_BUDGET);
        self.emit(listing, &names)?;
        done()
    }

    async fn change_channel(&mut self, payload: serde_json::Value) -> Outcome {
        let serde_json::Value::String(name) = payload else {
            return Err(RequestRefusal::bad_request(
                "user changed channel takes the channel name as a string",
            )
            .into());
        };
        if self.identity.is_none() {
            self.waiting.switch = Some(name);
            return done();
        }
        self.switch_by_name(&name).await
    }

    async fn switch_by_name(&mut self, raw: &str) -> Outcome {
        let user = self.signed_in()?.clone();
        let channel = self.app().resolve_channel_name(&user, raw.trim()).await?;
        let name = shown_name(&channel, raw);
        self.switch_to(&user, channel, name).await
    }

    /// Makes `channel` the one on screen, known to the client as `name`:
    /// joins it if needed, subscribes to it (and no longer to the one shown
    /// before), and sends its latest history, oldest first. Subscribed
    /// before the history is read, so nothing falls between the two; a
    /// switch that fails leaves the socket on the channel it showed.
    async fn switch_to(&mut self, user: &User, channel: Channel, name: String) -> Outcome {
        let app = self.app();
        let view = app.enter(user, &channel).await?;
        let connection = self.identity.as_ref().map(|me| me.registration.id);
        let shown_before = self.current.as_ref().map(|current| current.channel.id);
        if let Some(connection) = connection {
            app.hub().subscribe(connection, std::slice::from_ref(&view));
        }
        // Twice the page: system lines (not shown here) should not shorten it.
        let latest = app.history(user, channel.id, HistoryPage::Before(None), HISTORY_PAGE * 2).await;
        let HistoryRead { messages, has_more, .. } = match latest {
            Ok(read) => read,
            Err(error) => {
                if let Some(connection) = connection
                    && shown_before != Some(channel.id)
                {
                    app.hub().unsubscribe(connection, channel.id);
                }
                return Err(error.into());
            }
        };
        if let (Some(connection), Some(before)) = (connection, shown_before.filter(|id| *id != channel.id)) {
            app.hub().unsubscribe(connection, before);
            self.cursors.stop(before);
        }
        // Live changes after the view's rev follow (a jump is filled from
        // the store); one of a message this page shows comes as
        // `message updated`. The cursor counts system lines, which
        // tutorial pages are not shown.
        let newest = messages.last().map_or(Seq(0), |message| message.seq);
        let cursor = Cursor { seq: newest.max(view.last_seq), rev: view.last_rev };
        let messages: Vec<ChatMessage> = messages
            .iter()
            .filter(|message| message.system.is_none() && message.deleted.is_none())
            .map(|message| chat_message(message, &name))
            .collect();
        let (messages, more_than_a_page) = newest_within_count(messages, HISTORY_PAGE as usize);
        let (messages, cut) = newest_within(messages, LIST_BUDGET);
        let cut = cut || more_than_a_page;
        let history = ChannelHistory { channel: name.clone(), messages, has_more: has_more || cut };
        self.cursors.set(channel.id, cursor);
        self.current = Some(Current { channel, name });
        self.emit(USER_CHANGED_CHANNEL, &history)?;
        done()
    }

    async fn new_channel(&mut self, payload: serde_json::Value) -> Outcome {
        let serde_json::Value::String(raw) = payload else {
            return Err(RequestRefusal::bad_request("new channel takes the channel name as a string").into());
        };
        let user = self.signed_in()?.clone();
        let name =
            ChannelName::parse(&raw).map_err(|why| RequestRefusal::new(ErrorCode::InvalidName, why))?;
        match self.app().create_channel(&user, &name, false).await {
            Ok(view) => {
                // A new channel's announcement is queued already: show it
                // first, so the client knows the channel before it is
                // switched into it.
                self.drain_deliveries().await?;
                let shown = view.channel.name.clone();
                self.switch_to(&user, view.channel, shown).await
            }
            // The tutorial's "new channel" with an existing public name
            // switches to it, as the tutorial does. A private channel is
            // never the answer to "create a (public) channel": the user may
            // have been put in someone else's and think theirs is new, so
            // that is refused with `channel_exists`, like on `/ws`.
            Err(RequestError::ChannelExists(_)) => {
                let existing = self.app().resolve_channel_name(&user, name.as_str()).await?;
                if existing.kind == ChannelKind::Public {
                    let shown = existing.name.clone();
                    self.switch_to(&user, existing, shown).await
                } else {
                    Err(RequestError::ChannelExists(existing).into())
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Whether a `new message` payload names the channel on screen.
    fn names_current_channel(&self, payload: &serde_json::Value) -> bool {
        let named = payload.get("channel").and_then(|channel| channel.as_str()).map(str::trim);
        matches!((&self.current, named), (Some(current), Some(named)) if current.name.eq_ignore_ascii_case(named))
    }

    /// Validates a `new message` and queues it; the returned future resolves
    /// after the commit. Requests are handled one at a time, so a socket's
    /// messages are queued, and stored, in the order it sent them.
    async fn new_message(&mut self, payload: serde_json::Value) -> Result<Committing, Failure> {
        let user = self.signed_in()?.clone();
        if payload.is_null() {
            return Err(RequestRefusal::bad_request("new message takes {message, channel}").into());
        }
        let input: NewMessage = serde_json::from_value(payload).map_err(|error| {
            RequestRefusal::bad_request(format!("new message takes {{message, channel}}: {error}"))
        })?;
        let body = MessageBody::parse(input.message)
            .map_err(|why| RequestRefusal::new(ErrorCode::InvalidBody, why))?;
        let client_id = match input.client_id {
            Some(raw) => {
                ClientId::parse(raw).map_err(|why| RequestRefusal::new(ErrorCode::InvalidClientId, why))?
            }
            None => generated_client_id(),
        };
        let channel = match &self.current {
            Some(current) if current.name.eq_ignore_ascii_case(input.channel.trim()) => current.channel.id,
            _ => self.app().resolve_channel_name(&user, input.channel.trim()).await?.id,
        };
        Ok(self.app().post(&user, channel, client_id, body, input.reply_to.map(Seq), Vec::new()).await)
    }

    pub(super) fn finish_send(&self, outcome: SendOutcome<Option<AckSender>>) -> Result<(), SocketEnd> {
        let result = outcome.result.map(|stored| Ack {
            ok: true,
            id: Some(stored.id.0),
            seq: Some(stored.seq.0),
            ..Ack::default()
        });
        self.conclude(NEW_MESSAGE, outcome.answer_to, result.map_err(Failure::from))
    }
}

/// The newest `count` of `items`, and whether older ones were left out.
fn newest_within_count<T>(mut items: Vec<T>, count: usize) -> (Vec<T>, bool) {
    let dropped = items.len().saturating_sub(count);
    (items.split_off(dropped), dropped > 0)
}

/// The name a client used for `channel` when it asked for it by `raw`: the
/// `name #id` form if that is how it asked, else the stored name.
fn shown_name(channel: &Channel, raw: &str) -> String {
    match names::split_id_suffix(raw.trim()) {
        Some(_) => format!("{} #{}", channel.name, channel.id),
        None => channel.name.clone(),
    }
}

/// An idempotency key for a client that sent none (the tutorial's never do):
/// random, so it never collides with the sender's others.
fn generated_client_id() -> ClientId {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    ClientId::parse(format!("sio-{hex}")).expect("36 printable characters make a valid client id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_client_ids_are_valid_and_distinct() {
        let (a, b) = (generated_client_id().into_string(), generated_client_id().into_string());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
    }
}
