// The message box: what typing in it does (it grows with the text, counts
// characters near the limit, keeps the channel's draft, tells others I am
// typing), sending (shown at once as pending, matched to the server's copy by
// client_id, sent again after a reconnect), and its keys: Enter sends,
// Shift+Enter is a new line (on touch-first devices Return always is), Page
// Up/Down scroll the messages, Up in an empty box edits my last message.
// Files join a message from the attach button, a drop on the conversation or
// a paste into the box; they upload at once (uploads.js) and go with the next
// send, which waits for none: while one is still uploading, Send says so.

import { BODY_MAX, TYPING_INTERVAL_MS, charCount, errorText, frames } from './protocol.js';
import { h, replaceChildren } from './dom.js';
import { Uploads } from './uploads.js';

/** The mention autocomplete asks the server this long after the last keystroke. */
const MENTION_DEBOUNCE_MS = 150;

/** A send without an ack after this long is shown as failed, with Retry. */
const SEND_TIMEOUT_MS = 10000;
/**
 * How often typing events go out per channel: the server's interval plus a
 * margin, because the server measures between arrivals and two frames sent
 * exactly one interval apart can arrive closer together than that.
 */
const TYPING_SEND_EVERY_MS = TYPING_INTERVAL_MS + 500;
/** The composer shows a character counter from this many characters on. */
const COUNTER_FROM = 3500;

/**
 * Touch-first devices (a coarse primary pointer: phones, tablets) have no
 * Shift+Enter on their keyboards, so there Return makes a new line and only
 * the send button sends.
 */
export const touchFirst = window.matchMedia('(pointer: coarse)');

export class Composer {
  /**
   * @param {object} app
   * @param {object} app.els the page's elements (composer, input, sendButton, counter, composerHelp, composerError, messages)
   * @param {import('./store.js').ChatStore} app.store
   * @param {import('./drafts.js').Drafts} app.drafts
   * @param {{scrollToBottom: () => void}} app.view the message list
   * @param {{startLast: () => boolean}} app.editing
   * @param {() => import('./connection.js').Connection | null} app.connection the current connection, if any
   *
   * Also in `els`: attachButton, fileInput, uploadList, chat (the conversation, where files may be dropped), dropZone.
   */
  constructor({ els, store, drafts, view, editing, connection, beforeSend = () => {} }) {
    this.beforeSend = beforeSend;
    /** The message the next send answers: {channelId, seq, sender, excerpt}, or null. */
    this.replyTo = null;
    /** The mention autocomplete: {start, prefix, names, index} while open, else null. */
    this.mention = null;
    this.mentionTimer = null;
    this.els = els;
    this.store = store;
    this.drafts = drafts;
    this.view = view;
    this.editing = editing;
    this.connection = connection;
    /** channel id -> when the last typing event went out. */
    this.lastTypingSent = new Map();
    /** Whether the composer's error line says a send waits for uploads (cleared once none runs). */
    this.waitNoticeShown = false;
    this.uploads = new Uploads({ list: els.uploadList, changed: () => this.uploadsChanged() });
    this.listen();
    this.listenForFiles();
    touchFirst.addEventListener('change', () => this.updateHelp());
    this.updateHelp();
  }

