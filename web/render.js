// Turns the store into DOM: the sidebar lists, the channel header, the typing line
// and the message list. Every piece of user text goes in through textContent or a
// text node (via dom.js); links are built as elements after `new URL` checks.
// The message list is reconciled by key instead of rebuilt, so that loading older
// pages, confirming a pending message or a live arrival never moves what the
// reader is looking at.

import { h, icon, replaceChildren } from './dom.js';
import { channelLabel, clockTime, colourIndex, dayKey, dayLabel, fullTime, initial, typingText } from './format.js';

/** Consecutive messages from one sender closer than this share one header. */
const GROUP_GAP_MS = 5 * 60 * 1000;
/** How close to the bottom (px) still counts as "at the bottom". */
const BOTTOM_SLACK_PX = 48;
/** A channel opened at its first unread message shows this much above it (px). */
const UNREAD_TOP_MARGIN_PX = 8;
/** Opening at the first unread message fetches at most this many older pages to reach it. */
const UNREAD_JUMP_MAX_PAGES = 4;
/** Older history is requested when the reader scrolls this close to the top (px). */
const NEAR_TOP_PX = 400;

// ---- message bodies -------------------------------------------------------

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;

/**
 * The nodes of a message body: text nodes, plus <a> for http(s) URLs that
 * `new URL` accepts. Their concatenated text is exactly `text`.
 */
