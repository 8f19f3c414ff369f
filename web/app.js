// Entry point: decides between the sign-in screen and the chat, and wires the
// pieces together: server frames go into the store, store changes come out as
// renders, and user actions (send, switch, scroll, type) become requests.
// The other modules each own one job; this one owns the order of things. It
// holds the session (sign-in, connection, sign-out), the server frames, and
// switching channels and loading their history; the render loop is
// render-loop.js's, the sidebar and keyboard shortcuts sidebar.js's, the
// channel menu, leaving and opening conversations channel-actions.js's, the
// channel settings dialog channel-settings.js's (and a channel's topic and
// archival store-settings.js's), the
// search box and quick switcher search-panel.js's, the admin panel admin.js's,
// the account dialog account.js's, links with a token in the address links.js's,
// attaching files composer.js's and uploads.js's, and showing them attachments.js's.

import { currentUser, logout } from './api.js';
import { AuthScreen, rememberSignedIn } from './auth.js';
import { Connection, RequestError } from './connection.js';
import { setUpDialogs } from './dialogs.js';
import { setUpChannelActions } from './channel-actions.js';
import { setUpSidebar } from './sidebar.js';
import { setUpSearch } from './search-panel.js';
import { peopleDialog } from './people.js';
import { channelSettingsDialog } from './channel-settings.js';
import { adminPanel } from './admin.js';
import { accountDialog } from './account.js';
import { profileCards } from './profile.js';
import { membersDialog } from './members.js';
import { isLinkFragment, takeLink } from './links.js';
import { Drafts } from './drafts.js';
import { Composer, touchFirst } from './composer.js';
import { fileInChannel, imageViewer } from './attachments.js';
import { Editing } from './editing.js';
import { Reactions } from './reactions.js';
import { Notifier } from './notifications.js';
import { SERVER_TYPES, WATCH_MAX, errorText, frames } from './protocol.js';
import { channelLabel } from './format.js';
import { setUpRendering } from './render-loop.js';
import { MessageView } from './timeline.js';
import { ChatStore } from './store.js';

const $ = (id) => document.getElementById(id);
const els = {
  authScreen: $('auth-screen'),
  appScreen: $('app-screen'),
  sidebar: $('sidebar'),
  scrim: $('scrim'),
  menuButton: $('menu-button'),
  closeSidebar: $('close-sidebar'),
  channelList: $('channel-list'),
  dmList: $('dm-list'),
  onlineList: $('online-list'),
  onlineCount: $('online-count'),
  meName: $('me-name'),
  meAvatar: $('me-avatar'),
  meDot: $('me-dot'),
  meStatusText: $('me-status-text'),
  logoutButton: $('logout-button'),
  adminButton: $('admin-button'),
  accountButton: $('account-button'),
  browseButton: $('browse-button'),
  createButton: $('create-button'),
  newMessageButton: $('new-message-button'),
  peopleButton: $('people-button'),
  title: $('channel-title'),
  subtitle: $('channel-sub'),
  inviteButton: $('invite-button'),
  channelMenuButton: $('channel-menu-button'),
  channelMenu: $('channel-menu'),
  menuLeave: $('menu-leave'),
  menuSettings: $('menu-settings'),
  menuMembers: $('menu-members'),
  menuNotify: $('menu-notify'),
  readOnly: $('read-only'),
  readOnlyText: $('read-only-text'),
  readOnlyJoin: $('read-only-join'),
  leaveDialog: $('leave-dialog'),
  leaveTitle: $('leave-title'),
  leaveText: $('leave-text'),
  banner: $('conn-banner'),
  bannerText: $('conn-banner-text'),
  bannerRetry: $('conn-banner-retry'),
  messages: $('messages'),
  unreadBar: $('unread-bar'),
  unreadBarText: $('unread-bar-text'),
  unreadJump: $('unread-jump'),
  unreadMark: $('unread-mark'),
  menuDot: $('menu-dot'),
  pill: $('new-pill'),
  composer: $('composer'),
  input: $('composer-input'),
  sendButton: $('send-button'),
  counter: $('char-count'),
  composerHelp: $('composer-help'),
  composerError: $('composer-error'),
  typing: $('typing'),
  toast: $('toast'),
  shortcutsButton: $('shortcuts-button'),
  shortcutsDialog: $('shortcuts-dialog'),
  replyBar: $('reply-bar'),
  replyBarText: $('reply-bar-text'),
  replyCancel: $('reply-cancel'),
  mentionList: $('mention-list'),
  menuInvite: $('menu-invite'),
  menuDesktop: $('menu-desktop'),
  attachButton: $('attach-button'),
  fileInput: $('file-input'),
  uploadList: $('upload-list'),
  chat: document.querySelector('main.chat'),
  dropZone: $('drop-zone'),
};

