// The three modal dialogs: create a channel, browse and join public channels
// (an archived one, which nobody can join, is marked and can be looked at),
// invite someone into the current channel. Each sends one request and shows the
// server's refusal inline, in the dialog, next to what the user typed.
// <dialog>.showModal() gives focus trapping and Escape-to-close for free.

import { h, icon, replaceChildren } from './dom.js';
import { channelLabel } from './format.js';
import { suggestPeople } from './people.js';
import { CHANNEL_NAME_MAX, USERNAME_PATTERN, charCount, errorText, frames, hasControlChars } from './protocol.js';

/**
 * @param {object} app
 * @param {import('./store.js').ChatStore} app.store
 * @param {import('./connection.js').Connection} app.connection
 * @param {(id: number) => void} app.switchTo
 */
export function setUpDialogs(app) {
  return {
    create: createDialog(app),
    browse: browseDialog(app),
    invite: inviteDialog(app),
  };
}

function closeOnCancelButtons(dialog) {
  for (const button of dialog.querySelectorAll('[data-close]')) {
    button.addEventListener('click', () => dialog.close());
  }
}

function setError(input, output, message) {
  output.textContent = message;
  if (!input) return;
  if (message) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

export function validateChannelName(raw) {
  const name = raw.trim();
  if (!name) return 'Enter a name.';
  if (charCount(name) > CHANNEL_NAME_MAX) return `Names are at most ${CHANNEL_NAME_MAX} characters.`;
  if (hasControlChars(name)) return 'Names cannot contain control characters.';
  return '';
}

function createDialog({ store, connection, switchTo }) {
  const dialog = document.getElementById('create-dialog');
  const form = dialog.querySelector('form');
  const name = document.getElementById('create-name');
  const isPrivate = document.getElementById('create-private');
  const error = document.getElementById('create-error');
  const submit = dialog.querySelector('button[type=submit]');
  const existing = document.getElementById('create-existing');
  closeOnCancelButtons(dialog);
  name.addEventListener('input', () => setError(name, error, ''));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const problem = validateChannelName(name.value);
    setError(name, error, problem);
    if (problem) return name.focus();
    submit.disabled = true;
    try {
      const reply = await connection.request(frames.createChannel(name.value.trim(), isPrivate.checked));
      const channel = store.upsertChannel(reply.channel);
      dialog.close();
      switchTo(channel.id);
    } catch (failure) {
      if (failure.code === 'channel_exists' && failure.frame?.channel != null) {
        offerExisting(failure.frame.channel, name.value.trim());
        return;
      }
      const message =
        failure.code === 'invalid_name'
          ? 'That name cannot be used: it may be taken. Try another.'
          : errorText(failure.code, failure.message);
      setError(name, error, message);
      name.focus();
    } finally {
      submit.disabled = false;
    }
  });

  /**
   * The name is taken by a channel the user may see (compared without case and
   * by look-alike letters): say so, and offer to open it (joining if need be)
   * rather than moving the user into it unasked.
   */
  function offerExisting(channelId, typed) {
    setError(name, error, `A channel named “${typed}” already exists.`);
    existing.hidden = false;
    existing.onclick = async () => {
      existing.disabled = true;
      try {
        if (!store.channels.has(channelId)) {
          const reply = await connection.request(frames.join(channelId));
          store.upsertChannel(reply.channel);
        }
        dialog.close();
        switchTo(channelId);
      } catch (failure) {
        setError(name, error, `Could not open it: ${errorText(failure.code, failure.message)}`);
      } finally {
        existing.disabled = false;
      }
    };
    existing.focus();
  }
  name.addEventListener('input', () => {
    existing.hidden = true;
  });

  return {
    open() {
      form.reset();
      setError(name, error, '');
      existing.hidden = true;
      dialog.showModal();
      name.focus();
    },
  };
}

