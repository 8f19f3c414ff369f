// The client's picture of the chat: who I am, my channels with their messages,
// unread counts, pending sends, who is online and who is typing. It applies server
// frames and local actions and announces what changed; it never touches the DOM
// or the socket, so it can be reasoned about (and loaded in Node) on its own.
// This file holds the store itself (ChatStore: its state, reading it, the server
// frames about channels and messages, switching and reading); three mixins add
// the rest: store-presence.js (who is online, who is typing), store-outbox.js
// (my sends, edits, deletions and reactions not yet answered) and
// store-settings.js (a channel's topic, description and archival).
//
// Invariants kept here (those of one channel's messages, the merge rule and
// the resume point, are messages.js's):
// - Messages are kept only for channels whose history was loaded (`loaded`) or
//   is loading, and only loaded ones are resumed.
// - A pending send is matched to its stored message by `client_id` and vanishes
//   the moment either the `ack` or the `message` arrives.
// - Edits and deletions typed here (`changes`, one per seq, the newest wins) are
//   shown at once and kept until the server answers, like pending sends; the
//   server takes each of them once however often it is asked.

import { advanceStream, countsAsUnread, dropMessages, heldFrom, insertMessages, mentionsMe, newestReceivedSeq, newestSeq, oldestSeq, resumePoint, wanted } from './messages.js';
import { withOutbox } from './store-outbox.js';
import { withPresence } from './store-presence.js';
import { aboutFromInfo, isReadOnly, withSettings } from './store-settings.js';

export { TYPING_SHOWN_MS } from './store-presence.js';

/** Which of a channel's fields come from the server's ChannelInfo. */
function channelFromInfo(info) {
  return {
    id: info.id,
    name: info.name,
    kind: info.kind,
    last_seq: info.last_seq,
    last_rev: info.last_rev ?? 0,
    read_seq: info.read_seq,
    /** The server's count of messages after read_seq that count (not mine, not system lines, not deleted); null if it did not say. */
    unreadCount: info.unread ?? null,
    /** Of those, the ones that mention me. */
    mentions: info.mentions ?? 0,
    /** My notification level here: 'all', 'mentions' or 'none'. */
    notify: info.notify || 'all',
    member: info.member,
    members: info.members || [],
    /** topic, description, archived: see store-settings.js. */
    ...aboutFromInfo(info),
    messages: [],
    bySeq: new Map(),
    /** Seqs held only as the copy built from my `ack`, not yet from the server. */
    ackOnly: new Set(),
    /** The resume point: see the invariants at the top. */
    streamSeq: 0,
    /** The resume rev: see the invariants at the top. */
    streamRev: 0,
    /** `update` frames that came while the first page loaded; merged when it is here. */
    earlyUpdates: [],
    /** Counts resets, so a history reply asked for before one can tell it is stale. */
    epoch: 0,
    pending: new Map(),
    /** seq -> my edit or deletion of that message not yet answered: {kind, body, state, error}. */
    changes: new Map(),
    /** reactionKey(seq, emoji) -> my reaction request not yet answered: {channel, seq, emoji, add}. */
    reactions: new Map(),
    /** Showing a page around an older message (a reply's parent), not the latest: see jumpTo in app.js. */
    detached: false,
    loaded: false,
    loading: false,
    hasMore: true,
    loadingOlder: false,
  };
}

export class ChatStore extends withSettings(withOutbox(withPresence(EventTarget))) {
  constructor() {
    super();
    this.me = null;
    this.channels = new Map();
    this.online = new Set();
    /** Watched presence: the first names of the online list, and how many are online. */
    this.onlinePage = { users: [], total: 0 };
    /** The names whose presence changes this connection hears (`watch`). */
    this.watched = new Set();
    /** The people the people dialog shows now. */
    this.shownPeople = [];
    this.currentId = null;
    /** channel id -> Map(user -> timer) */
    this.typing = new Map();
  }

  // ---- reading ----------------------------------------------------------

  channel(id) {
    return this.channels.get(id);
  }

  get current() {
    return this.currentId == null ? undefined : this.channels.get(this.currentId);
  }

