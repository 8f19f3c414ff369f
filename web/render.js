// Turns the store into DOM: the sidebar lists, the channel header and the typing
// line (the message list is timeline.js's). Every piece of user text goes in
// through textContent or a text node (via dom.js).

import { fillAvatar } from './avatars.js';
import { h, icon, replaceChildren } from './dom.js';
import { channelLabel, colourIndex, typingText } from './format.js';
import { inSidebar, isReadOnly } from './store-settings.js';

/** Someone's picture where they have one (avatars.js), else their initial on their colour. */
export function avatar(name, size = '') {
  const element = h('span', { class: `avatar av-${colourIndex(name)} ${size}`.trim(), 'aria-hidden': 'true' });
  fillAvatar(element, name);
  return element;
}

// ---- sidebar --------------------------------------------------------------

function sortByName(a, b, store) {
  return store.displayName(a).localeCompare(store.displayName(b), undefined, { sensitivity: 'base' });
}

/**
 * Rebuilds the sidebar lists, keeping keyboard focus on the same item.
 * `hasDraft(channelId)` says whether a channel holds unsent text.
 */
export function renderSidebar(store, els, { hasDraft = () => false } = {}) {
  const focusKey = document.activeElement?.dataset?.focusKey;
  // Archived channels, and those I only look at, are reached through Browse channels.
  const all = [...store.channels.values()].filter(inSidebar);
  const rooms = all
    .filter((channel) => channel.kind !== 'dm')
    .sort((a, b) => (a.name === 'General' && a.kind === 'public' ? -1 : b.name === 'General' && b.kind === 'public' ? 1 : sortByName(a, b, store)));
  const dms = all.filter((channel) => channel.kind === 'dm').sort((a, b) => sortByName(a, b, store));

  replaceChildren(els.channelList, rooms.map((channel) => h('li', {}, channelButton(store, channel, hasDraft))));
  replaceChildren(
    els.dmList,
    dms.length ? dms.map((channel) => h('li', {}, channelButton(store, channel, hasDraft))) : h('li', { class: 'empty', text: 'Start one with + (New message) or by choosing someone online.' }),
  );

  // The first page of who is online (the server sends it sorted, with the count).
  const { users: online, total } = store.onlinePage;
  els.onlineCount.textContent = String(total);
  const more = total - online.length;
  replaceChildren(
    els.onlineList,
    ...online.map((name) => {
      const isMe = store.me && name === store.me.name;
      const content = [h('span', { class: 'dot on', 'aria-hidden': 'true' }), h('span', { class: 'user-name', text: name })];
      if (isMe) return h('li', {}, h('span', { class: 'user me' }, ...content, h('span', { class: 'you', text: ' (you)' })));
      return h(
        'li',
        {},
        h('button', { type: 'button', class: 'user', dataset: { user: name, focusKey: `u:${name}` }, title: `Message ${name}` }, ...content),
      );
    }),
    more > 0 ? h('li', { class: 'empty', text: `and ${more} more (find anyone with + New message)` }) : null,
  );

  if (store.me) {
    els.meName.textContent = store.me.name;
    replaceChildren(els.meAvatar, avatar(store.me.name, 'small'));
  }

  if (focusKey) {
    const again = [...els.sidebar.querySelectorAll('[data-focus-key]')].find((el) => el.dataset.focusKey === focusKey);
    if (again) again.focus();
  }
}

function channelButton(store, channel, hasDraft) {
  const active = channel.id === store.currentId;
  // The open channel's draft is in the composer; the others say they have one.
  const draft = !active && hasDraft(channel.id);
  const unread = active ? 0 : store.unread(channel);
  const mentions = active ? 0 : store.mentionCount(channel);
  const name = store.displayName(channel);
  let lead;
  if (store.isGroupDm(channel)) {
    // Several people have no one presence: a group icon instead of a dot.
    lead = icon('users', 'icon chan-icon');
  } else if (channel.kind === 'dm') {
    lead = h('span', { class: `dot ${store.online.has(name) ? 'on' : 'off'}`, 'aria-hidden': 'true' });
  } else {
    lead = icon(channel.kind === 'private' ? 'lock' : 'hash', 'icon chan-icon');
  }
  const kindText = channel.kind === 'private' ? 'private channel' : store.isGroupDm(channel) ? 'group message' : channel.kind === 'dm' ? 'direct message' : 'channel';
  return h(
    'button',
    {
      type: 'button',
      class: `chan${active ? ' active' : ''}${unread ? ' unread' : ''}${draft ? ' has-draft' : ''}`,
      dataset: { channel: String(channel.id), focusKey: `c:${channel.id}`, kind: channel.kind },
      'aria-current': active ? 'page' : null,
      title: name,
    },
    lead,
    h('span', { class: 'chan-name', text: name }),
    h('span', { class: 'sr-only', text: `, ${kindText}` }),
    draft ? h('span', { class: 'draft-mark', title: 'Unsent draft' }, icon('pencil', 'icon'), h('span', { class: 'sr-only', text: ', draft' })) : null,
    mentions ? h('span', { class: 'badge mention-badge', title: `${mentions} mention${mentions === 1 ? '' : 's'}` }, h('span', { class: 'badge-count', text: `@${mentions > 99 ? '99+' : mentions}` }), h('span', { class: 'sr-only', text: ' mentions' })) : null,
    unread ? h('span', { class: 'badge' }, h('span', { class: 'badge-count', text: unread > 99 ? '99+' : String(unread) }), h('span', { class: 'sr-only', text: ' unread' })) : null,
  );
}

