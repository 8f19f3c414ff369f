// The admin panel's "Invite links" section (docs/protocol.md, "Administration"):
// who may sign up (the registration mode, `set_registration`), making an invite
// link (`create_invite`: its link is shown this once, with a Copy button),
// and the newest links (`list_invites`) with what became of each and a way
// to revoke the ones still usable. Like the rest of the panel it shows the
// server's refusals as it words them; names go in as text only.

import { h, replaceChildren } from './dom.js';
import { fullTime, relativeTime, timeUntil } from './format.js';
import { linkAddress } from './links.js';
import { oneTimeLink } from './one-time-link.js';
import { INVITE_USES_MAX, REGISTRATION_MODES, errorText, frames } from './protocol.js';

/** What each registration mode means, said under the select. */
const MODE_HINTS = {
  open: 'Anyone who reaches this server can create an account.',
  invite: 'Only people with an invite link can create an account.',
  closed: 'Nobody can sign up: admins make accounts on the command line (natter user add).',
};

/** The server's own words for a refusal, else ours for the code. */
function refusalText(failure) {
  return failure.frame?.message || errorText(failure.code, failure.message);
}

/**
 * What became of a link: 'usable', 'used up', 'expired' or 'revoked'. The
 * server's `usable` has the last word on a link that looks usable from here
 * (the clocks may differ by a little).
 */
export function inviteState(invite, now = Date.now()) {
  if (invite.revoked) return 'revoked';
  if (invite.uses >= invite.max_uses) return 'used up';
  if (invite.expires != null && invite.expires <= now) return 'expired';
  return invite.usable ? 'usable' : 'expired';
}

/**
 * @param {object} app
 * @param {{request: (frame: object) => Promise<object>}} app.connection
 * @returns {{open: () => Promise<void>, close: () => void}}
 */
