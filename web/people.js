// The people directory: everyone the user may see (the server's `list_users`,
// paged by name), online people first, searched by the start of a name as the
// user types. It opens from "New message" and "Browse people" (choosing someone
// starts a DM; ticking several and "Message N people" starts a group DM; a
// name opens that person's profile card); the
// same search feeds the suggestions of "Add people". Names are put in as text
// only, like everything else the UI shows.

import { h, replaceChildren } from './dom.js';
import { avatar } from './render.js';
import { GROUP_DM_OTHERS_MAX, USERNAME_MAX, USERNAME_PATTERN, errorText, frames } from './protocol.js';

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
 * @param {(names: string | string[]) => void} app.openDm one name, or the people of a group DM
 * @param {(name: string, button: HTMLElement) => void} [app.openProfile] shows someone's profile card
 */
export function peopleDialog({ store, connection, openDm, openProfile }) {
  const dialog = document.getElementById('people-dialog');
  const filter = document.getElementById('people-filter');
  const list = document.getElementById('people-list');
  const status = document.getElementById('people-status');
  const moreButton = document.getElementById('people-more');
  const groupButton = document.getElementById('people-group');
  const search = new DirectorySearch((frame) => connection.request(frame));
  let timer = null;
  // The people ticked for a group DM, in the order ticked; kept while the search changes.
  const picked = new Set();

  groupButton.addEventListener('click', () => {
    if (picked.size) choose([...picked]);
  });

  for (const button of dialog.querySelectorAll('[data-close]')) button.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => store.setShownPeople([]));

  /** The group button and the tick boxes follow the picks, without redrawing the list (focus stays). */
  function showPicks() {
    const full = picked.size >= GROUP_DM_OTHERS_MAX;
    for (const box of list.querySelectorAll('input[type="checkbox"]')) {
      box.checked = picked.has(box.value);
      box.disabled = full && !box.checked;
    }
    groupButton.hidden = picked.size === 0;
    groupButton.textContent = `Message ${picked.size} ${picked.size === 1 ? 'person' : 'people'}`;
    groupButton.title = [...picked].join(', ');
  }

  function draw() {
    const me = store.me?.name;
    // Presence redraws the list while someone may be on a row's control: keep them there.
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.focusKey : null;
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
          openProfile
            ? h('button', {
                type: 'button',
                class: 'person-name name-button',
                text: user.name,
                title: 'Show profile',
                'aria-label': `Profile of ${user.name}`,
                dataset: { focusKey: `profile:${user.name}` },
                onclick: (event) => openProfile(user.name, event.currentTarget),
              })
            : h('span', { class: 'person-name', text: user.name }),
          h('span', { class: 'person-status' }, h('span', { class: `dot ${online ? 'on' : 'off'}`, 'aria-hidden': 'true' }), isMe ? 'you' : online ? 'online' : 'away'),
          isMe
            ? null
            : h(
                'span',
                { class: 'person-actions' },
                h(
                  'label',
                  { class: 'person-pick' },
                  h('input', {
                    type: 'checkbox',
                    value: user.name,
                    'aria-label': `Add ${user.name} to a group message`,
                    dataset: { focusKey: `pick:${user.name}` },
                    onchange: (event) => togglePick(user.name, event.target.checked),
                  }),
                  h('span', { text: 'Group', 'aria-hidden': 'true' }),
                ),
                h('button', { type: 'button', class: 'secondary small', text: 'Message', 'aria-label': `Message ${user.name}`, dataset: { focusKey: `dm:${user.name}` }, onclick: () => choose(user.name) }),
              ),
        );
      }),
    );
    showPicks();
    if (focused) [...list.querySelectorAll('[data-focus-key]')].find((el) => el.dataset.focusKey === focused)?.focus();
    moreButton.hidden = !search.hasMore || search.users.length === 0;
    if (search.loading && search.users.length === 0) status.textContent = 'Loading people…';
    // A search text no name can start with keeps saying why, also when presence redraws the list.
    else if (search.users.length === 0) status.textContent = prefixProblem(search.prefix) || (search.prefix ? 'No one’s name starts with that.' : 'No one here yet.');
    else status.textContent = '';
  }

  function togglePick(name, on) {
    if (on && picked.size < GROUP_DM_OTHERS_MAX) picked.add(name);
    else picked.delete(name);
    showPicks();
  }

  /** One name opens a one-to-one DM, several a group DM. */
  function choose(names) {
    dialog.close();
    openDm(names);
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
      picked.clear();
      showPicks();
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
