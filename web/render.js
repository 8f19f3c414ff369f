// Turns the store into DOM: the sidebar lists, the channel header, the typing line
// and the message list. Every piece of user text goes in through textContent or a
// text node (via dom.js); links are built as elements after `new URL` checks.
// The message list is reconciled by key instead of rebuilt, so that loading older
// pages, confirming a pending message or a live arrival never moves what the
// reader is looking at.

import { h, icon, replaceChildren } from './dom.js';
import { clockTime, colourIndex, dayKey, dayLabel, fullTime, initial, typingText } from './format.js';

/** Consecutive messages from one sender closer than this share one header. */
const GROUP_GAP_MS = 5 * 60 * 1000;
/** How close to the bottom (px) still counts as "at the bottom". */
const BOTTOM_SLACK_PX = 48;
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

/** Rebuilds the sidebar lists, keeping keyboard focus on the same item. */
export function renderSidebar(store, els) {
  const focusKey = document.activeElement?.dataset?.focusKey;
  const all = [...store.channels.values()];
  const rooms = all
    .filter((channel) => channel.kind !== 'dm')
    .sort((a, b) => (a.name === 'General' && a.kind === 'public' ? -1 : b.name === 'General' && b.kind === 'public' ? 1 : sortByName(a, b, store)));
  const dms = all.filter((channel) => channel.kind === 'dm').sort((a, b) => sortByName(a, b, store));

  replaceChildren(els.channelList, rooms.map((channel) => h('li', {}, channelButton(store, channel))));
  replaceChildren(
    els.dmList,
    dms.length ? dms.map((channel) => h('li', {}, channelButton(store, channel))) : h('li', { class: 'empty', text: 'Click someone online to start a conversation.' }),
  );

  const online = [...store.online].sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }));
  els.onlineCount.textContent = String(online.length);
  replaceChildren(
    els.onlineList,
    online.map((name) => {
      const isMe = store.me && name === store.me.name;
      const content = [h('span', { class: 'dot on', 'aria-hidden': 'true' }), h('span', { class: 'user-name', text: name })];
      if (isMe) return h('li', {}, h('span', { class: 'user me' }, ...content, h('span', { class: 'you', text: ' (you)' })));
      return h(
        'li',
        {},
        h('button', { type: 'button', class: 'user', dataset: { user: name, focusKey: `u:${name}` }, title: `Message ${name}` }, ...content),
      );
    }),
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

function channelButton(store, channel) {
  const active = channel.id === store.currentId;
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
      class: `chan${active ? ' active' : ''}${unread ? ' unread' : ''}`,
      dataset: { channel: String(channel.id), focusKey: `c:${channel.id}`, kind: channel.kind },
      'aria-current': active ? 'page' : null,
      title: name,
    },
    lead,
    h('span', { class: 'chan-name', text: name }),
    h('span', { class: 'sr-only', text: `, ${kindText}` }),
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
    els.leaveButton.hidden = true;
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
  els.inviteButton.hidden = channel.kind === 'dm';
  els.leaveButton.hidden = channel.kind === 'dm' || (channel.kind === 'public' && channel.name === 'General');
  els.input.placeholder = channel.kind === 'dm' ? `Message ${name}` : `Message #${name}`;
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

  /** Switches to a channel: remembers where its unread messages start. */
  open(channel, unreadFrom) {
    this.channelId = channel.id;
    this.cache.clear();
    this.container.replaceChildren();
    this.stuck = true;
    this.newestSeq = 0;
    this.unreadFrom = unreadFrom;
    this.pill.hidden = true;
  }

  /** Re-renders the current channel in place. */
  render(store, channel) {
    if (channel.id !== this.channelId) this.open(channel, null);
    const stuck = this.stuck;
    const anchor = stuck ? null : this.anchor();

    const items = this.items(store, channel);
    this.reconcile(items);

    const newest = channel.messages[channel.messages.length - 1];
    const arrived = newest && newest.seq > this.newestSeq && this.newestSeq !== 0 && newest.sender !== store.me?.name;
    const first = this.newestSeq === 0;
    this.newestSeq = newest ? newest.seq : this.newestSeq;

    if (stuck || first) {
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
    const topState = channel.hasMore ? (channel.loadingOlder ? 'loading' : 'more') : 'start';
    const name = store.displayName(channel);
    items.push({ key: 'top', sig: `${topState}|${name}`, build: () => topItem(topState, channel, name) });
    if (!channel.loaded) {
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
        // A system line ("carol joined"): a muted note of its own, never
        // grouped with chat and never the start of the unread part.
        items.push({ key: `y${message.seq}`, sig: `${message.body}|${message.ts}`, build: () => systemItem(message) });
        previous = null;
        continue;
      }
      if (!previous) breakGroup = true;
      if (!newShown && !message.pending && this.unreadFrom != null && message.seq >= this.unreadFrom && message.sender !== me) {
        newShown = true;
        breakGroup = true;
        items.push({ key: 'new', sig: '', build: () => h('div', { class: 'new-divider', role: 'separator' }, h('span', { text: 'New' })) });
      }
      const grouped =
        !breakGroup &&
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
        ? `This is the very beginning of the private channel #${name}.`
        : `This is the very beginning of #${name}.`;
  return h('div', { class: 'list-start' }, h('p', { class: 'list-start-title', text: channel.kind === 'dm' ? name : `#${name}` }), h('p', { text: intro }));
}

function daySeparator(ts) {
  return h('div', { class: 'day', role: 'separator' }, h('span', { class: 'day-label', text: dayLabel(ts) }));
}

function systemItem(message) {
  const time = h('time', { class: 'msg-time', dateTime: new Date(message.ts).toISOString(), title: fullTime(message.ts), text: clockTime(message.ts) });
  return h('div', { class: 'msg-system', role: 'note' }, h('span', { text: message.body }), time);
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
