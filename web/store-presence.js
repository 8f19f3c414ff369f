// The store's picture of other people: who is online (the online page the
// server sends, and the people this page watches) and who is typing where.
// A mixin of ChatStore (store.js), which holds the state these methods read and
// change (`online`, `onlinePage`, `watched`, `shownPeople`, `typing`) and
// announces what changed; like the rest of the store it never touches the DOM.

/** Typing indicators disappear this long after the last typing event. */
export const TYPING_SHOWN_MS = 3000;

/** Adds presence and typing to a store class (ChatStore, in store.js). */
export const withPresence = (Base) => class PresenceState extends Base {
  typingUsers(channelId) {
    const users = this.typing.get(channelId);
    return users ? [...users.keys()] : [];
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
   * of every one-to-one DM (in name order), then the people the people dialog shows. */
  presenceWanted() {
    const partners = new Set();
    for (const channel of this.channels.values()) {
      // A group DM shows no presence dot, so its people need no watching.
      if (channel.kind === 'dm' && !this.isGroupDm(channel)) partners.add(this.displayName(channel));
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
};
