// Issue 13, point 10: reconnection and keyboard details. While the link is down
// my own status says so; once the server answers again the page reconnects at
// once (with a little jitter) instead of sitting out its backoff; a channel
// opened while offline shows one "Loading messages…" note, not "Load older
// messages" beside it; "?" opens a keyboard shortcuts sheet; Page Up/Down in
// the composer scroll the messages; Tab after the send button reaches the next
// control; Enter in the browse dialog opens or joins the first match; and the
// browse control says "Browse channels" in words.

import assert from 'node:assert/strict';
import {
  WsClient,
  browserTest,
  expectHidden,
  expectVisible,
  messageBodies,
  saveScreenshot,
  sidebarChannel,
  waitFor,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture();
const env = fixture.env;

/** The banner's attempt number while reconnecting (0 when it shows none). */
async function attemptShown(page) {
  const text = (await page.locator('#conn-banner-text').textContent()) || '';
  const match = text.match(/attempt (\d+)/);
  return match ? Number(match[1]) : 0;
}

browserTest('offline shows in my own status, and the page reconnects as soon as the server answers', env, async (session) => {
  const alice = await fixture.server.register('alice');
  const bobWs = await WsClient.connect(fixture.server, await fixture.server.register('bob'));
  const later = (await bobWs.request({ type: 'create_channel', name: 'later', private: false })).channel.id;
  await bobWs.post(later, 'read me when you are back');
  const aliceWs = await WsClient.connect(fixture.server, alice);
  await aliceWs.request({ type: 'join', channel: later });
  aliceWs.close();
  bobWs.close();

  const page = await session.newPage({ account: alice });
  assert.equal(await page.locator('#me-status-text').textContent(), 'online');
  await fixture.server.kill();
  await waitFor('my own status to say offline', async () => /offline/.test(await page.locator('#me-status-text').textContent()));
  assert.equal(await page.locator('#me-dot').getAttribute('class'), 'dot off', 'my own dot is off');
  await saveScreenshot(page, 'offline-desktop');

  // A channel never opened, clicked while offline: one note, nothing to click.
  await sidebarChannel(page, 'later').click();
  await expectVisible(page.locator('#messages').getByText('Loading messages…'), 'the loading note');
  assert.equal(await page.locator('#messages').getByText('Load older messages').count(), 0, 'no "Load older messages" while nothing is loaded');

  // Let the backoff grow (attempt 6 waits 7.5 to 15 s), then bring the server back.
  await waitFor('the sixth reconnect attempt to be scheduled', async () => (await attemptShown(page)) >= 6, { timeout: 40000, interval: 100 });
  const due = Number(await page.evaluate(() => document.body.dataset.nextAttempt));
  assert.ok(due > 0, 'the page says when its next attempt is due');
  await fixture.server.restart();
  await page.locator('body[data-connection="open"]').waitFor({ timeout: 30000 });
  const openedAt = await page.evaluate(() => Date.now());
  assert.ok(openedAt < due, `reconnected before the backed-off attempt was due (${due - openedAt} ms early)`);
  assert.equal(await page.locator('#me-status-text').textContent(), 'online');
  await waitFor('later\'s messages loaded', async () => (await messageBodies(page).allTextContents()).includes('read me when you are back'));
});

browserTest('?, Page Up/Down from the composer, and Tab after Send', env, async (session) => {
  const carol = await fixture.server.register('carol');
  const writers = [];
  for (const name of ['w1', 'w2', 'w3']) writers.push(await WsClient.connect(fixture.server, await fixture.server.register(name)));
  const general = writers[0].channelNamed('General').id;
  for (let i = 1; i <= 45; i += 1) await writers[i % 3].post(general, `filler ${i}`);
  for (const writer of writers) writer.close();
  const page = await session.newPage({ account: carol });
  await waitFor('the history loaded', async () => (await messageBodies(page).count()) >= 45);

  // "?" in the composer is just a character; outside it, it opens the sheet.
  const input = page.locator('#composer-input');
  await input.focus();
  await page.keyboard.type('why?');
  assert.equal(await input.inputValue(), 'why?');
  assert.equal(await page.locator('#shortcuts-dialog').isVisible(), false);
  await input.fill('');
  await page.locator('#messages').focus();
  await page.keyboard.press('?');
  const sheet = page.locator('#shortcuts-dialog');
  await expectVisible(sheet, 'the keyboard shortcuts sheet');
  for (const entry of ['Previous / next channel', 'Previous / next channel with unread messages', 'Mark the open channel read']) {
    await expectVisible(sheet.getByText(entry, { exact: true }), `the entry "${entry}"`);
  }
  await saveScreenshot(page, 'shortcuts-desktop');
  await page.keyboard.press('Escape');
  await expectHidden(sheet, 'the sheet after Escape');

  // Page Up / Page Down from the composer move the message list.
  await input.focus();
  const scrollTop = () => page.locator('#messages').evaluate((list) => list.scrollTop);
  const bottom = await scrollTop();
  await page.keyboard.press('PageUp');
  await waitFor('the list scrolled up', async () => (await scrollTop()) < bottom - 100);
  await page.keyboard.press('PageDown');
  await waitFor('the list scrolled back down', async () => (await scrollTop()) >= bottom - 2);
  await waitFor('focus still in the composer', () => page.evaluate(() => document.activeElement?.id === 'composer-input'));

  // Tab from the send button goes on to the next control, not out of the page.
  await page.locator('#send-button').focus();
  await page.keyboard.press('Tab');
  await waitFor('focus on the control after Send', () => page.evaluate(() => document.activeElement?.id === 'shortcuts-button'));
  await page.keyboard.press('Enter');
  await expectVisible(sheet, 'the sheet from its button');
  await page.keyboard.press('Escape');
});

browserTest('Enter in the browse search opens or joins the first match; the control says what it is', env, async (session) => {
  const dan = await fixture.server.register('dan');
  const ownerWs = await WsClient.connect(fixture.server, await fixture.server.register('erin'));
  for (const name of ['design', 'design-review', 'random']) await ownerWs.request({ type: 'create_channel', name, private: false });
  ownerWs.close();
  const page = await session.newPage({ account: dan });
  const browseButton = page.getByRole('button', { name: 'Browse channels' });
  assert.equal((await browseButton.innerText()).trim(), 'Browse channels', 'the browse control is labelled in words');
  assert.equal(await browseButton.locator('svg path[d^="M11 4a7 7"]').count(), 0, 'no magnifier');

  const dialog = page.locator('#browse-dialog');
  const filter = dialog.getByLabel('Filter channels');
  await browseButton.click();
  await filter.fill('design-r');
  await waitFor('one match', async () => (await dialog.locator('.browse-name').allTextContents()).join() === 'design-review');
  await filter.press('Enter');
  await waitFor('design-review joined and open', async () => (await page.locator('#channel-title .title-text').textContent()) === 'design-review');
  await expectHidden(dialog, 'the dialog after Enter');

  await browseButton.click();
  await filter.fill('desi');
  await waitFor('two matches', async () => (await dialog.locator('.browse-name').count()) === 2);
  await filter.press('Enter');
  await waitFor('design (the first match) open', async () => (await page.locator('#channel-title .title-text').textContent()) === 'design');
  await browseButton.click();
  await filter.fill('gen');
  await waitFor('General listed', async () => (await dialog.locator('.browse-name').allTextContents()).join() === 'General');
  await filter.press('Enter');
  await waitFor('General open (already a member)', async () => (await page.locator('#channel-title .title-text').textContent()) === 'General');

  await page.setViewportSize({ width: 390, height: 780 });
  await page.getByRole('button', { name: 'Open menu' }).click();
  await saveScreenshot(page, 'sidebar-browse-phone');
});
