// The sidebar and the keyboard: clicks in the channel and people lists, the
// sidebar's buttons (browse, create, new message, people, shortcuts), the drawer
// it becomes on phones (menu button, close button, scrim, Escape), and the
// page-wide shortcuts (? for the shortcuts dialog, Escape to mark the open
// channel read, Alt+Up/Down between channels). Wired by app.js.

/**
 * @param {object} app
 * @param {object} app.els the page's elements (see app.js)
 * @param {import('./store.js').ChatStore} app.store
 * @param {ReturnType<import('./dialogs.js').setUpDialogs>} app.dialogs
 * @param {{open: () => void}} app.people the people dialog
 * @param {(id: number) => void} app.switchTo
 * @param {(user: string) => void} app.openDm
 * @param {() => void} app.markCurrentRead
 * @returns {{closeSidebar: () => void}}
 */
export function setUpSidebar({ els, store, dialogs, people, switchTo, openDm, markCurrentRead }) {
  els.sidebar.addEventListener('click', (event) => {
    const channelButton = event.target.closest('button[data-channel]');
    if (channelButton) return switchTo(Number(channelButton.dataset.channel));
    const userButton = event.target.closest('button[data-user]');
    if (userButton) openDm(userButton.dataset.user);
  });

  els.browseButton.addEventListener('click', () => dialogs.browse.open());
  els.newMessageButton.addEventListener('click', () => people.open());
  els.peopleButton.addEventListener('click', () => people.open());
  els.shortcutsButton.addEventListener('click', () => openShortcuts());
  els.shortcutsDialog.querySelector('[data-close]').addEventListener('click', () => els.shortcutsDialog.close());

  function openShortcuts() {
    els.shortcutsDialog.showModal();
    els.shortcutsDialog.querySelector('[data-close]').focus();
  }

  function isEditable(element) {
    return element instanceof HTMLElement && (element.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(element.tagName));
  }
  els.createButton.addEventListener('click', () => dialogs.create.open());

  function openSidebar() {
    els.appScreen.classList.add('nav-open');
    els.menuButton.setAttribute('aria-expanded', 'true');
    els.scrim.hidden = false;
    (els.sidebar.querySelector('.chan.active') || els.sidebar.querySelector('button'))?.focus();
  }

  function closeSidebar() {
    if (!els.appScreen.classList.contains('nav-open')) return;
    els.appScreen.classList.remove('nav-open');
    els.menuButton.setAttribute('aria-expanded', 'false');
    els.scrim.hidden = true;
  }

  els.menuButton.addEventListener('click', openSidebar);
  els.closeSidebar.addEventListener('click', () => {
    closeSidebar();
    els.menuButton.focus();
  });
  els.scrim.addEventListener('click', closeSidebar);

  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && els.appScreen.classList.contains('nav-open')) {
      closeSidebar();
      els.menuButton.focus();
      return;
    }
    // "?" outside a text field shows the keyboard shortcuts.
    if (event.key === '?' && !els.appScreen.hidden && !isEditable(event.target) && !document.querySelector('dialog[open]')) {
      event.preventDefault();
      openShortcuts();
      return;
    }
    // Escape (with no dialog or menu to close) marks the open channel read.
    if (event.key === 'Escape' && !els.appScreen.hidden && !document.querySelector('dialog[open]') && !event.defaultPrevented) {
      markCurrentRead();
    }
    // Alt+Up / Alt+Down walk the channel list in sidebar order; with Shift, only
    // the channels with unread messages.
    if (event.altKey && (event.key === 'ArrowUp' || event.key === 'ArrowDown') && !els.appScreen.hidden) {
      const buttons = [...els.sidebar.querySelectorAll('button[data-channel]')];
      const ids = buttons.map((b) => Number(b.dataset.channel));
      const step = event.key === 'ArrowUp' ? -1 : 1;
      const at = ids.indexOf(store.currentId);
      let next = null;
      if (event.shiftKey) {
        for (let i = 1; i < ids.length; i += 1) {
          const candidate = ids[(at + step * i + ids.length * i) % ids.length];
          const channel = store.channel(candidate);
          if (channel && store.unread(channel) > 0) {
            next = candidate;
            break;
          }
        }
      } else {
        next = ids[(at + step + ids.length) % ids.length];
      }
      if (next != null) {
        event.preventDefault();
        switchTo(next);
        els.input.focus();
      }
    }
  });

  return { closeSidebar };
}