const store = new ChatStore();
const drafts = new Drafts();
let connection = null;
let firstWelcome = true;

const view = new MessageView(els.messages, els.pill, {
  onNearTop: () => loadOlder(),
  onBottom: () => markReadIfViewing(),
  onRetry: (clientId) => composer.retry(clientId),
  onDiscard: (clientId) => store.currentId != null && store.discardPending(store.currentId, clientId),
  onEdit: (seq) => editing.start(seq),
  onDelete: (seq) => editing.delete(seq),
  onRetryChange: (seq) => editing.retry(seq),
  onDiscardChange: (seq) => editing.discard(seq),
  editorFor: (channelId, seq) => editing.editorFor(channelId, seq),
  onReact: (seq, emoji, add, unlisted) => reactions.react(seq, emoji, add, unlisted),
  onPickReaction: (seq, button) => reactions.open(seq, button),
  onReply: (seq) => composer.startReply(seq),
  onJump: (seq) => jumpTo(seq),
  onLatest: () => jumpToLatest(),
  onProfile: (name, button) => profiles.open(name, button),
  displayName: (name) => profiles.displayName(name),
});

const reactions = new Reactions({ store, request, isOpen: () => Boolean(connection?.isOpen), toast: (text) => toast(text) });
const notifier = new Notifier({ store, open: (channelId, seq) => openAt(channelId, seq) });

const editing = new Editing({
  store,
  request,
  isOpen: () => Boolean(connection?.isOpen),
  touchFirst: () => touchFirst.matches,
  // At once, not on the next frame: the editor must be in the list to take the focus.
  changed: () => {
    dirty.messages = true;
    renderNow();
  },
  // Back to the composer, except where focusing it would pop up a phone's keyboard.
  done: () => {
    if (!touchFirst.matches) els.input.focus();
  },
});

const composer = new Composer({
  els,
  store,
  drafts,
  view,
  editing,
  connection: () => connection,
  // Sending from a window far back returns to the latest messages, where the new one shows.
  beforeSend: (channel) => {
    if (channel.detached) jumpToLatest();
  },
});

// A thumbnail opens its image full size.
imageViewer(els.messages, (fileId) => fileInChannel(store.current, fileId));

const dialogs = setUpDialogs({ store, connection: { request }, switchTo });
const settings = channelSettingsDialog({ store, request, toast: (text) => toast(text) });
// Display names on messages follow a profile as it becomes known.
const profiles = profileCards({
  request,
  changed: () => {
    dirty.messages = true;
    scheduleRender();
  },
});
const people = peopleDialog({ store, connection: { request }, openDm: (names) => openDm(names), openProfile: (name, button) => profiles.open(name, button) });
const admin = adminPanel({ store, connection: { request }, entry: els.adminButton });
const members = membersDialog({ store, request, openProfile: (name, button) => profiles.open(name, button), isAdmin: () => admin.isAdmin() });
const account = accountDialog({ store, entry: els.accountButton, request, profileChanged: (profile) => profiles.remember(profile) });
// Leaving a link's form is a fresh start: the chat if signed in, else the sign-in form.
const auth = new AuthScreen(els.authScreen, (user) => startChat(user), { onLeaveLink: () => boot() });

/** A request on the current connection (there is a new one per sign-in). */
function request(frame, timeoutMs) {
  if (!connection) return Promise.reject(new RequestError('disconnected'));
  return connection.request(frame, timeoutMs);
}

// ---- session ---------------------------------------------------------------