// ---- header and typing line ----------------------------------------------

export function renderHeader(store, els) {
  const channel = store.current;
  if (!channel) {
    els.title.textContent = '';
    els.subtitle.textContent = '';
    els.inviteButton.hidden = true;
    els.channelMenuButton.hidden = true;
    els.readOnly.hidden = true;
    els.composer.hidden = false;
    return;
  }
  const name = store.displayName(channel);
  const lead = store.isGroupDm(channel)
    ? icon('users', 'icon title-icon')
    : channel.kind === 'dm'
      ? h('span', { class: `dot big ${store.online.has(name) ? 'on' : 'off'}`, 'aria-hidden': 'true' })
      : icon(channel.kind === 'private' ? 'lock' : 'hash', 'icon title-icon');
  replaceChildren(els.title, lead, h('span', { class: 'title-text', text: name }));
  renderSubtitle(channel, name, store, els.subtitle);
  // A channel I only look at (from the browser) has its settings in the menu and
  // nothing else: notifications, leaving and inviting are for members.
  const looking = channel.member === false;
  // Everyone is in General already, a DM's people are fixed, and nobody can be added
  // to an archived channel (the server says `archived`).
  const isGeneral = channel.kind === 'public' && channel.name === 'General';
  const canInvite = !(channel.kind === 'dm' || isGeneral || looking || channel.archived);
  els.inviteButton.hidden = !canInvite;
  // General cannot be left, nor a DM (its people are fixed); every channel of mine has notification levels.
  const canLeave = !(channel.kind === 'dm' || isGeneral);
  // Every channel has something in the menu: its settings, or (a DM) notifications.
  els.channelMenuButton.hidden = false;
  els.menuLeave.hidden = !canLeave || looking;
  els.menuInvite.hidden = !canInvite;
  els.menuNotify.hidden = looking;
  els.menuSettings.hidden = channel.kind === 'dm';
  // The member list is for the channel's members (a channel only looked at keeps its menu to its settings).
  els.menuMembers.hidden = looking;
  els.menuDesktop.hidden = looking || typeof Notification === 'undefined' || Notification.permission === 'granted';
  for (const item of els.channelMenu.querySelectorAll('[data-notify]')) item.setAttribute('aria-checked', String(item.dataset.notify === channel.notify));
  els.input.placeholder = channel.kind === 'dm' ? `Message ${name}` : `Message ${channelLabel(name)}`;
  renderReadOnly(store, channel, els);
}

/**
 * The line under the name: for a channel, its topic when it has one (one line,
 * cut with an ellipsis by the CSS; the whole of it in the tooltip), else what
 * kind of channel it is; "Archived" in front of an archived one. For a DM,
 * whether the other person is online (for a group DM, how many people are in
 * it), never a topic.
 */
function renderSubtitle(channel, name, store, subtitle) {
  if (store.isGroupDm(channel)) {
    subtitle.removeAttribute('title');
    subtitle.textContent = `Group message · ${store.dmOthers(channel).length + 1} people`;
    return;
  }
  if (channel.kind === 'dm') {
    subtitle.removeAttribute('title');
    subtitle.textContent = store.online.has(name) ? 'Direct message · online' : 'Direct message · away';
    return;
  }
  const kindText = channel.kind === 'private' ? 'Private channel · only invited members can see it' : 'Public channel';
  const archived = channel.archived ? h('span', { class: 'archived-tag', text: 'Archived' }) : null;
  const text = channel.topic ? h('span', { class: 'channel-topic', text: channel.topic }) : kindText;
  replaceChildren(subtitle, archived, archived ? ' ' : null, text);
  if (channel.topic) subtitle.title = channel.topic;
  else subtitle.removeAttribute('title');
}

/**
 * Instead of the composer, where nobody can post: an archived channel says it
 * is read-only; a public one opened from the browser without joining offers
 * Join. The messages lose their tools (timeline.js) for the same reason.
 */
function renderReadOnly(store, channel, els) {
  const readOnly = isReadOnly(channel);
  els.composer.hidden = readOnly;
  els.readOnly.hidden = !readOnly;
  if (!readOnly) return;
  els.readOnlyText.textContent = channel.archived
    ? 'This channel is archived: read-only. Its history stays readable.'
    : `You are looking at ${channelLabel(store.displayName(channel))} without being in it.`;
  els.readOnlyJoin.hidden = channel.archived;
}

export function renderTyping(store, element) {
  const text = store.currentId == null ? '' : typingText(store.typingUsers(store.currentId));
  if (element.textContent !== text) element.textContent = text;
}