export function invitesSection({ connection }) {
  const $ = (id) => document.getElementById(id);
  const modeSelect = $('registration-mode');
  const modeHint = $('registration-hint');
  const form = $('invite-link-form');
  const expiry = $('invite-link-expiry');
  const uses = $('invite-link-uses');
  const usesError = $('invite-link-uses-error');
  const submit = form.querySelector('button[type=submit]');
  const error = $('invites-error');
  const fresh = $('invite-link-new');
  const status = $('invites-status');
  const list = $('invites-list');

  /** The links held, newest first, and the mode the server last said. */
  let invites = [];
  let mode = null;
  let loading = false;
  /** Counts openings, so an answer to an earlier one is dropped. */
  let generation = 0;
  /** Links whose revocation is on its way. */
  const busy = new Set();

  function showError(text) {
    error.textContent = text;
  }

  function setUsesError(text) {
    usesError.textContent = text;
    if (text) uses.setAttribute('aria-invalid', 'true');
    else uses.removeAttribute('aria-invalid');
  }

  function showMode() {
    modeSelect.disabled = mode == null;
    if (mode != null) modeSelect.value = mode;
    modeHint.textContent = mode == null ? '' : MODE_HINTS[mode];
  }

  function draw() {
    const focusedId = document.activeElement?.closest?.('li.invite-row')?.dataset.invite;
    replaceChildren(list, invites.map((invite) => row(invite)));
    if (loading && invites.length === 0) status.textContent = 'Loading invite links…';
    else if (invites.length === 0) status.textContent = error.textContent ? '' : 'No invite links yet.';
    else status.textContent = `${invites.length} invite link${invites.length === 1 ? '' : 's'}, newest first`;
    // Whoever was on a row's button stays on that row (its button may be gone: then the list).
    if (focusedId != null) {
      const again = [...list.children].find((li) => li.dataset.invite === focusedId);
      (again?.querySelector('button') || again || list).focus();
    }
  }

  function row(invite) {
    const state = inviteState(invite);
    const by = invite.created_by || 'someone no longer here';
    const expires =
      invite.expires == null
        ? 'never expires'
        : invite.expires > Date.now()
          ? `expires ${timeUntil(invite.expires)}`
          : `expired ${relativeTime(invite.expires)}`;
    return h(
      'li',
      { class: `invite-row${state === 'usable' ? '' : ' spent'}`, dataset: { invite: String(invite.id) }, tabIndex: -1 },
      h(
        'span',
        { class: 'invite-head' },
        h('span', { class: 'invite-by', text: `Made by ${by}` }),
        h('span', { class: 'invite-made', text: relativeTime(invite.created), title: fullTime(invite.created) }),
      ),
      h(
        'span',
        { class: 'invite-meta' },
        h('span', { class: `invite-state ${state.replace(' ', '-')}`, text: state }),
        h('span', { class: 'invite-uses', text: `${invite.uses}/${invite.max_uses} used` }),
        h('span', { class: 'invite-expires', text: expires, title: invite.expires == null ? null : fullTime(invite.expires) }),
      ),
      state === 'usable'
        ? h('button', {
            type: 'button',
            class: 'secondary small danger-text',
            text: 'Revoke',
            'aria-label': `Revoke: invite link made by ${by} ${relativeTime(invite.created)}, ${invite.uses}/${invite.max_uses} used`,
            disabled: busy.has(invite.id),
            onclick: () => revoke(invite),
          })
        : null,
    );
  }

  async function load() {
    const mine = generation;
    loading = true;
    draw();
    try {
      const reply = await connection.request(frames.listInvites());
      if (mine !== generation) return;
      invites = reply.invites;
      mode = reply.registration;
      showError('');
    } catch (failure) {
      if (mine === generation) showError(`Could not load invite links: ${refusalText(failure)}`);
    } finally {
      if (mine === generation) {
        loading = false;
        showMode();
        draw();
      }
    }
  }

  modeSelect.addEventListener('change', async () => {
    const wanted = modeSelect.value;
    if (!REGISTRATION_MODES.includes(wanted) || wanted === mode) return;
    modeSelect.disabled = true;
    showError('');
    try {
      const reply = await connection.request(frames.setRegistration(wanted));
      mode = reply.mode;
    } catch (failure) {
      showError(`Could not change who may sign up: ${refusalText(failure)}`);
    } finally {
      // The select shows what is in force: the new mode, or the old one after a refusal.
      showMode();
      modeSelect.focus();
    }
  });

  uses.addEventListener('input', () => setUsesError(''));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const count = Number(uses.value);
    if (!Number.isInteger(count) || count < 1 || count > INVITE_USES_MAX) {
      setUsesError(`Enter a whole number from 1 to ${INVITE_USES_MAX}.`);
      uses.focus();
      return;
    }
    const hours = Number(expiry.value);
    showError('');
    submit.disabled = true;
    try {
      const reply = await connection.request(frames.createInvite(hours, count));
      const invite = reply.invite;
      invites = [invite, ...invites.filter((held) => held.id !== invite.id)];
      draw();
      const until = invite.expires == null ? '' : ` until ${fullTime(invite.expires)}`;
      replaceChildren(
        fresh,
        oneTimeLink({
          label: 'New invite link',
          url: linkAddress('invite', reply.token),
          note: `Copy it now: it is shown only this once. It lets ${count === 1 ? 'one person' : `${count} people`} sign up${until}.`,
        }),
      );
      fresh.querySelector('input').focus();
    } catch (failure) {
      showError(`Could not create an invite link: ${refusalText(failure)}`);
    } finally {
      submit.disabled = false;
    }
  });

  async function revoke(invite) {
    busy.add(invite.id);
    showError('');
    draw();
    try {
      await connection.request(frames.revokeInvite(invite.id));
      invites = invites.map((held) => (held.id === invite.id ? { ...held, revoked: true, usable: false } : held));
    } catch (failure) {
      showError(`Could not revoke the link: ${refusalText(failure)}`);
    } finally {
      busy.delete(invite.id);
      draw();
    }
  }

  return {
    /** Called as the panel opens: the mode and the links, fresh. */
    async open() {
      generation += 1;
      invites = [];
      mode = null;
      showError('');
      setUsesError('');
      replaceChildren(fresh);
      showMode();
      await load();
    },
    /** Called as the panel closes: a new link is shown once, never again. */
    close() {
      generation += 1;
      replaceChildren(fresh);
    },
  };
}
