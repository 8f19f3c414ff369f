// Issue 13, point 6 (on the server's answers): an invite says what happened
// (added; already a member), the invited person is told who added them, and
// creating a channel whose name is taken (without case, or by look-alike
// letters) says so and offers to open it instead of moving the user into it.

import assert from 'node:assert/strict';
import {
  WsClient,
  browserTest,
  createChannel,
  expectVisible,
  saveScreenshot,
  sidebarChannel,
  waitFor,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture();
const env = fixture.env;

browserTest('invite answers say what happened, and the invitee learns who added them', env, async (session) => {
  const alice = await fixture.server.register('alice');
  const bob = await fixture.server.register('bob');
  const alicePage = await session.newPage({ account: alice });
  const bobPage = await session.newPage({ account: bob, viewport: { width: 390, height: 780 }, label: 'bob-phone' });
  await createChannel(alicePage, 'launch', { isPrivate: true });

  const dialog = alicePage.locator('#invite-dialog');
  await alicePage.getByRole('button', { name: 'Add people' }).click();
  await dialog.getByLabel('Username').fill('bob');
  await dialog.getByRole('button', { name: 'Add', exact: true }).click();
  await expectVisible(dialog.locator('#invite-done').getByText('bob was added to #launch.', { exact: true }), 'the first answer');
  await expectVisible(bobPage.locator('#toast').getByText('alice added you to #launch.', { exact: true }), 'bob told who added him');
  await saveScreenshot(bobPage, 'added-by-phone');

  // Again: bob is in already, and the dialog says so instead of "was added".
  await dialog.getByLabel('Username').fill('bob');
  await dialog.getByRole('button', { name: 'Add', exact: true }).click();
  await expectVisible(dialog.locator('#invite-error').getByText('bob is already in #launch.', { exact: true }), 'the already-a-member answer');
  assert.equal(await dialog.locator('#invite-done').textContent(), '', 'no "was added" this time');
  await saveScreenshot(alicePage, 'invite-already-member-desktop');
  await dialog.getByRole('button', { name: 'Done' }).click();
  await bobPage.getByRole('button', { name: 'Open menu' }).click();
  await expectVisible(sidebarChannel(bobPage, 'launch'), 'launch in bob\'s sidebar');
});

browserTest('creating a channel whose name exists offers to open it', env, async (session) => {
  const carol = await fixture.server.register('carol');
  const owner = await WsClient.connect(fixture.server, await fixture.server.register('dora'));
  await owner.request({ type: 'create_channel', name: 'design', private: false });
  owner.close();
  const page = await session.newPage({ account: carol });

  // Carol is not in design: "Design" exists; Open it joins and opens it.
  await page.getByRole('button', { name: 'Create a channel' }).click();
  const dialog = page.locator('#create-dialog');
  await dialog.getByLabel('Name').fill('Design');
  await dialog.getByRole('button', { name: 'Create' }).click();
  await expectVisible(dialog.locator('#create-error').getByText('A channel named “Design” already exists.'), 'the exists answer');
  assert.equal(await page.locator('#channel-title .title-text').textContent(), 'General', 'not moved anywhere yet');
  await saveScreenshot(page, 'create-exists-desktop');
  await dialog.getByRole('button', { name: 'Open it' }).click();
  await waitFor('design open', async () => (await page.locator('#channel-title .title-text').textContent()) === 'design');
  await expectVisible(sidebarChannel(page, 'design'), 'design in the sidebar (joined)');

  // A look-alike (Cyrillic "е") is the same name; now a member, Open it just switches.
  await createChannel(page, 'elsewhere');
  await page.getByRole('button', { name: 'Create a channel' }).click();
  await dialog.getByLabel('Name').fill('d\u0435sign');
  await dialog.getByRole('button', { name: 'Create' }).click();
  await expectVisible(dialog.getByRole('button', { name: 'Open it' }), 'the offer for the look-alike');
  await dialog.getByRole('button', { name: 'Open it' }).click();
  await waitFor('design open again', async () => (await page.locator('#channel-title .title-text').textContent()) === 'design');
  const names = await page.locator('#channel-list .chan-name').allTextContents();
  assert.deepEqual(names.filter((name) => name.toLowerCase().includes('sign')), ['design'], 'no second design');
});
