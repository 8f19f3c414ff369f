// Issue 13, point 1: an unsent draft stays in the channel it was typed in. Text
// typed in a DM and left there must never show up in General's composer (where
// Enter would post it publicly); each channel keeps its own draft across channel
// switches and reloads, marked in the sidebar, and the server never sees it.
// Drafts belong to a user, not a name: a guest name passes to a new user once
// its holder is offline, and on a shared browser the next holder must not find
// the previous one's text; a guest's drafts go when its session ends.

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

const fixture = sharedFixture({ args: ['--allow-guests'] });
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
  assert.deepEqual(await storedDrafts(page), [], 'no draft left in local storage');
});

/** Claims a guest name over HTTP: {status, account} where account is what newPage takes. */
async function claimGuest(name) {
  const response = await fetch(`${fixture.server.url}/api/guest`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: name }),
  });
  const body = await response.json().catch(() => null);
  if (response.status !== 200) return { status: response.status, body };
  const cookie = response.headers
    .getSetCookie()
    .map((line) => line.split(';')[0])
    .find((pair) => pair.startsWith('natter_session='));
  assert.ok(cookie, 'the guest response sets the session cookie');
  return { status: 200, account: { name, cookie: cookie.slice('natter_session='.length), user: body.user } };
}

const storedDrafts = (page) => page.evaluate(() => Object.keys(localStorage).filter((key) => key.startsWith('natter.draft')));

browserTest('the next holder of a guest name does not see the previous holder\'s drafts', env, async (session) => {
  const first = await claimGuest('dana');
  assert.equal(first.status, 200, `the first guest dana: ${JSON.stringify(first.body)}`);
  const page = await session.newPage({ account: first.account });
  await waitForChat(page);
  const composer = page.locator('#composer-input');
  await composer.fill('dana the first: my bank details for the refund');
  assert.equal((await storedDrafts(page)).length, 1, 'the draft is stored');

  // The first dana walks away from the shared computer without signing out:
  // the page goes, and with it the only connection, so the name is free.
  await page.goto('about:blank');
  const second = await waitFor('the guest name dana free again', async () => {
    const claim = await claimGuest('dana');
    return claim.status === 200 ? claim : null;
  });
  assert.notEqual(second.account.user.id, first.account.user.id, 'the name passed to a new user');

  // The next person at this browser is the new dana.
  await page.context().addCookies([{ name: 'natter_session', value: second.account.cookie, url: fixture.server.url }]);
  await page.goto(fixture.server.url);
  await waitForChat(page);
  await waitFor('General open', async () => (await page.locator('#channel-title .title-text').textContent()) === 'General');
  assert.equal(await composer.inputValue(), '', 'the new dana\'s composer is empty');
  assert.equal(await sidebarChannel(page, 'General').locator('.draft-mark').count(), 0, 'no draft marker');
  assert.deepEqual(await storedDrafts(page), [], 'the previous holder\'s draft is gone from this browser');
});

browserTest('a guest whose session ends forgets its drafts', env, async (session) => {
  const claim = await claimGuest('erin');
  assert.equal(claim.status, 200, `the guest erin: ${JSON.stringify(claim.body)}`);
  const page = await session.newPage({ account: claim.account });
  await waitForChat(page);
  await page.locator('#composer-input').fill('erin: the door code is 4711');
  assert.equal((await storedDrafts(page)).length, 1, 'the draft is stored');

  // The session is revoked elsewhere (a sign-out in another tab): the server
  // closes this page's socket with 4001 and the page returns to sign-in.
  const response = await fetch(`${fixture.server.url}/api/logout`, {
    method: 'POST',
    headers: { Cookie: `natter_session=${claim.account.cookie}` },
  });
  assert.equal(response.status, 204, 'the session is revoked');
  await page.locator('#auth-screen').waitFor({ state: 'visible' });
  assert.deepEqual(await storedDrafts(page), [], 'no guest draft left in local storage');
});

browserTest('a registered user\'s drafts survive a session that ends without signing out', env, async (session) => {
  const frank = await fixture.server.register('frank');
  const page = await session.newPage({ account: frank });
  await waitForChat(page);
  await page.locator('#composer-input').fill('frank: finish the quarterly report');
  const response = await fetch(`${fixture.server.url}/api/logout`, {
    method: 'POST',
    headers: { Cookie: `natter_session=${frank.cookie}` },
  });
  assert.equal(response.status, 204, 'the session is revoked');
  await page.locator('#auth-screen').waitFor({ state: 'visible' });
  // frank signs in again with his password: his draft is where he left it.
  await page.locator('#auth-username').fill('frank');
  await page.locator('#auth-password').fill(frank.password);
  await page.locator('#auth-password').press('Enter');
  await waitForChat(page);
  await waitFor('General open', async () => (await page.locator('#channel-title .title-text').textContent()) === 'General');
  assert.equal(await page.locator('#composer-input').inputValue(), 'frank: finish the quarterly report');
});
