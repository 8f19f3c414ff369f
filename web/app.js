// Entry point: decides between the sign-in screen and the chat, and wires the
// pieces together: server frames go into the store, store changes come out as
// renders, and user actions (send, switch, scroll, type) become requests.
// The other modules each own one job; this one owns the order of things.

import { currentUser, logout } from './api.js';
import { AuthScreen, rememberSignedIn } from './auth.js';
import { Connection, RequestError } from './connection.js';
import { setUpDialogs } from './dialogs.js';
import { setUpMenu } from './menu.js';
import { peopleDialog } from './people.js';
import { Drafts } from './drafts.js';
import { Composer, touchFirst } from './composer.js';
import { Editing } from './editing.js';
import { SERVER_TYPES, WATCH_MAX, errorText, frames } from './protocol.js';
import { channelLabel, clockTime } from './format.js';
import { renderHeader, renderSidebar, renderTyping } from './render.js';
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
});

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

const composer = new Composer({ els, store, drafts, view, editing, connection: () => connection });

const dialogs = setUpDialogs({ store, connection: { request }, switchTo });
const people = peopleDialog({ store, connection: { request }, openDm: (name) => openDm(name) });
const auth = new AuthScreen(els.authScreen, (user) => startChat(user));

/** A request on the current connection (there is a new one per sign-in). */
function request(frame, timeoutMs) {
  if (!connection) return Promise.reject(new RequestError('disconnected'));
  return connection.request(frame, timeoutMs);
}

// ---- session ---------------------------------------------------------------

async function boot() {
  let user = null;
  try {
    user = await currentUser();
  } catch {
    auth.show('Cannot reach the server right now. You can still try to sign in.');
    return;
  }
  if (user) startChat(user);
  else {
    // No one is signed in here: no guest can come back for its drafts.
    drafts.setUser(null);
    drafts.forgetOrphans();
    auth.show();
  }
}

function startChat(user) {
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
}

/**
 * `forgetDrafts`: the user signed out on purpose, so their unsent text goes too.
 * A guest's drafts go however its session ends: a guest cannot sign in again.
 */
