// The store's picture of what a channel says about itself: its topic, its
// description and whether it is archived (docs/protocol.md, "Channels" and
// "Channel settings"), taken from channel frames and listings and, when they
// change, from `channel_updated`. Also which channels are read-only here and
// which belong in the sidebar, so the sidebar, the header, the composer and
// the message list all decide it the same way.
// A mixin of ChatStore (store.js), which holds the channels; like the rest of
// the store it never touches the DOM.

/**
 * The settings fields of a channel frame, a listing entry or `channel_updated`:
 * the server leaves each out while it is empty or false, so absent means that.
 */
export function aboutFromInfo(info) {
  return {
    /** One line, shown in the header. */
    topic: typeof info.topic === 'string' ? info.topic : '',
    /** A few lines, shown in the channel settings. */
    description: typeof info.description === 'string' ? info.description : '',
    /** Read-only for everyone until an admin unarchives it; kept out of the sidebar. */
    archived: info.archived === true,
  };
}

/**
 * Whether nobody can post here from this page: an archived channel (the server
 * refuses every write with `archived`), or a public one I only look at without
 * being in it (opened from the channel browser).
 */
export function isReadOnly(channel) {
  return Boolean(channel) && (channel.archived || channel.member === false);
}

/**
 * Whether a channel is listed in the sidebar: archived channels are kept out
 * (the protocol asks clients to), and so are those I only look at; both stay
 * reachable from the channel browser.
 */
export function inSidebar(channel) {
  return !channel.archived && channel.member !== false;
}

/** Adds channel settings to a store class (ChatStore, in store.js). */
export const withSettings = (Base) => class SettingsState extends Base {
  /**
   * `channel_updated`, live or as the answer to my `update_channel`: the
   * channel as it stands now, changed in place by id, so its history, unread
   * counts and draft stay and every view shows the new name at once.
   * Returns the channel, or undefined when it is not one this page holds.
   */
  applyChannelUpdated(frame) {
    const channel = this.channels.get(frame.channel);
    if (!channel) return undefined;
    if (typeof frame.name === 'string' && frame.name) channel.name = frame.name;
    Object.assign(channel, aboutFromInfo(frame));
    this.changed('channels');
    // The top of the message list names the channel too.
    this.changed('messages', channel.id);
    return channel;
  }
};
