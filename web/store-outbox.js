// The store's requests of mine not yet answered, shown at once: pending sends,
// edits and deletions (`changes`), and reactions; and which of my messages may
// still be changed. A mixin of ChatStore (store.js), which holds the channels
// these live in and matches them to what the server sends (see the invariants
// there); like the rest of the store it never touches the DOM or the socket.

import { reactionKey } from './messages.js';

/** Adds my unanswered requests to a store class (ChatStore, in store.js). */
export const withOutbox = (Base) => class OutboxState extends Base {
  /**
   * A message typed here, shown at once; `clientId` is its idempotency key.
   * `files`: the ATTACHMENTs of my finished uploads it carries (a retry or a
   * resend after a reconnect sends the same ones).
   */
  addPending(channelId, body, clientId, replyTo = null, files = []) {
    const channel = this.channels.get(channelId);
    const pending = { client_id: clientId, channel: channelId, body, ts: Date.now(), state: 'sending', error: null };
    if (replyTo) pending.reply_to = replyTo;
    if (files.length) pending.files = files;
    channel.pending.set(clientId, pending);
    this.changed('messages', channelId);
    return pending;
  }

  /** Marks a send failed (error or timeout); the user may retry it. */
  failPending(channelId, clientId, error) {
    const pending = this.channels.get(channelId)?.pending.get(clientId);
    if (!pending) return;
    pending.state = 'failed';
    pending.error = error;
    this.changed('messages', channelId);
  }

  retryPending(channelId, clientId) {
    const pending = this.channels.get(channelId)?.pending.get(clientId);
    if (!pending) return null;
    pending.state = 'sending';
    pending.error = null;
    this.changed('messages', channelId);
    return pending;
  }

  discardPending(channelId, clientId) {
    const channel = this.channels.get(channelId);
    if (channel && channel.pending.delete(clientId)) this.changed('messages', channelId);
  }

  /** An edit (`body`) or deletion (`kind` 'delete') of my message at `seq`, shown at once; it replaces any earlier one not yet answered. */
  addChange(channelId, seq, kind, body = '') {
    const channel = this.channels.get(channelId);
    if (!channel) return null;
    const change = { channel: channelId, seq, kind, body, state: 'sending', error: null };
    channel.changes.set(seq, change);
    this.changed('messages', channelId);
    return change;
  }

  /** The change shown for a message, if any. */
  changeFor(channel, seq) {
    return channel.changes.get(seq);
  }

  /** The server took `change` (or had it already): it goes, unless a newer one replaced it. */
  settleChange(change) {
    const channel = this.channels.get(change.channel);
    if (!channel || channel.changes.get(change.seq) !== change) return;
    channel.changes.delete(change.seq);
    this.changed('messages', change.channel);
  }

  /** The server refused `change`, or did not answer: shown with Retry and Discard. */
  failChange(change, error) {
    const channel = this.channels.get(change.channel);
    if (!channel || channel.changes.get(change.seq) !== change) return;
    change.state = 'failed';
    change.error = error;
    this.changed('messages', change.channel);
  }

  retryChange(channelId, seq) {
    const change = this.channels.get(channelId)?.changes.get(seq);
    if (!change) return null;
    change.state = 'sending';
    change.error = null;
    this.changed('messages', channelId);
    return change;
  }

  discardChange(channelId, seq) {
    const channel = this.channels.get(channelId);
    if (channel && channel.changes.delete(seq)) this.changed('messages', channelId);
  }

  /** My reaction (`add`) or its withdrawal, shown at once; it replaces an earlier one for the same emoji. */
  addReaction(channelId, seq, emoji, add) {
    const channel = this.channels.get(channelId);
    if (!channel) return null;
    const request = { channel: channelId, seq, emoji, add, state: 'sending' };
    channel.reactions.set(reactionKey(seq, emoji), request);
    this.changed('messages', channelId);
    return request;
  }

  /**
   * The server answered (took it or refused it): the request goes, unless a newer one replaced it.
   * Returns whether it was still the newest.
   */
  settleReaction(request) {
    const channel = this.channels.get(request.channel);
    const key = reactionKey(request.seq, request.emoji);
    if (!channel || channel.reactions.get(key) !== request) return false;
    channel.reactions.delete(key);
    this.changed('messages', request.channel);
    return true;
  }

  /** My newest message in a channel that can still be edited (Up in an empty composer). */
  lastEditable(channel) {
    if (!this.me) return null;
    for (let i = channel.messages.length - 1; i >= 0; i -= 1) {
      const message = channel.messages[i];
      if (this.canChange(message) && channel.changes.get(message.seq)?.kind !== 'delete') return message;
    }
    return null;
  }

  /** Whether I may edit or delete this message: mine, a chat message, not deleted. */
  canChange(message) {
    return Boolean(this.me && message.sender === this.me.name && !message.system && !message.deleted && !message.pending && message.seq != null);
  }
};