async function endSession(notice = '', { forgetDrafts = false } = {}) {
  if (connection) connection.stop();
  connection = null;
  editing.close();
  if (forgetDrafts || store.me?.guest) drafts.clearAll();
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
      store.applyRead(frame.channel, frame.seq);
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

/** Moves the read marker when the newest message of the open channel is on screen. */
function markReadIfViewing() {
  if (document.visibilityState !== 'visible' || !view.stuck) return;
  markCurrentRead();
}

/** Moves the open channel's read marker to its newest message (seen or not: Mark read, Escape). */
function markCurrentRead() {
  const channel = store.current;
  if (!channel || !channel.loaded || !connection?.isOpen) return;
  const seq = store.newestSeq(channel);
  if (seq <= channel.read_seq) return;
  connection.send(frames.read(channel.id, seq));
  store.markRead(channel.id, seq);
}

document.addEventListener('visibilitychange', () => markReadIfViewing());

/** The bar over a channel opened with unread messages: how many, since when, Jump, Mark read. */
function renderUnreadBar() {
  const channel = store.current;
  const unread = channel && channel.loaded && view.unreadFrom != null && view.channelId === channel.id ? store.unread(channel) : 0;
  els.unreadBar.hidden = unread === 0;
  if (!unread) return;
  const first = channel.bySeq.get(view.unreadFrom);
  const since = first ? ` since ${clockTime(first.ts)}` : '';
  els.unreadBarText.textContent = `${unread} new message${unread === 1 ? '' : 's'}${since}`;
}

els.unreadJump.addEventListener('click', () => {
  if (!view.jumpToUnread()) loadOlder();
});
els.unreadMark.addEventListener('click', () => {
  markCurrentRead();
  els.input.focus();
});

async function openDm(user) {
  try {
    const reply = await request(frames.openDm(user));
    store.upsertChannel(reply.channel);
    switchTo(reply.channel.id);
  } catch (failure) {
    toast(`Could not open a conversation with ${user}: ${errorText(failure.code, failure.message)}`);
  }
}

setUpMenu(els.channelMenuButton, els.channelMenu, (item) => {
  if (item.id === 'menu-invite') dialogs.invite.open();
  else if (item.id === 'menu-leave') leaveCurrent();
});

/**
 * Asks before leaving a private channel, which only a member's invite opens
 * again; resolves true when the user confirms.
 */
function confirmLeave(channel) {
  els.leaveTitle.textContent = `Leave ${channelLabel(channel.name)}?`;
  els.leaveText.textContent =
    'This channel is private. Once you leave, you will no longer see its messages, and you can only come back if a member adds you again.';
  els.leaveDialog.returnValue = '';
  els.leaveDialog.showModal();
  els.leaveDialog.querySelector('button[value="cancel"]').focus();
  return new Promise((done) => {
    els.leaveDialog.addEventListener('close', () => done(els.leaveDialog.returnValue === 'leave'), { once: true });
  });
}

async function leaveCurrent() {
  const channel = store.current;
  if (!channel || channel.kind === 'dm') return;
  if (channel.kind === 'private' && !(await confirmLeave(channel))) {
    els.channelMenuButton.focus();
    return;
  }
  try {
    await request(frames.leave(channel.id));
    drafts.set(channel.id, '');
    store.removeChannel(channel.id);
    switchTo(store.defaultChannel()?.id);
    const label = channelLabel(channel.name);
    toast(channel.kind === 'private' ? `You left ${label}.` : `You left ${label}. You can join it again from Browse channels.`);
  } catch (failure) {
    toast(`Could not leave: ${errorText(failure.code, failure.message)}`);
  }
}

// ---- sidebar and navigation ----------------------------------------------------

els.sidebar.addEventListener('click', (event) => {
  const channelButton = event.target.closest('button[data-channel]');
  if (channelButton) return switchTo(Number(channelButton.dataset.channel));
  const userButton = event.target.closest('button[data-user]');
  if (userButton) openDm(userButton.dataset.user);
});

els.browseButton.addEventListener('click', () => dialogs.browse.open());
els.newMessageButton.addEventListener('click', () => people.open());
els.peopleButton.addEventListener('click', () => people.open());
els.shortcutsButton.addEventListener('click', () => openShortcuts());
els.shortcutsDialog.querySelector('[data-close]').addEventListener('click', () => els.shortcutsDialog.close());

function openShortcuts() {
  els.shortcutsDialog.showModal();
  els.shortcutsDialog.querySelector('[data-close]').focus();
}

function isEditable(element) {
  return element instanceof HTMLElement && (element.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(element.tagName));
}
els.createButton.addEventListener('click', () => dialogs.create.open());
els.inviteButton.addEventListener('click', () => dialogs.invite.open());

function openSidebar() {
  els.appScreen.classList.add('nav-open');
  els.menuButton.setAttribute('aria-expanded', 'true');
  els.scrim.hidden = false;
  (els.sidebar.querySelector('.chan.active') || els.sidebar.querySelector('button'))?.focus();
}

function closeSidebar() {
  if (!els.appScreen.classList.contains('nav-open')) return;
  els.appScreen.classList.remove('nav-open');
  els.menuButton.setAttribute('aria-expanded', 'false');
  els.scrim.hidden = true;
}

els.menuButton.addEventListener('click', openSidebar);
els.closeSidebar.addEventListener('click', () => {
  closeSidebar();
  els.menuButton.focus();
});
els.scrim.addEventListener('click', closeSidebar);

document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && els.appScreen.classList.contains('nav-open')) {
    closeSidebar();
    els.menuButton.focus();
    return;
  }
  // "?" outside a text field shows the keyboard shortcuts.
  if (event.key === '?' && !els.appScreen.hidden && !isEditable(event.target) && !document.querySelector('dialog[open]')) {
    event.preventDefault();
    openShortcuts();
    return;
  }
  // Escape (with no dialog or menu to close) marks the open channel read.
  if (event.key === 'Escape' && !els.appScreen.hidden && !document.querySelector('dialog[open]') && !event.defaultPrevented) {
    markCurrentRead();
  }
  // Alt+Up / Alt+Down walk the channel list in sidebar order; with Shift, only
  // the channels with unread messages.
  if (event.altKey && (event.key === 'ArrowUp' || event.key === 'ArrowDown') && !els.appScreen.hidden) {
    const buttons = [...els.sidebar.querySelectorAll('button[data-channel]')];
    const ids = buttons.map((b) => Number(b.dataset.channel));
    const step = event.key === 'ArrowUp' ? -1 : 1;
    const at = ids.indexOf(store.currentId);
    let next = null;
    if (event.shiftKey) {
      for (let i = 1; i < ids.length; i += 1) {
        const candidate = ids[(at + step * i + ids.length * i) % ids.length];
        const channel = store.channel(candidate);
        if (channel && store.unread(channel) > 0) {
          next = candidate;
          break;
        }
      }
    } else {
      next = ids[(at + step + ids.length) % ids.length];
    }
    if (next != null) {
      event.preventDefault();
      switchTo(next);
      els.input.focus();
    }
  }
});

