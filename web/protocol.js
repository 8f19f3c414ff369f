// The native natter protocol as the UI speaks it (docs/protocol.md; the server's
// definition is src/protocol.rs). This module owns the message-type names, the
// limits the UI checks before asking the server, and one builder per frame the UI
// sends, so no other module spells a "type" string by hand.
// tests/browser/protocol.test.mjs compares CLIENT_TYPES and SERVER_TYPES with the
// server's CLIENT_MESSAGE_TYPES and SERVER_MESSAGE_TYPES.

/** Every frame type the UI sends. */
export const CLIENT_TYPES = Object.freeze([
  'hello',
  'send',
  'edit',
  'delete',
  'react',
  'history',
  'create_channel',
  'update_channel',
  'list_channels',
  'join',
  'leave',
  'invite',
  'open_dm',
  'remove_member',
  'typing',
  'read',
  'list_users',
  'profile',
  'update_profile',
  'watch',
  'members',
  'notify',
  'search',
  'ping',
  'list_accounts',
  'update_account',
  'create_reset_link',
  'create_invite',
  'list_invites',
  'revoke_invite',
  'set_registration',
]);

/** Every frame type the UI handles. */
export const SERVER_TYPES = Object.freeze([
  'welcome',
  'welcome_more',
  'message',
  'update',
  'reset',
  'changed',
  'ack',
  'history',
  'channel',
  'channel_updated',
  'member_removed',
  'profile',
  'left',
  'channels',
  'users',
  'presence',
  'online_page',
  'watching',
  'members',
  'typing',
  'read',
  'search_results',
  'error',
  'pong',
  'accounts',
  'account_updated',
  'reset_link',
  'invite_created',
  'invites',
  'invite_revoked',
  'registration',
]);

/** Close codes with a meaning beyond "reconnect and resume". */
export const CLOSE_UNAUTHORIZED = 4001;

/** The channel every user is in and that cannot be left. */
export const DEFAULT_CHANNEL_NAME = 'General';

