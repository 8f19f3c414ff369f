// The server dies (SIGKILL) under an open page and comes back on the same port
// and database. The page shows that it is reconnecting, reconnects by itself,
// resumes from the last seq it holds, and ends with exactly the server's history:
// messages sent by others while it was away appear once, earlier ones are not
// doubled, and a message typed while offline is delivered once. A manual
// reconnect while the page is still asking whether its session is good leaves
// one socket, not two.

import assert from 'node:assert/strict';
import {
  WsClient,
  browserTest,
  expectHidden,
  expectTexts,
  expectVisible,
  messageBodies,
  sendMessage,
  waitFor,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture();
const env = fixture.env;

async function serverHistory(account, channel) {
  const client = await WsClient.connect(fixture.server, account);
  const page = await client.request({ type: 'history', channel, limit: 200 });
  client.close();
  return page.messages.map((m) => m.body);
}

browserTest('a server crash and restart loses nothing and doubles nothing', env, async (session, t) => {
  const alice = await fixture.server.register('alice');
  const bob = await fixture.server.register('bob');
  const page = await session.newPage({ account: alice });
  let bobWs = await WsClient.connect(fixture.server, bob);
  const general = bobWs.channelNamed('General').id;

  await bobWs.post(general, 'before 1');
  await bobWs.post(general, 'before 2');
  await sendMessage(page, 'before 3');
  await expectTexts(messageBodies(page), ['before 1', 'before 2', 'before 3'], 'the messages before the crash');

  // Crash. The page says it is reconnecting.
  await fixture.server.kill();
  const banner = page.locator('#conn-banner');
  await expectVisible(banner, 'the reconnecting banner');
  assert.match(await banner.textContent(), /Reconnecting/);

  // Keep the page from reconnecting until the others have talked, so what they
  // said can only reach it through the resume replay.
  await page.context().setOffline(true);
  // A message typed while offline shows at once as pending.
  await page.locator('#composer-input').fill('written while offline');
  await page.locator('#composer-input').press('Enter');
  await expectVisible(page.locator('#messages .msg.sending').getByText('written while offline'), 'the pending message');

  await fixture.server.restart();
  bobWs = await WsClient.connect(fixture.server, bob);
  await bobWs.post(general, 'after 1');
  await bobWs.post(general, 'after 2');
  const stillAway = await page.evaluate(() => document.body.dataset.connection !== 'open');
  if (!stillAway) t.diagnostic('the page reconnected while offline was emulated; the replay went live instead');

  await page.context().setOffline(false);
  await page.locator('body[data-connection="open"]').waitFor({ timeout: 20000 });
  await expectHidden(banner, 'the banner after reconnecting');

  // The page ends with exactly the server's history: everything once, in seq order.
  await waitFor('the offline message to be confirmed', async () => (await page.locator('#messages .msg.sending').count()) === 0);
  const expected = await serverHistory(alice, general);
  assert.deepEqual([...expected].sort(), ['after 1', 'after 2', 'before 1', 'before 2', 'before 3', 'written while offline']);
  await expectTexts(messageBodies(page), expected, 'the page to match the server\'s history');

  // Live traffic flows again, and a reload shows the same.
  await bobWs.post(general, 'after 3');
  await expectTexts(messageBodies(page), [...expected, 'after 3'], 'a live message after the reconnect');
  await page.reload();
  await page.locator('body[data-connection="open"]').waitFor();
  await expectTexts(messageBodies(page), [...expected, 'after 3'], 'the same history after a reload');
  bobWs.close();
});

browserTest('reconnecting by hand while the session check is out leaves one socket', env, async (session) => {
  const carol = await fixture.server.register('carol');
  const dave = await fixture.server.register('dave');
  const page = await session.newPage({ account: carol });
  const sockets = [];
  page.on('websocket', (socket) => sockets.push(socket));

  // Hold every session check until told, so a reconnect is caught waiting for one.
  let checks = 0;
  let release;
  const released = new Promise((done) => {
    release = done;
  });
  await page.route('**/api/me', async (route) => {
    checks += 1;
    await released;
    await route.continue().catch(() => {});
  });

  // The server goes away: the page retries once, fails, and asks about its session.
  await fixture.server.kill();
  await waitFor('a session check after a failed reconnect', () => checks > 0);
  await fixture.server.restart();
  // Meanwhile the network "comes back" (the same path as the Retry now button).
  await page.evaluate(() => window.dispatchEvent(new Event('online')));
  await page.locator('body[data-connection="open"]').waitFor();

  // Now the session check answers. The reconnect that waited for it is stale and
  // must not open a second socket behind the live one.
  release();
  await page.waitForTimeout(1500); // longer than that reconnect's delay would be (at most 1 s)
  const open = sockets.filter((socket) => !socket.isClosed());
  assert.equal(open.length, 1, `open sockets: ${open.length} of ${sockets.length}`);
  assert.equal(await page.evaluate(() => document.body.dataset.connection), 'open');

  const daveWs = await WsClient.connect(fixture.server, dave);
  await daveWs.post(daveWs.channelNamed('General').id, 'one socket, one copy');
  await expectTexts(messageBodies(page).filter({ hasText: 'one socket, one copy' }), ['one socket, one copy'], 'the live message once');
  await expectHidden(page.locator('#conn-banner'), 'the reconnecting banner');
  daveWs.close();
});
