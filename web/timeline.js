// The scrolling message list of the open channel: message, system line and day
// elements built from the store, reconciled by key instead of rebuilt, so that
// loading older pages, confirming a pending message, a live arrival or an edit
// never moves what the reader is looking at. Every piece of user text goes in
// through textContent or a text node (via dom.js); bodies are Markdown that
// markdown.js builds as elements and text nodes (links only after its URL
// checks), with the server's mentions highlighted in their prose. Messages
// carry a small toolbar (React, Reply; on mine also Edit, Delete) shown on
// hover, on keyboard focus and, where nothing hovers, on a tap; reactions
// show as chips under the body, a reply's quote above it, and its files
// (attachments.js) between the two.

import { attachmentList } from './attachments.js';
import { h, icon } from './dom.js';
import { channelLabel, clockTime, dayKey, dayLabel, fullTime } from './format.js';
import { avatar } from './render.js';
import { mentionsMe, reactionTitle, replyQuote, shownReactions } from './messages.js';
import { mentionNodes } from './mentions.js';
import { handleCopyClick, renderMarkdown } from './markdown.js';
import { isReadOnly } from './store-settings.js';

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
/** Where nothing hovers (touch screens) or on a phone's width, a tap on a message shows its toolbar. */
const TAP_FOR_TOOLS = '(hover: none), (pointer: coarse), (max-width: 47.99rem)';

// ---- message list ---------------------------------------------------------