  listen() {
    const { els } = this;
    els.composer.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
      els.input.focus();
    });
    els.input.addEventListener('keydown', (event) => {
      if (this.mentionKey(event)) return;
      const plain = !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey;
      // Escape drops the reply being written (and does not also mark the channel read).
      if (event.key === 'Escape' && this.replyTo) {
        event.preventDefault();
        event.stopPropagation();
        this.cancelReply();
        return;
      }
      // Up in an empty composer edits my last message of the channel.
      if (event.key === 'ArrowUp' && els.input.value === '' && plain) {
        if (this.editing.startLast()) event.preventDefault();
        return;
      }
      // Enter sends; Shift+Enter (and Enter while an IME is composing) is a new line.
      if (event.key === 'Enter' && plain && !touchFirst.matches) {
        event.preventDefault();
        this.submit();
      }
    });
    // Page Up / Page Down scroll the messages from the composer, as they would in
    // a one-line input: the composer rarely has pages of its own.
    els.input.addEventListener('keydown', (event) => {
      if ((event.key === 'PageUp' || event.key === 'PageDown') && !event.shiftKey && !event.ctrlKey && !event.altKey && !event.metaKey) {
        event.preventDefault();
        const page = Math.max(40, els.messages.clientHeight - 40);
        els.messages.scrollBy({ top: event.key === 'PageUp' ? -page : page });
      }
    });
    els.input.addEventListener('input', () => {
      this.typed();
      this.lookForMention();
    });
    els.input.addEventListener('blur', () => setTimeout(() => this.closeMentions(), 150));
    els.replyCancel.addEventListener('click', () => {
      this.cancelReply();
      els.input.focus();
    });
    els.mentionList.addEventListener('pointerdown', (event) => {
      const item = event.target.closest('[data-name]');
      if (!item) return;
      event.preventDefault(); // The composer keeps the focus.
      this.pickMention(item.dataset.name);
    });
  }

  // ---- files ----------------------------------------------------------------------

  listenForFiles() {
    const { els } = this;
    els.attachButton.addEventListener('click', () => els.fileInput.click());
    els.fileInput.addEventListener('change', () => {
      this.attach([...els.fileInput.files]);
      els.fileInput.value = ''; // The same file may be chosen again.
      els.input.focus();
    });
    // A pasted screenshot (or copied files) attaches; text on the clipboard as well still pastes as text.
    els.input.addEventListener('paste', (event) => {
      const files = [...(event.clipboardData?.files || [])];
      if (!files.length) return;
      if (!event.clipboardData.types.includes('text/plain')) event.preventDefault();
      this.attach(files);
    });
    // Files dragged over the conversation: it says it takes them, and a drop attaches them.
    const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes('Files');
    let depth = 0;
    const setDropping = (on) => {
      els.dropZone.hidden = !on;
      els.chat.classList.toggle('dropping', on);
    };
    els.chat.addEventListener('dragenter', (event) => {
      if (!carriesFiles(event) || !this.canAttach()) return;
      event.preventDefault();
      depth += 1;
      setDropping(true);
    });
    els.chat.addEventListener('dragover', (event) => {
      if (!carriesFiles(event) || !this.canAttach()) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
    });
    els.chat.addEventListener('dragleave', (event) => {
      if (!carriesFiles(event)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDropping(false);
    });
    els.chat.addEventListener('drop', (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      depth = 0;
      setDropping(false);
      if (this.canAttach()) this.attach([...event.dataTransfer.files]);
    });
    // A file dropped anywhere else is not opened in place of the chat.
    window.addEventListener('dragover', (event) => {
      if (!carriesFiles(event) || els.chat.contains(event.target)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'none';
    });
    window.addEventListener('drop', (event) => {
      if (carriesFiles(event) && !els.chat.contains(event.target)) event.preventDefault();
    });
  }

  /** Whether files can join a message here: a channel is open and the box is shown (not read-only). */
  canAttach() {
    return this.store.current != null && !this.els.composer.hidden;
  }

  /** Starts uploading `files` to the open channel; their chips show over the box. */
  attach(files) {
    const channel = this.store.current;
    if (!channel || !files.length) return;
    const refusal = this.uploads.add(channel.id, files);
    if (refusal) this.els.composerError.textContent = refusal;
  }

  /** Shows the open channel's attachments (after switching channels). */
  showUploads() {
    this.uploads.show(this.store.currentId);
    this.uploadsChanged();
  }

  /** An upload started, finished, failed or went: Send says whether it must wait. */
  uploadsChanged() {
    const busy = this.store.currentId == null ? 0 : this.uploads.inFlight(this.store.currentId);
    this.els.sendButton.classList.toggle('waiting', busy > 0);
    this.els.sendButton.setAttribute('aria-label', busy ? 'Send message (waiting for uploads)' : 'Send message');
    this.updateHelp();
    if (!busy && this.waitNoticeShown) {
      this.waitNoticeShown = false;
      this.els.composerError.textContent = '';
    }
  }

  /** Signing out: uploads stop and their chips go. */
  dropUploads() {
    this.uploads.clearAll();
    this.uploadsChanged();
  }

  // ---- replies ------------------------------------------------------------------

  /** The next send answers the message at `seq` of the open channel. */
  startReply(seq) {
    const channel = this.store.current;
    const message = channel?.bySeq.get(seq);
    if (!channel || !message || message.deleted || message.system) return;
    // A message of files alone is quoted by their names.
    const text = message.body || (message.files || []).map((file) => file.name).join(', ');
    const firstLine = [...(text.split('\n')[0])].slice(0, 100).join('');
    this.replyTo = { channelId: channel.id, seq, sender: message.sender, excerpt: firstLine };
    this.showReply();
    this.els.input.focus();
  }

  cancelReply() {
    this.replyTo = null;
    this.showReply();
  }

  /** The bar over the box: "Replying to sender: excerpt", for the open channel only. */
  showReply() {
    const reply = this.replyTo && this.replyTo.channelId === this.store.currentId ? this.replyTo : null;
    this.els.replyBar.hidden = !reply;
    this.els.replyBarText.textContent = reply ? `Replying to ${reply.sender}: ${reply.excerpt}` : '';
  }

  // ---- mention autocomplete ---------------------------------------------------

  /** After a keystroke: an "@prefix" right before the caret asks (debounced) who matches. */
  lookForMention() {
    const { input } = this.els;
    const before = input.value.slice(0, input.selectionStart);
    const match = before.match(/(^|[^A-Za-z0-9_.@-])@([A-Za-z0-9_.-]*)$/);
    clearTimeout(this.mentionTimer);
    const channel = this.store.current;
    if (!match || !channel) {
      this.closeMentions();
      return;
    }
    const prefix = match[2];
    const start = before.length - prefix.length - 1;
    this.mentionTimer = setTimeout(() => this.askMembers(channel.id, start, prefix), MENTION_DEBOUNCE_MS);
  }

  async askMembers(channelId, start, prefix) {
    const connection = this.connection();
    if (!connection?.isOpen) return;
    let reply;
    try {
      reply = await connection.request(frames.members(channelId, prefix));
    } catch {
      return; // Autocomplete is a convenience: a refusal just shows nothing.
    }
    // Typed on meanwhile, or moved elsewhere: this answer is stale.
    const { input } = this.els;
    if (this.store.currentId !== channelId || input.value.slice(start, input.selectionStart) !== `@${prefix}`) return;
    const names = [...reply.users.filter((name) => name !== this.store.me?.name), ...('channel'.startsWith(prefix.toLowerCase()) ? ['channel'] : [])];
    if (!names.length) {
      this.closeMentions();
      return;
    }
    this.mention = { start, prefix, names, index: 0 };
    this.showMentions();
  }

  showMentions() {
    const { mentionList, input } = this.els;
    const { names, index } = this.mention;
    replaceChildren(
      mentionList,
      names.map((name, i) =>
        h('li', { id: `mention-${i}`, role: 'option', class: 'mention-option', 'aria-selected': String(i === index), dataset: { name } }, `@${name}`, name === 'channel' ? h('span', { class: 'help', text: ' everyone here' }) : null),
      ),
    );
    mentionList.hidden = false;
    input.setAttribute('aria-controls', 'mention-list');
    input.setAttribute('aria-activedescendant', `mention-${index}`);
  }

  closeMentions() {
    clearTimeout(this.mentionTimer);
    if (!this.mention && this.els.mentionList.hidden) return;
    this.mention = null;
    this.els.mentionList.hidden = true;
    this.els.input.removeAttribute('aria-activedescendant');
  }

  /** Up/Down move, Enter/Tab pick, Escape closes; true when the key was the list's. */
  mentionKey(event) {
    if (!this.mention || event.isComposing) return false;
    const { names } = this.mention;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      this.mention.index = (this.mention.index + (event.key === 'ArrowDown' ? 1 : -1) + names.length) % names.length;
      this.showMentions();
    } else if ((event.key === 'Enter' || event.key === 'Tab') && !event.shiftKey) {
      this.pickMention(names[this.mention.index]);
    } else if (event.key === 'Escape') {
      event.stopPropagation();
      this.closeMentions();
    } else return false;
    event.preventDefault();
    return true;
  }

  /** Puts "@name " in place of the "@prefix" being typed. */
  pickMention(name) {
    if (!this.mention) return;
    const { input } = this.els;
    const { start } = this.mention;
    const end = input.selectionStart;
    const text = `@${name} `;
    input.value = input.value.slice(0, start) + text + input.value.slice(end);
    input.setSelectionRange(start + text.length, start + text.length);
    this.closeMentions();
    this.typed();
  }

  updateHelp() {
    this.els.composerHelp.hidden = touchFirst.matches;
    const waiting = this.els.sendButton.classList.contains('waiting');
    this.els.sendButton.title = waiting ? 'Waiting for uploads to finish' : touchFirst.matches ? 'Send' : 'Send (Enter)';
  }

  /** After each keystroke: the size and counter, the draft, and a typing event now and then. */
  typed() {
    const { els, store } = this;
    this.update();
    const channel = store.current;
    if (channel) this.drafts.set(channel.id, els.input.value);
    const connection = this.connection();
    if (!channel || !els.input.value.trim() || !connection?.isOpen) return;
    const now = Date.now();
    if (now - (this.lastTypingSent.get(channel.id) || 0) >= TYPING_SEND_EVERY_MS) {
      this.lastTypingSent.set(channel.id, now);
      connection.send(frames.typing(channel.id));
    }
  }

  /** Fits the box to its text and shows the counter near the limit. */
  update() {
    const { els } = this;
    // Grow with the text up to a limit set in CSS (max-height); CSSOM, not markup, so the CSP allows it.
    els.input.style.height = 'auto';
    els.input.style.height = `${els.input.scrollHeight}px`;
    const count = charCount(els.input.value);
    els.counter.hidden = count < COUNTER_FROM;
    els.counter.textContent = `${count} / ${BODY_MAX}`;
    els.counter.classList.toggle('over', count > BODY_MAX);
    if (count <= BODY_MAX) els.composerError.textContent = '';
  }

  submit() {
    const { els, store } = this;
    const channel = store.current;
    if (!channel) return;
    let body = els.input.value.replace(/\s+$/, '');
    const busy = this.uploads.inFlight(channel.id);
    const ready = this.uploads.ready(channel.id);
    if (body.trim() === '' && !ready.length && !busy) return;
    if (charCount(body) > BODY_MAX) {
      els.composerError.textContent = `Messages are at most ${BODY_MAX} characters; this one has ${charCount(body)}.`;
      return;
    }
    // Sent without its files, a message would lose them: it waits until they are up (or cancelled).
    if (busy) {
      els.composerError.textContent = `Wait for ${busy === 1 ? 'the upload' : `${busy} uploads`} to finish before sending, or cancel ${busy === 1 ? 'it' : 'them'} with ×.`;
      this.waitNoticeShown = true;
      return;
    }
    // With files, the text may be empty (whitespace alone is none).
    if (body.trim() === '') body = '';
    els.composerError.textContent = '';
    this.waitNoticeShown = false;
    this.beforeSend(channel);
    const reply = this.replyTo && this.replyTo.channelId === channel.id ? this.replyTo : null;
    const files = this.uploads.take(channel.id);
    const pending = store.addPending(channel.id, body, crypto.randomUUID(), reply ? { seq: reply.seq, sender: reply.sender, excerpt: reply.excerpt } : null, files);
    this.cancelReply();
    this.closeMentions();
    els.input.value = '';
    this.drafts.set(channel.id, '');
    this.update();
    this.view.scrollToBottom();
    this.transmit(pending);
    // The typing clock deliberately runs on across a send: the server counts its
    // interval from the last typing event it relayed, not from the message, so
    // starting over here would get the next keystroke's event refused.
  }

  transmit(pending) {
    const connection = this.connection();
    if (!connection?.isOpen) return; // Sent again by resendAll once connected.
    // The same files each time it goes again: the server takes a client_id once, files and all.
    const files = (pending.files || []).map((file) => file.id);
    connection.request(frames.send(pending.channel, pending.body, pending.client_id, pending.reply_to?.seq, files), SEND_TIMEOUT_MS).catch((failure) => {
      if (failure.code === 'disconnected') return; // Stays pending; resent after the reconnect.
      this.store.failPending(pending.channel, pending.client_id, errorText(failure.code, failure.message));
    });
  }

  retry(clientId) {
    const pending = this.store.retryPending(this.store.currentId, clientId);
    if (pending) this.transmit(pending);
  }

  /**
   * After a reconnect: sends cut off by the disconnect go again with the same
   * client_id. The server stores each client_id once, so a send that did land
   * is only acknowledged.
   */
  resendAll() {
    for (const channel of this.store.channels.values()) {
      for (const pending of channel.pending.values()) if (pending.state === 'sending') this.transmit(pending);
    }
  }
}
