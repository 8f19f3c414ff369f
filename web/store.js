// The client's picture of the chat: who I am, my channels with their messages,
// unread counts, pending sends, who is online and who is typing. It applies server
// frames and local actions and announces what changed; it never touches the DOM
// or the socket, so it can be reasoned about (and loaded in Node) on its own.
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

import { advanceStream, dropMessages, heldFrom, insertMessages, newestReceivedSeq, newestSeq, oldestSeq, resumePoint, wanted } from './messages.js';

/** Typing indicators disappear this long after the last typing event. */
export const TYPING_SHOWN_MS = 3000;

/** Which of a channel's fields come from the server's ChannelInfo. */
function channelFromInfo(info) {
  return {
    id: info.id,
    name: info.name,
    kind: info.kind,
    last_seq: info.last_seq,
    last_rev: info.last_rev ?? 0,
    read_seq: info.read_seq,
    member: info.member,
    members: info.members || [],
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
    loaded: false,
    loading: false,
    hasMore: true,
    loadingOlder: false,
  };
}

export class ChatStore extends EventTarget {
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
    return Math.max(0, channel.last_seq - channel.read_seq);
  }

  /** The name shown for a channel: for a DM, the other participant. */
  displayName(channel) {
    if (channel.kind !== 'dm') return channel.name;
    const other = channel.members.find((name) => this.me && name !== this.me.name);
    return other || channel.members[0] || channel.name;
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
      if (channel.loaded) resume[String(channel.id)] = resumePoint(channel);
    }
    return resume;
  }

  typingUsers(channelId) {
    const users = this.typing.get(channelId);
    return users ? [...users.keys()] : [];
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
      channel.member = info.member;
      // Seqs only grow: a stale snapshot must not undo a live message or read.
      channel.last_seq = Math.max(channel.last_seq, info.last_seq);
      channel.last_rev = Math.max(channel.last_rev, info.last_rev ?? 0);
      channel.read_seq = Math.max(channel.read_seq, info.read_seq);
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
    channel.epoch += 1;
    dropMessages(channel);
    this.changed('messages', channel.id);
    this.changed('channels');
  }

  /** `message` and `update` frames: both are stream frames in rev order. */
  applyStreamed(message, kind) {
    const channel = this.channels.get(message.channel);
    if (!channel) return { stored: false };
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
      const newest = newestReceivedSeq(channel);
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

  /** `read`: my read marker moved (here or on another device). */
  applyRead(channelId, seq) {
    const channel = this.channels.get(channelId);
    if (!channel || seq <= channel.read_seq) return;
    channel.read_seq = seq;
    this.changed('channels');
  }

  applyPresence(user, online) {
    if (online) this.online.add(user);
    else this.online.delete(user);
    this.changed('online');
  }

  /** `online_page`: the first names of the online list and the count (without
   * `users`, only the count changed). Someone who left the page is no longer
   * known to be online, unless watched (then their own `presence` frames say). */
  applyOnlinePage(frame) {
    if (!frame.users) {
      this.onlinePage = { users: this.onlinePage.users, total: frame.total };
      this.changed('online');
      return;
    }
    const now = new Set(frame.users);
    for (const name of this.onlinePage.users) if (!now.has(name) && !this.watched.has(name)) this.online.delete(name);
    for (const name of frame.users) this.online.add(name);
    this.onlinePage = { users: frame.users, total: frame.total };
    this.changed('online');
  }

  /** The answer to `watch names`: who of them is online now. Someone no longer
   * watched (and not on the page) is no longer known to be online. */
  applyWatching(names, users) {
    const page = new Set(this.onlinePage.users);
    for (const name of this.watched) if (!names.includes(name) && !page.has(name)) this.online.delete(name);
    this.watched = new Set(names);
    for (const { name, online } of users) {
      if (online) this.online.add(name);
      else if (!this.onlinePage.users.includes(name)) this.online.delete(name);
    }
    this.changed('online');
  }

  /** Whose presence this page shows outside the online list: the other person
   * of every DM (in name order), then the people the people dialog shows. */
  presenceWanted() {
    const partners = new Set();
    for (const channel of this.channels.values()) {
      if (channel.kind === 'dm') partners.add(this.displayName(channel));
    }
    partners.delete(this.me?.name);
    const shown = this.shownPeople.filter((name) => !partners.has(name) && name !== this.me?.name);
    return [...[...partners].sort(), ...shown];
  }

  /** The people dialog shows these people now ([] once it closes). */
  setShownPeople(names) {
    if (names.length === this.shownPeople.length && names.every((name, i) => name === this.shownPeople[i])) return;
    this.shownPeople = names;
    this.changed('watch');
  }

  applyTyping(channelId, user) {
    if (this.me && user === this.me.name) return;
    if (!this.typing.has(channelId)) this.typing.set(channelId, new Map());
    const users = this.typing.get(channelId);
    clearTimeout(users.get(user));
    users.set(
      user,
      setTimeout(() => this.stopTyping(channelId, user), TYPING_SHOWN_MS),
    );
    this.changed('typing', channelId);
  }

  stopTyping(channelId, user) {
    const users = this.typing.get(channelId);
    if (!users || !users.has(user)) return;
    clearTimeout(users.get(user));
    users.delete(user);
    this.changed('typing', channelId);
  }

  // ---- local actions ----------------------------------------------------

  setCurrent(id) {
    this.currentId = id;
    this.changed('current', id);
  }

  /** A message typed here, shown at once; `clientId` is its idempotency key. */
  addPending(channelId, body, clientId) {
    const channel = this.channels.get(channelId);
    const pending = { client_id: clientId, channel: channelId, body, ts: Date.now(), state: 'sending', error: null };
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
