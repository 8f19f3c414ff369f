// A channel's member list (docs/protocol.md, "members" and "remove_member"),
// opened from the channel menu: the server's `members` answer, 50 names a
// page, the next page asked for "after" the last name shown. Each name opens
// that person's profile card. An admin sees "Remove" beside everyone else in
// a channel people can be taken out of (not General, not a DM); it asks
// first, on the row itself, and only the server's `member_removed` takes the
// row away. Who may remove whom is the server's to decide: a refusal is shown
// in its own words. Every name is put in as text only.

import { h, replaceChildren } from './dom.js';
import { avatar } from './render.js';
import { channelLabel } from './format.js';
import { MEMBER_LIST_PAGE, errorText, frames } from './protocol.js';

/** Whether an admin may take people out of `channel` at all (the server says `forbidden` otherwise). */
export function removableChannel(channel) {
  if (!channel || channel.kind === 'dm') return false;
  return !(channel.kind === 'public' && channel.name === 'General');
}

/** A refusal in the server's words where it gives them, as a sentence. */
function refusalText(failure) {
  const said = failure.message && failure.message !== failure.code ? failure.message : '';
  if (!said) return errorText(failure.code);
  const first = said.charAt(0).toUpperCase() + said.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/**
 * @param {object} app
 * @param {import('./store.js').ChatStore} app.store
 * @param {(frame: object, timeoutMs?: number) => Promise<object>} app.request a request on the current connection
 * @param {(name: string, button: HTMLElement) => void} app.openProfile shows someone's profile card
 * @param {() => boolean} app.isAdmin whether the signed-in user administers the workspace
 * @returns {{open: () => void}}
 */
export function membersDialog({ store, request, openProfile, isAdmin }) {
  const $ = (id) => document.getElementById(id);
  const dialog = $('members-dialog');
  const heading = $('members-title');
  const list = $('members-list');
  const status = $('members-status');
  const error = $('members-error');
  const moreButton = $('members-more');

  /** The channel the list is of (its id: the channel object may be replaced). */
  let channelId = null;
  /** The names shown, in the server's order. */
  let names = [];
  /** The last name of the last page: where the next page starts. */
  let after = null;
  let hasMore = false;
  let loading = false;
  /** Counts openings, so an answer for an earlier opening is dropped. */
  let generation = 0;
  /** The name whose removal is being confirmed, or null. */
  let confirming = null;

  for (const button of dialog.querySelectorAll('[data-close]')) button.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    generation += 1;
    confirming = null;
  });
  moreButton.addEventListener('click', () => load());

  /** Whether "Remove" is offered for `name` in the open channel. */
  function canRemove(name) {
    return isAdmin() && name !== store.me?.name && removableChannel(store.channel(channelId));
  }

  function row(name) {
    const profileButton = h('button', {
      type: 'button',
      class: 'person-name name-button',
      text: name,
      title: 'Show profile',
      'aria-label': `Profile of ${name}`,
      dataset: { focusKey: `member-profile:${name}` },
      onclick: (event) => openProfile(name, event.currentTarget),
    });
    const isMe = name === store.me?.name;
    let actions = null;
    if (confirming === name) {
      actions = h(
        'span',
        { class: 'person-actions member-confirm', role: 'group', 'aria-label': `Remove ${name}?` },
        h('span', { class: 'member-confirm-text', text: 'Remove?' }),
        h('button', { type: 'button', class: 'secondary small', text: 'Cancel', 'aria-label': `Keep ${name}`, dataset: { focusKey: `member-cancel:${name}` }, onclick: () => cancelRemove(name) }),
        h('button', { type: 'button', class: 'danger-button small', text: 'Remove', 'aria-label': `Yes, remove ${name}`, dataset: { focusKey: `member-yes:${name}` }, onclick: (event) => remove(name, event.currentTarget) }),
      );
    } else if (canRemove(name)) {
      actions = h(
        'span',
        { class: 'person-actions' },
        h('button', { type: 'button', class: 'secondary small', text: 'Remove', 'aria-label': `Remove ${name}`, dataset: { focusKey: `member-remove:${name}` }, onclick: () => askRemove(name) }),
      );
    }
    return h(
      'li',
      { class: 'person-row', dataset: { member: name } },
      avatar(name, 'small'),
      profileButton,
      h('span', { class: 'person-status', text: isMe ? 'you' : '' }),
      actions,
    );
  }

  function draw(focusKey = null) {
    replaceChildren(list, names.map(row));
    moreButton.hidden = !hasMore;
    if (loading && names.length === 0) status.textContent = 'Loading members…';
    else if (!loading && names.length === 0 && !error.textContent) status.textContent = 'No members.';
    else status.textContent = names.length ? `${names.length}${hasMore ? '+' : ''} ${names.length === 1 && !hasMore ? 'member' : 'members'} shown.` : '';
    if (focusKey) [...list.querySelectorAll('[data-focus-key]')].find((el) => el.dataset.focusKey === focusKey)?.focus();
  }

  async function load() {
    if (loading || channelId == null) return;
    const mine = generation;
    loading = true;
    moreButton.disabled = true;
    // The first new row takes the focus after "Load more", so the keyboard carries on from there.
    const firstNew = names.length;
    const fromMore = document.activeElement === moreButton;
    if (!names.length) draw();
    try {
      const reply = await request(frames.members(channelId, '', MEMBER_LIST_PAGE, after));
      if (mine !== generation) return;
      // A name already shown (someone joined meanwhile, between pages) is not shown twice.
      for (const name of reply.users) if (!names.includes(name)) names.push(name);
      hasMore = reply.has_more;
      if (reply.users.length) after = reply.users[reply.users.length - 1];
      else hasMore = false;
      loading = false;
      draw();
      if (fromMore) (list.querySelectorAll('.person-name')[firstNew] ?? heading).focus();
    } catch (failure) {
      if (mine !== generation) return;
      loading = false;
      error.textContent = `Could not load the members: ${errorText(failure.code, failure.message)}`;
      draw();
    } finally {
      if (mine === generation) moreButton.disabled = false;
    }
  }

  function askRemove(name) {
    error.textContent = '';
    confirming = name;
    draw(`member-cancel:${name}`);
  }

  function cancelRemove(name) {
    confirming = null;
    draw(`member-remove:${name}`);
  }

  async function remove(name, button) {
    const mine = generation;
    const channel = store.channel(channelId);
    button.disabled = true;
    error.textContent = '';
    try {
      await request(frames.removeMember(channelId, name));
      if (mine !== generation) return;
      const index = names.indexOf(name);
      names = names.filter((other) => other !== name);
      confirming = null;
      draw();
      status.textContent = `${name} was removed from ${channelLabel(channel?.name ?? '')}.`;
      // The focus goes to the next name (or the one before, or the heading): the row it was on is gone.
      const rows = list.querySelectorAll('.person-name');
      (rows[Math.min(index, rows.length - 1)] ?? heading).focus();
    } catch (failure) {
      if (mine !== generation) return;
      confirming = null;
      draw(`member-remove:${name}`);
      error.textContent = `Could not remove ${name}: ${refusalText(failure)}`;
    }
  }

  // The channel gone (left, removed, archived out of reach): nothing left to list.
  store.addEventListener('change', (event) => {
    if (dialog.open && event.detail.what === 'channels' && !store.channel(channelId)) dialog.close();
  });

  return {
    open() {
      const channel = store.current;
      if (!channel) return;
      generation += 1;
      channelId = channel.id;
      names = [];
      after = null;
      hasMore = false;
      loading = false;
      confirming = null;
      error.textContent = '';
      heading.textContent = channel.kind === 'dm' ? `Members of this conversation` : `Members of ${channelLabel(channel.name)}`;
      dialog.showModal();
      heading.focus();
      load();
    },
  };
}
