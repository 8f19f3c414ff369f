// A page away while more changed in a channel than the server replays
// (`--max-resume-changes`, here 3) is sent `reset` for it instead of the
// changes: it drops what it held of the channel and loads the latest page, and
// ends showing exactly what the server holds, each message once; an edit it
// made while offline still goes out.

import assert from 'node:assert/strict';
import {
  WsClient,
  browserTest,
  expectTexts,
  expectVisible,
  messageBodies,
  recordFrames,
  sendMessage,
  waitFor,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture({ args: ['--max-resume-changes', '3'] });
const env = fixture.env;

const row = (page, text) => page.locator('#messages .msg').filter({ has: page.locator('.msg-body').getByText(text, { exact: true }) });

browserTest('a reset after a long absence reloads the channel as the server holds it', env, async (session) => {
  const lena = await fixture.server.register('lena');
  const mo = await fixture.server.register('mo');
  let received = [];
  const page = await session.newPage({ account: lena, beforeLoad: (p) => { received = recordFrames(p); } });
  let moWs = await WsClient.connect(fixture.server, mo);
  const general = moWs.channelNamed('General').id;
  const acks = [];
  for (const body of ['mo 1', 'mo 2', 'mo 3']) acks.push(await moWs.post(general, body));
  await sendMessage(page, 'lena: typo hree');
  await expectTexts(messageBodies(page), ['mo 1', 'mo 2', 'mo 3', 'lena: typo hree'], 'the messages before');

  await fixture.server.kill();
  await page.context().setOffline(true);
  await fixture.server.restart();
  moWs = await WsClient.connect(fixture.server, mo);
  // More changes than the server replays: two edits, a deletion, two new messages.
  await moWs.request({ type: 'edit', channel: general, seq: acks[0].seq, body: 'mo 1, edited' });
  await moWs.request({ type: 'edit', channel: general, seq: acks[0].seq, body: 'mo 1, edited twice' });
  await moWs.request({ type: 'delete', channel: general, seq: acks[1].seq });
  await moWs.post(general, 'mo 4');
  await moWs.post(general, 'mo 5');
  // Lena fixes her typo while offline.
  await row(page, 'lena: typo hree').hover();
  await row(page, 'lena: typo hree').getByRole('button', { name: 'Edit message' }).click();
  await page.locator('#messages .msg-editor textarea').fill('lena: typo here');
  await page.locator('#messages .msg-editor textarea').press('Enter');
  await expectVisible(page.locator('#messages .msg.saving'), 'her edit waiting');

  const before = received.length;
  await page.context().setOffline(false);
  await page.locator('body[data-connection="open"]').waitFor({ timeout: 20000 });
  const expected = ['mo 1, edited twice', 'This message was deleted.', 'mo 3', 'lena: typo here', 'mo 4', 'mo 5'];
  await expectTexts(messageBodies(page), expected, 'the channel as the server holds it');
  await waitFor('her edit confirmed', async () => (await page.locator('#messages .msg.saving, #messages .msg.change-failed').count()) === 0);
  const resets = received.slice(before).filter((frame) => frame.type === 'reset');
  assert.equal(resets.length, 1, `a reset came: ${JSON.stringify(received.slice(before).map((f) => f.type))}`);
  assert.equal(resets[0].channel, general);

  // Live again afterwards, and what it shows is the server's history.
  await moWs.post(general, 'mo 6');
  await expectTexts(messageBodies(page), [...expected, 'mo 6'], 'a live message after the reset');
  const history = await moWs.request({ type: 'history', channel: general, limit: 200 });
  assert.deepEqual(
    history.messages.filter((m) => !m.system).map((m) => (m.deleted ? 'This message was deleted.' : m.body)),
    [...expected, 'mo 6'],
  );
  moWs.close();
});