/**
 * The scrolling message list of the current channel.
 * Callbacks: onNearTop() when older history should be fetched, onBottom() when
 * the newest message is in view (to move the read marker), onRetry(clientId),
 * onDiscard(clientId); for my messages onEdit(seq), onDelete(seq),
 * onRetryChange(seq), onDiscardChange(seq), and editorFor(channelId, seq),
 * the inline editor to show in place of a message's body (or null); for any
 * message onReact(seq, emoji, add, unlisted), onPickReaction(seq, button), onReply(seq);
 * onJump(seq) from a reply's quote, onLatest() to leave a window far back.
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
    /** The key of the message whose toolbar a tap opened (touch screens). */
    this.toolsKey = null;
    this.tapForTools = window.matchMedia(TAP_FOR_TOOLS);

    container.addEventListener('scroll', () => this.onScroll(), { passive: true });
    container.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-action]');
      if (!button) {
        if (handleCopyClick(event)) return; // A code block's Copy button.
        this.onTap(event);
        return;
      }
      const { action, clientId } = button.dataset;
      const seq = Number(button.dataset.seq);
      if (action === 'retry') this.callbacks.onRetry(clientId);
      else if (action === 'discard') this.callbacks.onDiscard(clientId);
      else if (action === 'older') this.callbacks.onNearTop();
      else if (action === 'edit') this.callbacks.onEdit(seq);
      else if (action === 'delete') this.callbacks.onDelete(seq);
      else if (action === 'retry-change') this.callbacks.onRetryChange(seq);
      else if (action === 'discard-change') this.callbacks.onDiscardChange(seq);
      else if (action === 'react-chip') {
        const add = button.getAttribute('aria-pressed') !== 'true';
        this.callbacks.onReact?.(seq, button.dataset.emoji, add, button.dataset.unlisted === 'true');
      }
      else if (action === 'react') this.callbacks.onPickReaction?.(seq, button);
      else if (action === 'reply') this.callbacks.onReply?.(seq);
      else if (action === 'jump') this.callbacks.onJump?.(seq);
      else if (action === 'latest') this.callbacks.onLatest?.();
      else if (action === 'profile') this.callbacks.onProfile?.(button.dataset.user, button);
      if (action === 'edit' || action === 'delete' || action === 'reply') this.showTools(null);
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

  /** A tap on one of my messages (not on a link or control) opens or closes its toolbar. */
  onTap(event) {
    if (!this.tapForTools.matches) return;
    if (event.target.closest('a, button, textarea, input, .msg-editor')) return;
    const message = event.target.closest('.msg');
    const key = message && message.querySelector('.msg-tools') ? message.dataset.key : null;
    this.showTools(key === this.toolsKey ? null : key);
  }

  showTools(key) {
    this.toolsKey = key;
    for (const element of this.container.querySelectorAll('.msg.tools-open')) element.classList.remove('tools-open');
    const entry = key == null ? null : this.cache.get(key);
    if (entry && entry.element.isConnected) entry.element.classList.add('tools-open');
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
    this.toolsKey = null;
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

    // A rebuilt message takes the focus with it (the editor, a toolbar button): give it back.
    const focused = this.container.contains(document.activeElement) ? document.activeElement : null;
    const selection = focused instanceof HTMLTextAreaElement ? [focused.selectionStart, focused.selectionEnd] : null;

    const items = this.items(store, channel);
    this.reconcile(items);
    if (this.toolsKey != null) this.showTools(this.toolsKey);
    if (focused && document.activeElement !== focused) this.refocus(focused, selection);

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

  /** Focus on what was focused before a render, or on its rebuilt twin (same focus key). */
  refocus(focused, selection) {
    let target = focused.isConnected ? focused : null;
    const key = focused.dataset?.focusKey;
    if (!target && key) target = [...this.container.querySelectorAll('[data-focus-key]')].find((el) => el.dataset.focusKey === key) || null;
    if (!target) return;
    target.focus({ preventScroll: true });
    if (selection && target === focused) target.setSelectionRange(selection[0], selection[1]);
  }

  /** The first message at least partly visible, and where its text sits. */
  anchor() {
    const top = this.container.getBoundingClientRect().top;
    for (const element of this.container.children) {
      if (!element.classList.contains('msg')) continue;
      const rect = element.getBoundingClientRect();
      if (rect.bottom > top + 1) {
        return { key: element.dataset.key, offset: textOf(element).getBoundingClientRect().top - top };
      }
    }
    return null;
  }

  restore(anchor) {
    const entry = this.cache.get(anchor.key);
    if (!entry || !entry.element.isConnected) return;
    const top = this.container.getBoundingClientRect().top;
    const offset = textOf(entry.element).getBoundingClientRect().top - top;
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

    // A window around an older message (a reply's parent) shows only itself:
    // what came live meanwhile lies beyond a hole, behind "Jump to latest".
    const confirmed = channel.detached ? channel.messages.filter((message) => message.seq <= channel.windowEnd) : channel.messages;
    const pending = [...channel.pending.values()].map((p) => ({ ...p, sender: me, pending: true }));
    const used = new Set();
    // Nobody can react, reply, edit or delete where nobody can post (an archived
    // channel, or one I only look at): no toolbar offers what the server refuses.
    const readOnly = isReadOnly(channel);
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
      // My edit or deletion not yet answered, the editor, and what I may do here.
      const change = message.pending ? null : channel.changes.get(message.seq);
      const editor = message.pending ? null : this.callbacks.editorFor?.(channel.id, message.seq) ?? null;
      const mine = store.canChange(message) && change?.kind !== 'delete';
      // Anyone's standing message may be reacted and replied to; only mine edited.
      const tools = !readOnly && !editor && !message.pending && !message.deleted && message.seq != null && change?.kind !== 'delete' ? { mine } : null;
      const changeSig = change ? `${change.kind}:${change.state}:${change.error || ''}:${change.body}` : '';
      const reactions = message.pending ? [] : shownReactions(message, me, channel.reactions);
      const quote = message.pending ? null : replyQuote(channel, message);
      const mentioned = !message.pending && mentionsMe(message, me);
      // A display name shows only once this page knows it (a card was opened): never fetched per message.
      const displayName = grouped ? '' : this.callbacks.displayName?.(message.sender) || '';
      const filesSig = (message.files || []).map((file) => `${file.id}:${file.thumb ? 1 : 0}`).join(',');
      const extraSig = `${displayName}|${JSON.stringify(reactions)}|${quote ? JSON.stringify(quote) : ''}|${mentioned}|${(message.mentions || []).join(',')}|${message.mentions_channel || ''}|${filesSig}`;
      // Messages change in place (merged by rev), so the rev and what it says stand in for the text.
      const sig = `${grouped}|${state}|${message.error || ''}|${message.ts}|${message.rev ?? '-'}|${message.deleted || ''}|${message.edited_at || ''}|${changeSig}|${editor ? 'E' : ''}|${tools ? (tools.mine ? 'M' : 'T') : ''}|${extraSig}`;
      items.push({ key, sig, build: () => messageItem(message, grouped, state, { change, editor, tools, reactions, quote, mentioned, me, displayName }) });
      previous = message;
    }
    if (channel.detached) {
      items.push({
        key: 'latest',
        sig: '',
        build: () => h('div', { class: 'list-note window-end' }, h('button', { type: 'button', class: 'link', dataset: { action: 'latest' }, text: 'Jump to latest' })),
      });
    }
    return items;
  }

  /** Scrolls the message at `seq` into the middle of the list and highlights it briefly; false when it is not rendered. */
  showMessage(seq, { highlightMs = 2000 } = {}) {
    const element = this.container.querySelector(`.msg[data-seq="${Number(seq)}"]`);
    if (!element) return false;
    const top = element.getBoundingClientRect().top - this.container.getBoundingClientRect().top;
    this.container.scrollTop += top - (this.container.clientHeight - element.offsetHeight) / 2;
    this.stuck = this.isAtBottom();
    this.jumpPending = false;
    element.classList.add('highlight');
    clearTimeout(this.highlightTimer);
    this.highlightTimer = setTimeout(() => element.classList.remove('highlight'), highlightMs);
    return true;
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
  if (kind === 'left' && user && by) return `${by} removed ${user}.`;
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

/** The part of a message element that holds its text (the body, or the editor in its place; its files when it has no text). */
function textOf(element) {
  return element.querySelector('.msg-body, .msg-editor, .attachments') || element;
}

/**
 * A message body rendered from its Markdown (markdown.js builds elements and
 * text nodes only), with the mentions the server found highlighted in its
 * prose (never in code or links).
 */
function richBody(className, text, message, me) {
  const body = h('div', { class: `${className} md` });
  body.append(...renderMarkdown(text, document, { text: (piece) => mentionNodes(piece, message, me) }));
  // A line break stays the newline it was typed as: the body keeps newlines
  // (pre-wrap), and its text reads as typed.
  for (const br of body.querySelectorAll('br')) br.replaceWith('\n');
  return body;
}

/** What a deleted message says in place of its text. */
export function tombstoneText(message) {
  return message.deleted === 'admin' ? 'This message was removed by an admin.' : 'This message was deleted.';
}

/** The body of a message as shown: a tombstone, the editor, or the text (mine not yet saved, or as stored), with "(edited)". */
function messageText(message, change, editor, me) {
  if (message.deleted) return [h('div', { class: 'msg-body msg-tombstone', text: tombstoneText(message) })];
  if (editor) return [editor];
  if (change?.kind === 'edit') return [richBody('msg-body', change.body, message, me)];
  // Files sent without words: no empty line of text above them.
  if (!message.body && message.files?.length && !message.edited_at) return [];
  if (!message.edited_at) return [richBody('msg-body', message.body, message, me)];
  return [
    richBody('msg-body edited', message.body, message, me),
    ' ',
    h('span', { class: 'msg-edited', title: `Edited ${fullTime(message.edited_at)}`, text: '(edited)' }),
  ];
}

/** React and Reply for any message; Edit and Delete for mine. */
function messageTools(message, { mine }) {
  const button = (action, label, iconName) =>
    h(
      'button',
      { type: 'button', class: 'icon-button', dataset: { action, seq: String(message.seq), focusKey: `${action}:${message.seq}` }, 'aria-label': label, title: label },
      icon(iconName),
    );
  return h(
    'div',
    { class: 'msg-tools', role: 'group', 'aria-label': 'Message actions' },
    button('react', 'Add reaction', 'smile'),
    button('reply', 'Reply', 'reply'),
    mine ? button('edit', 'Edit message', 'pencil') : null,
    mine ? button('delete', 'Delete message', 'trash') : null,
  );
}

/** The chips under a message: emoji and count, pressed when I reacted; the title says who. */
function reactionChips(message, reactions) {
  return h(
    'div',
    { class: 'reactions', role: 'group', 'aria-label': 'Reactions' },
    reactions.map((reaction) =>
      h(
        'button',
        {
          type: 'button',
          class: reaction.mine ? 'reaction mine' : 'reaction',
          dataset: {
            action: 'react-chip',
            seq: String(message.seq),
            emoji: reaction.emoji,
            focusKey: `chip:${message.seq}:${reaction.emoji}`,
            // Past the names the server lists, whether I am among them is unknown.
            unlisted: String(!reaction.mine && reaction.count > (reaction.users || []).length),
          },
          'aria-pressed': String(reaction.mine),
          title: reactionTitle(reaction),
          'aria-label': `${reactionTitle(reaction)}. ${reaction.mine ? 'Remove my reaction' : 'React with it too'}`,
        },
        h('span', { class: 'reaction-emoji', text: reaction.emoji }),
        h('span', { class: 'reaction-count', text: String(reaction.count) }),
      ),
    ),
  );
}

/** The one-line quote above a reply; a button that jumps to the message it answers. */
function quoteItem(quote) {
  return h(
    'button',
    { type: 'button', class: quote.deleted ? 'reply-quote deleted' : 'reply-quote', dataset: { action: 'jump', seq: String(quote.seq), focusKey: `jump:${quote.seq}` }, title: 'Show the message this replies to' },
    h('span', { class: 'reply-sender', text: quote.deleted ? '' : quote.sender }),
    h('span', { class: 'reply-text', text: quote.deleted ? 'Original message deleted' : quote.text }),
  );
}

/** "Saving…", or why my edit or deletion did not go through, with Retry and Discard. */
function changeStatus(message, change) {
  const deleting = change.kind === 'delete';
  if (change.state !== 'failed') return h('div', { class: 'msg-status', text: deleting ? 'Deleting…' : 'Saving…' });
  return h(
    'div',
    { class: 'msg-status error', role: 'alert' },
    h('span', { text: `${deleting ? 'Not deleted' : 'Not saved'}. ${change.error || ''} ` }),
    h('button', { type: 'button', class: 'link', dataset: { action: 'retry-change', seq: String(message.seq) }, text: 'Retry' }),
    ' · ',
    h('button', { type: 'button', class: 'link', dataset: { action: 'discard-change', seq: String(message.seq) }, text: 'Discard' }),
  );
}

function messageItem(message, grouped, state, { change = null, editor = null, tools = null, reactions = [], quote = null, mentioned = false, me = null, highlighted = false, displayName = '' } = {}) {
  const time = h('time', { class: grouped ? 'msg-time hover' : 'msg-time', dateTime: new Date(message.ts).toISOString(), title: fullTime(message.ts), text: clockTime(message.ts) });
  const classes = ['msg'];
  if (grouped) classes.push('grouped');
  if (state !== 'ok') classes.push(state);
  if (message.deleted) classes.push('deleted');
  if (editor) classes.push('editing');
  if (mentioned) classes.push('mentions-me');
  if (highlighted) classes.push('highlight');
  if (change) classes.push(change.state === 'failed' ? 'change-failed' : change.kind === 'delete' ? 'deleting' : 'saving');
  const main = h('div', { class: 'msg-main' });
  if (grouped) {
    main.append(h('span', { class: 'sr-only', text: `${message.sender}: ` }));
  } else {
    // The name opens the sender's profile card.
    const sender = h('button', {
      type: 'button',
      class: 'msg-sender name-button',
      text: message.sender,
      title: 'Show profile',
      dataset: { action: 'profile', user: message.sender, focusKey: `profile:${message.seq ?? message.client_id}` },
    });
    main.append(h('div', { class: 'msg-meta' }, sender, displayName ? h('span', { class: 'msg-display', text: displayName }) : null, time));
  }
  if (quote && !message.deleted) main.append(quoteItem(quote));
  main.append(...messageText(message, change, editor, me));
  // A deleted message has no files (they went with it), even in a copy that still lists them.
  if (message.files?.length && !message.deleted) main.append(attachmentList(message.files));
  if (reactions.length && !message.deleted) main.append(reactionChips(message, reactions));
  if (change) main.append(changeStatus(message, change));
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
  return h('div', { class: classes.join(' '), dataset: message.seq != null && !message.pending ? { seq: String(message.seq) } : {} }, h('div', { class: 'msg-gutter' }, grouped ? time : avatar(message.sender)), main, tools ? messageTools(message, tools) : null);
}
