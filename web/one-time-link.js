// A link shown once (an invite or a password-reset link: the server keeps only
// a hash of its token, so nobody can see it again): a read-only field holding
// it, a Copy button, and a note saying it is shown only now. The field is
// selected when it appears, so Ctrl+C copies it too where the clipboard is
// out of a page's reach.

import { h } from './dom.js';

let counter = 0;

/**
 * @param {object} options
 * @param {string} options.label what the link is ("New invite link")
 * @param {string} options.url the link itself
 * @param {string} options.note what to do with it, said under the field
 * @returns {HTMLElement}
 */
export function oneTimeLink({ label, url, note }) {
  counter += 1;
  const id = `one-time-link-${counter}`;
  const input = h('input', { id, class: 'link-once-url', readOnly: true, value: url, autocomplete: 'off' });
  input.setAttribute('aria-describedby', `${id}-note`);
  input.spellcheck = false;
  const status = h('span', { class: 'link-once-status', role: 'status' });
  const copy = h('button', {
    type: 'button',
    class: 'secondary small',
    text: 'Copy',
    'aria-label': `Copy ${label.toLowerCase()}`,
    onclick: async () => {
      status.textContent = (await copyText(input)) ? 'Copied.' : 'Select the link and copy it (Ctrl+C).';
    },
  });
  // Selecting the whole link on focus: a click, a tap or Tab takes all of it.
  input.addEventListener('focus', () => input.select());
  return h(
    'div',
    { class: 'link-once' },
    h('label', { htmlFor: id, class: 'link-once-label', text: label }),
    h('div', { class: 'link-once-row' }, input, copy),
    h('p', { id: `${id}-note`, class: 'hint', text: note }),
    status,
  );
}

/** Puts the field's text on the clipboard; resolves whether that worked. */
async function copyText(input) {
  try {
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch {
    // No clipboard permission (or an insecure origin): the older way, from
    // the selected field, which a click allows.
    input.focus();
    input.select();
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
}