async function boot() {
  // A link's token is taken out of the address before anything else happens.
  const link = takeLink();
  if (link) {
    auth.showLink(link);
    return;
  }
  let me = null;
  try {
    me = await currentUser();
  } catch {
    auth.show('Cannot reach the server right now. You can still try to sign in.');
    return;
  }
  if (me) startChat(me.user, me.admin);
  else {
    // No one is signed in here: no guest can come back for its drafts.
    drafts.setUser(null);
    drafts.forgetOrphans();
    auth.show();
  }
}

/**
 * `isAdmin`: whether the user may administer the workspace, as /api/me said;
 * undefined after signing in through the form (login answers with the user
 * alone), and then asked of /api/me here.
 */
function startChat(user, isAdmin) {
  auth.hide();
  els.appScreen.hidden = false;
  store.reset();
  store.me = user;
  rememberSignedIn(user.name);
  // By id: a guest name can pass to a new user, who must not see these drafts.
  drafts.setUser(store.me);
  drafts.forgetOrphans();
  firstWelcome = true;
  connection = new Connection({
    resume: () => store.resumeMap(),
    sessionValid: async () => (await currentUser()) !== null,
  });
  connection.addEventListener('frame', (event) => handleFrame(event.detail.frame, event.detail.settled));
  connection.addEventListener('state', (event) => showConnectionState(event.detail));
  connection.addEventListener('open', () => onWelcomed());
  connection.addEventListener('unauthorized', () => endSession('Your session has ended. Please sign in again.'));
  connection.start();
  renderAll();
  admin.setAdmin(isAdmin === true);
  if (isAdmin === undefined) {
    currentUser()
      .then((me) => {
        // Still the same person's page: a sign-out meanwhile hides the entry for good.
        if (me && store.me?.id === me.user.id) admin.setAdmin(me.admin);
      })
      .catch(() => {
        // No answer: no entry until the next load; the server decides anyway.
      });
  }
}

/**
 * `forgetDrafts`: the user signed out on purpose, so their unsent text goes too.
 * A guest's drafts go however its session ends: a guest cannot sign in again.
 */
async function endSession(notice = '', { forgetDrafts = false } = {}) {
  if (connection) connection.stop();
  connection = null;
  admin.setAdmin(false);
  editing.close();
  if (forgetDrafts || store.me?.guest) drafts.clearAll();
  composer.dropUploads();
  drafts.setUser(null);
  store.reset();
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
  els.input.value = '';
  els.appScreen.hidden = true;
  els.appScreen.classList.remove('nav-open');
  document.body.dataset.connection = 'signed-out';
  auth.show(notice);
}

els.logoutButton.addEventListener('click', async () => {
  if (connection) connection.stop();
  try {
    await logout();
  } catch {
    // The cookie may already be gone; the screen changes either way.
  }
  endSession('You have signed out.', { forgetDrafts: true });
});

// ---- server frames -----------------------------------------------------------

