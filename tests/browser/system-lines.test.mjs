// Issue 13, point 6 (system lines): joins, leaves and invites (with who did
// it) appear in the channel as centred muted lines, stored in its stream so a
// reload (history) and a reconnect (resume) carry them; they are never grouped
// with chat or shown as anyone's message.

import assert from 'node:assert/strict';
import {
  browserTest,
  createChannel,
  expectTexts,
  expectVisible,
  messageBodies,
  openChannel,
  saveScreenshot,
  sendMessage,
  sidebarChannel,
  waitFor,
  waitForChat,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture();
const env = fixture.env;

function systemLines(page) {
  return page.locator('#messages .system-line .system-text');
}

browserTest('joins, leaves and invites show as system lines for everyone, and stay', env, async (session) => {
  const [alice, bob, carol] = [await fixture.server.register('alice'), await fixture.server.register('bob'), await fixture.server.register('carol')];
  const alicePage = await session.newPage({ account: alice });
  const bobPage = await session.newPage({ account: bob });
  const carolPage = await session.newPage({ account: carol, viewport: { width: 390, height: 780 }, label: 'carol-phone' });

  await createChannel(alicePage, 'launch');
  await sendMessage(alicePage, 'plan for the launch:');
  // Alice adds bob; both see who added whom.
  await alicePage.getByRole('button', { name: 'Add people' }).click();
  await alicePage.locator('#invite-dialog').getByLabel('Username').fill('bob');
  await alicePage.locator('#invite-dialog').getByRole('button', { name: 'Add', exact: true }).click();
  await expectVisible(alicePage.locator('#invite-done'), 'the invite answer');
  await alicePage.locator('#invite-dialog').getByRole('button', { name: 'Done' }).click();
  await expectTexts(systemLines(alicePage), ['alice added bob.'], 'alice\'s system line');
  await sendMessage(alicePage, 'step two');
  await openChannel(bobPage, 'launch');
  await expectTexts(systemLines(bobPage), ['alice added bob.'], 'bob\'s system line');

  // Carol joins from the browse dialog on her phone, then bob leaves.
  await carolPage.getByRole('button', { name: 'Open menu' }).click();
  await carolPage.getByRole('button', { name: 'Browse channels' }).click();
  await carolPage.locator('#browse-dialog').getByRole('button', { name: 'Join launch' }).click();
  await waitFor('launch open for carol', async () => (await carolPage.locator('#channel-title .title-text').textContent()) === 'launch');
  await bobPage.getByRole('button', { name: 'Channel options' }).click();
  await bobPage.getByRole('menuitem', { name: 'Leave channel' }).click();
  const lines = ['alice added bob.', 'carol joined.', 'bob left.'];
  await expectTexts(systemLines(alicePage), lines, 'alice sees all three lines in order');
  await expectTexts(systemLines(carolPage), lines, 'carol sees the history\'s line, her join and bob leaving');
  await saveScreenshot(alicePage, 'system-lines-desktop');
  await saveScreenshot(carolPage, 'system-lines-phone');

  // Centred and muted, and never a chat message: alice's "step two" after the
  // line has its own header instead of being grouped with "plan for the launch:".
  const look = await alicePage.locator('#messages .system-line').first().evaluate((el) => ({ align: getComputedStyle(el).textAlign, isMsg: el.classList.contains('msg') }));
  assert.deepEqual(look, { align: 'center', isMsg: false });
  assert.deepEqual(await alicePage.locator('#messages .msg-sender').allTextContents(), ['alice', 'alice'], 'two headers: the line broke the group');
  assert.deepEqual(await messageBodies(alicePage).allTextContents(), ['plan for the launch:', 'step two'], 'system lines are not message bodies');

  // Stored: after a reload they come back with the history.
  await alicePage.reload();
  await waitForChat(alicePage);
  await sidebarChannel(alicePage, 'launch').click();
  await expectTexts(systemLines(alicePage), lines, 'the lines after a reload');
});
