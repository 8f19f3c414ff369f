// The admin panel: every account of the workspace (the server's
// `list_accounts`, paged by name), each with what an admin may change:
// deactivate it (after a confirmation that says what that ends) or reactivate
// it, make it an admin or a member, make a password-reset link for it (shown
// once, in a dialog of its own). The invite links are admin-invites.js's
// section of the same panel. Its entry button shows only for admins
// (app.js learns who is one from /api/me). Hiding it protects nothing: the
// server checks every request, and its refusals are shown here as it words
// them. Names go in as text only, like everything else the UI shows.

import { invitesSection } from './admin-invites.js';
import { h, replaceChildren } from './dom.js';
import { fullTime, relativeTime } from './format.js';
import { linkAddress } from './links.js';
import { oneTimeLink } from './one-time-link.js';
import { errorText, frames } from './protocol.js';

/** The server's own words for a refusal (they say what was refused), else ours for the code. */
function refusalText(failure) {
  return failure.frame?.message || errorText(failure.code, failure.message);
}

/** Account names are unique without regard to case (docs/protocol.md, "HTTP API"). */
function sameName(a, b) {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * @param {object} app
 * @param {import('./store.js').ChatStore} app.store for who I am: my own row has no actions
 * @param {{request: (frame: object) => Promise<object>}} app.connection
 * @param {HTMLButtonElement} app.entry the button that opens the panel (hidden unless admin)
 * @returns {{setAdmin: (admin: boolean) => void, open: () => Promise<void>, isAdmin: () => boolean}}
 */
export function adminPanel({ store, connection, entry }) {
  const $ = (id) => document.getElementById(id);
  const dialog = $('admin-dialog');
  const list = $('admin-list');
  const status = $('admin-status');
  const error = $('admin-error');
  const done = $('admin-done');
  const moreButton = $('admin-more');
  const confirmDialog = $('deactivate-dialog');
  const confirmTitle = $('deactivate-title');
  const confirmText = $('deactivate-text');
  const resetDialog = $('reset-link-dialog');
  const resetTitle = $('reset-link-title');
  const resetBody = $('reset-link-body');
  const invites = invitesSection({ connection });

  /** The accounts held, in the server's order, and whether a page follows the last. */
  let accounts = [];
  let hasMore = false;
  let loading = false;
  /** Counts fresh starts, so a page asked for before one is dropped. */
  let generation = 0;
  /** Names whose change is on its way: their buttons wait for the answer. */
  const busy = new Set();
  /** Where the focus goes once the list is drawn again: a row's name and button slot. */
  let refocus = null;

  for (const button of dialog.querySelectorAll('[data-close]')) button.addEventListener('click', () => dialog.close());
  for (const button of resetDialog.querySelectorAll('[data-close]')) button.addEventListener('click', () => resetDialog.close());
  dialog.addEventListener('close', () => invites.close());
  // A reset link is shown once: closed, it is gone from the page.
  resetDialog.addEventListener('close', () => replaceChildren(resetBody));
  entry.addEventListener('click', () => open());
  moreButton.addEventListener('click', () => load(false));

  function showError(text) {
    error.textContent = text;
    if (text) done.textContent = '';
  }

  function draw() {
    // The rows are built anew; whoever was on one of their buttons stays there.
    const focused = document.activeElement;
    if (!refocus && focused instanceof HTMLElement && list.contains(focused) && focused.dataset.slot) {
      refocus = { name: focused.closest('li').dataset.account, slot: focused.dataset.slot };
    }
    replaceChildren(list, accounts.map((account) => row(account)));
    moreButton.hidden = !hasMore || loading;
    if (loading && accounts.length === 0) status.textContent = 'Loading accounts…';
    else if (accounts.length === 0) status.textContent = error.textContent ? '' : 'No accounts.';
    else status.textContent = `${accounts.length}${hasMore ? '+' : ''} account${accounts.length === 1 ? '' : 's'}`;
    if (refocus) {
      const { name, slot } = refocus;
      refocus = null;
      const rowElement = [...list.children].find((li) => li.dataset.account === name);
      rowElement?.querySelector(`button[data-slot="${slot}"]`)?.focus();
    }
  }

  function row(account) {
    const isMe = Boolean(store.me) && sameName(account.name, store.me.name);
    const pending = busy.has(account.name);
    const action = (slot, label, change) =>
      h('button', {
        type: 'button',
        class: `secondary small${change.active === false ? ' danger-text' : ''}`,
        text: label,
        // The visible words first, so a voice command saying them finds the button.
        'aria-label': `${label}: ${account.name}`,
        dataset: { slot },
        disabled: pending,
        onclick: () => update(account.name, change, slot),
      });
    return h(
      'li',
      { class: `account-row${account.active ? '' : ' inactive'}`, dataset: { account: account.name } },
      h(
        'span',
        { class: 'account-name' },
        h('span', { class: `dot ${account.online ? 'on' : 'off'}`, 'aria-hidden': 'true' }),
        h('span', { class: 'account-name-text', text: account.name }),
        isMe ? h('span', { class: 'account-you', text: '(you)' }) : null,
      ),
      h(
        'span',
        { class: 'account-meta' },
        h('span', { class: 'account-role', text: account.role }),
        h('span', { class: 'account-kind', text: account.guest ? 'guest' : 'registered' }),
        h('span', { class: `account-state${account.active ? '' : ' off'}`, text: account.active ? 'active' : 'deactivated' }),
        h('span', { class: 'account-presence', text: account.online ? 'online' : 'offline' }),
      ),
      h('span', {
        class: 'account-login',
        text: `last login: ${relativeTime(account.last_login)}`,
        title: account.last_login == null ? null : fullTime(account.last_login),
      }),
      // No actions on my own row: the server refuses them (a workspace must not
      // lose its last admin by a slip), so offering them would only mislead.
      isMe
        ? null
        : h(
            'span',
            { class: 'account-actions' },
            account.active ? action('active', 'Deactivate', { active: false }) : action('active', 'Reactivate', { active: true }),
            account.role === 'admin' ? action('role', 'Make member', { role: 'member' }) : action('role', 'Make admin', { role: 'admin' }),
            // A guest has no password to reset; a deactivated account is refused one (reactivate it first).
            account.active && !account.guest
              ? h('button', {
                  type: 'button',
                  class: 'secondary small',
                  text: 'Reset link',
                  'aria-label': `Reset link: ${account.name}`,
                  dataset: { slot: 'reset' },
                  disabled: pending,
                  onclick: () => makeResetLink(account.name),
                })
              : null,
          ),
    );
  }

  /** Loads the first page (`reset`) or the one after the last name held. */
  async function load(reset) {
    if (reset) {
      generation += 1;
      accounts = [];
      hasMore = false;
    } else if (loading || !hasMore) {
      return;
    }
    const mine = generation;
    loading = true;
    draw();
    try {
      const reply = await connection.request(frames.listAccounts(accounts.at(-1)?.name));
      if (mine !== generation) return;
      accounts.push(...reply.accounts);
      hasMore = reply.has_more;
      showError('');
    } catch (failure) {
      if (mine === generation) showError(`Could not load accounts: ${refusalText(failure)}`);
    } finally {
      if (mine === generation) {
        loading = false;
        draw();
      }
    }
  }

  /** Resolves true when the admin confirms deactivating `name`. */
  function confirmDeactivate(name) {
    confirmTitle.textContent = `Deactivate ${name}?`;
    confirmText.textContent =
      `${name}'s sessions end now and they are signed out everywhere. They cannot sign in again until an admin reactivates the account. Their messages stay.`;
    confirmDialog.returnValue = '';
    confirmDialog.showModal();
    // Cancel first: Enter on a dialog that just opened must not sign someone out.
    confirmDialog.querySelector('button[value="cancel"]').focus();
    return new Promise((answer) => {
      confirmDialog.addEventListener('close', () => answer(confirmDialog.returnValue === 'deactivate'), { once: true });
    });
  }

  async function update(name, change, slot) {
    if (change.active === false && !(await confirmDeactivate(name))) {
      refocus = { name, slot };
      draw();
      return;
    }
    showError('');
    done.textContent = '';
    busy.add(name);
    draw();
    try {
      await connection.request(frames.updateAccount(name, change));
      done.textContent = changedText(name, change);
      await refreshRow(name, change);
    } catch (failure) {
      showError(`Could not change ${name}: ${refusalText(failure)}`);
    } finally {
      busy.delete(name);
      refocus = { name, slot };
      draw();
    }
  }

  /**
   * After `account_updated`: the row shows the change at once, then what the
   * server now says of the account (a deactivated one is offline, say). The
   * page holding just that row is the one after the row before it.
   */
  async function refreshRow(name, change) {
    const mine = generation;
    const index = accounts.findIndex((account) => account.name === name);
    if (index === -1) return;
    accounts[index] = { ...accounts[index], ...change, ...(change.active === false ? { online: false } : {}) };
    draw();
    let reply;
    try {
      reply = await connection.request(frames.listAccounts(index > 0 ? accounts[index - 1].name : null, 1));
    } catch {
      return; // The change is made and shown; only the extra detail is missing.
    }
    if (mine !== generation) return;
    const fresh = reply.accounts[0];
    const at = accounts.findIndex((account) => account.name === name);
    // Someone new whose name sorts just before this one came between: the
    // page no longer lines up with what is held, so start over.
    if (!fresh || !sameName(fresh.name, name)) return void load(true);
    if (at !== -1) accounts[at] = fresh;
  }

  /** Makes a password-reset link for `name` and shows it, this once, in its dialog. */
  async function makeResetLink(name) {
    showError('');
    done.textContent = '';
    busy.add(name);
    draw();
    try {
      const reply = await connection.request(frames.createResetLink(name));
      resetTitle.textContent = `Password-reset link for ${reply.user}`;
      replaceChildren(
        resetBody,
        oneTimeLink({
          label: 'Reset link',
          url: linkAddress('reset', reply.token),
          note: `Copy it now and send it to ${reply.user}: it is shown only this once. It works once, until ${fullTime(reply.expires)}; choosing a password with it signs ${reply.user} out everywhere else.`,
        }),
      );
      resetDialog.showModal();
      resetBody.querySelector('input').focus();
      resetDialog.addEventListener(
        'close',
        () => {
          refocus = { name, slot: 'reset' };
          draw();
        },
        { once: true },
      );
    } catch (failure) {
      showError(`Could not make a reset link for ${name}: ${refusalText(failure)}`);
    } finally {
      busy.delete(name);
      if (!resetDialog.open) refocus = { name, slot: 'reset' };
      draw();
    }
  }

  /** Whether the signed-in user is an admin, as /api/me last said. */
  let isAdmin = false;

  async function open() {
    showError('');
    done.textContent = '';
    dialog.showModal();
    // The title, not the first control: the invite form lies below the accounts.
    $('admin-title').focus();
    await Promise.all([load(true), invites.open()]);
  }

  return {
    /** Shows or hides the entry (and closes the panel for someone no longer an admin). */
    setAdmin(admin) {
      isAdmin = admin;
      entry.hidden = !admin;
      if (!admin && dialog.open) dialog.close();
    },
    open,
    /** Whether the signed-in user is an admin, as last told (the server decides anyway). */
    isAdmin: () => isAdmin,
  };
}

/** What a change did, said for the status line (and screen readers). */
function changedText(name, change) {
  if (change.active === false) return `${name} was deactivated and signed out everywhere.`;
  if (change.active === true) return `${name} can sign in again.`;
  return change.role === 'admin' ? `${name} is now an admin.` : `${name} is now a member.`;
}
