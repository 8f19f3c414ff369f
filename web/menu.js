// A menu button and its popup menu (the channel's options in the header), with
// the keyboard behaviour people expect of one: Enter, Space or ArrowDown opens it
// on the first item, arrows move, Escape closes it and gives focus back to the
// button, and a click elsewhere or Tab away closes it.

/**
 * @param {HTMLButtonElement} button the menu button (aria-controls the menu)
 * @param {HTMLElement} menu the element with role="menu" and role="menuitem" buttons
 * @param {(item: HTMLElement) => void} onChoose called with the chosen item, after the menu closed
 */
export function setUpMenu(button, menu, onChoose) {
  // Only what shows: an item, or a group of items (the notification levels), may be hidden.
  const items = () => [...menu.querySelectorAll('[role="menuitem"], [role="menuitemradio"]')].filter((item) => !item.closest('[hidden]'));

  function open(focusIndex = 0) {
    menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    // Under the button, right-aligned to it; set through the CSSOM, which the CSP allows.
    const rect = button.getBoundingClientRect();
    menu.style.top = `${rect.bottom + 4}px`;
    menu.style.right = `${Math.max(8, document.documentElement.clientWidth - rect.right)}px`;
    const list = items();
    list[(focusIndex + list.length) % list.length]?.focus();
  }

  function close({ restoreFocus = false } = {}) {
    if (menu.hidden) return;
    menu.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    if (restoreFocus) button.focus();
  }

  button.addEventListener('click', () => (menu.hidden ? open() : close()));
  button.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      open(event.key === 'ArrowDown' ? 0 : -1);
    }
  });
  menu.addEventListener('keydown', (event) => {
    const list = items();
    const at = list.indexOf(document.activeElement);
    if (event.key === 'Escape') {
      // Handled here: Escape closing a menu must not also mark the channel read.
      event.preventDefault();
      close({ restoreFocus: true });
    } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      list[(at + (event.key === 'ArrowDown' ? 1 : -1) + list.length) % list.length]?.focus();
    } else if (event.key === 'Home' || event.key === 'End') {
      event.preventDefault();
      list[event.key === 'Home' ? 0 : list.length - 1]?.focus();
    } else if (event.key === 'Tab') {
      close();
    }
  });
  menu.addEventListener('click', (event) => {
    const item = event.target.closest('[role="menuitem"], [role="menuitemradio"]');
    if (!item) return;
    close();
    onChoose(item);
  });
  document.addEventListener('pointerdown', (event) => {
    if (!menu.hidden && !menu.contains(event.target) && !button.contains(event.target)) close();
  });
  window.addEventListener('resize', () => close());

  return { close };
}