  unread(channel) {
    if (channel.unreadCount != null) return channel.unreadCount;
    return Math.max(0, channel.last_seq - channel.read_seq);
  }

  /** Unanswered mentions of me in a channel. */
  mentionCount(channel) {
    return channel.mentions;
  }

  /** The name shown for a channel: for a DM, the other participants, joined with ", ". */
  displayName(channel) {
    if (channel.kind !== 'dm') return channel.name;
    const others = this.dmOthers(channel);
    return others.length ? others.join(', ') : channel.members[0] || channel.name;
  }

  /** The people of a DM other than me, by name (so a group DM reads the same whoever opened it). */
  dmOthers(channel) {
    return channel.members
      .filter((name) => this.me && name !== this.me.name)
      .sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }));
  }

  /** Whether a channel is a DM of more than two people (no one presence dot fits it). */
  isGroupDm(channel) {
    return channel.kind === 'dm' && this.dmOthers(channel).length > 1;
  }

  defaultChannel() {
    for (const channel of this.channels.values()) {
      if (channel.kind === 'public' && channel.name === 'General') return channel;
    }
    return this.channels.values().next().value;
  }

  newestSeq(channel) {
    return newestSeq(channel);
  }

  oldestSeq(channel) {
    return oldestSeq(channel);
  }

  /** The newest seq held as the server sent it (ack-built copies not counted). */
  newestReceivedSeq(channel) {
    return newestReceivedSeq(channel);
  }

  /** The oldest seq held as the server sent it (0 when none is). */
  heldFrom(channel) {
    return heldFrom(channel);
  }

  /**
   * channel id (string) -> where we are, for every channel whose history we
   * hold (see resumePoint in messages.js).
   */
  resumeMap() {
    const resume = {};
    for (const channel of this.channels.values()) {
      // A channel I only look at (member false) is not mine to resume: the
      // welcome leaves it out, and it goes with it.
      if (channel.loaded && channel.member !== false) resume[String(channel.id)] = resumePoint(channel);
    }
    return resume;
  }

  // ---- server frames ----------------------------------------------------

  /** `welcome`: the authoritative list of my channels and who is online.
   * A long one is split: `complete` is false and `welcome_more` frames follow. */
  applyWelcome(frame) {
    this.me = frame.user;
    this.online = new Set(frame.online);
    this.onlinePage = { users: [], total: 0 };
    this.watched = new Set();
    this.welcomeSeen = new Set();
    this.applyWelcomeMore(frame);
  }

  /** `welcome_more`: more of the welcome's channels and online users. */
  applyWelcomeMore(frame) {
    if (!this.welcomeSeen) return;
    for (const name of frame.online) this.online.add(name);
    for (const info of frame.channels) {
      this.welcomeSeen.add(info.id);
      this.upsertChannel(info, { quiet: true });
    }
    if (frame.complete !== false) this.finishWelcome();
  }

  finishWelcome() {
    const seen = this.welcomeSeen;
    this.welcomeSeen = null;
    // Channels left (or lost) while we were away.
    for (const id of [...this.channels.keys()]) {
      if (!seen.has(id)) this.channels.delete(id);
    }
    // A history request cut by the disconnect will not be answered; messages kept
    // while it was pending are not resumed, so drop them rather than leave a gap.
    for (const channel of this.channels.values()) {
      channel.loading = false;
      channel.loadingOlder = false;
      if (!channel.loaded) dropMessages(channel);
    }
    this.changed('channels');
    this.changed('online');
  }

  /** `channel`: created, joined, invited or refreshed. Returns the channel. */
  upsertChannel(info, { quiet = false } = {}) {
    let channel = this.channels.get(info.id);
    if (!channel) {
      channel = channelFromInfo(info);
      this.channels.set(info.id, channel);
    } else {
      channel.name = info.name;
      channel.kind = info.kind;
      channel.members = info.members || channel.members;
      const wasReadOnly = isReadOnly(channel);
      channel.member = info.member;
      // Every channel frame and listing says how the channel stands now.
      Object.assign(channel, aboutFromInfo(info));
      // Its messages offer tools only where one can post (timeline.js).
      if (isReadOnly(channel) !== wasReadOnly) this.changed('messages', channel.id);
      // Seqs only grow: a stale snapshot must not undo a live message or read.
      channel.last_seq = Math.max(channel.last_seq, info.last_seq);
      channel.last_rev = Math.max(channel.last_rev, info.last_rev ?? 0);
      channel.read_seq = Math.max(channel.read_seq, info.read_seq);
      if (info.unread != null) this.takeCounts(channel, info, info.last_seq);
      if (info.notify) channel.notify = info.notify;
    }
    if (!quiet) this.changed('channels');
    return channel;
  }

  removeChannel(id) {
    if (!this.channels.delete(id)) return;
    this.typing.delete(id);
    this.changed('channels');
  }

  /**
   * `message`, live or replayed. Returns {stored, gapFrom} where gapFrom is the
   * first missing seq when this message skipped some (the caller fetches them).
   */
  applyMessage(message) {
    return this.applyStreamed(message, 'message');
  }

  /**
   * `update`, live or replayed: the latest state of a message that was edited
   * or deleted. Kept only for messages we hold or would hold (not below the
   * oldest held: older pages bring those as they stand). Returns like applyMessage.
   */
  applyUpdate(message) {
    return this.applyStreamed(message, 'update');
  }

  /** `changed`, the answer to my edit or deletion: the message as it stands now. */
  applyChanged(frame) {
    const message = frame.message;
    const channel = message && this.channels.get(message.channel);
    if (!channel || !(channel.loaded || channel.loading)) return;
    // Not a stream frame: it says nothing about which changes came before it,
    // so the resume rev stays; the message itself is held as the server sent it.
    if (channel.loaded && wanted(channel, message.seq)) {
      insertMessages(channel, [message]);
      advanceStream(channel);
    } else if (channel.loading) channel.earlyUpdates.push(message);
    this.changed('messages', channel.id);
  }

  /** `reset`: too much changed while we were away. Drop what we hold; the caller loads the latest page. */
  applyReset(frame) {
    const channel = this.channels.get(frame.channel);
    if (!channel) return;
    channel.last_seq = Math.max(channel.last_seq, frame.last_seq ?? 0);
    channel.last_rev = Math.max(channel.last_rev, frame.last_rev ?? 0);
    channel.loaded = false;
    channel.loading = false;
    channel.loadingOlder = false;
    channel.hasMore = true;
    channel.detached = false;
    channel.epoch += 1;
    dropMessages(channel);
    this.changed('messages', channel.id);
    this.changed('channels');
  }

  /** `message` and `update` frames: both are stream frames in rev order. */
  applyStreamed(message, kind) {
    const channel = this.channels.get(message.channel);
    if (!channel) return { stored: false };
    // Live, a new message that counts adds to the server's counts (docs/protocol.md,
    // "Session start"); a replayed one is already in the welcome's counts.
    if (kind === 'message' && message.seq > channel.last_seq && message.seq > channel.read_seq && this.me && countsAsUnread(message, this.me.name)) {
      if (channel.unreadCount != null) channel.unreadCount += 1;
      if (mentionsMe(message, this.me.name)) channel.mentions += 1;
    }
    channel.last_seq = Math.max(channel.last_seq, message.seq);
    if (message.rev != null) channel.last_rev = Math.max(channel.last_rev, message.rev);
    if (this.me && message.sender === this.me.name) channel.pending.delete(message.client_id);
    if (kind === 'message') this.stopTyping(message.channel, message.sender);
    let gapFrom = null;
    let stored = false;
    if (channel.loaded) {
      if (message.rev != null) channel.streamRev = Math.max(channel.streamRev, message.rev);
      // Compared with what the server sent, not with my ack-built copies: an ack
      // for 11 held while 10 never came still leaves 10 to fetch.
      // Showing a window far back, the stream goes on from its own point beyond a hole.
      const newest = channel.detached ? channel.streamSeq : newestReceivedSeq(channel);
      if (newest > 0 && message.seq > newest + 1) gapFrom = newest + 1;
      if (kind === 'message' || wanted(channel, message.seq)) stored = insertMessages(channel, [message]);
      advanceStream(channel);
    } else if (channel.loading) {
      if (message.rev != null) channel.streamRev = Math.max(channel.streamRev, message.rev);
      // The first page is on its way but may have been read before this message
      // was stored: keep it, and the page merges around it. An update may be of
      // a message older than the page: it waits until the page says what is held.
      if (kind === 'message') stored = insertMessages(channel, [message]);
      else channel.earlyUpdates.push(message);
    }
    this.changed('messages', channel.id);
    if (kind === 'message') this.changed('channels');
    return { stored, gapFrom };
  }

  /** `ack` for one of my sends. */
  applyAck(frame) {
    const channel = this.channels.get(frame.channel);
    if (!channel) return;
    const pending = channel.pending.get(frame.client_id);
    channel.pending.delete(frame.client_id);
    channel.last_seq = Math.max(channel.last_seq, frame.seq);
    if (pending && channel.loaded && !channel.bySeq.has(frame.seq)) {
      // The `message` may come after the ack; until then show the confirmed copy
      // built from what we sent. The message, when it comes, replaces it (same seq).
      // The copy does not move the resume point: earlier seqs may still be on
      // their way (the server can write this ack before their `message` frames).
      insertMessages(channel, [
        {
          channel: frame.channel,
          id: frame.id,
          seq: frame.seq,
          sender: this.me.name,
          body: pending.body,
          ts: pending.ts,
          client_id: frame.client_id,
          ...(pending.reply_to ? { reply_to: pending.reply_to } : {}),
          ...(pending.files ? { files: pending.files } : {}),
        },
      ], { fromAck: true });
    }
    this.changed('messages', channel.id);
    this.changed('channels');
  }

  /**
   * A `history` page. `page` says which request it answers: 'latest' (no
   * `before`), 'older' (before the oldest held) or 'gap' (a range we skipped);
   * only the first two say anything about whether older messages exist.
   */
  applyHistory(frame, page) {
    const channel = this.channels.get(frame.channel);
    if (!channel) return;
    const wasLoaded = channel.loaded;
    insertMessages(channel, frame.messages);
    if (page === 'latest' && !wasLoaded) {
      // The first page is read after this connection's stream began, so it shows
      // every change up to its own newest rev to the messages it holds (later
      // messages it lacks are newer still): a safe place to resume changes from.
      for (const message of frame.messages) {
        if (message.rev != null) channel.streamRev = Math.max(channel.streamRev, message.rev);
      }
    }
    for (const message of frame.messages) {
      channel.last_seq = Math.max(channel.last_seq, message.seq);
      if (this.me && message.sender === this.me.name) channel.pending.delete(message.client_id);
    }
    if (page === 'latest') {
      channel.loaded = true;
      channel.loading = false;
      // A repeated latest page must not claim "no more" for pages already held.
      if (!wasLoaded) {
        channel.hasMore = frame.has_more;
        // The first page is where holding starts: everything from its first seq
        // on is held (older pages are fetched below it), so the stream starts
        // just before it; live messages kept while it loaded carry it further.
        if (frame.messages.length) channel.streamSeq = Math.max(channel.streamSeq, frame.messages[0].seq - 1);
        // Updates that came while it loaded, now that we know which messages we hold.
        const early = channel.earlyUpdates;
        channel.earlyUpdates = [];
        insertMessages(channel, early.filter((message) => wanted(channel, message.seq)));
      }
    } else if (page === 'older') {
      channel.loadingOlder = false;
      channel.hasMore = frame.has_more;
    }
    // A page (latest, or one filling a gap) may close the hole that held the
    // resume point back.
    if (channel.loaded) advanceStream(channel);
    this.changed('messages', channel.id);
    this.changed('channels');
  }

  /**
   * A `history` page `around` a message not held (a reply's parent far back):
   * it replaces what is shown, as a window not contiguous with the latest
   * messages. The resume point stays where the stream had it (the window says
   * nothing about what came before or after it); live messages go on being
   * held beyond the hole, and leaving the window loads the latest page anew.
   */
  applyWindow(frame) {
    const channel = this.channels.get(frame.channel);
    if (!channel) return;
    const { streamSeq, streamRev } = channel;
    dropMessages(channel);
    // Pages asked for before (the latest, or older ones below it) belong to
    // what the window replaced: their answers are dropped (see app.js).
    channel.epoch += 1;
    channel.streamSeq = streamSeq;
    channel.streamRev = streamRev;
    channel.detached = true;
    channel.loaded = true;
    channel.loading = false;
    channel.loadingOlder = false;
    insertMessages(channel, frame.messages);
    channel.windowEnd = frame.messages.length ? frame.messages[frame.messages.length - 1].seq : 0;
    channel.hasMore = frame.has_more;
    channel.hasNewer = frame.has_newer;
    for (const message of frame.messages) channel.last_seq = Math.max(channel.last_seq, message.seq);
    this.changed('messages', channel.id);
  }

  /** Leaves a window: everything held goes, and the caller loads the latest page (like a reset). */
  leaveWindow(channelId) {
    const channel = this.channels.get(channelId);
    if (!channel || !channel.detached) return false;
    channel.detached = false;
    channel.loaded = false;
    channel.loading = false;
    channel.loadingOlder = false;
    channel.hasMore = true;
    channel.epoch += 1;
    dropMessages(channel);
    this.changed('messages', channel.id);
    return true;
  }

  /** `read`: my read marker moved (here or on another device); the echo carries the counts after it. */
  applyRead(channelId, seq, counts = {}) {
    const channel = this.channels.get(channelId);
    if (!channel) return;
    const moved = seq > channel.read_seq;
    if (!moved && counts.unread == null) return;
    if (moved) {
      channel.read_seq = seq;
      // Until the server says: what I hold after the marker that counts.
      const after = channel.messages.filter((message) => message.seq > seq && this.me && countsAsUnread(message, this.me.name));
      if (channel.unreadCount != null) channel.unreadCount = seq >= channel.last_seq ? 0 : Math.min(channel.unreadCount, after.length);
      channel.mentions = seq >= channel.last_seq ? 0 : Math.min(channel.mentions, after.filter((message) => mentionsMe(message, this.me.name)).length);
    }
    if (counts.unread != null && seq >= channel.read_seq) this.takeCounts(channel, counts, counts.last_seq);
    this.changed('channels');
  }

  /**
   * The server's unread and mention counts, which cover the channel up to
   * `coveredTo` (docs/protocol.md), plus what I hold past it: a message that
   * arrived before the counts did was counted live and must not be lost, nor
   * counted twice.
   */
  takeCounts(channel, counts, coveredTo = channel.last_seq) {
    const later = this.me
      ? channel.messages.filter((message) => message.seq > coveredTo && message.seq > channel.read_seq && countsAsUnread(message, this.me.name))
      : [];
    channel.unreadCount = counts.unread + later.length;
    const mine = this.me ? later.filter((message) => mentionsMe(message, this.me.name)).length : 0;
    channel.mentions = (counts.mentions ?? 0) + mine;
    channel.last_seq = Math.max(channel.last_seq, coveredTo ?? 0);
  }

  // ---- local actions ----------------------------------------------------

  setCurrent(id) {
    this.currentId = id;
    this.changed('current', id);
  }

  /** Moves my read marker locally before the server's echo, so the badge clears at once. */
  markRead(channelId, seq) {
    this.applyRead(channelId, seq);
  }

  reset() {
    for (const users of this.typing.values()) for (const timer of users.values()) clearTimeout(timer);
    this.me = null;
    this.channels = new Map();
    this.online = new Set();
    this.onlinePage = { users: [], total: 0 };
    this.watched = new Set();
    this.shownPeople = [];
    this.currentId = null;
    this.typing = new Map();
  }

  // ---- internals --------------------------------------------------------

  changed(what, channelId) {
    this.dispatchEvent(new CustomEvent('change', { detail: { what, channelId } }));
  }
}