function handleFrame(frame, settled) {
  switch (frame.type) {
    case 'welcome':
      store.applyWelcome(frame);
      break;
    case 'welcome_more':
      store.applyWelcomeMore(frame);
      break;
    case 'message': {
      notifier.consider(frame);
      const { gapFrom } = store.applyMessage(frame);
      if (gapFrom != null) fillGap(frame.channel, gapFrom, frame.seq - 1);
      break;
    }
    case 'update': {
      const { gapFrom } = store.applyUpdate(frame);
      if (gapFrom != null) fillGap(frame.channel, gapFrom, frame.seq - 1);
      break;
    }
    case 'changed': // The answer to an edit or deletion (here or in another tab of mine).
      store.applyChanged(frame);
      break;
    case 'reset': {
      // Too much changed while we were away: start the channel over from its latest page.
      store.applyReset(frame);
      const channel = store.channel(frame.channel);
      if (channel && channel.id === store.currentId) {
        view.open(channel, null);
        loadLatest(channel);
      }
      break;
    }
    case 'ack':
      store.applyAck(frame);
      break;
    case 'channel': {
      const known = store.channels.has(frame.channel.id);
      store.upsertChannel(frame.channel);
      // Someone else's doing (an invite, or a join on another device): say whose.
      if (!known && frame.ref === undefined && frame.channel.kind !== 'dm') {
        const label = channelLabel(frame.channel.name);
        const by = frame.channel.added_by;
        toast(by ? `${by} added you to ${label}.` : `You joined ${label}.`);
      }
      break;
    }
    case 'channel_updated':
      // Renamed, given a topic, archived or unarchived (by me, here or in another
      // tab, or by someone else): changed in place, so every view follows.
      store.applyChannelUpdated(frame);
      break;
    case 'left':
      drafts.set(frame.channel, '');
      store.removeChannel(frame.channel);
      if (store.currentId === frame.channel) switchTo(store.defaultChannel()?.id);
      break;
    case 'presence':
      store.applyPresence(frame.user, frame.online);
      break;
    case 'online_page':
      store.applyOnlinePage(frame);
      break;
    case 'typing':
      store.applyTyping(frame.channel, frame.user);
      break;
    case 'read':
      store.applyRead(frame.channel, frame.seq, { unread: frame.unread, mentions: frame.mentions, last_seq: frame.last_seq });
      break;
    case 'error':
      // Errors answering a request reach that request's caller. An error without
      // a ref answers a best-effort frame sent without one (typing, read): the
      // user did not ask for it and cannot act on it, so it is never shown.
      if (frame.ref === undefined) console.debug('natter: refused', frame.code, frame.message);
      else if (!settled) toast(errorText(frame.code, frame.message));
      break;
    case 'history': // Applied by the request that asked for it (see loadLatest/loadOlder).
    case 'channels': // Shown by the browse dialog that asked for it.
    case 'users': // Shown by the people directory that asked for it.
    case 'watching': // Applied by watchPresence, which asked for it.
    case 'members': // Shown by the mention autocomplete or the member list that asked for it.
    case 'member_removed': // Applied by the member list that asked for it.
    case 'search_results': // Shown by the search panel that asked for it.
    case 'profile': // Shown by the profile card or the account dialog that asked for it.
    case 'accounts': // Shown by the admin panel that asked for it.
    case 'account_updated': // Applied by the admin panel that asked for it.
    case 'reset_link': // Shown by the admin panel that asked for it.
    case 'invite_created': // Shown by the admin panel that asked for it.
    case 'invites': // Shown by the admin panel that asked for it.
    case 'invite_revoked': // Applied by the admin panel that asked for it.
    case 'registration': // Applied by the admin panel that asked for it.
    case 'pong': // Liveness is the connection's business.
      break;
    default:
      if (!SERVER_TYPES.includes(frame.type)) console.warn('natter: unknown frame type', frame.type);
  }
}

