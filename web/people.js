// The people directory: everyone the user may see (the server's `list_users`,
// paged by name), online people first, searched by the start of a name as the
// user types. It opens from "New message" and "Browse people" (choosing someone
// starts a DM); the same search feeds the suggestions of "Add people". Names are
// put in as text only, like everything else the UI shows.

import { h, replaceChildren } from './dom.js';
import { avatar } from './render.js';
import { USERNAME_MAX, USERNAME_PATTERN, errorText, frames } from './protocol.js';

/** How long typing must pause before the directory is asked (ms). */
const SEARCH_DEBOUNCE_MS = 200;
/** Suggestions offered while typing a name in "Add people". */
const SUGGESTIONS = 20;

/** Why a search text cannot start any username, or '' when it can. */
export function prefixProblem(text) {
  if (text === '') return '';
  if (text.length > USERNAME_MAX || !USERNAME_PATTERN.test(text)) return 'Names use only letters, digits, and _ . - (up to 32).';
  return '';
}

/**
 * One search of the directory, page after page. Answers that arrive after the
 * search changed are dropped, so fast typing never shows an older result.
 */
export class DirectorySearch {
  /** @param {(frame: object) => Promise<object>} request */
  constructor(request) {
    this.request = request;
    this.generation = 0;
    this.reset('');
  }

  reset(prefix) {
    this.generation += 1;
    this.prefix = prefix;
    this.users = [];
    this.after = null;
    this.hasMore = true;
    this.loading = false;
  }

  /** Fetches the next page; resolves true when this search is still current. */
  async more(limit) {
    if (!this.hasMore || this.loading) return true;
    const generation = this.generation;
    this.loading = true;
    try {
      const reply = await this.request(frames.listUsers(this.prefix, this.after, limit));
      if (generation !== this.generation) return false;
      this.users.push(...reply.users);
      this.hasMore = reply.has_more;
      if (reply.users.length) this.after = reply.users[reply.users.length - 1].name;
      return true;
    } finally {
      if (generation === this.generation) this.loading = false;
    }
  }
}

/** Whether a directory entry is online: live for the people this page watches
 * (DM partners, and those the people dialog shows), else the online page or
 * what the directory said when it was read. */
function isOnline(user, store) {
  if (store.watched.has(user.name)) return store.online.has(user.name);
  return store.online.has(user.name) || user.online === true;
}

/** Online first, then everyone else, each by name; me last. */
export function onlineFirst(users, store, me) {
  const byName = (a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: 'base' });
  const rank = (user) => (user.name === me ? 2 : isOnline(user, store) ? 0 : 1);
  return [...users].sort((a, b) => rank(a) - rank(b) || byName(a, b));
}

/**
 * @param {object} app
 * @param {import('./store.js').ChatStore} app.store
 * @param {{request: (frame: object) => Promise<object>}} app.connection
 * @param {(name: string) => void} app.openDm
 */
export function peopleDialog({ store, connection, openDm }) {
  const dialog = document.getElementById('people-dialog');
  const filter = document.getElementById('people-filter');
  const list = document.getElementById('people-list');
  const status = document.getElementById('people-status');
  const moreButton = document.getElementById('people-more');
  const search = new DirectorySearch((frame) => connection.request(frame));
  let timer = null;

  for (const button of dialog.querySelectorAll('[data-close]')) button.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => store.setShownPeople([]));

  function draw() {
    const me = store.me?.name;
    const people = onlineFirst(search.users, store, me);
    // Their presence is told live while they are shown.
    store.setShownPeople(people.map((user) => user.name).filter((name) => name !== me));
    replaceChildren(
      list,
      people.map((user) => {
        const online = isOnline(user, store);
        const isMe = user.name === me;
        return h(
          'li',
          { class: 'person-row' },
          avatar(user.name, 'small'),
          h('span', { class: 'person-name', text: user.name }),
          h('span', { class: 'person-status' }, h('span', { class: `dot ${online ? 'on' : 'off'}`, 'aria-hidden': 'true' }), isMe ? 'you' : online ? 'online' : 'away'),
          isMe
            ? null
            : h('button', { type: 'button', class: 'secondary small', text: 'Message', 'aria-label': `Message ${user.name}`, onclick: () => choose(user.name) }),
        );
      }),
    );
    moreButton.hidden = !search.hasMore || search.users.length === 0;
    if (search.loading && search.users.length === 0) status.textContent = 'Loading people…';
    // A search text no name can start with keeps saying why, also when presence redraws the list.
    else if (search.users.length === 0) status.textContent = prefixProblem(search.prefix) || (search.prefix ? 'No one’s name starts with that.' : 'No one here yet.');
    else status.textContent = '';
  }

  function choose(name) {
    dialog.close();
    openDm(name);
  }

  async function load() {
    const current = await search.more().catch((failure) => {
      status.textContent = `Could not load people: ${errorText(failure.code, failure.message)}`;
      return false;
    });
    if (current) draw();
  }

  function searchNow() {
    clearTimeout(timer);
    const text = filter.value.trim();
    const problem = prefixProblem(text);
    if (problem) {
      // Nothing can match: say why instead of asking the server.
      search.reset(text);
      search.hasMore = false;
      replaceChildren(list);
      moreButton.hidden = true;
      status.textContent = problem;
      return;
    }
    search.reset(text);
    draw();
    load();
  }

  filter.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(searchNow, SEARCH_DEBOUNCE_MS);
  });
  filter.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.isComposing) return;
    event.preventDefault();
    // Enter takes the first person listed other than me, once the search is current.
    const first = onlineFirst(search.users, store, store.me?.name).find((user) => user.name !== store.me?.name);
    if (first && !search.loading && search.prefix === filter.value.trim()) choose(first.name);
  });
  moreButton.addEventListener('click', () => load());
  // Presence changes reorder the list while it is open.
  store.addEventListener('change', (event) => {
    if (dialog.open && event.detail.what === 'online') draw();
  });

  return {
    open() {
      filter.value = '';
      dialog.showModal();
      filter.focus();
      searchNow();
    },
  };
}

/**
 * Suggestions for a username field (a <datalist>), from the directory, online
 * people first, refreshed as the user types.
 */
export function suggestPeople({ store, connection }, input, datalist) {
  const search = new DirectorySearch((frame) => connection.request(frame));
  let timer = null;
  async function refresh() {
    const text = input.value.trim();
    if (prefixProblem(text)) return replaceChildren(datalist);
    search.reset(text);
    const current = await search.more(SUGGESTIONS).catch(() => false);
    if (!current) return;
    const me = store.me?.name;
    replaceChildren(
      datalist,
      onlineFirst(search.users, store, me)
        .filter((user) => user.name !== me)
        .map((user) => h('option', { value: user.name, label: isOnline(user, store) ? 'online' : 'away' })),
    );
  }
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, SEARCH_DEBOUNCE_MS);
  });
  return { refresh };
}
