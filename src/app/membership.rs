//! Joining, leaving, inviting and direct messages: membership stored, then
//! the hub and the other nodes told.

use super::rates::INVITATIONS_RECEIVED_FACTOR;
use super::{App, RequestError};
use crate::bus::{BusEvent, SharedTake};
use crate::model::{
    Channel, ChannelId, ChannelKind, ChannelView, GENERAL, MAX_DM_PEOPLE, NotifyLevel, SystemKind, User,
    UserId,
};

impl App {
    /// Sets `user`'s notification level for a channel they are in, and
    /// tells all their devices (here and on other nodes) the channel's view.
    pub async fn set_notify(
        &self,
        user: &User,
        channel: ChannelId,
        level: NotifyLevel,
    ) -> Result<ChannelView, RequestError> {
        if !self.store.set_notify(channel, user.id, level).await? {
            return Err(self.refusal_for_non_member(channel).await);
        }
        let view = self.store.channel_view(channel, user.id).await?;
        self.hub.settings_changed(user.id, view.clone());
        self.bus.publish(BusEvent::SettingsChanged { channel, user: user.id });
        Ok(view)
    }

    /// Makes `user` a member of a readable channel if they are not one yet
    /// (joining a public channel), without telling anyone when nothing changed.
    pub async fn enter(&self, user: &User, channel: &Channel) -> Result<ChannelView, RequestError> {
        if self.store.is_member(channel.id, user.id).await? {
            return Ok(self.store.channel_view(channel.id, user.id).await?);
        }
        self.join(user, channel.id).await
    }

    /// Joins a public channel.
    pub async fn join(&self, user: &User, channel: ChannelId) -> Result<ChannelView, RequestError> {
        let found = self.readable_channel(user, channel).await?;
        if found.kind != ChannelKind::Public && !self.store.is_member(channel, user.id).await? {
            return Err(RequestError::NotFound);
        }
        let added = self.store.add_member(channel, user.id, None).await?;
        let view = self.joined(user.id, channel).await?;
        if added {
            self.record_line(channel, user.id, SystemKind::Joined, user.id).await;
        }
        Ok(view)
    }

    /// After a membership was stored: tell the user's connections here and
    /// the other nodes, and return the channel as the user sees it.
    pub(super) async fn joined(&self, user: UserId, channel: ChannelId) -> Result<ChannelView, RequestError> {
        let view = self.store.channel_view(channel, user).await?;
        self.hub.member_joined(user, view.clone());
        self.bus.publish(BusEvent::Joined { channel, user });
        Ok(view)
    }

    /// Leaves a channel. General and DMs cannot be left.
    pub async fn leave(&self, user: &User, channel: ChannelId) -> Result<(), RequestError> {
        let found = self.readable_channel(user, channel).await?;
        if found.kind == ChannelKind::Direct {
            return Err(RequestError::Forbidden("direct messages cannot be left"));
        }
        if found.name.eq_ignore_ascii_case(GENERAL) && found.kind == ChannelKind::Public {
            return Err(RequestError::Forbidden("everyone stays in General"));
        }
        if !self.store.remove_member(channel, user.id).await? {
            return Err(RequestError::NotMember);
        }
        self.hub.member_left(user.id, channel);
        self.record_line(channel, user.id, SystemKind::Left, user.id).await;
        self.bus.publish(BusEvent::Left { channel, user: user.id });
        Ok(())
    }

    /// An admin takes someone out of a channel (moderation). Not General
    /// (everyone stays there) and not a DM; a private channel the admin is
    /// not in does not exist for them, as for everyone.
    pub async fn remove_member(
        &self,
        admin: &User,
        channel: ChannelId,
        name: &str,
    ) -> Result<User, RequestError> {
        self.require_admin(admin).await?;
        let found = self.readable_channel(admin, channel).await?;
        if found.kind == ChannelKind::Direct {
            return Err(RequestError::Forbidden("nobody is removed from a direct message"));
        }
        if found.id == crate::model::GENERAL_ID {
            return Err(RequestError::Forbidden("everyone stays in General"));
        }
        let removed = self.store.find_user(name).await?.ok_or(RequestError::UnknownUser)?.user;
        if !self.store.remove_member(channel, removed.id).await? {
            return Err(RequestError::Forbidden("they are not a member of this channel"));
        }
        self.hub.member_left(removed.id, channel);
        self.record_line(channel, admin.id, SystemKind::Left, removed.id).await;
        self.bus.publish(BusEvent::Left { channel, user: removed.id });
        tracing::info!(channel = channel.0, user = removed.id.0, by = admin.id.0, "member removed");
        Ok(removed)
    }

