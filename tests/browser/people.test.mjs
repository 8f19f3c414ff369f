// Issue 13, point 3: anyone can be reached, online or not. "New message" beside
// Direct messages (and "Browse people") open a directory of everyone, online
// first, searched by the start of a name and paged for large workspaces;
// choosing someone starts a DM. "Add people" suggests everyone too.

import assert from 'node:assert/strict';
import {
  WsClient,
  browserTest,
  createChannel,
  expectTexts,
  expectVisible,
  messageBodies,
  saveScreenshot,
  sendMessage,
  sidebarChannel,
  waitFor,
  sharedFixture,
} from './helpers.mjs';

// A workspace of 60-odd people, registered in one go.
const fixture = sharedFixture({ args: ['--account-creations-per-minute', '1000'] });
const env = fixture.env;

function names(dialog) {
  return dialog.locator('#people-list .person-name').allTextContents();
}

browserTest('the directory reaches people who are offline, online first, searched and paged', env, async (session) => {
  const alice = await fixture.server.register('alice');
  const bob = await fixture.server.register('bob');
  const carol = await fixture.server.register('carol');
  await fixture.server.register('dave');
  // Enough people for more than one page (50 a page).
  const crowd = Array.from({ length: 60 }, (_, i) => `member${String(i + 1).padStart(3, '0')}`);
  for (const name of crowd) await fixture.server.register(name);

  const alicePage = await session.newPage({ account: alice });
  await session.newPage({ account: bob });
  await waitFor('bob online for alice', async () => (await alicePage.locator('#online-list .user-name').allTextContents()).includes('bob'));

  await alicePage.getByRole('button', { name: 'New message' }).click();
  const dialog = alicePage.locator('#people-dialog');
  await expectVisible(dialog, 'the people directory');
  // Online people first (bob), then everyone else by name, me last; 50 a page.
  await waitFor('the first page', async () => (await names(dialog)).length === 50);
  const first = await names(dialog);
  assert.deepEqual(first.slice(0, 4), ['bob', 'carol', 'dave', 'member001'], 'online first, then by name');
  assert.equal(first.at(-1), 'alice', 'me last');
  await saveScreenshot(alicePage, 'people-desktop');
  await dialog.getByRole('button', { name: 'Load more' }).click();
  await waitFor('everyone after Load more', async () => (await names(dialog)).length === 64);
  const everyone = await names(dialog);
  assert.equal(new Set(everyone).size, 64, 'nobody twice');
  assert.deepEqual([...everyone].sort(), ['alice', 'bob', 'carol', 'dave', ...crowd].sort());
  assert.equal(await dialog.getByRole('button', { name: 'Load more' }).isVisible(), false, 'no more to load');

  // Searching by the start of a name, without case; carol is offline.
  await dialog.getByLabel('Find people by name').fill('CA');
  await expectTexts(dialog.locator('#people-list .person-name'), ['carol'], 'only carol for "CA"');
  await expectVisible(dialog.locator('.person-row').getByText('away'), 'carol shown as away');
  // The dialog's dots are live: carol coming online shows while it is open
  // (she is watched as one the dialog shows, and on the online page).
  const carolWs = await WsClient.connect(fixture.server, { token: carol.token });
  await expectVisible(dialog.locator('.person-row').getByText('online'), 'carol shown online while the dialog is open');
  carolWs.close();
  await dialog.getByRole('button', { name: 'Message carol' }).click();
  await waitFor('the DM with carol open', async () => (await alicePage.locator('#channel-title .title-text').textContent()) === 'carol');
  await sendMessage(alicePage, 'are you back on Monday?');

  // Carol comes online later and finds it.
  const carolPage = await session.newPage({ account: carol, viewport: { width: 390, height: 780 }, label: 'carol-phone' });
  await carolPage.getByRole('button', { name: 'Open menu' }).click();
  await sidebarChannel(carolPage, 'alice').click();
  await expectTexts(messageBodies(carolPage), ['are you back on Monday?'], 'carol to read alice\'s DM');

  // On the phone the directory opens from the menu too; Enter takes the first match.
  await carolPage.getByRole('button', { name: 'Open menu' }).click();
  await carolPage.getByRole('button', { name: 'Browse people' }).click();
  const phoneDialog = carolPage.locator('#people-dialog');
  await waitFor('the directory on the phone', async () => (await names(phoneDialog)).length === 50);
  await saveScreenshot(carolPage, 'people-phone');
  await phoneDialog.getByLabel('Find people by name').fill('da');
  await expectTexts(phoneDialog.locator('#people-list .person-name'), ['dave'], 'dave for "da"');
  await phoneDialog.getByLabel('Find people by name').press('Enter');
  await waitFor('the DM with dave open on the phone', async () => (await carolPage.locator('#channel-title .title-text').textContent()) === 'dave');
});

browserTest('Add people suggests everyone, not only those online', env, async (session) => {
  const erin = await fixture.server.register('erin');
  await fixture.server.register('frank');
  const page = await session.newPage({ account: erin });
  await createChannel(page, 'offsite', { isPrivate: true });
  await page.getByRole('button', { name: 'Add people' }).click();
  const field = page.locator('#invite-dialog').getByLabel('Username');
  await field.pressSequentially('fr');
  await waitFor('frank (offline) suggested', async () => (await page.locator('#invite-suggestions option').evaluateAll((options) => options.map((o) => o.value))).includes('frank'));
  await field.fill('frank');
  await page.locator('#invite-dialog').getByRole('button', { name: 'Add', exact: true }).click();
  await expectVisible(page.locator('#invite-done'), 'frank added');
  const frankWs = await WsClient.connect(fixture.server, { token: (await fixture.server.post('/api/login', { username: 'frank', password: 'correct horse battery' })).body.token });
  assert.ok(frankWs.welcome.channels.some((channel) => channel.name === 'offsite'), 'frank is in offsite');
  frankWs.close();
});