function browseDialog({ store, connection, switchTo }) {
  const dialog = document.getElementById('browse-dialog');
  const filter = document.getElementById('browse-filter');
  const list = document.getElementById('browse-list');
  const status = document.getElementById('browse-status');
  const more = document.getElementById('browse-more');
  closeOnCancelButtons(dialog);
  let channels = [];
  /** What the list shows now, in order: Enter in the filter takes the first. */
  let shown = [];
  /** The page cursor of a paging server (`next`), and whether it filters by prefix itself. */
  let next = null;
  let serverPages = false;
  let generation = 0;
  let timer = null;

  /** The filter text the held `channels` answer (a paging server filters by it). */
  let answered = '';

  function draw() {
    const text = filter.value.trim();
    const needle = text.toLocaleLowerCase();
    // A paging server has applied the prefix already (comparing as names are,
    // look-alike letters included); until its answer for this text is here,
    // what is held is narrowed by the plain prefix. A whole list is filtered here.
    let held = channels;
    if (!serverPages) held = channels.filter((channel) => channel.name.toLocaleLowerCase().includes(needle));
    else if (answered !== text) held = channels.filter((channel) => channel.name.toLocaleLowerCase().startsWith(needle));
    shown = held.sort((a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: 'base' }));
    more.hidden = !(serverPages && next);
    status.textContent = channels.length ? (shown.length ? '' : 'No channel matches.') : 'No public channels yet.';
    replaceChildren(
      list,
      shown.map((channel) => {
        const member = channel.member || store.channels.has(channel.id);
        // An archived channel cannot be joined (the server says `archived`),
        // but its history stays readable: View opens it read-only.
        const verb = member ? 'Open' : channel.archived ? 'View' : 'Join';
        const action = h('button', {
          type: 'button',
          class: verb === 'Join' ? 'primary small' : 'secondary small',
          text: verb,
          'aria-label': `${verb} ${channel.name}${channel.archived ? ' (archived)' : ''}`,
          onclick: () => (verb === 'Join' ? join(channel, action) : openChannel(channel)),
        });
        const meta = `${channel.last_seq} message${channel.last_seq === 1 ? '' : 's'}${member ? ' · joined' : ''}`;
        return h(
          'li',
          { class: channel.archived ? 'browse-row archived' : 'browse-row' },
          icon('hash', 'icon chan-icon'),
          h('span', { class: 'browse-name', text: channel.name }),
          h('span', { class: 'browse-meta' }, channel.archived ? h('span', { class: 'browse-archived', text: 'archived' }) : null, channel.archived ? ' · ' : null, meta),
          action,
        );
      }),
    );
  }

  /**
   * Opens a listed channel: one of mine as it is; an archived one I am not in
   * as a channel I only look at (member false: kept out of the sidebar, read-only).
   */
  function openChannel(channel) {
    if (!store.channels.has(channel.id)) store.upsertChannel({ ...channel, member: Boolean(channel.member) }, { quiet: true });
    dialog.close();
    switchTo(channel.id);
  }

  async function join(channel, button) {
    button.disabled = true;
    try {
      const reply = await connection.request(frames.join(channel.id));
      store.upsertChannel(reply.channel);
      openChannel(reply.channel);
    } catch (failure) {
      status.textContent = `Could not join ${channel.name}: ${errorText(failure.code, failure.message)}`;
      button.disabled = false;
    }
  }

  /** Loads the first page for the filter (`reset`) or the next one. */
  async function load(reset) {
    if (reset) {
      generation += 1;
      next = null;
    }
    const mine = generation;
    const text = filter.value.trim();
    try {
      const reply = await connection.request(frames.listChannels(text, reset ? null : next));
      if (mine !== generation) return; // The filter changed meanwhile.
      serverPages = reply.has_more !== undefined;
      answered = text;
      channels = reset ? reply.channels : [...channels, ...reply.channels];
      next = reply.has_more ? reply.next ?? null : null;
      draw();
    } catch (failure) {
      if (mine === generation) status.textContent = `Could not load channels: ${errorText(failure.code, failure.message)}`;
    }
  }

  filter.addEventListener('input', () => {
    draw();
    // A paging server is asked again for the new prefix, once typing pauses.
    if (!serverPages) return;
    clearTimeout(timer);
    timer = setTimeout(() => load(true), 200);
  });
  more.addEventListener('click', () => load(false));
  // A channel of mine renamed, archived or unarchived while the list is open
  // shows as it stands now (the store has it from `channel_updated`), not as
  // the listing said when it was asked for.
  store.addEventListener('change', (event) => {
    if (!dialog.open || event.detail.what !== 'channels') return;
    let changed = false;
    for (const listed of channels) {
      const mine = store.channel(listed.id);
      if (!mine || (mine.name === listed.name && mine.archived === Boolean(listed.archived))) continue;
      listed.name = mine.name;
      listed.archived = mine.archived;
      changed = true;
    }
    if (changed) draw();
  });
  filter.addEventListener('keydown', async (event) => {
    if (event.key !== 'Enter' || event.isComposing) return;
    event.preventDefault();
    // Typed faster than the pause before asking: ask now, so Enter takes the real first match.
    if (serverPages && answered !== filter.value.trim()) {
      clearTimeout(timer);
      await load(true);
    }
    const top = shown[0];
    if (!top) return;
    if (top.member || store.channels.has(top.id) || top.archived) openChannel(top);
    else join(top, list.querySelector('.browse-row button'));
  });

  return {
    async open() {
      filter.value = '';
      channels = [];
      replaceChildren(list);
      status.textContent = 'Loading channels…';
      more.hidden = true;
      dialog.showModal();
      filter.focus();
      await load(true);
    },
  };
}

