// Staying signed in: a reload keeps the session (HttpOnly cookie + GET /api/me),
// shows history, and keeps unread counts right; opening a channel clears its
// count for good. Signing out really ends the session; a wrong password is
// reported inline.

import assert from 'node:assert/strict';
import {
  WsClient,
  browserTest,
  createChannel,
  expectTexts,
  expectVisible,
  messageBodies,
  openChannel,
  signInThroughForm,
  unreadBadge,
  waitFor,
  waitForChat,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture();
const env = fixture.env;

browserTest('a reload keeps the session, the history and the unread counts', env, async (session) => {
  const alice = await fixture.server.register('alice');
  const bob = await fixture.server.register('bob');
  const page = await session.newPage({ account: bob });
  await createChannel(page, 'side-room');

  // Alice posts 3 messages in General while bob looks at side-room.
  const aliceWs = await WsClient.connect(fixture.server, alice);
  const general = aliceWs.channelNamed('General').id;
  const posted = ['one', 'two', 'three'];
  for (const body of posted) await aliceWs.post(general, body);
  await waitFor('General to show 3 unread', async () => (await unreadBadge(page, 'General')) === 3);
  assert.equal(await unreadBadge(page, 'side-room'), 0);

  // After a reload: still signed in, still in side-room, still 3 unread.
  await page.reload();
  await waitForChat(page);
  await waitFor('side-room open again after the reload', async () => (await page.locator('#channel-title').textContent()).includes('side-room'));
  await waitFor('General still showing 3 unread after the reload', async () => (await unreadBadge(page, 'General')) === 3);

  // Opening General shows the history and clears the count.
  await openChannel(page, 'General');
  await expectTexts(messageBodies(page), posted, 'General history');
  await waitFor('General unread cleared', async () => (await unreadBadge(page, 'General')) === 0);

  // The read marker reached the server: after going elsewhere and reloading, General stays read.
  await openChannel(page, 'side-room');
  await page.reload();
  await waitForChat(page);
  await waitFor('side-room open after the second reload', async () => (await page.locator('#channel-title').textContent()).includes('side-room'));
  assert.equal(await unreadBadge(page, 'General'), 0, 'General is read after the reload');

  // A new message after that counts from the marker: 1 unread, live.
  await aliceWs.post(general, 'four');
  await waitFor('General to show 1 unread', async () => (await unreadBadge(page, 'General')) === 1);
  aliceWs.close();
});

browserTest('signing out ends the session; a wrong password is reported inline', env, async (session) => {
  const carol = await fixture.server.register('carol');
  const page = await session.newPage({ account: carol });
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expectVisible(page.locator('#auth-screen'), 'the sign-in screen after signing out');
  await page.reload();
  await expectVisible(page.locator('#auth-screen'), 'the sign-in screen after a reload (the cookie is gone)');
  assert.equal(await page.locator('#app-screen').isVisible(), false);

  await signInThroughForm(page, 'carol', 'not the password');
  await expectVisible(page.getByText('Wrong username or password.'), 'the inline wrong-password error');
  assert.equal(await page.locator('#app-screen').isVisible(), false);

  // Too short a password on sign-up is caught next to the field.
  await page.getByRole('button', { name: 'Create an account' }).click();
  const form = page.locator('#auth-form');
  await form.getByLabel('Username').fill('carol');
  await form.getByLabel('Password').fill('short');
  await form.getByRole('button', { name: 'Create account' }).click();
  await expectVisible(page.locator('#auth-password-error').getByText('at least 8 characters'), 'the short-password error');
  // A taken name is reported on the username field.
  await form.getByLabel('Password').fill('long enough password');
  await form.getByRole('button', { name: 'Create account' }).click();
  await expectVisible(page.locator('#auth-username-error').getByText('taken'), 'the name-taken error');
  assert.equal(await form.getByLabel('Username').getAttribute('aria-invalid'), 'true');

  await page.getByRole('button', { name: 'Sign in' }).last().click();
  await signInThroughForm(page, 'carol');
  await waitForChat(page);
});

browserTest('a revoked session returns the page to the sign-in screen', env, async (session) => {
  const dave = await fixture.server.register('dave');
  const page = await session.newPage({ account: dave });
  // Log the same session out over HTTP, as another tab would.
  const response = await fetch(`${fixture.server.url}/api/logout`, { method: 'POST', headers: { Cookie: `natter_session=${dave.cookie}` } });
  assert.equal(response.status, 204);
  const signIn = page.locator('#auth-screen');
  // The server closes the live socket with 4001 (docs/protocol.md) and the
  // page goes back to sign-in.
  await expectVisible(signIn, 'the sign-in screen after close code 4001');
  await expectVisible(page.getByText('Your session has ended'), 'the explanation');
  assert.equal(await page.locator('#app-screen').isVisible(), false);
});
