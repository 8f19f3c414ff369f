// Issue 13, point 6 (browsing at scale): the browse dialog asks the server for
// names starting with what is typed (after a pause in typing) and pages with
// "Load more", so a workspace with more public channels than one page lists
// them all; Enter joins the first match.

import assert from 'node:assert/strict';
import {
  WsClient,
  browserTest,
  expectHidden,
  expectVisible,
  saveScreenshot,
  waitFor,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture();
const env = fixture.env;

browserTest('browsing searches on the server and pages with Load more', env, async (session) => {
  const rooms = Array.from({ length: 120 }, (_, i) => `room-${String(i + 1).padStart(3, '0')}`);
  // Three creators (each may create 100 channels), 40 each, within their request bursts.
  for (let creator = 0; creator < 3; creator += 1) {
    const ws = await WsClient.connect(fixture.server, await fixture.server.register(`creator${creator}`));
    for (const name of rooms.slice(creator * 40, creator * 40 + 40)) await ws.request({ type: 'create_channel', name, private: false });
    ws.close();
  }
  const dan = await fixture.server.register('dan');
  const page = await session.newPage({ account: dan });
  await page.getByRole('button', { name: 'Browse channels' }).click();
  const dialog = page.locator('#browse-dialog');
  const listed = () => dialog.locator('.browse-name').allTextContents();
  await waitFor('the first page (100)', async () => (await listed()).length === 100);
  const more = dialog.getByRole('button', { name: 'Load more' });
  await expectVisible(more, 'Load more');
  await saveScreenshot(page, 'browse-more-desktop');
  await more.click();
  await waitFor('every channel after Load more', async () => (await listed()).length === 121);
  assert.deepEqual([...(await listed())].sort(), ['General', ...rooms].sort(), 'each channel once');
  await expectHidden(more, 'Load more once everything is listed');

  // Typing asks the server for that prefix.
  await dialog.getByLabel('Filter channels').fill('room-11');
  await waitFor('room-110 to room-119', async () => (await listed()).join() === rooms.slice(109, 119).join());
  await dialog.getByLabel('Filter channels').press('Enter');
  await waitFor('room-110 joined and open', async () => (await page.locator('#channel-title .title-text').textContent()) === 'room-110');

  // Enter straight after typing, before the pause that asks the fixture.server, still
  // takes the first match of what was typed.
  await page.getByRole('button', { name: 'Browse channels' }).click();
  await waitFor('the list loaded again', async () => (await listed()).length === 100);
  await dialog.getByLabel('Filter channels').fill('room-05');
  await dialog.getByLabel('Filter channels').press('Enter');
  await waitFor('room-050 joined and open', async () => (await page.locator('#channel-title .title-text').textContent()) === 'room-050');
});
