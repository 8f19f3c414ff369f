// Profile cards (docs/protocol.md, "People"): a small dialog with someone's
// display name above their username, their role, whether they are online, and
// their local time now, worked out here from the IANA zone the server holds.
// It opens from a message's sender name and from a name in the people dialog.
// Profiles are kept per name for the page's life, so a message can show a
// display name once it is known; nothing here fetches per message. Every
// string is put in as text only.

import { h, replaceChildren } from './dom.js';
import { errorText, frames } from './protocol.js';

/** "14:05" in `timeZone` at `now`, or '' when the zone is absent or not one the browser knows. */
export function localTime(timeZone, now = new Date()) {
  if (!timeZone) return '';
  try {
    return new Intl.DateTimeFormat(undefined, { timeZone, hour: '2-digit', minute: '2-digit' }).format(now);
  } catch {
    return '';
  }
}

/** What someone is in this workspace, in words. */
export function roleText(profile) {
  if (profile.guest) return 'Guest';
  return profile.role === 'admin' ? 'Admin' : 'Member';
}

/**
 * @param {object} app
 * @param {(frame: object) => Promise<object>} app.request
 * @param {() => void} app.changed told when a profile arrives (display names on messages)
 */
export function profileCards({ request, changed }) {
  const dialog = document.getElementById('profile-dialog');
  const body = document.getElementById('profile-body');
  const title = document.getElementById('profile-card-title');
  /** name -> profile, as last answered. */
  const cache = new Map();
  /** Counts openings, so an answer to an earlier one is dropped. */
  let generation = 0;
  /** Where the focus goes back to once the card closes. */
  let opener = null;

  for (const button of dialog.querySelectorAll('[data-close]')) button.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    generation += 1;
    // The list may have been redrawn meanwhile (a display name now shows): the
    // same control, found by its focus key, takes the focus back.
    const key = opener?.dataset?.focusKey;
    const back = opener?.isConnected ? opener : key ? [...document.querySelectorAll('[data-focus-key]')].find((el) => el.dataset.focusKey === key) : null;
    back?.focus();
    opener = null;
  });
  // A click on the backdrop (outside the card) closes it too.
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) dialog.close();
  });

  function remember(profile) {
    if (!profile?.name) return;
    const before = cache.get(profile.name);
    cache.set(profile.name, profile);
    if (before?.display_name !== profile.display_name) changed?.();
  }

  function draw(profile) {
    const time = localTime(profile.time_zone);
    replaceChildren(
      body,
      profile.display_name ? h('p', { class: 'profile-display', text: profile.display_name }) : null,
      h('p', { class: 'profile-name', text: profile.name }),
      h('p', { class: 'profile-role', text: roleText(profile) }),
      h(
        'p',
        { class: 'profile-presence' },
        h('span', { class: `dot ${profile.online ? 'on' : 'off'}`, 'aria-hidden': 'true' }),
        profile.online ? 'Online' : 'Offline',
      ),
      time ? h('p', { class: 'profile-time', text: `${time} local time` }) : null,
    );
  }

  async function open(name, from = document.activeElement) {
    const mine = ++generation;
    opener = from;
    title.textContent = `Profile of ${name}`;
    const known = cache.get(name);
    if (known) draw(known);
    else replaceChildren(body, h('p', { class: 'profile-name', text: name }), h('p', { class: 'hint', role: 'status', text: 'Loading…' }));
    if (!dialog.open) dialog.showModal();
    dialog.querySelector('[data-close]').focus();
    try {
      const reply = await request(frames.profile(name));
      remember(reply.profile);
      if (mine === generation) draw(reply.profile);
    } catch (failure) {
      if (mine !== generation) return;
      body.querySelector('.hint')?.remove();
      body.append(h('p', { class: 'form-error', role: 'alert', text: `Could not load this profile: ${errorText(failure.code, failure.message)}` }));
    }
  }

  return {
    open,
    remember,
    /** The display name known for `name`, or ''. */
    displayName: (name) => cache.get(name)?.display_name || '',
  };
}