    /// Adds `invitee` to a channel the inviter is a member of.
    pub async fn invite(
        &self,
        inviter: &User,
        channel: ChannelId,
        invitee: &str,
    ) -> Result<ChannelView, RequestError> {
        let found = self.readable_channel(inviter, channel).await?;
        if !self.store.is_member(channel, inviter.id).await? {
            return Err(if found.kind == ChannelKind::Public {
                RequestError::NotMember
            } else {
                RequestError::NotFound
            });
        }
        if found.kind == ChannelKind::Direct {
            return Err(RequestError::Forbidden(
                "a direct message keeps its people: open one with everyone instead",
            ));
        }
        let invitee = self.store.find_user(invitee).await?.ok_or(RequestError::UnknownUser)?.user;
        if found.id == crate::model::GENERAL_ID {
            return Err(RequestError::Forbidden("everyone is in General"));
        }
        if self.store.is_member(channel, invitee.id).await? {
            return Err(RequestError::AlreadyMember(invitee.name));
        }
        if !self.take_invitation(inviter.id, invitee.id).await {
            return Err(RequestError::LimitReached(
                "that user was added to too many channels lately; try again later",
            ));
        }
        if self.store.add_member(channel, invitee.id, Some(inviter.id)).await? {
            self.joined(invitee.id, channel).await?;
            self.record_line(channel, inviter.id, SystemKind::Added, invitee.id).await;
        }
        Ok(self.store.channel_view(channel, inviter.id).await?)
    }

    /// Takes one of the invitations `inviter` may give `invitee` per hour,
    /// and one of the (ten times more) invitations `invitee` may receive per
    /// hour from everyone, on this node and across the cluster: nobody can be
    /// buried in channels faster than they can leave them, and nobody can
    /// use up someone's invitations so their team cannot add them.
    async fn take_invitation(&self, inviter: UserId, invitee: UserId) -> bool {
        let per_hour = self.limits.invitations_per_hour;
        let buckets = [
            (format!("invitations:{}:{}", inviter.0, invitee.0), per_hour),
            (format!("invitations:{}", invitee.0), per_hour * INVITATIONS_RECEIVED_FACTOR),
        ];
        if !self.rates.take_invitations(&buckets) {
            return false;
        }
        for (key, per_hour) in &buckets {
            if self.cluster.take_shared(key, per_hour / 3600.0, per_hour.max(1.0)).await
                != SharedTake::Allowed
            {
                return false;
            }
        }
        true
    }

    /// Finds or creates the DM of `user` and `others` (one person, or up
    /// to seven for a group DM of at most [`MAX_DM_PEOPLE`]), found by that
    /// set of people. Everyone in it hears of it when it is created.
    pub async fn open_dm(&self, user: &User, others: &[String]) -> Result<ChannelView, RequestError> {
        if others.is_empty() || others.len() >= MAX_DM_PEOPLE {
            return Err(RequestError::BadRequest("a direct message is with 1 to 7 other people"));
        }
        let mut people = Vec::with_capacity(others.len());
        for name in others {
            let other = self.store.find_user(name).await?.ok_or(RequestError::UnknownUser)?.user;
            if other.id == user.id {
                return Err(RequestError::Forbidden("a direct message needs someone else"));
            }
            if !people.contains(&other.id) {
                people.push(other.id);
            }
        }
        // A group DM cannot be left: putting people in one draws on the
        // same hourly invitations as adding them to a channel, so nobody
        // can bury someone in group DMs.
        if people.len() > 1 {
            for other in &people {
                if !self.take_invitation(user.id, *other).await {
                    return Err(RequestError::LimitReached(
                        "someone here was added to too many conversations lately; try again later",
                    ));
                }
            }
        }
        let (channel, created) = self.store.open_dm(user.id, &people).await?;
        if !created {
            // Everyone was a member all along: nobody needs telling again.
            return Ok(self.store.channel_view(channel.id, user.id).await?);
        }
        for other in people {
            self.joined(other, channel.id).await?;
        }
        self.joined(user.id, channel.id).await
    }
}