function inviteDialog({ store, connection }) {
  const dialog = document.getElementById('invite-dialog');
  const form = dialog.querySelector('form');
  const user = document.getElementById('invite-user');
  const error = document.getElementById('invite-error');
  const done = document.getElementById('invite-done');
  const heading = document.getElementById('invite-title');
  const suggestions = document.getElementById('invite-suggestions');
  const submit = dialog.querySelector('button[type=submit]');
  closeOnCancelButtons(dialog);
  // Everyone in the workspace is suggested (online first), not only those online.
  const suggest = suggestPeople({ store, connection }, user, suggestions);
  user.addEventListener('input', () => {
    setError(user, error, '');
    done.textContent = '';
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const channel = store.current;
    const name = user.value.trim();
    let problem = '';
    if (!name) problem = 'Enter a username.';
    else if (!USERNAME_PATTERN.test(name)) problem = 'Usernames use only letters, digits, and _ . -';
    setError(user, error, problem);
    if (problem || !channel) return user.focus();
    submit.disabled = true;
    try {
      await connection.request(frames.invite(channel.id, name));
      done.textContent = `${name} was added to ${channelLabel(channel.name)}.`;
      user.value = '';
      user.focus();
    } catch (failure) {
      setError(user, error, inviteRefusal(failure, name, channel));
      user.focus();
    } finally {
      submit.disabled = false;
    }
  });

  return {
    open() {
      const channel = store.current;
      if (!channel || channel.kind === 'dm') return;
      form.reset();
      setError(user, error, '');
      done.textContent = '';
      heading.textContent = `Add people to ${channelLabel(channel.name)}`;
      replaceChildren(suggestions);
      suggest.refresh();
      dialog.showModal();
      user.focus();
    },
  };
}

/** What a refused invite means, in the words of the people involved. */
function inviteRefusal(failure, name, channel) {
  const label = channelLabel(channel.name);
  const isGeneral = channel.kind === 'public' && channel.name === 'General';
  if (failure.code === 'unknown_user') return `There is no user named ${name}.`;
  if (failure.code === 'already_member') return `${name} is already in ${label}.`;
  if (failure.code === 'forbidden' && isGeneral) return 'Everyone is in General already.';
  return errorText(failure.code, failure.message);
}
