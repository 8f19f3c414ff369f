// Store changes come out as renders: each change marks the parts it touches
// dirty, and one render per animation frame (or timer, in a hidden tab) redraws
// them through render.js and timeline.js; with them go the unread bar, the tab
// title and the menu button's dot. Wired by app.js.

import { channelLabel, clockTime } from './format.js';
import { renderHeader, renderSidebar, renderTyping } from './render.js';
import { inSidebar } from './store-settings.js';

/**
 * @param {object} app
 * @param {import('./store.js').ChatStore} app.store
 * @param {object} app.els the page's elements (see app.js)
 * @param {import('./drafts.js').Drafts} app.drafts
 * @param {import('./timeline.js').MessageView} app.view
 * @param {() => void} app.markReadIfViewing called after the open channel's messages render
 * @returns {{dirty: object, scheduleRender: () => void, renderNow: () => void, renderAll: () => void}}
 */
export function setUpRendering({ store, els, drafts, view, markReadIfViewing }) {
  const dirty = { sidebar: false, header: false, messages: false, typing: false };
  let renderQueued = false;

  store.addEventListener('change', (event) => {
    const { what, channelId } = event.detail;
    if (what === 'channels' || what === 'online' || what === 'current') dirty.sidebar = true;
    if (what === 'channels' || what === 'online' || what === 'current') dirty.header = true;
    if (what === 'current' || (what === 'messages' && channelId === store.currentId)) dirty.messages = true;
    if (what === 'current' || (what === 'typing' && channelId === store.currentId)) dirty.typing = true;
    scheduleRender();
  });

  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    // A frame batches bursts (a resume replay); the timer covers hidden tabs,
    // where animation frames stop.
    requestAnimationFrame(flushRender);
    setTimeout(flushRender, 100);
  }

  function flushRender() {
    if (!renderQueued) return;
    renderQueued = false;
    if (dirty.sidebar) renderSidebar(store, els, { hasDraft: (id) => drafts.has(id) });
    if (dirty.header) renderHeader(store, els);
    if (dirty.typing) renderTyping(store, els.typing);
    if (dirty.messages && store.current) {
      view.render(store, store.current);
      markReadIfViewing();
    }
    renderUnreadBar();
    dirty.sidebar = dirty.header = dirty.messages = dirty.typing = false;
    updateTitle();
  }

  function renderNow() {
    renderQueued = true;
    flushRender();
  }

  function renderAll() {
    dirty.sidebar = dirty.header = dirty.messages = dirty.typing = true;
    scheduleRender();
  }

  function updateTitle() {
    let unread = 0;
    let mentions = 0;
    for (const channel of store.channels.values()) {
      // What waits in channels the sidebar does not list (archived ones) cannot be found there.
      if (!inSidebar(channel)) continue;
      if (channel.id !== store.currentId) unread += store.unread(channel);
      mentions += store.mentionCount(channel);
    }
    const channel = store.current;
    const base = channel ? `${channel.kind === 'dm' ? store.displayName(channel) : channelLabel(channel.name)} · natter` : 'natter';
    // The tab says how many times I was mentioned and not yet read it.
    document.title = mentions ? `(${mentions}) ${base}` : base;
    // On phones the sidebar is hidden: the menu button says something is waiting there.
    els.menuDot.hidden = unread === 0;
    els.menuButton.setAttribute('aria-label', unread ? 'Open menu, unread messages in other channels' : 'Open menu');
  }

  /** The bar over a channel opened with unread messages: how many, since when, Jump, Mark read. */
  function renderUnreadBar() {
    const channel = store.current;
    const unread = channel && channel.loaded && view.unreadFrom != null && view.channelId === channel.id ? store.unread(channel) : 0;
    els.unreadBar.hidden = unread === 0;
    if (!unread) return;
    const first = channel.bySeq.get(view.unreadFrom);
    const since = first ? ` since ${clockTime(first.ts)}` : '';
    els.unreadBarText.textContent = `${unread} new message${unread === 1 ? '' : 's'}${since}`;
  }

  return { dirty, scheduleRender, renderNow, renderAll };
}
