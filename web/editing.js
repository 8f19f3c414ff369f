// Editing and deleting my own messages: the inline editor that takes a
// message's place, the question before a deletion, Up in an empty composer,
// and the `edit` and `delete` requests. Like sends, a change is shown at once
// (the store keeps it until the server answers) and one made while the link
// is down goes out after the reconnect: the server takes the same edit or
// deletion once however often it is asked (docs/protocol.md, "Messages that
// change"). It never builds message elements: timeline.js asks it for the
// editor of the message being edited and places it.

import { h } from './dom.js';
import { BODY_MAX, changeErrorText, charCount, frames } from './protocol.js';

/** An edit or deletion without an answer after this long is shown as failed, with Retry. */
const CHANGE_TIMEOUT_MS = 10000;
/** The deletion question quotes at most this many characters of the message. */
const PREVIEW_MAX_CHARS = 200;

export class Editing {
  /**
   * @param {object} app
   * @param {import('./store.js').ChatStore} app.store
   * @param {(frame: object, timeoutMs?: number) => Promise<object>} app.request a request on the current connection
   * @param {() => boolean} app.isOpen whether the connection is open now
   * @param {() => boolean} app.touchFirst whether Return makes a new line (no Shift+Enter on the keyboard)
   * @param {() => void} app.changed the message list must be drawn again
   * @param {() => void} app.done the editor closed or the question was answered: focus goes back to the composer
   */
  constructor({ store, request, isOpen, touchFirst, changed, done }) {
    this.store = store;
    this.request = request;
    this.isOpen = isOpen;
    this.touchFirst = touchFirst;
    this.changed = changed;
    this.done = done;
    /** The message being edited: {channelId, seq}, or null. */
    this.target = null;
    this.editor = this.buildEditor();
    this.dialog = document.getElementById('delete-dialog');
    this.dialogPreview = document.getElementById('delete-preview');
  }

  // ---- the inline editor ----------------------------------------------------