function onWelcomed() {
  if (firstWelcome) {
    firstWelcome = false;
    const fromHash = Number((location.hash.match(/^#c(\d+)$/) || [])[1]);
    switchTo(store.channels.has(fromHash) ? fromHash : store.defaultChannel()?.id);
  } else if (!store.current) {
    switchTo(store.defaultChannel()?.id);
  } else if (!store.current.loaded) {
    loadLatest(store.current);
  }
  // Sends, edits and deletions cut off by the disconnect go again: the server
  // takes each of them once, so one that did land is only answered.
  composer.resendAll();
  editing.resendAll();
  reactions.resendAll();
  markReadIfViewing();
  watching = null; // A new connection watches nobody yet.
  watchPresence();
}

/** The names the current connection watches, as sent (null: none yet). */
let watching = null;
const WATCH_RETRY_MS = 5000;

/** Watches the presence of the people shown outside the online list (DM
 * partners, then those the people dialog shows), when they changed: the
 * server tells their changes only. At most WATCH_MAX; the others' dots
 * show what the online page or the directory says. */
function watchPresence() {
  if (!connection?.isOpen) return;
  const names = store.presenceWanted().slice(0, WATCH_MAX);
  const key = names.join('\n');
  if (key === watching) return;
  watching = key;
  request(frames.watch(names))
    .then((reply) => {
      if (watching === key) store.applyWatching(names, reply.users);
    })
    .catch(() => {
      // Refused (too many requests) or cut off: try again shortly; a new
      // connection sends its own.
      if (watching !== key) return;
      watching = null;
      setTimeout(watchPresence, WATCH_RETRY_MS);
    });
}

/** My own status line follows the link: others see me offline while it is down. */
const OWN_STATUS = { open: 'online', connecting: 'connecting…', reconnecting: 'offline · reconnecting…', closed: 'offline' };

function showConnectionState({ state, attempt, at }) {
  document.body.dataset.connection = state;
  // When the next attempt is due (epoch ms), for the curious and for the tests.
  if (state === 'reconnecting' && at) document.body.dataset.nextAttempt = String(at);
  else delete document.body.dataset.nextAttempt;
  els.meStatusText.textContent = OWN_STATUS[state] || state;
  els.meDot.className = state === 'open' ? 'dot on' : 'dot off';
  if (state === 'open' || state === 'closed') {
    els.banner.hidden = true;
    return;
  }
  els.banner.hidden = false;
  if (state === 'connecting') {
    els.bannerText.textContent = 'Connecting…';
    els.bannerRetry.hidden = true;
  } else {
    els.bannerText.textContent = attempt > 1 ? `Connection lost. Reconnecting (attempt ${attempt})…` : 'Connection lost. Reconnecting…';
    els.bannerRetry.hidden = attempt < 2;
  }
}

els.bannerRetry.addEventListener('click', () => connection?.connectNow());

// ---- channels and history ------------------------------------------------------

function switchTo(id) {
  const channel = id == null ? undefined : store.channel(id);
  if (!channel) return;
  const changed = store.currentId !== id;
  store.setCurrent(id);
  if (changed) {
    // A channel never read before (a new member) opens at its newest messages:
    // there is no place to come back to, and its whole history is not "new".
    const unread = store.unread(channel);
    view.open(channel, unread > 0 && channel.read_seq > 0 ? channel.read_seq + 1 : null);
    history.replaceState(null, '', `#c${id}`);
    editing.close();
    els.composerError.textContent = '';
    // The composer holds the open channel's own draft, never the last one's: the
    // outgoing channel's text was saved on every keystroke.
    els.input.value = drafts.get(id);
    composer.update();
    composer.closeMentions();
    composer.showReply();
    composer.showUploads();
    reactions.close();
  }
  if (!channel.loaded && !channel.loading) loadLatest(channel);
  closeSidebar();
  renderAll();
  markReadIfViewing();
  if (changed && window.matchMedia('(min-width: 48rem)').matches) els.input.focus();
}

async function loadLatest(channel) {
  if (!connection?.isOpen) return;
  channel.loading = true;
  const epoch = channel.epoch;
  try {
    const reply = await connection.request(frames.history(channel.id));
    // A `reset` came meanwhile and asked for a page of its own: this one is dropped.
    if (channel.epoch !== epoch) return;
    store.applyHistory(reply, 'latest');
  } catch (failure) {
    if (channel.epoch !== epoch) return;
    channel.loading = false;
    if (failure.code !== 'disconnected') toast(`Could not load messages: ${errorText(failure.code, failure.message)}`);
  }
}

async function loadOlder() {
  const channel = store.current;
  if (!channel || !channel.loaded || !channel.hasMore || channel.loadingOlder || !connection?.isOpen) return;
  const before = store.oldestSeq(channel);
  if (before == null || before <= 1) {
    channel.hasMore = false;
    scheduleRender();
    return;
  }
  channel.loadingOlder = true;
  scheduleRender();
  const epoch = channel.epoch;
  try {
    const reply = await connection.request(frames.history(channel.id, before));
    if (channel.epoch !== epoch) return; // A reset meanwhile dropped what this page lies below.
    store.applyHistory(reply, 'older');
  } catch (failure) {
    if (channel.epoch !== epoch) return;
    channel.loadingOlder = false;
    scheduleRender();
    if (failure.code !== 'disconnected') toast(`Could not load older messages: ${errorText(failure.code, failure.message)}`);
  }
}

/** A live message skipped seqs we should hold: fetch just that range. */
async function fillGap(channelId, from, to) {
  const epoch = store.channel(channelId)?.epoch;
  try {
    const reply = await connection.request(frames.history(channelId, to + 1, Math.min(200, to - from + 1)));
    if (store.channel(channelId)?.epoch !== epoch) return;
    store.applyHistory(reply, 'gap');
  } catch {
    // The next reconnect's resume fills it anyway.
  }
}

/**
 * Shows the message at `seq` of the open channel (a reply's parent): scrolls to
 * it when held, else loads the page around it as a window (store.applyWindow).
 */
async function jumpTo(seq) {
  const channel = store.current;
  if (!channel) return;
  if (channel.bySeq.has(seq) && (!channel.detached || seq <= channel.windowEnd)) {
    if (!view.showMessage(seq)) toast('That message is not shown here.');
    return;
  }
  if (!connection?.isOpen) {
    toast(errorText('disconnected'));
    return;
  }
  const epoch = channel.epoch;
  try {
    const reply = await connection.request(frames.historyAround(channel.id, seq));
    if (channel.epoch !== epoch || store.currentId !== channel.id) return;
    view.open(channel, null);
    view.stuck = false;
    store.applyWindow(reply);
    renderNow();
    if (!view.showMessage(seq)) toast('That message is no longer there.');
  } catch (failure) {
    if (failure.code !== 'disconnected') toast(`Could not load that message: ${errorText(failure.code, failure.message)}`);
  }
}

/** Leaves a window far back for the latest messages, loaded anew. */
function jumpToLatest() {
  const channel = store.current;
  if (!channel || !store.leaveWindow(channel.id)) return;
  view.open(channel, null);
  loadLatest(channel);
}

/**
 * A desktop notification or a search hit was chosen: that channel, showing
 * that message highlighted (in a window around it, with "Jump to latest", when
 * it is not among the latest held); false when the channel is not one of mine.
 */
function openAt(channelId, seq) {
  window.focus();
  if (!store.channels.has(channelId)) return false;
  switchTo(channelId);
  const channel = store.channel(channelId);
  // Once its latest messages are here (they may still be loading), show the
  // message: scrolled to when held, else loaded around it by jumpTo.
  const show = () => {
    if (store.currentId !== channelId) return; // Another channel was opened meanwhile.
    if (!channel.loaded && channel.loading) return void setTimeout(show, 100);
    renderNow();
    if (!view.showMessage(seq)) jumpTo(seq);
  };
  show();
  return true;
}

/** Moves the read marker when the newest message of the open channel is on screen. */
function markReadIfViewing() {
  if (document.visibilityState !== 'visible' || !view.stuck) return;
  // A window far back does not show the newest messages.
  if (store.current?.detached) return;
  markCurrentRead();
}

/** Moves the open channel's read marker to its newest message (seen or not: Mark read, Escape). */
function markCurrentRead() {
  const channel = store.current;
  // A channel I only look at has no read marker of mine (`read` needs membership).
  if (!channel || !channel.loaded || channel.member === false || !connection?.isOpen) return;
  const seq = store.newestSeq(channel);
  if (seq <= channel.read_seq) return;
  connection.send(frames.read(channel.id, seq));
  store.markRead(channel.id, seq);
}

document.addEventListener('visibilitychange', () => markReadIfViewing());

els.unreadJump.addEventListener('click', () => {
  if (!view.jumpToUnread()) loadOlder();
});
els.unreadMark.addEventListener('click', () => {
  markCurrentRead();
  els.input.focus();
});

const { openDm } = setUpChannelActions({ els, store, drafts, dialogs, settings, members, notifier, request, switchTo, toast });

// ---- sidebar and navigation ----------------------------------------------------

const { closeSidebar } = setUpSidebar({ els, store, dialogs, people, switchTo, openDm, markCurrentRead });
setUpSearch({ store, request, switchTo, openDm, openMessage: openAt, toast });

// ---- rendering -----------------------------------------------------------------

// Whose presence this connection watches follows my channels and the people dialog.
store.addEventListener('change', (event) => {
  const { what } = event.detail;
  if (what === 'channels' || what === 'watch') watchPresence();
});

const { dirty, scheduleRender, renderNow, renderAll } = setUpRendering({ store, els, drafts, view, markReadIfViewing });

let toastTimer = null;
function toast(text) {
  els.toast.textContent = text;
  els.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    els.toast.hidden = true;
  }, 6000);
}

// A link pasted into the address bar of an open page changes the fragment
// only: the page loads again, so the link is read like any other.
window.addEventListener('hashchange', () => {
  if (isLinkFragment(location.hash)) location.reload();
});

boot();
