// Reacting to messages: the chips' clicks and the emoji picker opened from a
// message's toolbar, and the `react` requests. A reaction is the state I want
// (`add` true or false), never a toggle, so one asked while the link is down
// goes out after the reconnect and a retry changes nothing (docs/protocol.md,
// "Messages that change"); the one exception, a chip that cannot say
// whether it is mine, toggles on its first try only (`react`). Like edits, it is shown at once: the store keeps
// the request until the server answers, and messages.js lays it over the
// reactions the server sent.

import { h } from './dom.js';
import { changeErrorText, frames } from './protocol.js';

/** A reaction without an answer after this long is given up (the server's copy shows again). */
const REACT_TIMEOUT_MS = 10000;

/** The picker's emoji: common ones, in rows of PICKER_COLUMNS. */
export const PICKER_EMOJI = Object.freeze([
  '👍', '👎', '❤️', '😂', '😮', '😢', '😡', '🎉',
  '🙏', '👏', '🔥', '💯', '✅', '❌', '👀', '🤔',
  '😀', '😅', '😍', '🥳', '🚀', '⭐', '💡', '☕',
]);
const PICKER_COLUMNS = 8;

export class Reactions {
  /**
   * @param {object} app
   * @param {import('./store.js').ChatStore} app.store
   * @param {(frame: object, timeoutMs?: number) => Promise<object>} app.request
   * @param {() => boolean} app.isOpen whether the connection is open now
   * @param {(text: string) => void} app.toast shows a request's error
   */
  constructor({ store, request, isOpen, toast }) {
    this.store = store;
    this.request = request;
    this.isOpen = isOpen;
    this.toast = toast;
    /** The picker's target: {channelId, seq, opener}, or null. */
    this.target = null;
    this.picker = this.buildPicker();
    document.body.append(this.picker);
  }

  /**
   * Reacts with `emoji` to the message at `seq` of the open channel (`add`), or takes my reaction back.
   * `unlisted`: the chip counts more people than the server names, and I am not among those named, so
   * whether I reacted is unknown; a click then means "toggle": if adding changes nothing (I had), it
   * takes mine back. Only a first try toggles: a retry after a reconnect stays an add.
   */
  react(seq, emoji, add, unlisted = false) {
    const channelId = this.store.currentId;
    if (channelId == null) return;
    const request = this.store.addReaction(channelId, seq, emoji, add);
    if (request) request.toggle = add && unlisted;
    this.transmit(request);
  }

  transmit(request) {
    if (!request || !this.isOpen()) return; // Waits for resendAll.
    this.request(frames.react(request.channel, request.seq, request.emoji, request.add), REACT_TIMEOUT_MS)
      .then((reply) => {
        // Only the newest request for this emoji may turn into a removal.
        const current = this.store.settleReaction(request);
        if (current && request.toggle && reply?.changed === false) {
          this.transmit(this.store.addReaction(request.channel, request.seq, request.emoji, false));
        }
      })
      .catch((failure) => {
        // Sent again after the reconnect, as the add it is: this try may have
        // landed, so "nothing changed" would no longer mean "it was mine".
        if (failure.code === 'disconnected') {
          request.toggle = false;
          return;
        }
        this.store.settleReaction(request);
        this.toast(`Could not react: ${changeErrorText(failure.code, failure.message)}`);
      });
  }

  /** After a reconnect: every reaction still waiting goes again. */
  resendAll() {
    for (const channel of this.store.channels.values()) for (const request of channel.reactions.values()) this.transmit(request);
  }

  // ---- the picker ---------------------------------------------------------------

  buildPicker() {
    const grid = h(
      'div',
      { class: 'emoji-grid', role: 'group', 'aria-label': 'Emoji' },
      PICKER_EMOJI.map((emoji, index) =>
        h('button', { type: 'button', class: 'emoji-choice', dataset: { emoji }, 'aria-label': `React with ${emoji}`, title: emoji, tabIndex: index === 0 ? 0 : -1, text: emoji }),
      ),
    );
    const picker = h('div', { id: 'emoji-picker', class: 'emoji-picker', role: 'dialog', 'aria-label': 'Add a reaction', hidden: true }, grid);
    picker.addEventListener('click', (event) => {
      const choice = event.target.closest('[data-emoji]');
      if (choice) this.choose(choice.dataset.emoji);
    });
    picker.addEventListener('keydown', (event) => {
      const buttons = [...picker.querySelectorAll('[data-emoji]')];
      const at = buttons.indexOf(document.activeElement);
      const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: PICKER_COLUMNS, ArrowUp: -PICKER_COLUMNS };
      if (event.key === 'Escape') {
        // Handled here: Escape closing the picker must not also mark the channel read.
        event.preventDefault();
        event.stopPropagation();
        this.close({ restoreFocus: true });
      } else if (event.key in moves) {
        event.preventDefault();
        const next = Math.min(buttons.length - 1, Math.max(0, at + moves[event.key]));
        this.focusChoice(buttons, next);
      } else if (event.key === 'Home' || event.key === 'End') {
        event.preventDefault();
        this.focusChoice(buttons, event.key === 'Home' ? 0 : buttons.length - 1);
      } else if (event.key === 'Tab') {
        this.close();
      }
    });
    document.addEventListener('pointerdown', (event) => {
      if (!picker.hidden && !picker.contains(event.target) && !this.target?.opener?.contains(event.target)) this.close();
    });
    window.addEventListener('resize', () => this.close());
    return picker;
  }

  /** Roving focus: one choice is in the tab order, the arrows move it. */
  focusChoice(buttons, index) {
    for (const [i, button] of buttons.entries()) button.tabIndex = i === index ? 0 : -1;
    buttons[index]?.focus();
  }

  /** Opens the picker for the message at `seq` of the open channel, next to `opener` (its React button). */
  open(seq, opener) {
    if (this.target && this.target.seq === seq && !this.picker.hidden) {
      this.close({ restoreFocus: true });
      return;
    }
    this.target = { channelId: this.store.currentId, seq, opener };
    this.picker.hidden = false;
    // Next to the button, kept on screen; through the CSSOM, which the CSP allows.
    const rect = opener.getBoundingClientRect();
    const width = this.picker.offsetWidth;
    const height = this.picker.offsetHeight;
    const left = Math.max(8, Math.min(rect.right - width, document.documentElement.clientWidth - width - 8));
    const top = rect.top - height - 4 >= 8 ? rect.top - height - 4 : rect.bottom + 4;
    this.picker.style.left = `${left}px`;
    this.picker.style.top = `${top}px`;
    this.focusChoice([...this.picker.querySelectorAll('[data-emoji]')], 0);
  }

  close({ restoreFocus = false } = {}) {
    if (this.picker.hidden) return;
    this.picker.hidden = true;
    const opener = this.target?.opener;
    this.target = null;
    if (restoreFocus && opener?.isConnected) opener.focus();
  }

  /** A choice in the picker: react with it (or, if I had, keep it: the picker only adds). */
  choose(emoji) {
    const target = this.target;
    this.close({ restoreFocus: true });
    if (!target || target.channelId !== this.store.currentId) return;
    this.react(target.seq, emoji, true);
  }
}
