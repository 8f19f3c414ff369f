// The search box: Ctrl/Cmd+K (or / outside a text field, or the header's
// magnifier) opens it over the chat. As the user types it is a quick switcher:
// the channels, conversations and people the text names, each opened by
// choosing it. Enter on "Search messages for …" (or Shift+Enter anywhere) runs
// a message search; the hits replace the list, newest first, each with its
// sender, place, time and an excerpt whose matched pieces are <mark>s. Choosing
// a hit shows its channel at that message (app.js's openMessage, the reply
// jump's window). The list is a listbox driven from the input (a combobox):
// Up/Down choose, Enter opens, Escape closes. All user text goes in as text
// nodes (dom.js); the pure parts are search.js's.

import { h, icon, replaceChildren } from './dom.js';
import { fullTime } from './format.js';
import { DirectorySearch } from './people.js';
import { touchFirst } from './composer.js';
import { avatar } from './render.js';
import { tombstoneText } from './timeline.js';
import { MessageSearch, directoryPrefix, excerpt, hitPlace, hitTime, switchMatches } from './search.js';

/** How long typing must pause before the directory is asked for people (ms). */
const DIRECTORY_DEBOUNCE_MS = 150;
/** People the directory is asked for while typing. */
const DIRECTORY_LIMIT = 8;
/** Scrolling the hits this close to their end (px) fetches the next page. */
const MORE_AT_PX = 80;

function isEditable(element) {
  return element instanceof HTMLElement && (element.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(element.tagName));
}

/**
 * @param {object} app
 * @param {import('./store.js').ChatStore} app.store
 * @param {(frame: object) => Promise<object>} app.request a request on the current connection
 * @param {(id: number) => void} app.switchTo
 * @param {(user: string) => void} app.openDm
 * @param {(channelId: number, seq: number) => boolean} app.openMessage false when the channel is not mine
 * @param {(text: string) => void} app.toast
 * @returns {{open: () => void, close: () => void}}
 */