export function bodyNodes(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    let raw = match[0];
    // Sentence punctuation right after a link is rarely part of it; a closing
    // bracket is, when the link opened one (Wikipedia-style URLs).
    while (/[.,;:!?)\]}]$/.test(raw)) {
      const close = raw[raw.length - 1];
      const open = { ')': '(', ']': '[', '}': '{' }[close];
      if (open && raw.split(open).length > raw.split(close).length - 1) break;
      raw = raw.slice(0, -1);
    }
    let url;
    try {
      url = new URL(raw);
    } catch {
      continue;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    const link = document.createElement('a');
    link.href = url.href;
    link.rel = 'noopener noreferrer';
    link.target = '_blank';
    link.textContent = raw;
    nodes.push(link);
    last = match.index + raw.length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

export function avatar(name, size = '') {
  return h('span', { class: `avatar av-${colourIndex(name)} ${size}`.trim(), 'aria-hidden': 'true', text: initial(name) });
}

// ---- sidebar --------------------------------------------------------------

function sortByName(a, b, store) {
  return store.displayName(a).localeCompare(store.displayName(b), undefined, { sensitivity: 'base' });
}

/**
 * Rebuilds the sidebar lists, keeping keyboard focus on the same item.
 * `hasDraft(channelId)` says whether a channel holds unsent text.
 */
export function renderSidebar(store, els, { hasDraft = () => false } = {}) {
  const focusKey = document.activeElement?.dataset?.focusKey;
  const all = [...store.channels.values()];
  const rooms = all
    .filter((channel) => channel.kind !== 'dm')
    .sort((a, b) => (a.name === 'General' && a.kind === 'public' ? -1 : b.name === 'General' && b.kind === 'public' ? 1 : sortByName(a, b, store)));
  const dms = all.filter((channel) => channel.kind === 'dm').sort((a, b) => sortByName(a, b, store));

  replaceChildren(els.channelList, rooms.map((channel) => h('li', {}, channelButton(store, channel, hasDraft))));
  replaceChildren(
    els.dmList,
    dms.length ? dms.map((channel) => h('li', {}, channelButton(store, channel, hasDraft))) : h('li', { class: 'empty', text: 'Start one with + (New message) or by choosing someone online.' }),
  );

  // The first page of who is online (the server sends it sorted, with the count).
  const { users: online, total } = store.onlinePage;
  els.onlineCount.textContent = String(total);
  const more = total - online.length;
  replaceChildren(
    els.onlineList,
    ...online.map((name) => {
      const isMe = store.me && name === store.me.name;
      const content = [h('span', { class: 'dot on', 'aria-hidden': 'true' }), h('span', { class: 'user-name', text: name })];
      if (isMe) return h('li', {}, h('span', { class: 'user me' }, ...content, h('span', { class: 'you', text: ' (you)' })));
      return h(
        'li',
        {},
        h('button', { type: 'button', class: 'user', dataset: { user: name, focusKey: `u:${name}` }, title: `Message ${name}` }, ...content),
      );
    }),
    more > 0 ? h('li', { class: 'empty', text: `and ${more} more (find anyone with + New message)` }) : null,
  );

  if (store.me) {
    els.meName.textContent = store.me.name;
    replaceChildren(els.meAvatar, avatar(store.me.name, 'small'));
  }

  if (focusKey) {
    const again = [...els.sidebar.querySelectorAll('[data-focus-key]')].find((el) => el.dataset.focusKey === focusKey);
    if (again) again.focus();
  }
}

function channelButton(store, channel, hasDraft) {
  const active = channel.id === store.currentId;
  // The open channel's draft is in the composer; the others say they have one.
  const draft = !active && hasDraft(channel.id);
  const unread = active ? 0 : store.unread(channel);
  const name = store.displayName(channel);
  let lead;
  if (channel.kind === 'dm') {
    lead = h('span', { class: `dot ${store.online.has(name) ? 'on' : 'off'}`, 'aria-hidden': 'true' });
  } else {
    lead = icon(channel.kind === 'private' ? 'lock' : 'hash', 'icon chan-icon');
  }
  const kindText = channel.kind === 'private' ? 'private channel' : channel.kind === 'dm' ? 'direct message' : 'channel';
  return h(
    'button',
    {
      type: 'button',
      class: `chan${active ? ' active' : ''}${unread ? ' unread' : ''}${draft ? ' has-draft' : ''}`,
      dataset: { channel: String(channel.id), focusKey: `c:${channel.id}`, kind: channel.kind },
      'aria-current': active ? 'page' : null,
      title: name,
    },
    lead,
    h('span', { class: 'chan-name', text: name }),
    h('span', { class: 'sr-only', text: `, ${kindText}` }),
    draft ? h('span', { class: 'draft-mark', title: 'Unsent draft' }, icon('pencil', 'icon'), h('span', { class: 'sr-only', text: ', draft' })) : null,
    unread ? h('span', { class: 'badge' }, h('span', { class: 'badge-count', text: unread > 99 ? '99+' : String(unread) }), h('span', { class: 'sr-only', text: ' unread' })) : null,
  );
}

// ---- header and typing line ----------------------------------------------

export function renderHeader(store, els) {
  const channel = store.current;
  if (!channel) {
    els.title.textContent = '';
    els.subtitle.textContent = '';
    els.inviteButton.hidden = true;
    els.channelMenuButton.hidden = true;
    return;
  }
  const name = store.displayName(channel);
  const lead =
    channel.kind === 'dm'
      ? h('span', { class: `dot big ${store.online.has(name) ? 'on' : 'off'}`, 'aria-hidden': 'true' })
      : icon(channel.kind === 'private' ? 'lock' : 'hash', 'icon title-icon');
  replaceChildren(els.title, lead, h('span', { class: 'title-text', text: name }));
  els.subtitle.textContent =
    channel.kind === 'dm'
      ? store.online.has(name)
        ? 'Direct message · online'
        : 'Direct message · away'
      : channel.kind === 'private'
        ? 'Private channel · only invited members can see it'
        : 'Public channel';
  // Everyone is in General already, and a DM is for two.
  const isGeneral = channel.kind === 'public' && channel.name === 'General';
  els.inviteButton.hidden = channel.kind === 'dm' || isGeneral;
  // General cannot be left and a DM has no options yet: no menu for them.
  const canLeave = !(channel.kind === 'dm' || (channel.kind === 'public' && channel.name === 'General'));
  els.channelMenuButton.hidden = !canLeave;
  els.menuLeave.hidden = !canLeave;
  els.input.placeholder = channel.kind === 'dm' ? `Message ${name}` : `Message ${channelLabel(name)}`;
}

export function renderTyping(store, element) {
  const text = store.currentId == null ? '' : typingText(store.typingUsers(store.currentId));
  if (element.textContent !== text) element.textContent = text;
}

// ---- message list ---------------------------------------------------------

/**
 * The scrolling message list of the current channel.
 * Callbacks: onNearTop() when older history should be fetched, onBottom() when
 * the newest message is in view (to move the read marker), onRetry(clientId),
 * onDiscard(clientId).
 */
export class MessageView {
  constructor(container, pill, callbacks) {
    this.container = container;
    this.pill = pill;
    this.callbacks = callbacks;
    this.channelId = null;
    this.cache = new Map();
    this.stuck = true;
    this.newestSeq = 0;
    this.unreadFrom = null;

    container.addEventListener('scroll', () => this.onScroll(), { passive: true });
    container.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-action]');
      if (!button) return;
      const { action, clientId } = button.dataset;
      if (action === 'retry') this.callbacks.onRetry(clientId);
      else if (action === 'discard') this.callbacks.onDiscard(clientId);
      else if (action === 'older') this.callbacks.onNearTop();
    });
    pill.addEventListener('click', () => {
      this.scrollToBottom();
      this.callbacks.onBottom();
    });
    // The composer growing or the window resizing shrinks the list: a reader at
    // the bottom stays at the bottom.
    new ResizeObserver(() => {
      if (this.stuck) this.scrollToBottom();
    }).observe(container);
  }

  isAtBottom() {
    const { scrollTop, scrollHeight, clientHeight } = this.container;
    return scrollHeight - scrollTop - clientHeight <= BOTTOM_SLACK_PX;
  }

  scrollToBottom() {
    this.container.scrollTop = this.container.scrollHeight;
    this.stuck = true;
    this.pill.hidden = true;
  }

  onScroll() {
    this.stuck = this.isAtBottom();
    if (this.stuck) {
      this.pill.hidden = true;
      this.callbacks.onBottom();
    }
    if (this.container.scrollTop < NEAR_TOP_PX) this.callbacks.onNearTop();
  }

  /**
   * Switches to a channel: remembers where its unread messages start. A channel
   * with unread messages opens at the first of them (once they are held), not
   * at the bottom, so nothing counts as read before it was on screen.
   */
  open(channel, unreadFrom) {
    this.channelId = channel.id;
    this.cache.clear();
    this.container.replaceChildren();
    this.stuck = unreadFrom == null;
    this.newestSeq = 0;
    this.unreadFrom = unreadFrom;
    this.jumpPending = unreadFrom != null;
    this.jumpPages = 0;
    this.pill.hidden = true;
  }

  /** The "New" divider of the open channel, when it is rendered. */
  unreadDivider() {
    const entry = this.cache.get('new');
    return entry && entry.element.isConnected ? entry.element : null;
  }

  /** Scrolls the first unread message to the top of the list; false when it is not rendered. */
  jumpToUnread() {
    const divider = this.unreadDivider();
    if (!divider) return false;
    const top = divider.getBoundingClientRect().top - this.container.getBoundingClientRect().top;
    this.container.scrollTop += top - UNREAD_TOP_MARGIN_PX;
    this.stuck = this.isAtBottom();
    this.pill.hidden = true;
    return true;
  }

  /**
   * After a render of a channel opened with unread messages: go to the first of
   * them once it is rendered; fetch older pages while it is older than what is held.
   */
  continueJump(channel) {
    if (!channel.loaded) return;
    if (this.jumpToUnread()) {
      this.jumpPending = false;
      return;
    }
    const oldest = channel.messages.length ? channel.messages[0].seq : null;
    if (oldest != null && oldest > this.unreadFrom && channel.hasMore && this.jumpPages < UNREAD_JUMP_MAX_PAGES) {
      this.container.scrollTop = 0;
      if (!channel.loadingOlder) this.jumpPages += 1;
      this.callbacks.onNearTop();
      return;
    }
    if (oldest != null && oldest > this.unreadFrom) {
      // Too far back to fetch at once: start at the oldest held; Jump fetches more.
      this.jumpPending = false;
      this.container.scrollTop = 0;
      this.stuck = false;
      return;
    }
    // Nothing of someone else's is unread after all (my own sends only): the bottom it is.
    this.jumpPending = false;
    this.scrollToBottom();
  }

  /** Re-renders the current channel in place. */
  render(store, channel) {
    if (channel.id !== this.channelId) this.open(channel, null);
    const stuck = this.stuck;
    const anchor = stuck ? null : this.anchor();

    const items = this.items(store, channel);
    this.reconcile(items);

    const newest = channel.messages[channel.messages.length - 1];
    const arrived = newest && newest.seq > this.newestSeq && this.newestSeq !== 0 && newest.sender !== store.me?.name && !newest.system;
    const first = this.newestSeq === 0;
    this.newestSeq = newest ? newest.seq : this.newestSeq;

    if (this.jumpPending) {
      this.continueJump(channel);
    } else if (stuck || first) {
      this.scrollToBottom();
    } else {
      if (anchor) this.restore(anchor);
      if (arrived) this.pill.hidden = false;
    }
    // A short channel cannot be scrolled up, so ask for older pages right away.
    if (channel.loaded && channel.hasMore && this.container.scrollHeight <= this.container.clientHeight + NEAR_TOP_PX) {
      this.callbacks.onNearTop();
    }
  }

  /** The first message at least partly visible, and where its text sits. */
  anchor() {
    const top = this.container.getBoundingClientRect().top;
    for (const element of this.container.children) {
      if (!element.classList.contains('msg')) continue;
      const rect = element.getBoundingClientRect();
      if (rect.bottom > top + 1) {
        const body = element.querySelector('.msg-body');
        return { key: element.dataset.key, offset: body.getBoundingClientRect().top - top };
      }
    }
    return null;
  }

  restore(anchor) {
    const entry = this.cache.get(anchor.key);
    if (!entry || !entry.element.isConnected) return;
    const top = this.container.getBoundingClientRect().top;
    const offset = entry.element.querySelector('.msg-body').getBoundingClientRect().top - top;
    this.container.scrollTop += offset - anchor.offset;
  }

  items(store, channel) {
    const me = store.me?.name;
    const items = [];
    const name = store.displayName(channel);
    if (channel.loaded) {
      const topState = channel.hasMore ? (channel.loadingOlder ? 'loading' : 'more') : 'start';
      items.push({ key: 'top', sig: `${topState}|${name}`, build: () => topItem(topState, channel, name) });
    } else {
      // Until the first page is here there is nothing older to offer: one note only.
      items.push({ key: 'wait', sig: '', build: () => h('div', { class: 'list-note', text: 'Loading messages…' }) });
    }

    const confirmed = channel.messages;
    const pending = [...channel.pending.values()].map((p) => ({ ...p, sender: me, pending: true }));
    const used = new Set();
    let previous = null;
    let lastDay = null;
    let newShown = false;
    for (const message of [...confirmed, ...pending]) {
      const day = dayKey(message.ts);
      let breakGroup = false;
      if (lastDay !== day) {
        items.push({ key: `d${day}`, sig: dayLabel(message.ts), build: () => daySeparator(message.ts) });
        lastDay = day;
        breakGroup = true;
      }
      if (message.system) {
        // Not someone's chat: never grouped with messages, never the "New" line's anchor.
        items.push({ key: `y${message.seq}`, sig: `${message.body}|${message.ts}`, build: () => systemItem(message) });
        previous = message;
        continue;
      }
      if (!newShown && !message.pending && this.unreadFrom != null && message.seq >= this.unreadFrom && message.sender !== me) {
        newShown = true;
        breakGroup = true;
        items.push({ key: 'new', sig: '', build: () => h('div', { class: 'new-divider', role: 'separator' }, h('span', { text: 'New' })) });
      }
      const grouped =
        !breakGroup &&
        !previous.system &&
        previous.sender === message.sender &&
        message.ts - previous.ts < GROUP_GAP_MS &&
        message.ts >= previous.ts &&
        !previous.error;
      // Keyed by sender + client_id, so a pending message and its confirmed copy
      // are one element and never flicker; seq is the fallback for a reused id.
      let key = `m${message.sender}\u0000${message.client_id}`;
      if (used.has(key)) key = `s${message.seq}`;
      used.add(key);
      const state = message.pending ? message.state : 'ok';
      const sig = `${grouped}|${state}|${message.error || ''}|${message.ts}`;
      items.push({ key, sig, build: () => messageItem(message, grouped, state) });
      previous = message;
    }
    return items;
  }

  reconcile(items) {
    const wanted = items.map((item) => {
      let entry = this.cache.get(item.key);
      if (!entry || entry.sig !== item.sig) {
        const element = item.build();
        element.dataset.key = item.key;
        entry = { sig: item.sig, element };
        this.cache.set(item.key, entry);
      }
      return entry.element;
    });
    const keep = new Set(wanted);
    for (const child of [...this.container.children]) if (!keep.has(child)) child.remove();
    const keys = new Set(items.map((item) => item.key));
    for (const key of this.cache.keys()) if (!keys.has(key)) this.cache.delete(key);
    let cursor = this.container.firstElementChild;
    for (const element of wanted) {
      if (element === cursor) {
        cursor = cursor.nextElementSibling;
        continue;
      }
      this.container.insertBefore(element, cursor);
    }
  }
}

