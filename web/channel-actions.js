// The open channel's actions, and opening conversations: the header's channel
// menu (invite, its member list, channel settings, notification level, desktop notifications,
// leave, with the confirmation a private channel asks for), its Invite button,
// the Join button of a public channel looked at without joining, and opening a
// direct conversation with someone (from the sidebar or the people dialog).
// Wired by app.js, which passes in what these act through.

import { setUpMenu } from './menu.js';
import { channelLabel } from './format.js';
import { errorText, frames } from './protocol.js';

/**
 * @param {object} app
 * @param {object} app.els the page's elements (see app.js)
 * @param {import('./store.js').ChatStore} app.store
 * @param {import('./drafts.js').Drafts} app.drafts
 * @param {ReturnType<import('./dialogs.js').setUpDialogs>} app.dialogs
 * @param {ReturnType<import('./channel-settings.js').channelSettingsDialog>} app.settings
 * @param {ReturnType<import('./members.js').membersDialog>} app.members
 * @param {import('./notifications.js').Notifier} app.notifier
 * @param {(frame: object, timeoutMs?: number) => Promise<object>} app.request a request on the current connection
 * @param {(id: number) => void} app.switchTo
 * @param {(text: string) => void} app.toast
 * @returns {{openDm: (users: string | string[]) => Promise<void>}}
 */
export function setUpChannelActions({ els, store, drafts, dialogs, settings, members, notifier, request, switchTo, toast }) {
  /** Opens the DM with one person, or with several (a group DM; one name is a one-to-one DM). */
  async function openDm(users) {
    const names = Array.isArray(users) ? users : [users];
    try {
      const reply = await request(names.length === 1 ? frames.openDm(names[0]) : frames.openGroupDm(names));
      store.upsertChannel(reply.channel);
      switchTo(reply.channel.id);
    } catch (failure) {
      toast(`Could not open a conversation with ${names.join(', ')}: ${errorText(failure.code, failure.message)}`);
    }
  }

  setUpMenu(els.channelMenuButton, els.channelMenu, (item) => {
    if (item.id === 'menu-invite') dialogs.invite.open();
    else if (item.id === 'menu-settings') settings.open();
    else if (item.id === 'menu-members') members.open();
    else if (item.id === 'menu-leave') leaveCurrent();
    else if (item.id === 'menu-desktop') notifier.askPermission().then((text) => text && toast(text));
    else if (item.dataset.notify) setNotifyLevel(item.dataset.notify);
  });

  /** My notification level for the open channel; the server's `channel` frame answers (to all my tabs). */
  async function setNotifyLevel(level) {
    const channel = store.current;
    if (!channel) return;
    try {
      const reply = await request(frames.notify(channel.id, level));
      if (reply.type === 'channel') store.upsertChannel(reply.channel);
    } catch (failure) {
      toast(`Could not change notifications: ${errorText(failure.code, failure.message)}`);
    }
  }

  /**
   * Asks before leaving a private channel, which only a member's invite opens
   * again; resolves true when the user confirms.
   */
  function confirmLeave(channel) {
    els.leaveTitle.textContent = `Leave ${channelLabel(channel.name)}?`;
    els.leaveText.textContent =
      'This channel is private. Once you leave, you will no longer see its messages, and you can only come back if a member adds you again.';
    els.leaveDialog.returnValue = '';
    els.leaveDialog.showModal();
    els.leaveDialog.querySelector('button[value="cancel"]').focus();
    return new Promise((done) => {
      els.leaveDialog.addEventListener('close', () => done(els.leaveDialog.returnValue === 'leave'), { once: true });
    });
  }

  async function leaveCurrent() {
    const channel = store.current;
    if (!channel || channel.kind === 'dm') return;
    if (channel.kind === 'private' && !(await confirmLeave(channel))) {
      els.channelMenuButton.focus();
      return;
    }
    try {
      await request(frames.leave(channel.id));
      drafts.set(channel.id, '');
      store.removeChannel(channel.id);
      switchTo(store.defaultChannel()?.id);
      const label = channelLabel(channel.name);
      toast(channel.kind === 'private' ? `You left ${label}.` : `You left ${label}. You can join it again from Browse channels.`);
    } catch (failure) {
      toast(`Could not leave: ${errorText(failure.code, failure.message)}`);
    }
  }

  els.inviteButton.addEventListener('click', () => dialogs.invite.open());

  /** Joins the public channel being looked at; its `channel` answer makes it mine, composer and all. */
  els.readOnlyJoin.addEventListener('click', async () => {
    const channel = store.current;
    if (!channel || channel.member !== false) return;
    els.readOnlyJoin.disabled = true;
    try {
      const reply = await request(frames.join(channel.id));
      store.upsertChannel(reply.channel);
      // Shown at once, before the next render says the same, so the focus has
      // somewhere to go instead of falling to the page with the hidden button.
      els.readOnly.hidden = true;
      els.composer.hidden = false;
      els.input.focus();
    } catch (failure) {
      toast(`Could not join: ${errorText(failure.code, failure.message)}`);
    } finally {
      els.readOnlyJoin.disabled = false;
    }
  });

  return { openDm };
}