export function setUpSearch({ store, request, switchTo, openDm, openMessage, toast }) {
  const $ = (id) => document.getElementById(id);
  const dialog = $('search-dialog');
  const input = $('search-input');
  const list = $('search-list');
  const status = $('search-status');
  const moreButton = $('search-more');
  const appScreen = $('app-screen');

  const directory = new DirectorySearch(request);
  const search = new MessageSearch(request);
  /** 'switch': the list follows the typed text; 'results': it shows the hits of `search`. */
  let mode = 'switch';
  /** What the list offers: [{kind, ...}], in order, and which of them is chosen. */
  let options = [];
  let selected = 0;
  let directoryTimer = null;
  let returnFocus = null;
  /** Whose search the hits are: another sign-in on this page never sees them. */
  let searchedBy = null;

  // ---- opening and closing --------------------------------------------------------

  function open() {
    if (appScreen.hidden) return;
    if (dialog.open) {
      input.focus();
      input.select();
      return;
    }
    returnFocus = document.activeElement;
    if (searchedBy !== (store.me?.id ?? null)) {
      mode = 'switch';
      search.reset('');
    }
    // Coming back to a search shows its hits again, the query ready to change.
    input.value = mode === 'results' ? search.query : '';
    if (mode !== 'results') directory.reset('');
    selected = 0;
    dialog.showModal();
    input.focus();
    input.select();
    render();
  }

  function close() {
    if (dialog.open) dialog.close();
  }

  dialog.addEventListener('close', () => {
    clearTimeout(directoryTimer);
    const back = returnFocus;
    returnFocus = null;
    if (back && back.isConnected && document.activeElement === document.body) back.focus();
  });
  dialog.querySelector('[data-close]').addEventListener('click', () => close());
  // A click on the backdrop (outside the box) closes it, as Escape does.
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) close();
  });

  document.addEventListener('keydown', (event) => {
    if (appScreen.hidden || event.defaultPrevented || event.isComposing) return;
    const otherDialog = [...document.querySelectorAll('dialog[open]')].some((other) => other !== dialog);
    const commandK = (event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey && String(event.key || '').toLowerCase() === 'k';
    const slash = event.key === '/' && !event.ctrlKey && !event.metaKey && !event.altKey && !isEditable(event.target) && !dialog.open;
    if ((commandK || slash) && !otherDialog) {
      event.preventDefault();
      open();
    }
  });
  $('search-button').addEventListener('click', () => open());

  // ---- the list ---------------------------------------------------------------------

  /** The quick switcher's options for the typed text: what it names, and the message search. */
  function switchOptions() {
    const text = input.value;
    const { channels, people } = switchMatches(store, text, directory.prefix === directoryPrefix(text) ? directory.users : []);
    const named = [...channels.map((channel) => ({ kind: 'channel', channel })), ...people.map((person) => ({ kind: 'person', person }))];
    if (!text.trim()) return named;
    const searchOption = { kind: 'search', query: text.trim() };
    // A name that starts with the text is what was meant: it comes first and
    // Enter opens it. Otherwise searching the messages is.
    const exact = named.some((option) => (option.channel || option.person).rank === 0);
    return exact ? [...named, searchOption] : [searchOption, ...named];
  }

  function render() {
    if (mode === 'results') {
      options = search.hits.map((hit) => ({ kind: 'hit', hit }));
      list.setAttribute('aria-label', 'Messages found');
    } else {
      options = switchOptions();
      list.setAttribute('aria-label', 'Channels, people and search');
    }
    selected = Math.min(selected, Math.max(0, options.length - 1));
    replaceChildren(list, options.map((option, index) => optionElement(option, index)));
    renderStatus();
    moreButton.hidden = mode !== 'results' || !search.hasMore;
    moreButton.disabled = search.loading;
    select(selected, { scroll: false });
  }

  function renderStatus() {
    status.classList.toggle('error', mode === 'results' && Boolean(search.error));
    if (mode === 'switch') {
      status.textContent = input.value.trim() ? '' : 'Type to find a channel or person, or words to search messages for.';
      return;
    }
    const count = search.hits.length;
    if (search.error) status.textContent = search.error;
    else if (search.loading && count === 0) status.textContent = 'Searching…';
    else if (count === 0) status.textContent = `No messages match “${search.query}”.`;
    else status.textContent = `${count}${search.hasMore ? '+' : ''} message${count === 1 && !search.hasMore ? '' : 's'} found for “${search.query}”, newest first.`;
  }

  function optionElement(option, index) {
    const props = { id: `search-option-${index}`, role: 'option', class: `search-option ${option.kind}`, 'aria-selected': 'false', dataset: { index: String(index) } };
    if (option.kind === 'search') {
      return h('li', props, icon('search', 'icon search-option-icon'), h('span', { class: 'search-option-name' }, 'Search messages for ', h('strong', { text: `“${option.query}”` })));
    }
    if (option.kind === 'channel') {
      const { name, kind, archived } = option.channel;
      return h(
        'li',
        props,
        icon(kind === 'private' ? 'lock' : 'hash', 'icon search-option-icon'),
        h('span', { class: 'search-option-name', text: name }),
        h('span', { class: 'search-option-kind', text: `${archived ? 'archived ' : ''}${kind === 'private' ? 'private channel' : 'channel'}` }),
      );
    }
    if (option.kind === 'person') {
      const { name, dm } = option.person;
      return h(
        'li',
        props,
        avatar(name, 'tiny'),
        h('span', { class: 'search-option-name', text: name }),
        h('span', { class: 'search-option-kind', text: dm != null ? 'direct message' : 'person' }),
      );
    }
    return hitElement(option.hit, props);
  }

  /** One message found: who, where, when, and the excerpt with the matched pieces marked. */
  function hitElement({ message, highlights }, props) {
    let body;
    if (message.deleted) {
      body = h('p', { class: 'search-hit-body deleted', text: tombstoneText(message) });
    } else {
      const { segments, cutStart, cutEnd } = excerpt(message.body, highlights);
      body = h(
        'p',
        { class: 'search-hit-body' },
        cutStart ? '…' : null,
        segments.map((segment) => (segment.mark ? h('mark', { text: segment.text }) : segment.text)),
        cutEnd ? '…' : null,
      );
    }
    return h(
      'li',
      { ...props, class: 'search-option search-hit', dataset: { ...props.dataset, channel: String(message.channel), seq: String(message.seq) } },
      avatar(message.sender, 'small'),
      h(
        'div',
        { class: 'search-hit-main' },
        h(
          'div',
          { class: 'search-hit-meta' },
          h('span', { class: 'search-hit-sender', text: message.sender }),
          h('span', { class: 'search-hit-place', text: hitPlace(store, message.channel) }),
          h('time', { class: 'search-hit-time', dateTime: new Date(message.ts).toISOString(), title: fullTime(message.ts), text: hitTime(message.ts) }),
        ),
        body,
      ),
    );
  }

  /** Marks option `index` as the chosen one, for the eye and for screen readers. */
  function select(index, { scroll = true } = {}) {
    selected = index;
    for (const element of list.children) element.setAttribute('aria-selected', String(Number(element.dataset.index) === index));
    const element = list.children[index];
    if (element) {
      input.setAttribute('aria-activedescendant', element.id);
      if (scroll) element.scrollIntoView({ block: 'nearest' });
    } else {
      input.removeAttribute('aria-activedescendant');
    }
  }

  function move(step) {
    if (!options.length) return;
    // Down from the last hit fetches the next page first.
    if (mode === 'results' && step > 0 && selected === options.length - 1 && search.hasMore) {
      loadMore().then(() => select(Math.min(selected + 1, options.length - 1)));
      return;
    }
    select((selected + step + options.length) % options.length);
  }

  // ---- choosing -----------------------------------------------------------------------

  function choose(option) {
    if (!option) return;
    if (option.kind === 'search') return runSearch(option.query);
    returnFocus = null;
    close();
    if (option.kind === 'channel') switchTo(option.channel.id);
    else if (option.kind === 'person') {
      if (option.person.dm != null) switchTo(option.person.dm);
      else openDm(option.person.name);
    } else if (option.kind === 'hit') {
      const { channel, seq } = option.hit.message;
      if (!openMessage(channel, seq)) toast('That conversation is no longer one of yours.');
    }
  }

  function runSearch(query) {
    mode = 'results';
    searchedBy = store.me?.id ?? null;
    selected = 0;
    list.scrollTop = 0;
    input.value = query;
    const running = search.run(query);
    render();
    running.then((current) => {
      if (current && mode === 'results') render();
    });
    // On a touch screen the keyboard goes, so the hits can be read.
    if (touchFirst.matches) input.blur();
  }

  function loadMore() {
    const loading = search.more();
    render();
    return loading.then((current) => {
      if (current && mode === 'results') render();
    });
  }

  // ---- typing -------------------------------------------------------------------------------

  input.addEventListener('input', () => {
    mode = 'switch';
    selected = 0;
    list.scrollTop = 0;
    render();
    clearTimeout(directoryTimer);
    const prefix = directoryPrefix(input.value);
    if (!prefix) return;
    directoryTimer = setTimeout(() => {
      directory.reset(prefix);
      directory
        .more(DIRECTORY_LIMIT)
        .then((current) => {
          if (current && mode === 'switch' && directoryPrefix(input.value) === prefix) render();
        })
        .catch(() => {
          // No people from the directory this time: the channels and DMs still show.
        });
    }, DIRECTORY_DEBOUNCE_MS);
  });

  // On the dialog, not the input: after a search on a touch screen the input
  // gives up the focus (and the keyboard with it), and the keys still work.
  dialog.addEventListener('keydown', (event) => {
    if (event.isComposing) return;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      move(event.key === 'ArrowDown' ? 1 : -1);
    } else if (event.key === 'Enter' && event.target === input) {
      event.preventDefault();
      const text = input.value.trim();
      // Shift+Enter searches the messages, whatever the list offers first.
      if (event.shiftKey) {
        if (text) runSearch(text);
      } else {
        choose(options[selected]);
      }
    }
  });

  list.addEventListener('click', (event) => {
    const element = event.target.closest('[role="option"]');
    if (!element) return;
    select(Number(element.dataset.index), { scroll: false });
    choose(options[Number(element.dataset.index)]);
    if (dialog.open && !touchFirst.matches) input.focus();
  });
  moreButton.addEventListener('click', () => {
    loadMore().then(() => {
      if (!touchFirst.matches) input.focus();
    });
  });
  list.addEventListener(
    'scroll',
    () => {
      if (mode !== 'results' || !search.hasMore || search.loading) return;
      if (list.scrollHeight - list.scrollTop - list.clientHeight < MORE_AT_PX) loadMore();
    },
    { passive: true },
  );

  // Channels come and go (joined, left, renamed) while the box is open.
  store.addEventListener('change', (event) => {
    if (dialog.open && mode === 'switch' && event.detail.what === 'channels') render();
  });

  return { open, close };
}
