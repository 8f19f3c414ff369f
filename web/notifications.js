// Desktop notifications (the Notification API) for direct messages and
// mentions that arrive while the tab is hidden, as the channel's level allows:
// `none` never, `mentions` only mentions of me, `all` DMs and mentions. The
// browser's permission is asked only from a button the user pressed (the
// channel menu's "Enable desktop notifications"), never on load. Clicking a
// notification focuses the window and opens the channel at the message.

import { plainText } from './markdown.js';
import { mentionsMe } from './messages.js';

/** A notification says at most this many characters of the message. */
const BODY_CHARS = 140;

/**
 * Whether a message should raise a notification for `me` in `channel`, with
 * the channel's level; the page decides separately whether it is hidden.
 */
export function shouldNotify(channel, message, me) {
  if (!channel || !me || message.sender === me || message.system || message.deleted) return false;
  const level = channel.notify || 'all';
  if (level === 'none') return false;
  if (mentionsMe(message, me)) return true;
  return level === 'all' && channel.kind === 'dm';
}

export class Notifier {
  /**
   * @param {object} app
   * @param {import('./store.js').ChatStore} app.store
   * @param {(channelId: number, seq: number) => void} app.open shows a channel at a message
   */
  constructor({ store, open }) {
    this.store = store;
    this.open = open;
  }

  get supported() {
    return typeof Notification !== 'undefined';
  }

  /** Asks the browser for permission (from a click); resolves with what to tell the user. */
  async askPermission() {
    if (!this.supported) return 'This browser cannot show desktop notifications.';
    if (Notification.permission === 'granted') return 'Desktop notifications are on.';
    const answer = await Notification.requestPermission();
    this.store.changed('channels'); // The menu item hides once granted.
    return answer === 'granted' ? 'Desktop notifications are on.' : 'Desktop notifications are blocked in this browser.';
  }

  /** A `message` frame, before the store applies it: a new one may raise a notification. */
  consider(message) {
    if (!this.supported || Notification.permission !== 'granted' || document.visibilityState !== 'hidden') return;
    const channel = this.store.channel(message.channel);
    // Only new messages: a replay after a reconnect was (or could have been) seen already.
    if (!channel || message.seq <= channel.last_seq) return;
    if (!shouldNotify(channel, message, this.store.me?.name)) return;
    const where = channel.kind === 'dm' ? message.sender : `${message.sender} in #${channel.name}`;
    // The words, not the Markdown markers, on one line.
    const text = plainText(message.body).replace(/\s+/g, ' ').trim();
    const chars = [...text];
    const notification = new Notification(where, {
      body: chars.length > BODY_CHARS ? `${chars.slice(0, BODY_CHARS).join('')}…` : text,
      tag: `natter-${message.channel}-${message.seq}`,
    });
    notification.addEventListener('click', () => {
      notification.close();
      this.open(message.channel, message.seq);
    });
  }
}
