// Unsent composer text, one draft per channel, kept in this browser's local
// storage so it survives channel switches and reloads. Drafts never leave the
// browser: nothing here talks to the server. Keys carry the user's name, so two
// accounts used in one browser never see each other's drafts, and signing out
// forgets the signed-out user's drafts (a shared computer keeps no private text).

/** A draft longer than this is not stored (local storage is small and shared). */
const DRAFT_MAX_CHARS = 20000;
const PREFIX = 'natter.draft.';

export class Drafts {
  constructor(storage = globalThis.localStorage) {
    this.storage = storage;
    this.user = null;
  }

  /** Which user's drafts are read and written from now on (null: none). */
  setUser(name) {
    this.user = name;
  }

  key(channelId) {
    return `${PREFIX}${encodeURIComponent(this.user)}.${channelId}`;
  }

  get(channelId) {
    if (this.user == null || channelId == null) return '';
    try {
      return this.storage.getItem(this.key(channelId)) || '';
    } catch {
      return ''; // Storage disabled (private mode, policy): drafts live as long as the page.
    }
  }

  /** Stores the channel's draft; empty or whitespace-only text removes it. */
  set(channelId, text) {
    if (this.user == null || channelId == null) return;
    try {
      if (text.trim() === '' || text.length > DRAFT_MAX_CHARS) this.storage.removeItem(this.key(channelId));
      else this.storage.setItem(this.key(channelId), text);
    } catch {
      // Storage full or disabled: the draft is simply not kept.
    }
  }

  has(channelId) {
    return this.get(channelId) !== '';
  }

  /** Forgets every draft of the current user (sign-out). */
  clearAll() {
    if (this.user == null) return;
    const mine = `${PREFIX}${encodeURIComponent(this.user)}.`;
    try {
      for (let i = this.storage.length - 1; i >= 0; i -= 1) {
        const key = this.storage.key(i);
        if (key && key.startsWith(mine)) this.storage.removeItem(key);
      }
    } catch {
      // Nothing stored, nothing to forget.
    }
  }
}
