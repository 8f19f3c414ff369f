// People's pictures (docs: notes/files-spec.md, `GET /api/avatars/NAME`: the
// PNG, or 404 when they have none). An avatar is drawn as its initials first
// (render.js), and this module tries each name's picture once per page load:
// when it loads, every avatar of that name on the page swaps its initials for
// the picture; when it fails, the initials stay and the name is not tried again
// until the page reloads, so a workspace of people without pictures costs one
// request per name, not one per message. My own picture changing (account.js)
// tries my name again at a new address, so the change shows at once.
// Nothing here runs at import time but plain data: account.js (and so this
// module) is loaded in Node by the tests.

import { initial } from './format.js';

/** name -> 'loading' | 'yes' | 'no': what this page knows of that person's picture. */
const known = new Map();
/** name -> a version put in the picture's address (`?v=`), set when my own picture changed. */
const versions = new Map();

/** Tells listeners (`change`, detail `{name}`) that a name's picture became known, went missing or changed. */
export const avatarEvents = new EventTarget();

/** Where a person's picture is fetched from (with its version, if it changed on this page). */
export function avatarUrl(name) {
  const version = versions.get(name);
  return `/api/avatars/${encodeURIComponent(name)}${version ? `?v=${version}` : ''}`;
}

/** Whether `name` has a picture: true, false, or null while unknown (not tried yet, or loading). */
export function hasAvatar(name) {
  const state = known.get(name);
  return state === 'yes' ? true : state === 'no' ? false : null;
}

/**
 * Fills an avatar element for `name`: the picture when it is known to load,
 * else the initials; a name not tried yet is tried now (once).
 */
export function fillAvatar(element, name) {
  element.dataset.avatar = name;
  draw(element, name);
  if (!known.has(name)) tryPicture(name);
}

/** My picture was uploaded (`present`) or removed: every avatar of mine follows at once. */
export function avatarChanged(name, present) {
  versions.set(name, Date.now());
  if (present) tryPicture(name);
  else settle(name, versions.get(name), 'no');
}

function draw(element, name) {
  if (known.get(name) === 'yes') {
    const picture = document.createElement('img');
    picture.alt = '';
    picture.decoding = 'async';
    // Loaded once already; should it fail here after all (removed meanwhile), the initials come back.
    picture.addEventListener('error', () => showInitials(element, name), { once: true });
    picture.src = avatarUrl(name);
    element.replaceChildren(picture);
    element.classList.add('has-picture');
  } else {
    showInitials(element, name);
  }
}

function showInitials(element, name) {
  element.replaceChildren(initial(name));
  element.classList.remove('has-picture');
}

function tryPicture(name) {
  const version = versions.get(name);
  if (known.get(name) !== 'yes') known.set(name, 'loading');
  const probe = new Image();
  probe.addEventListener('load', () => settle(name, version, 'yes'), { once: true });
  probe.addEventListener('error', () => settle(name, version, 'no'), { once: true });
  probe.src = avatarUrl(name);
}

/** The answer for `name` at `version` is in; a later change's answer wins over an earlier one's. */
function settle(name, version, state) {
  if (versions.get(name) !== version) return;
  known.set(name, state);
  for (const element of document.querySelectorAll('.avatar[data-avatar]')) {
    if (element.dataset.avatar === name) draw(element, name);
  }
  avatarEvents.dispatchEvent(new CustomEvent('change', { detail: { name } }));
}