  /** The editor's form, built once and moved into whichever message is edited. */
  buildEditor() {
    this.input = h('textarea', { class: 'msg-editor-input', rows: 1, 'aria-label': 'Edit message', 'aria-describedby': 'msg-editor-error msg-editor-help' });
    this.error = h('p', { id: 'msg-editor-error', class: 'field-error', role: 'alert' });
    this.help = h('p', { id: 'msg-editor-help', class: 'help' }, h('kbd', { text: 'Enter' }), ' to save · ', h('kbd', { text: 'Esc' }), ' to cancel · ', h('kbd', { text: 'Shift' }), '+', h('kbd', { text: 'Enter' }), ' for a new line');
    const form = h(
      'form',
      { class: 'msg-editor', 'aria-label': 'Edit message' },
      this.input,
      this.error,
      h(
        'div',
        { class: 'msg-editor-foot' },
        this.help,
        h('span', { class: 'msg-editor-actions' }, h('button', { type: 'button', class: 'secondary small', text: 'Cancel', onclick: () => this.cancel() }), h('button', { type: 'submit', class: 'primary small', text: 'Save' })),
      ),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.save();
    });
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        // Handled here: Escape leaving the editor must not also mark the channel read.
        event.preventDefault();
        event.stopPropagation();
        this.cancel();
      } else if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey && !this.touchFirst()) {
        event.preventDefault();
        this.save();
      }
    });
    this.input.addEventListener('input', () => {
      this.error.textContent = '';
      this.fit();
    });
    return form;
  }

  /** Grows the editor with its text (CSSOM, not markup, so the CSP allows it). */
  fit() {
    this.input.style.height = 'auto';
    this.input.style.height = `${this.input.scrollHeight}px`;
  }

  /** Whether this message is the one being edited. */
  isEditing(channelId, seq) {
    return this.target != null && this.target.channelId === channelId && this.target.seq === seq;
  }

  /** The editor for this message, when it is the one being edited (timeline.js places it). */
  editorFor(channelId, seq) {
    return this.isEditing(channelId, seq) ? this.editor : null;
  }

  /** Opens the editor in place of my message at `seq` of the open channel. */
  start(seq) {
    const channel = this.store.current;
    const message = channel?.bySeq.get(seq);
    if (!channel || !message || !this.store.canChange(message)) return false;
    const change = this.store.changeFor(channel, seq);
    if (change?.kind === 'delete') return false;
    this.target = { channelId: channel.id, seq };
    // What the message says now as far as this page knows: an unanswered edit's text.
    this.input.value = change?.kind === 'edit' ? change.body : message.body;
    this.error.textContent = '';
    this.help.hidden = this.touchFirst();
    this.changed(); // Draws the list: the editor is in it now.
    if (this.editor.isConnected) {
      this.fit();
      this.input.focus({ preventScroll: true });
      this.input.setSelectionRange(this.input.value.length, this.input.value.length);
      this.editor.scrollIntoView({ block: 'nearest' });
    }
    return true;
  }

  /** Up in an empty composer: edit my newest message of the open channel. */
  startLast() {
    const channel = this.store.current;
    const message = channel && this.store.lastEditable(channel);
    return message ? this.start(message.seq) : false;
  }

  /** Closes the editor without a change. */
  close() {
    if (!this.target) return;
    this.target = null;
    this.changed();
  }

  cancel() {
    this.close();
    this.done();
  }

  save() {
    if (!this.target) return;
    const { channelId, seq } = this.target;
    const channel = this.store.channel(channelId);
    const message = channel?.bySeq.get(seq);
    // Deleted meanwhile (another tab, an admin): there is nothing left to edit.
    if (!message || message.deleted) return this.cancel();
    const body = this.input.value.replace(/\s+$/, '');
    if (body.trim() === '') {
      this.error.textContent = 'A message cannot be empty. To remove it, use Delete.';
      return;
    }
    if (charCount(body) > BODY_MAX) {
      this.error.textContent = `Messages are at most ${BODY_MAX} characters; this one has ${charCount(body)}.`;
      return;
    }
    const change = this.store.changeFor(channel, seq);
    const shown = change?.kind === 'edit' ? change.body : message.body;
    this.close();
    this.done();
    if (body === shown) return; // Nothing to change.
    this.transmit(this.store.addChange(channelId, seq, 'edit', body));
  }

  // ---- deleting -------------------------------------------------------------

  /** Asks, then deletes my message at `seq` of the open channel. */
  async delete(seq) {
    const channel = this.store.current;
    const message = channel?.bySeq.get(seq);
    if (!channel || !message || !this.store.canChange(message)) return;
    const change = this.store.changeFor(channel, seq);
    const confirmed = await this.confirmDelete(change?.kind === 'edit' ? change.body : message.body);
    if (!confirmed) {
      this.done();
      return;
    }
    if (this.isEditing(channel.id, seq)) this.close();
    this.done();
    const now = this.store.channel(channel.id)?.bySeq.get(seq);
    if (!now || now.deleted) return;
    this.transmit(this.store.addChange(channel.id, seq, 'delete'));
  }

  /** The app's own question dialog (not window.confirm); resolves true for Delete. */
  confirmDelete(body) {
    const chars = [...body];
    this.dialogPreview.textContent = chars.length > PREVIEW_MAX_CHARS ? `${chars.slice(0, PREVIEW_MAX_CHARS).join('')}…` : body;
    this.dialog.returnValue = '';
    this.dialog.showModal();
    this.dialog.querySelector('button[value="cancel"]').focus();
    return new Promise((answer) => {
      this.dialog.addEventListener('close', () => answer(this.dialog.returnValue === 'delete'), { once: true });
    });
  }

  // ---- the requests ------------------------------------------------------------

  /** Sends a change, unless the link is down: then it waits for resendAll. */
  transmit(change) {
    if (!change || !this.isOpen()) return;
    const frame = change.kind === 'edit' ? frames.edit(change.channel, change.seq, change.body) : frames.delete(change.channel, change.seq);
    // No `if_rev`: the only other writer of my message is me, and a retry after
    // a reply lost with the link would meet my own first try as a conflict.
    this.request(frame, CHANGE_TIMEOUT_MS)
      .then(() => this.store.settleChange(change))
      .catch((failure) => {
        if (failure.code === 'disconnected') return; // Stays pending; sent again after the reconnect.
        this.store.failChange(change, changeErrorText(failure.code, failure.message));
      });
  }

  /** After a reconnect: every change still waiting goes again. */
  resendAll() {
    for (const channel of this.store.channels.values()) {
      for (const change of channel.changes.values()) if (change.state === 'sending') this.transmit(change);
    }
  }

  retry(seq) {
    const change = this.store.retryChange(this.store.currentId, seq);
    if (change) this.transmit(change);
  }

  discard(seq) {
    if (this.store.currentId != null) this.store.discardChange(this.store.currentId, seq);
  }
}
