// The "Your account" dialog, for everyone signed in (docs/protocol.md, "HTTP
// API"): change the password (`POST /api/password`, signing out the other
// sessions unless asked not to) and see where one is signed in
// (`GET /api/sessions`), ending any session but this browser's own (`POST
// /api/sessions/end`; Sign out ends this one). A session's device is the
// browser's User-Agent as it signed in, which anyone can set to anything: it
// is shown as text only, like every other string here. The Profile section
// sets one's display name and time zone over the socket (`update_profile`),
// prefilled from one's `profile`, the zone else from this browser, and one's
// picture (`POST /api/avatar` with the raw bytes, `DELETE /api/avatar`), which
// every avatar of mine on the page follows at once (avatars.js).

import { ApiError, changePassword, endSession, listSessions, removeAvatar, uploadAvatar } from './api.js';
import { validatePassword } from './auth.js';
import { avatarChanged, avatarEvents, hasAvatar } from './avatars.js';
import { h, replaceChildren } from './dom.js';
import { fullTime, relativeTime } from './format.js';
import { AVATAR_MAX_BYTES, AVATAR_TYPES, errorText, frames } from './protocol.js';
import { avatar } from './render.js';

/** This browser's IANA time zone, or '' where it does not say. */
function browserTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  } catch {
    return '';
  }
}