function topItem(state, channel, name) {
  if (state === 'loading') return h('div', { class: 'list-note', role: 'status', text: 'Loading older messages…' });
  if (state === 'more') {
    return h('div', { class: 'list-note' }, h('button', { type: 'button', class: 'link', dataset: { action: 'older' }, text: 'Load older messages' }));
  }
  const intro =
    channel.kind === 'dm'
      ? `This is the beginning of your conversation with ${name}.`
      : channel.kind === 'private'
        ? `This is the very beginning of the private channel ${channelLabel(name)}.`
        : `This is the very beginning of ${channelLabel(name)}.`;
  return h('div', { class: 'list-start' }, h('p', { class: 'list-start-title', text: channel.kind === 'dm' ? name : channelLabel(name) }), h('p', { text: intro }));
}

/** What a system line says, from its structured part; the body is the fallback for kinds this UI does not know. */
export function systemText(message) {
  const { kind, user, by } = message.system;
  if (kind === 'joined' && user) return `${user} joined.`;
  if (kind === 'left' && user) return `${user} left.`;
  if (kind === 'added' && user && by) return `${by} added ${user}.`;
  return message.body;
}

function systemItem(message) {
  return h(
    'div',
    { class: 'system-line', role: 'note' },
    h('span', { class: 'system-text', text: systemText(message) }),
    h('time', { dateTime: new Date(message.ts).toISOString(), title: fullTime(message.ts), text: clockTime(message.ts) }),
  );
}

