// Unsent composer text, one draft per channel, kept in this browser's local
// storage so it survives channel switches and reloads. Drafts never leave the
// browser: nothing here talks to the server.
//
// Keys carry the user's id, not the name: a guest name passes to a new user
// once its holder is offline, and on a shared browser the next holder of the
// name must not find the previous one's text. Two accounts used in one browser
// never see each other's drafts, and signing out forgets the signed-out user's
// drafts (a shared computer keeps no private text). A guest cannot sign in
// again once its session is gone, so its drafts are forgotten whenever the page
// sees its session end, and any guest drafts left behind (the page was closed)
// are forgotten the next time the page finds who, if anyone, is signed in.

/** A draft longer than this is not stored (local storage is small and shared). */
const DRAFT_MAX_CHARS = 20000;
/** Keys are `natter.draft#u<id>.<channel>` for registered users, `#g<id>` for guests. */
const PREFIX = 'natter.draft#';
/** Drafts from before keys carried the id were `natter.draft.<name>.<channel>`. */
const LEGACY_PREFIX = 'natter.draft.';

export class Drafts {
  constructor(storage = globalThis.localStorage) {
    this.storage = storage;
    this.owner = null;
  }

  /**
   * Whose drafts are read and written from now on: the signed-in user
   * (`{id, guest}`, as the server describes it) or null for none.
   */
  setUser(user) {
    this.owner = user ? `${user.guest ? 'g' : 'u'}${user.id}` : null;
  }

  key(channelId) {
    return `${PREFIX}${this.owner}.${channelId}`;
  }

  get(channelId) {
    if (this.owner == null || channelId == null) return '';
    try {
      return this.storage.getItem(this.key(channelId)) || '';
    } catch {
      return ''; // Storage disabled (private mode, policy): drafts live as long as the page.
    }
  }

  /** Stores the channel's draft; empty or whitespace-only text removes it. */
  set(channelId, text) {
    if (this.owner == null || channelId == null) return;
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

  /** Forgets every draft of the current user (sign-out, or a guest's session ending). */
  clearAll() {
    if (this.owner == null) return;
    const mine = `${PREFIX}${this.owner}.`;
    this.removeWhere((key) => key.startsWith(mine));
  }

  /**
   * Forgets drafts no one can come back for: every guest's but the current
   * user's (this browser holds one session at a time, so any other guest's
   * session is gone for good), and name-keyed drafts from before keys carried
   * the id (the name may have passed to someone else).
   */
  forgetOrphans() {
    const mine = `${PREFIX}${this.owner}.`;
    this.removeWhere(
      (key) => key.startsWith(LEGACY_PREFIX) || (key.startsWith(`${PREFIX}g`) && !(this.owner != null && key.startsWith(mine))),
    );
  }

  removeWhere(doomed) {
    try {
      for (let i = this.storage.length - 1; i >= 0; i -= 1) {
        const key = this.storage.key(i);
        if (key && doomed(key)) this.storage.removeItem(key);
      }
    } catch {
      // Nothing stored, nothing to forget.
    }
  }
}