// ---- rendering -----------------------------------------------------------------

const dirty = { sidebar: false, header: false, messages: false, typing: false };
let renderQueued = false;

store.addEventListener('change', (event) => {
  const { what, channelId } = event.detail;
  if (what === 'channels' || what === 'watch') watchPresence();
  if (what === 'channels' || what === 'online' || what === 'current') dirty.sidebar = true;
  if (what === 'channels' || what === 'online' || what === 'current') dirty.header = true;
  if (what === 'current' || (what === 'messages' && channelId === store.currentId)) dirty.messages = true;
  if (what === 'current' || (what === 'typing' && channelId === store.currentId)) dirty.typing = true;
  scheduleRender();
});

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  // A frame batches bursts (a resume replay); the timer covers hidden tabs,
  // where animation frames stop.
  requestAnimationFrame(flushRender);
  setTimeout(flushRender, 100);
}

function flushRender() {
  if (!renderQueued) return;
  renderQueued = false;
  if (dirty.sidebar) renderSidebar(store, els, { hasDraft: (id) => drafts.has(id) });
  if (dirty.header) renderHeader(store, els);
  if (dirty.typing) renderTyping(store, els.typing);
  if (dirty.messages && store.current) {
    view.render(store, store.current);
    markReadIfViewing();
  }
  renderUnreadBar();
  dirty.sidebar = dirty.header = dirty.messages = dirty.typing = false;
  updateTitle();
}

function renderNow() {
  renderQueued = true;
  flushRender();
}

function renderAll() {
  dirty.sidebar = dirty.header = dirty.messages = dirty.typing = true;
  scheduleRender();
}

function updateTitle() {
  let unread = 0;
  for (const channel of store.channels.values()) if (channel.id !== store.currentId) unread += store.unread(channel);
  const channel = store.current;
  const base = channel ? `${channel.kind === 'dm' ? store.displayName(channel) : channelLabel(channel.name)} · natter` : 'natter';
  document.title = unread ? `(${unread}) ${base}` : base;
  // On phones the sidebar is hidden: the menu button says something is waiting there.
  els.menuDot.hidden = unread === 0;
  els.menuButton.setAttribute('aria-label', unread ? 'Open menu, unread messages in other channels' : 'Open menu');
}

let toastTimer = null;
function toast(text) {
  els.toast.textContent = text;
  els.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    els.toast.hidden = true;
  }, 6000);
}

boot();