function daySeparator(ts) {
  return h('div', { class: 'day', role: 'separator' }, h('span', { class: 'day-label', text: dayLabel(ts) }));
}

function messageItem(message, grouped, state) {
  const time = h('time', { class: grouped ? 'msg-time hover' : 'msg-time', dateTime: new Date(message.ts).toISOString(), title: fullTime(message.ts), text: clockTime(message.ts) });
  const classes = ['msg'];
  if (grouped) classes.push('grouped');
  if (state !== 'ok') classes.push(state);
  const main = h('div', { class: 'msg-main' });
  if (grouped) {
    main.append(h('span', { class: 'sr-only', text: `${message.sender}: ` }));
  } else {
    main.append(h('div', { class: 'msg-meta' }, h('span', { class: 'msg-sender', text: message.sender }), time));
  }
  main.append(h('div', { class: 'msg-body' }, bodyNodes(message.body)));
  if (state === 'sending') {
    main.append(h('div', { class: 'msg-status', text: 'Sending…' }));
  } else if (state === 'failed') {
    main.append(
      h(
        'div',
        { class: 'msg-status error', role: 'alert' },
        h('span', { text: `Not sent. ${message.error || ''} ` }),
        h('button', { type: 'button', class: 'link', dataset: { action: 'retry', clientId: message.client_id }, text: 'Retry' }),
        ' · ',
        h('button', { type: 'button', class: 'link', dataset: { action: 'discard', clientId: message.client_id }, text: 'Discard' }),
      ),
    );
  }
  return h('div', { class: classes.join(' ') }, h('div', { class: 'msg-gutter' }, grouped ? time : avatar(message.sender)), main);
}