/** A short name for a User-Agent ("Firefox on Windows"); empty when it names nothing known. */
export function deviceName(agent) {
  if (!agent) return '';
  const browser =
    [
      [/Edg(A|iOS)?\//, 'Edge'],
      [/OPR\//, 'Opera'],
      [/Firefox\/|FxiOS\//, 'Firefox'],
      [/Chrome\/|CriOS\//, 'Chrome'],
      [/Version\/[\d.]+.*Safari\//, 'Safari'],
    ].find(([pattern]) => pattern.test(agent))?.[1] || '';
  const system =
    [
      [/Android/, 'Android'],
      [/iPhone|iPad|iPod/, 'iOS'],
      [/Windows/, 'Windows'],
      [/Mac OS X|Macintosh/, 'macOS'],
      [/CrOS/, 'ChromeOS'],
      [/Linux/, 'Linux'],
    ].find(([pattern]) => pattern.test(agent))?.[1] || '';
  if (browser && system) return `${browser} on ${system}`;
  return browser || system;
}

/** What an API failure means to the person in this dialog. */
function failureText(error) {
  if (!(error instanceof ApiError)) return 'Something went wrong. Try again.';
  if (error.code === 'network') return 'Cannot reach the server. Check your connection and try again.';
  if (error.code === 'rate_limited') return 'Too many attempts. Wait a minute and try again.';
  if (error.code === 'unauthorized') return 'Your session has ended. Sign in again.';
  return error.message || 'Something went wrong. Try again.';
}

/** Why a picture cannot be my avatar before asking the server, or ''. */
export function avatarProblem(file) {
  if (!AVATAR_TYPES.includes(file.type)) return 'Choose a PNG, JPEG, GIF or WebP picture.';
  if (file.size > AVATAR_MAX_BYTES) return 'Pictures are at most 10 MB.';
  return '';
}

/**
 * @param {object} app
 * @param {import('./store.js').ChatStore} app.store for who I am (a guest has no password)
 * @param {HTMLButtonElement} app.entry the button that opens the dialog
 * @param {(frame: object) => Promise<object>} app.request the socket, for the profile
 * @param {(profile: object) => void} [app.profileChanged] told of my profile as the server answers it
 * @returns {{open: () => Promise<void>}}
 */
export function accountDialog({ store, entry, request, profileChanged }) {
  const $ = (id) => document.getElementById(id);
  const dialog = $('account-dialog');
  const passwordSection = $('password-section');
  const form = $('password-form');
  const username = $('password-username');
  const current = $('password-current');
  const fresh = $('password-new');
  const endOthers = $('password-end-others');
  const currentError = $('password-current-error');
  const freshError = $('password-new-error');
  const formError = $('password-error');
  const done = $('password-done');
  const submit = form.querySelector('button[type=submit]');
  const list = $('sessions-list');
  const listError = $('sessions-error');
  const status = $('sessions-status');
  const profileForm = $('profile-form');
  const displayName = $('profile-display-name');
  const timeZone = $('profile-time-zone');
  const profileError = $('profile-error');
  const profileDone = $('profile-done');
  const profileSubmit = profileForm.querySelector('button[type=submit]');
  const avatarPreview = $('avatar-preview');
  const avatarUpload = $('avatar-upload');
  const avatarInput = $('avatar-input');
  const avatarRemove = $('avatar-remove');
  const avatarError = $('avatar-error');
  const avatarDone = $('avatar-done');

  /** The sessions held, in the server's order. */
  let sessions = [];
  let loading = false;
  /** Counts openings, so an answer to an earlier one is dropped. */
  let generation = 0;

  for (const button of dialog.querySelectorAll('[data-close]')) button.addEventListener('click', () => dialog.close());
  entry.addEventListener('click', () => open());
  current.addEventListener('input', () => setFieldError(current, currentError, ''));
  fresh.addEventListener('input', () => setFieldError(fresh, freshError, ''));
  // Closed, nothing typed stays in the page.
  dialog.addEventListener('close', () => {
    generation += 1;
    form.reset();
  });

  function setFieldError(input, output, text) {
    output.textContent = text;
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  function clearMessages() {
    setFieldError(current, currentError, '');
    setFieldError(fresh, freshError, '');
    formError.textContent = '';
    done.textContent = '';
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearMessages();
    const currentProblem = current.value ? '' : 'Enter your current password.';
    const freshProblem = validatePassword(fresh.value, 'register');
    setFieldError(current, currentError, currentProblem);
    setFieldError(fresh, freshError, freshProblem);
    if (currentProblem) return current.focus();
    if (freshProblem) return fresh.focus();
    const signOutOthers = endOthers.checked;
    submit.disabled = true;
    try {
      await changePassword(current.value, fresh.value, signOutOthers);
      current.value = '';
      fresh.value = '';
      done.textContent = signOutOthers
        ? 'Your password was changed, and your other sessions were signed out.'
        : 'Your password was changed.';
      if (signOutOthers) await load();
    } catch (error) {
      if (error instanceof ApiError && error.code === 'invalid_credentials') {
        setFieldError(current, currentError, 'That is not your current password.');
        current.select();
        current.focus();
      } else if (error instanceof ApiError && error.code === 'invalid_password') {
        setFieldError(fresh, freshError, error.message || 'That password is not allowed.');
        fresh.focus();
      } else {
        formError.textContent = failureText(error);
      }
    } finally {
      submit.disabled = false;
    }
  });

  /**
   * Draws the list anew. Whoever was on a row stays on it; `focusAt` (a row
   * index) is where the focus goes instead, after a session was ended: the
   * End button now there, else the dialog's Close button.
   */
  function draw(focusAt = null) {
    const focusedId = document.activeElement?.closest?.('li.session-row')?.dataset.session;
    replaceChildren(list, sessions.map((session) => row(session)));
    if (loading && sessions.length === 0) status.textContent = 'Loading sessions…';
    else if (sessions.length === 0) status.textContent = listError.textContent ? '' : 'No sessions.';
    else status.textContent = `${sessions.length} session${sessions.length === 1 ? '' : 's'}`;
    const rows = [...list.children];
    let target = null;
    if (focusAt != null) {
      const buttons = list.querySelectorAll('button');
      target = buttons[Math.min(focusAt, buttons.length - 1)] || dialog.querySelector('[data-close]');
    } else if (focusedId != null) {
      const again = rows.find((li) => li.dataset.session === focusedId);
      target = again?.querySelector('button') || again || dialog.querySelector('[data-close]');
    }
    target?.focus();
  }

  function row(session) {
    const name = deviceName(session.device) || 'Unknown browser';
    const where = session.address ? `from ${session.address}` : 'from an unknown address';
    return h(
      'li',
      { class: `session-row${session.current ? ' current' : ''}`, dataset: { session: session.id }, tabIndex: -1 },
      h(
        'span',
        { class: 'session-name' },
        h('span', { class: 'session-device', text: name }),
        session.current ? h('span', { class: 'session-here', text: 'this device' }) : null,
      ),
      // The whole User-Agent, as it came: whoever signed in chose it.
      session.device ? h('span', { class: 'session-agent', text: session.device, title: session.device }) : null,
      h(
        'span',
        { class: 'session-meta' },
        h('span', { class: 'session-address', text: where }),
        h('span', { class: 'session-used', text: `last used ${relativeTime(session.last_used)}`, title: fullTime(session.last_used) }),
      ),
      session.current
        ? null
        : h('button', {
            type: 'button',
            class: 'secondary small danger-text',
            text: 'End',
            'aria-label': `End session: ${name} ${where}, last used ${relativeTime(session.last_used)}`,
            onclick: (event) => end(session, event.currentTarget),
          }),
    );
  }

  /** Fills the profile fields from what the server holds; the zone, when none, from this browser. */
  async function loadProfile() {
    const mine = generation;
    displayName.value = '';
    timeZone.value = browserTimeZone();
    try {
      const { profile } = await request(frames.profile(store.me?.name));
      if (mine !== generation) return;
      profileChanged?.(profile);
      // What was typed meanwhile stays.
      if (!profileForm.dataset.touched) {
        displayName.value = profile.display_name || '';
        timeZone.value = profile.time_zone || browserTimeZone();
      }
    } catch (error) {
      if (mine === generation) profileError.textContent = `Could not load your profile: ${errorText(error.code, error.message)}`;
    }
  }

  profileForm.addEventListener('input', () => {
    profileForm.dataset.touched = 'true';
    profileDone.textContent = '';
  });
  profileForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    profileError.textContent = '';
    profileDone.textContent = '';
    profileSubmit.disabled = true;
    try {
      // Empty clears: both are always sent, as the fields show them.
      const { profile } = await request(frames.updateProfile({ display_name: displayName.value.trim(), time_zone: timeZone.value.trim() }));
      profileChanged?.(profile);
      displayName.value = profile.display_name || '';
      timeZone.value = profile.time_zone || '';
      profileDone.textContent = 'Your profile was saved.';
    } catch (error) {
      // The server's own words say what was wrong with the value.
      profileError.textContent = error.message && error.message !== error.code ? error.message : errorText(error.code, error.message);
      displayName.focus();
    } finally {
      profileSubmit.disabled = false;
    }
  });

  // ---- my picture ----------------------------------------------------------------

  /** The preview, and Remove only while I have a picture. */
  function drawAvatar() {
    const name = store.me?.name;
    if (!name) return;
    replaceChildren(avatarPreview, avatar(name, 'large'));
    avatarRemove.hidden = hasAvatar(name) !== true;
  }

  avatarEvents.addEventListener('change', (event) => {
    if (dialog.open && event.detail.name === store.me?.name) drawAvatar();
  });
  avatarUpload.addEventListener('click', () => avatarInput.click());
  avatarInput.addEventListener('change', async () => {
    const file = avatarInput.files[0];
    avatarInput.value = ''; // The same picture may be chosen again.
    if (!file) return;
    avatarError.textContent = '';
    avatarDone.textContent = '';
    const problem = avatarProblem(file);
    if (problem) {
      avatarError.textContent = problem;
      return;
    }
    await changeAvatar(() => uploadAvatar(file), true, 'Your picture was saved.');
  });
  avatarRemove.addEventListener('click', async () => {
    avatarError.textContent = '';
    avatarDone.textContent = '';
    await changeAvatar(() => removeAvatar(), false, 'Your picture was removed.');
  });

  async function changeAvatar(ask, present, doneText) {
    avatarUpload.disabled = avatarRemove.disabled = true;
    try {
      await ask();
      avatarChanged(store.me.name, present);
      avatarDone.textContent = doneText;
    } catch (error) {
      avatarError.textContent = error instanceof ApiError && error.code === 'not_an_image' ? 'That file is not a picture the server can read.' : failureText(error);
    } finally {
      avatarUpload.disabled = avatarRemove.disabled = false;
      drawAvatar();
      // Remove may have just hidden itself: the focus stays in the dialog.
      if (document.activeElement === document.body || avatarRemove.hidden) avatarUpload.focus();
    }
  }

  /** Loads the list; `focusAt` as for draw. */
  async function load(focusAt = null) {
    const mine = generation;
    loading = true;
    if (sessions.length === 0) draw();
    try {
      const answer = await listSessions();
      if (mine !== generation) return;
      sessions = answer;
      listError.textContent = '';
    } catch (error) {
      if (mine === generation) listError.textContent = `Could not load your sessions: ${failureText(error)}`;
    } finally {
      if (mine === generation) {
        loading = false;
        draw(focusAt);
      }
    }
  }

  async function end(session, button) {
    const index = sessions.indexOf(session);
    button.disabled = true;
    listError.textContent = '';
    try {
      await endSession(session.id);
    } catch (error) {
      // Already gone (ended elsewhere, or expired): the list says so once refreshed.
      if (!(error instanceof ApiError && error.code === 'not_found')) {
        listError.textContent = `Could not end that session: ${failureText(error)}`;
      }
    }
    await load(index);
  }

  async function open() {
    generation += 1;
    form.reset();
    clearMessages();
    sessions = [];
    listError.textContent = '';
    profileError.textContent = '';
    profileDone.textContent = '';
    avatarError.textContent = '';
    avatarDone.textContent = '';
    drawAvatar();
    delete profileForm.dataset.touched;
    // A guest signs in by name alone: there is no password to change.
    passwordSection.hidden = Boolean(store.me?.guest);
    username.value = store.me?.name || '';
    dialog.showModal();
    (passwordSection.hidden ? dialog.querySelector('[data-close]') : current).focus();
    await Promise.all([loadProfile(), load()]);
  }

  return { open };
}
