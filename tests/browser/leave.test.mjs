// Issue 13, point 5: leaving is a considered act. The control sits in the
// channel's options menu (not beside an icon-only button in the header), and
// leaving a private channel, which only a member's invite opens again, asks
// first and says so.

import assert from 'node:assert/strict';
import {
  WsClient,
  browserTest,
  expectHidden,
  expectVisible,
  openChannel,
  saveScreenshot,
  sidebarChannel,
  waitFor,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture();
const env = fixture.env;

async function sidebarNames(page) {
  return page.locator('#sidebar .chan-name').allTextContents();
}

browserTest('leaving a private channel asks first, from the channel menu', env, async (session) => {
  const alice = await fixture.server.register('alice');
  const carol = await fixture.server.register('carol');
  const alicePage = await session.newPage({ account: alice });
  const carolPage = await session.newPage({ account: carol, viewport: { width: 390, height: 780 }, label: 'carol-phone' });

  // Alice makes a private channel and adds carol through the UI.
  await alicePage.getByRole('button', { name: 'Create a channel' }).click();
  await alicePage.locator('#create-dialog').getByLabel('Name').fill('launch-plans');
  await alicePage.locator('#create-dialog').getByRole('checkbox').check();
  await alicePage.locator('#create-dialog').getByRole('button', { name: 'Create' }).click();
  await waitFor('launch-plans open for alice', async () => (await alicePage.locator('#channel-title .title-text').textContent()) === 'launch-plans');
  await alicePage.getByRole('button', { name: 'Add people' }).click();
  await alicePage.locator('#invite-dialog').getByLabel('Username').fill('carol');
  await alicePage.locator('#invite-dialog').getByRole('button', { name: 'Add', exact: true }).click();
  await expectVisible(alicePage.locator('#invite-done'), 'the invite confirmation');
  await alicePage.locator('#invite-dialog').getByRole('button', { name: 'Done' }).click();

  // On carol's phone, there is no bare Leave button in the header.
  await carolPage.getByRole('button', { name: 'Open menu' }).click();
  await sidebarChannel(carolPage, 'launch-plans').click();
  await waitFor('launch-plans open for carol', async () => (await carolPage.locator('#channel-title .title-text').textContent()) === 'launch-plans');
  assert.equal(await carolPage.locator('.chat-head').getByRole('button', { name: /^Leave/ }).count(), 0, 'no Leave button in the header');
  const options = carolPage.getByRole('button', { name: 'Channel options' });
  await options.click();
  await expectVisible(carolPage.getByRole('menuitem', { name: 'Leave channel' }), 'the Leave item in the channel menu');
  await saveScreenshot(carolPage, 'leave-menu-phone');

  // Leaving asks, and says what leaving a private channel means. Cancel keeps her in.
  await carolPage.getByRole('menuitem', { name: 'Leave channel' }).click();
  const confirm = carolPage.locator('#leave-dialog');
  await expectVisible(confirm, 'the leave confirmation');
  assert.equal(await confirm.locator('h2').textContent(), 'Leave #launch-plans?');
  assert.match(await confirm.locator('#leave-text').textContent(), /private.*only come back if a member adds you again/);
  await saveScreenshot(carolPage, 'leave-confirm-phone');
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await expectHidden(confirm, 'the confirmation after Cancel');
  assert.ok((await sidebarNames(carolPage)).includes('launch-plans'), 'still in launch-plans after Cancel');

  // The menu works from the keyboard too: Enter opens it, Escape closes it.
  await options.focus();
  await carolPage.keyboard.press('Enter');
  await waitFor('focus on the first menu item', () => carolPage.evaluate(() => document.activeElement?.getAttribute('role') === 'menuitem'));
  await carolPage.keyboard.press('Escape');
  await expectHidden(carolPage.locator('#channel-menu'), 'the menu after Escape');
  await waitFor('focus back on the options button', () => carolPage.evaluate(() => document.activeElement?.id === 'channel-menu-button'));

  // Confirming leaves: gone from carol's sidebar, and the server has her out.
  await options.click();
  await carolPage.getByRole('menuitem', { name: 'Leave channel' }).click();
  await confirm.getByRole('button', { name: 'Leave channel' }).click();
  await carolPage.getByRole('button', { name: 'Open menu' }).click();
  await waitFor('launch-plans gone from carol\'s sidebar', async () => !(await sidebarNames(carolPage)).includes('launch-plans'));
  const check = await WsClient.connect(fixture.server, carol);
  assert.equal(check.welcome.channels.some((c) => c.name === 'launch-plans'), false, 'carol is no longer a member');
  check.close();
});

browserTest('General has no leave control and a public channel leaves without a question', env, async (session) => {
  const dan = await fixture.server.register('dan');
  const page = await session.newPage({ account: dan });
  // General's menu holds the notification levels only: no Leave item.
  await page.getByRole('button', { name: 'Channel options' }).click();
  await expectVisible(page.getByRole('menuitemradio', { name: 'All messages' }), 'the notification levels in General');
  assert.equal(await page.getByRole('menuitem', { name: 'Leave channel' }).count(), 0, 'no Leave item in General');
  await page.keyboard.press('Escape');
  await page.getByRole('button', { name: 'Create a channel' }).click();
  await page.locator('#create-dialog').getByLabel('Name').fill('lunch');
  await page.locator('#create-dialog').getByRole('button', { name: 'Create' }).click();
  await openChannel(page, 'lunch');
  await page.getByRole('button', { name: 'Channel options' }).click();
  await saveScreenshot(page, 'leave-menu-desktop');
  await page.getByRole('menuitem', { name: 'Leave channel' }).click();
  await waitFor('lunch gone', async () => !(await sidebarNames(page)).includes('lunch'));
  await expectVisible(page.locator('#toast').getByText('Browse channels'), 'the toast saying how to come back');
  assert.equal(await page.locator('#leave-dialog').isVisible(), false, 'no question for a public channel');
});
