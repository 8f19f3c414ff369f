// Group DMs: in the people dialog, ticking several people and "Message N
// people" opens one DM for all of them (`open_dm` with `users`). Everyone in
// it sees it in their sidebar, named after the others, and reads what is sent.

import assert from 'node:assert/strict';
import { expectTexts, expectVisible, messageBodies, sendMessage, sidebarChannel, waitFor, sharedFixture, browserTest } from './helpers.mjs';

const fixture = sharedFixture();

/** Records every frame the page sends on its WebSockets (parsed JSON); pass as `beforeLoad`. */
function recordSent(sent) {
  return (page) =>
    page.on('websocket', (socket) => {
      socket.on('framesent', ({ payload }) => {
        try {
          sent.push(JSON.parse(String(payload)));
        } catch {
          // Not JSON: not a natter frame.
        }
      });
    });
}
const env = fixture.env;

browserTest('a group DM opened from the people dialog reaches everyone in it', env, async (session) => {
  const alice = await fixture.server.register('alice');
  const bob = await fixture.server.register('bob');
  const carol = await fixture.server.register('carol');
  await fixture.server.register('dave');

  const alicePage = await session.newPage({ account: alice });
  const bobPage = await session.newPage({ account: bob });
  // Carol is on a phone.
  const carolPage = await session.newPage({ account: carol, viewport: { width: 390, height: 780 }, label: 'carol-phone' });

  await alicePage.getByRole('button', { name: 'New message' }).click();
  const dialog = alicePage.locator('#people-dialog');
  await expectVisible(dialog, 'the people directory');
  const groupButton = dialog.locator('#people-group');
  await expectVisible(dialog.getByRole('checkbox', { name: 'Add carol to a group message' }), 'carol\'s tick box');
  assert.equal(await groupButton.isVisible(), false, 'no group button before anyone is ticked');
  assert.equal(await dialog.getByRole('checkbox', { name: /alice/ }).count(), 0, 'no tick box for me');

  // By keyboard: Space ticks the focused box.
  await dialog.getByRole('checkbox', { name: 'Add bob to a group message' }).focus();
  await alicePage.keyboard.press('Space');
  await expectTexts(groupButton, ['Message 1 person'], 'one person ticked');
  await dialog.getByRole('checkbox', { name: 'Add carol to a group message' }).check();
  await expectTexts(groupButton, ['Message 2 people'], 'two people ticked');
  // Unticking takes someone out again.
  await dialog.getByRole('checkbox', { name: 'Add dave to a group message' }).check();
  await dialog.getByRole('checkbox', { name: 'Add dave to a group message' }).uncheck();
  await expectTexts(groupButton, ['Message 2 people'], 'dave unticked');

  await groupButton.click();
  await waitFor('the group DM open for alice', async () => (await alicePage.locator('#channel-title .title-text').textContent()) === 'bob, carol');
  assert.equal(await dialog.isVisible(), false, 'the dialog closed');
  assert.equal(await alicePage.locator('#channel-sub').textContent(), 'Group message · 3 people');
  await expectVisible(sidebarChannel(alicePage, 'bob, carol'), 'the group DM in alice\'s sidebar');

  // The others get it too, named after everyone but themselves.
  await expectVisible(sidebarChannel(bobPage, 'alice, carol'), 'the group DM in bob\'s sidebar');
  await carolPage.getByRole('button', { name: 'Open menu' }).click();
  await expectVisible(sidebarChannel(carolPage, 'alice, bob'), 'the group DM in carol\'s sidebar');
  assert.equal(await sidebarChannel(bobPage, 'alice').count(), 0, 'no one-to-one DM with alice made for bob');

  await sendMessage(alicePage, 'lunch at noon, all three of us?');
  await sidebarChannel(bobPage, 'alice, carol').click();
  await expectTexts(messageBodies(bobPage), ['lunch at noon, all three of us?'], 'bob to read the group message');
  await sidebarChannel(carolPage, 'alice, bob').click();
  await expectTexts(messageBodies(carolPage), ['lunch at noon, all three of us?'], 'carol to read the group message');
});

browserTest('one person ticked opens the one-to-one DM, as Message does', env, async (session) => {
  const erin = await fixture.server.register('erin');
  await fixture.server.register('frank');
  const sent = [];
  const page = await session.newPage({ account: erin, viewport: { width: 390, height: 780 }, label: 'erin-phone', beforeLoad: recordSent(sent) });
  await page.getByRole('button', { name: 'Open menu' }).click();
  await page.getByRole('button', { name: 'Browse people' }).click();
  const dialog = page.locator('#people-dialog');
  await dialog.getByLabel('Find people by name').fill('fr');
  await expectTexts(dialog.locator('#people-list .person-name'), ['frank'], 'frank for "fr"');
  await dialog.getByRole('checkbox', { name: 'Add frank to a group message' }).check();
  await dialog.getByRole('button', { name: 'Message 1 person' }).click();
  await waitFor('the DM with frank open', async () => (await page.locator('#channel-title .title-text').textContent()) === 'frank');
  assert.match(await page.locator('#channel-sub').textContent(), /^Direct message/, 'a one-to-one DM');
  const openDms = sent.filter((frame) => frame.type === 'open_dm');
  assert.deepEqual(openDms.map(({ user, users }) => ({ user, users })), [{ user: 'frank', users: undefined }], 'open_dm with user, not users');
});
