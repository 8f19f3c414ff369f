// Issue 13, point 1: an unsent draft stays in the channel it was typed in. Text
// typed in a DM and left there must never show up in General's composer (where
// Enter would post it publicly); each channel keeps its own draft across channel
// switches and reloads, marked in the sidebar, and the server never sees it.

import assert from 'node:assert/strict';
import {
  WsClient,
  browserTest,
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

const SECRET = 'the salary numbers are in the shared folder, do not forward';

browserTest('a draft stays in its own channel across switches and reloads', env, async (session) => {
  const alice = await fixture.server.register('alice');
  const bob = await fixture.server.register('bob');
  const alicePage = await session.newPage({ account: alice });
  const bobPage = await session.newPage({ account: bob });
  const composer = alicePage.locator('#composer-input');

  // Alice starts a DM with bob and types without sending.
  await alicePage.locator('#online-list button[data-user="bob"]').click();
  await waitFor('the DM with bob open', async () => (await alicePage.locator('#channel-title .title-text').textContent()) === 'bob');
  await composer.fill(SECRET);

  // Switching to General shows General's own (empty) composer.
  await openChannel(alicePage, 'General');
  assert.equal(await composer.inputValue(), '', 'General\'s composer does not hold the DM draft');
  await expectVisible(sidebarChannel(alicePage, 'bob').locator('.draft-mark'), 'the draft marker on the DM');
  assert.equal(await sidebarChannel(alicePage, 'General').locator('.draft-mark').count(), 0, 'General has no draft');
  // Enter in the empty composer sends nothing; a message typed here goes to General.
  await composer.press('Enter');
  await sendMessage(alicePage, 'good morning everyone');
  await expectTexts(messageBodies(bobPage), ['good morning everyone'], 'bob to see only the General message');
  await saveScreenshot(alicePage, 'drafts-desktop');

  // A General draft and the DM draft are kept apart, and both survive a reload.
  await composer.fill('half a thought for General');
  await alicePage.reload();
  await waitForChat(alicePage);
  await waitFor('General open after the reload', async () => (await alicePage.locator('#channel-title .title-text').textContent()) === 'General');
  assert.equal(await composer.inputValue(), 'half a thought for General', 'General\'s draft after the reload');
  await expectVisible(sidebarChannel(alicePage, 'bob').locator('.draft-mark'), 'the DM\'s draft marker after the reload');
  await openChannel(alicePage, 'bob');
  assert.equal(await composer.inputValue(), SECRET, 'the DM\'s own draft is back in its composer');
  await expectVisible(sidebarChannel(alicePage, 'General').locator('.draft-mark'), 'General\'s draft marker while the DM is open');

  // Sending the draft where it belongs clears it.
  await composer.press('Enter');
  await waitFor('the draft sent', async () => (await composer.inputValue()) === '');
  await bobPage.locator('#online-list button[data-user="alice"]').click();
  await expectTexts(messageBodies(bobPage), [SECRET], 'bob to get the DM');
  await openChannel(alicePage, 'General');
  assert.equal(await sidebarChannel(alicePage, 'bob').locator('.draft-mark').count(), 0, 'no marker once sent');

  // The server never saw the draft anywhere but in the DM.
  const ws = await WsClient.connect(fixture.server, bob);
  const general = await ws.request({ type: 'history', channel: ws.channelNamed('General').id, limit: 100 });
  ws.close();
  assert.deepEqual(general.messages.map((m) => m.body), ['good morning everyone'], 'General holds no draft text');

  // At phone width the marker shows in the slide-in menu too (drafts live in
  // this browser's storage, so the same page is narrowed).
  await composer.fill('one more for General');
  await openChannel(alicePage, 'bob');
  await alicePage.setViewportSize({ width: 390, height: 780 });
  await alicePage.getByRole('button', { name: 'Open menu' }).click();
  await expectVisible(sidebarChannel(alicePage, 'General').locator('.draft-mark'), 'General\'s draft marker on the phone');
  await saveScreenshot(alicePage, 'drafts-phone');
});

browserTest('signing out forgets the drafts of the user who signed out', env, async (session) => {
  const carol = await fixture.server.register('carol');
  const page = await session.newPage({ account: carol });
  await page.locator('#composer-input').fill('not for the next person at this desk');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#auth-screen').waitFor({ state: 'visible' });
  const left = await page.evaluate(() => Object.keys(localStorage).filter((key) => key.startsWith('natter.draft.')));
  assert.deepEqual(left, [], 'no draft left in local storage');
});