// Limits mirrored from docs/protocol.md so the UI can say what is wrong before a
// round trip. The server checks them again; these only make errors friendlier.
export const USERNAME_MAX = 32;
export const USERNAME_PATTERN = /^[A-Za-z0-9_.-]+$/;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;
export const CHANNEL_NAME_MAX = 64;
/** A channel's topic (one line) and description, in characters (docs/protocol.md, "Channels"). */
export const TOPIC_MAX = 250;
export const DESCRIPTION_MAX = 1000;
export const BODY_MAX = 4000;
export const HISTORY_PAGE = 50;
/** Users per directory page (the server allows at most 100). */
export const DIRECTORY_PAGE = 50;
/** Names one `members` request asks for (autocomplete). */
export const MEMBERS_PAGE = 8;
/** Names per page of a channel's member list (the server allows at most 100). */
export const MEMBER_LIST_PAGE = 50;
/** The notification levels, in menu order. */
export const NOTIFY_LEVELS = Object.freeze(['all', 'mentions', 'none']);
/** Files one message may carry (`send`'s `files`). */
export const FILES_PER_MESSAGE_MAX = 10;
/** The largest picture `POST /api/avatar` takes, in bytes (10 MiB). */
export const AVATAR_MAX_BYTES = 10 * 1024 * 1024;
/** The picture types the server reads for an avatar (it sniffs the bytes again). */
export const AVATAR_TYPES = Object.freeze(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
/** Others one group DM may have (`open_dm`'s `users`; 8 people with me). */
export const GROUP_DM_OTHERS_MAX = 7;

/** Users one `watch` may name. */
export const WATCH_MAX = 100;
/** The server relays at most one typing event per channel every 2 s. */
export const TYPING_INTERVAL_MS = 2000;
/** The longest search query the server takes, in UTF-8 bytes. */
export const SEARCH_QUERY_MAX_BYTES = 500;
/** Hits per search page (the server allows at most 50). */
export const SEARCH_PAGE = 20;
/** Accounts per page of the admin panel (the server allows at most 100). */
export const ACCOUNTS_PAGE = 50;
/** The roles an account can have (docs/protocol.md, "Administration"). */
export const ROLES = Object.freeze(['admin', 'member']);
/** Who may sign up with a password (docs/protocol.md, "HTTP API"), in menu order. */
export const REGISTRATION_MODES = Object.freeze(['open', 'invite', 'closed']);
/** How long a new invite link works, in hours (the server allows 1 to 720; default 168). */
export const INVITE_EXPIRY_HOURS = Object.freeze([24, 168, 720]);
export const INVITE_EXPIRY_DEFAULT = 168;
/** How many sign-ups one invite link allows (the server allows 1 to 1000; default 25). */
export const INVITE_USES_MAX = 1000;
export const INVITE_USES_DEFAULT = 25;

/** Counts characters the way the server does (Unicode scalar values, not UTF-16 units). */
export function charCount(text) {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/** Has a control character, which channel names may not contain. */
export function hasControlChars(text) {
  return /[\u0000-\u001f\u007f-\u009f]/.test(text);
}

// Frame builders. Each returns a plain object; the connection adds `ref` where a
// reply is awaited. Field names follow docs/protocol.md exactly.
export const frames = {
  // Watched presence: the first page of who is online, and live presence for
  // the people this page shows elsewhere (DM partners), not every change in
  // the workspace (docs/protocol.md, "Watched presence").
  hello: (resume) => ({ type: 'hello', resume, presence: 'watched' }),
  /** Hear presence changes of these users (at most WATCH_MAX). */
  watch: (users) => ({ type: 'watch', users }),
  /** Edit one of my messages; with `ifRev`, only if its latest change is still that rev. */
  edit: (channel, seq, body, ifRev) =>
    ifRev == null ? { type: 'edit', channel, seq, body } : { type: 'edit', channel, seq, body, if_rev: ifRev },
  delete: (channel, seq) => ({ type: 'delete', channel, seq }),
  /**
   * With a `reply_to` seq, the message is a reply to that one; `files` are the
   * ids of my uploads to this channel not attached yet (at most
   * FILES_PER_MESSAGE_MAX; the body may then be empty).
   */
  send: (channel, body, clientId, replyTo, files) => {
    const frame = { type: 'send', channel, body, client_id: clientId };
    if (replyTo != null) frame.reply_to = replyTo;
    if (Array.isArray(files) && files.length) frame.files = files;
    return frame;
  },
  /** The state I want (`add` true or false), never a toggle: a retry changes nothing. */
  react: (channel, seq, emoji, add) => ({ type: 'react', channel, seq, emoji, add: Boolean(add) }),
  history: (channel, before, limit = HISTORY_PAGE) =>
    before == null ? { type: 'history', channel, limit } : { type: 'history', channel, before, limit },
  /** The page around `seq` (a reply's parent far back), or the one after it. */
  historyAround: (channel, around, limit = HISTORY_PAGE) => ({ type: 'history', channel, around, limit }),
  historyAfter: (channel, after, limit = HISTORY_PAGE) => ({ type: 'history', channel, after, limit }),
  /** Members of a channel whose names start with `prefix` (autocomplete). */
  /** Members whose names start with `prefix` (none: all), after the name `after` (the last of the page before). */
  members: (channel, prefix, limit = MEMBERS_PAGE, after) => {
    const frame = { type: 'members', channel, limit };
    if (prefix) frame.prefix = prefix;
    if (after) frame.after = after;
    return frame;
  },
  /** My notification level for a channel: 'all', 'mentions' or 'none'. */
  notify: (channel, level) => ({ type: 'notify', channel, level }),
  createChannel: (name, isPrivate) => ({ type: 'create_channel', name, private: isPrivate }),
  /** A page of public channels whose names start with `prefix`, after the `next` cursor `after`. */
  listChannels: (prefix, after) => {
    const frame = { type: 'list_channels' };
    if (prefix) frame.prefix = prefix;
    if (after) frame.after = after;
    return frame;
  },
  /**
   * Change a channel (docs/protocol.md, "Channel settings"): `change` holds
   * any of `name`, `topic` and `description` (strings; an empty topic or
   * description clears it) and `archived` (a boolean); fields left undefined
   * are not sent, so they stay as they are.
   */
  updateChannel: (channel, change = {}) => {
    const frame = { type: 'update_channel', channel };
    for (const field of ['name', 'topic', 'description']) if (typeof change[field] === 'string') frame[field] = change[field];
    if (typeof change.archived === 'boolean') frame.archived = change.archived;
    return frame;
  },
  join: (channel) => ({ type: 'join', channel }),
  leave: (channel) => ({ type: 'leave', channel }),
  invite: (channel, user) => ({ type: 'invite', channel, user }),
  /** Someone's profile (answered `profile`). */
  profile: (user) => ({ type: 'profile', user }),
  /** Your own display name and time zone (answered `profile`). */
  updateProfile: (change) => ({ type: 'update_profile', ...change }),
  openDm: (user) => ({ type: 'open_dm', user }),
  /** A group DM with these others (1 to GROUP_DM_OTHERS_MAX names, not me). */
  openGroupDm: (users) => ({ type: 'open_dm', users }),
  /** Admins: take someone out of a channel (answered `member_removed`). */
  removeMember: (channel, user) => ({ type: 'remove_member', channel, user }),
  typing: (channel) => ({ type: 'typing', channel }),
  read: (channel, seq) => ({ type: 'read', channel, seq }),
  /** A page of the user directory; empty or absent fields are left out. */
  listUsers: (prefix, after, limit = DIRECTORY_PAGE) => {
    const frame = { type: 'list_users', limit };
    if (prefix) frame.prefix = prefix;
    if (after) frame.after = after;
    return frame;
  },
  /**
   * Search the messages of my channels (docs/protocol.md, "Search"): the
   * query as typed, filters and all; `cursor` is a previous answer's `next`.
   * `utcOffset` (minutes east of UTC) says what the query's dates mean.
   */
  search: (query, cursor, utcOffset = 0, limit = SEARCH_PAGE) => {
    const frame = { type: 'search', query, utc_offset: utcOffset, limit };
    if (cursor) frame.cursor = cursor;
    return frame;
  },
  ping: () => ({ type: 'ping' }),
  /** Admins only: a page of every account, by name without case, after the name `after`. */
  listAccounts: (after, limit = ACCOUNTS_PAGE) => (after ? { type: 'list_accounts', after, limit } : { type: 'list_accounts', limit }),
  /**
   * Admins only: change one account. `change` holds `active` (false
   * deactivates, true reactivates) and/or `role` ('admin' or 'member');
   * fields left undefined are not sent, so they stay as they are.
   */
  updateAccount: (user, change = {}) => {
    const frame = { type: 'update_account', user };
    if (typeof change.active === 'boolean') frame.active = change.active;
    if (ROLES.includes(change.role)) frame.role = change.role;
    return frame;
  },
  /** Admins only: a one-use password-reset link for the account `user` (its token comes back once). */
  createResetLink: (user) => ({ type: 'create_reset_link', user }),
  /** Admins only: an invite link for `maxUses` sign-ups that works for `expiresInHours`. */
  createInvite: (expiresInHours = INVITE_EXPIRY_DEFAULT, maxUses = INVITE_USES_DEFAULT) => ({
    type: 'create_invite',
    expires_in_hours: expiresInHours,
    max_uses: maxUses,
  }),
  /** Admins only: the newest invite links, and the registration mode. */
  listInvites: () => ({ type: 'list_invites' }),
  /** Admins only: nobody may sign up with the invite link `id` any more. */
  revokeInvite: (id) => ({ type: 'revoke_invite', id }),
  /** Admins only: who may sign up from now on ('open', 'invite' or 'closed'). */
  setRegistration: (mode) => ({ type: 'set_registration', mode }),
};

/** Human wording for the server's stable error codes. */
export const ERROR_TEXT = {
  bad_json: 'The server could not read that request.',
  unknown_type: 'The server did not understand that request.',
  bad_request: 'That request was not valid.',
  bad_sequence: 'The connection was not ready; please try again.',
  not_found: 'That channel does not exist or you cannot see it.',
  unknown_user: 'There is no user with that name.',
  not_member: 'Join the channel first.',
  forbidden: 'That is not allowed.',
  invalid_body: 'Messages must be 1 to 4000 characters.',
  invalid_name: 'That channel name cannot be used.',
  channel_exists: 'A channel with that name exists.',
  already_member: 'They are already in this channel.',
  invalid_client_id: 'The message id was not valid.',
  rate_limited: 'You are sending too fast. Wait a moment and retry.',
  limit_reached: 'You have reached a limit for this action.',
  unavailable: 'The server could not store it. Retry.',
  conflict: 'It was changed elsewhere in the meantime.',
  invalid_emoji: 'That is not a single emoji.',
  archived: 'This channel is archived: read-only.',
  no_such_file: 'An attached file is gone or was sent already. Discard this and attach it again.',
  too_many_files: 'A message can carry at most 10 files.',
  timeout: 'No answer from the server. Retry.',
  disconnected: 'Not connected.',
};

export function errorText(code, fallback) {
  return ERROR_TEXT[code] || fallback || 'Something went wrong.';
}

/** The same codes where the request was an edit or a deletion of a message. */
const CHANGE_ERROR_TEXT = {
  not_found: 'That message no longer exists.',
  forbidden: 'Only its sender can change this message.',
  not_member: 'Join the channel first.',
};

export function changeErrorText(code, fallback) {
  return CHANGE_ERROR_TEXT[code] || errorText(code, fallback);
}
