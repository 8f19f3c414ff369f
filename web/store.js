// The client's picture of the chat: who I am, my channels with their messages,
// unread counts, pending sends, who is online and who is typing. It applies server
// frames and local actions and announces what changed; it never touches the DOM
// or the socket, so it can be reasoned about (and loaded in Node) on its own.
//
// Invariants kept here:
// - A channel's messages are sorted by `seq` and hold each `seq` once, however
//   often the server (replay after reconnect, history pages, ack + message) sends it.
// - Messages are kept only for channels whose history was loaded (`loaded`) or
//   is loading, and only loaded ones are resumed.
// - A channel's resume point (`streamSeq`) is the highest seq up to which every
//   message from the first page held on was received from the server (live or
//   replayed `message` frames, history pages), with no hole. It is not simply the
//   newest seq held: a copy built from my own `ack` may come before the `message`
//   frames of earlier seqs (the server writes the ack first), and a live message
//   may skip seqs; resuming from either would skip messages for good.
// - A pending send is matched to its stored message by `client_id` and vanishes
//   the moment either the `ack` or the `message` arrives.

/** Typing indicators disappear this long after the last typing event. */
export const TYPING_SHOWN_MS = 3000;

/** Which of a channel's fields come from the server's ChannelInfo. */
function channelFromInfo(info) {
  return {
    id: info.id,
    name: info.name,
    kind: info.kind,
    last_seq: info.last_seq,
    read_seq: info.read_seq,
    member: info.member,
    members: info.members || [],
    messages: [],
    bySeq: new Map(),
    /** Seqs held only as the copy built from my `ack`, not yet from the server. */
    ackOnly: new Set(),
    /** The resume point: see the invariants at the top. */
    streamSeq: 0,
    pending: new Map(),
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
    const last = channel.messages[channel.messages.length - 1];
    return last ? last.seq : 0;
  }

  oldestSeq(channel) {
    return channel.messages.length ? channel.messages[0].seq : null;
  }

  /** The newest seq held as the server sent it (ack-built copies not counted). */
  newestReceivedSeq(channel) {
    for (let i = channel.messages.length - 1; i >= 0; i -= 1) {
      const { seq } = channel.messages[i];
      if (!channel.ackOnly.has(seq)) return seq;
    }
    return 0;
  }

  /**
   * channel id (string) -> the seq after which the server should replay, for
   * every channel whose history we hold: the last seq received without a hole.
   */
  resumeMap() {
    const resume = {};
    for (const channel of this.channels.values()) {
      if (channel.loaded) resume[String(channel.id)] = channel.streamSeq;
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
      if (!channel.loaded) {
        channel.messages = [];
        channel.bySeq.clear();
        channel.ackOnly.clear();
        channel.streamSeq = 0;
      }
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
    const channel = this.channels.get(message.channel);
    if (!channel) return { stored: false };
    channel.last_seq = Math.max(channel.last_seq, message.seq);
    if (this.me && message.sender === this.me.name) channel.pending.delete(message.client_id);
    this.stopTyping(message.channel, message.sender);
    let gapFrom = null;
    let stored = false;
    if (channel.loaded) {
      // Compared with what the server sent, not with my ack-built copies: an ack
      // for 11 held while 10 never came still leaves 10 to fetch.
      const newest = this.newestReceivedSeq(channel);
      if (newest > 0 && message.seq > newest + 1) gapFrom = newest + 1;
      stored = this.insertMessages(channel, [message]);
      this.advanceStream(channel);
    } else if (channel.loading) {
      // The first page is on its way but may have been read before this message
      // was stored: keep it, and the page merges around it.
      stored = this.insertMessages(channel, [message]);
    }
    this.changed('messages', channel.id);
    this.changed('channels');
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
      this.insertMessages(channel, [
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
    this.insertMessages(channel, frame.messages);
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
      }
    } else if (page === 'older') {
      channel.loadingOlder = false;
      channel.hasMore = frame.has_more;
    }
    // A page (latest, or one filling a gap) may close the hole that held the
    // resume point back.
    if (channel.loaded) this.advanceStream(channel);
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

  /**
   * Merges messages into a channel, keeping seq order and one copy per seq.
   * `fromAck`: the copy was built from my ack, not sent by the server.
   */
  insertMessages(channel, messages, { fromAck = false } = {}) {
    let changed = false;
    let appendOnly = true;
    for (const message of messages) {
      const existing = channel.bySeq.get(message.seq);
      if (existing) {
        // Same seq seen again (replay, ack then message): keep one copy, the server's.
        if (fromAck) continue;
        Object.assign(existing, message);
        channel.ackOnly.delete(message.seq);
        continue;
      }
      if (fromAck) channel.ackOnly.add(message.seq);
      const copy = { ...message };
      channel.bySeq.set(copy.seq, copy);
      const last = channel.messages[channel.messages.length - 1];
      if (!last || last.seq < copy.seq) channel.messages.push(copy);
      else {
        channel.messages.push(copy);
        appendOnly = false;
      }
      changed = true;
    }
    if (!appendOnly) channel.messages.sort((a, b) => a.seq - b.seq);
    return changed;
  }

  /** Moves the resume point over every following seq received from the server. */
  advanceStream(channel) {
    let seq = channel.streamSeq;
    while (channel.bySeq.has(seq + 1) && !channel.ackOnly.has(seq + 1)) seq += 1;
    channel.streamSeq = seq;
  }

  changed(what, channelId) {
    this.dispatchEvent(new CustomEvent('change', { detail: { what, channelId } }));
  }
}
