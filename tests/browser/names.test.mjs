// Issue 13, point 6 (the part that needs nothing new from the fixture.server): a channel
// whose stored name starts with "#" reads with one "#" wherever the UI puts a
// "#" before a name (header placeholder, start of channel, page title, toasts,
// invite answers, the leave question), and General offers no "Add people",
// since everyone is in it.

import assert from 'node:assert/strict';
import {
  browserTest,
  createChannel,
  expectHidden,
  expectVisible,
  saveScreenshot,
  sidebarChannel,
  waitFor,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture();
const env = fixture.env;

/** Every piece of text a person may read on the page, including attributes that are read out or shown. */
function allText(page) {
  return page.evaluate(() => {
    const parts = [document.title, document.body.innerText];
    for (const element of document.querySelectorAll('[placeholder], [aria-label], [title]')) {
      parts.push(element.getAttribute('placeholder') || '', element.getAttribute('aria-label') || '', element.getAttribute('title') || '');
    }
    return parts.join('\n');
  });
}

browserTest('a name stored with "#" is never shown with two', env, async (session) => {
  const alice = await fixture.server.register('alice');
  const bob = await fixture.server.register('bob');
  const alicePage = await session.newPage({ account: alice });
  const bobPage = await session.newPage({ account: bob, viewport: { width: 390, height: 780 }, label: 'bob-phone' });

  // General offers no "Add people": everyone is in it.
  await expectHidden(alicePage.getByRole('button', { name: 'Add people' }), 'Add people in General');

  await createChannel(alicePage, '#Launch Plans', { isPrivate: true });
  assert.equal(await alicePage.locator('#composer-input').getAttribute('placeholder'), 'Message #Launch Plans');
  assert.equal(await alicePage.locator('.list-start-title').textContent(), '#Launch Plans');
  await waitFor('the page title', async () => (await alicePage.title()) === '#Launch Plans · natter');

  await alicePage.getByRole('button', { name: 'Add people' }).click();
  assert.equal(await alicePage.locator('#invite-title').textContent(), 'Add people to #Launch Plans');
  await alicePage.locator('#invite-dialog').getByLabel('Username').fill('bob');
  await alicePage.locator('#invite-dialog').getByRole('button', { name: 'Add', exact: true }).click();
  await expectVisible(alicePage.locator('#invite-done').getByText('bob was added to #Launch Plans.', { exact: true }), 'the invite answer');
  assert.doesNotMatch(await allText(alicePage), /##/, 'no "##" on alice\'s page with the invite dialog open');
  await alicePage.locator('#invite-dialog').getByRole('button', { name: 'Done' }).click();

  // Bob is told about it, with one "#".
  await expectVisible(bobPage.locator('#toast').getByText(/#Launch Plans\./), 'bob\'s toast');
  assert.doesNotMatch(await bobPage.locator('#toast').textContent(), /##/);
  await bobPage.getByRole('button', { name: 'Open menu' }).click();
  await sidebarChannel(bobPage, '#Launch Plans').click();
  await waitFor('the channel open for bob', async () => (await bobPage.locator('#channel-title .title-text').textContent()) === '#Launch Plans');
  await bobPage.getByRole('button', { name: 'Channel options' }).click();
  await bobPage.getByRole('menuitem', { name: 'Leave channel' }).click();
  await expectVisible(bobPage.locator('#leave-dialog'), 'the leave question');
  assert.equal(await bobPage.locator('#leave-title').textContent(), 'Leave #Launch Plans?');
  assert.doesNotMatch(await allText(bobPage), /##/, 'no "##" on bob\'s page');
  await saveScreenshot(bobPage, 'hash-name-phone');
  await bobPage.locator('#leave-dialog').getByRole('button', { name: 'Cancel' }).click();
  assert.doesNotMatch(await allText(alicePage), /##/, 'no "##" on alice\'s page');
  await saveScreenshot(alicePage, 'hash-name-desktop');
});
