// Issue 13, point 4: coming back to a busy channel opens it at the first unread
// message with a bar "N new messages since HH:MM · Jump · Mark read", and
// nothing is marked read that was not on screen. Escape marks the channel read,
// Alt+Shift+Up/Down go to the previous/next channel with unread messages, and at
// phone width the menu button shows a dot when another channel gets a message.

import assert from 'node:assert/strict';
import {
  WsClient,
  browserTest,
  expectHidden,
  expectVisible,
  openChannel,
  saveScreenshot,
  sendMessage,
  unreadBadge,
  waitFor,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture();
const env = fixture.env;

/** Where the list is scrolled, and where the "New" divider sits in it. */
function scrollState(page) {
  return page.evaluate(() => {
    const list = document.getElementById('messages');
    const divider = list.querySelector('.new-divider');
    const listTop = list.getBoundingClientRect().top;
    return {
      atBottom: list.scrollHeight - list.scrollTop - list.clientHeight < 48,
      dividerTop: divider ? divider.getBoundingClientRect().top - listTop : null,
      height: list.clientHeight,
    };
  });
}

browserTest('a busy channel opens at its first unread message, with a bar to jump or mark read', env, async (session) => {
  const alice = await fixture.server.register('alice');
  const bob = await fixture.server.register('bob');
  const bobWs = await WsClient.connect(fixture.server, bob);
  const aliceWs = await WsClient.connect(fixture.server, alice);
  const busy = (await bobWs.request({ type: 'create_channel', name: 'busy', private: false })).channel.id;
  const quiet = (await bobWs.request({ type: 'create_channel', name: 'quiet', private: false })).channel.id;
  await aliceWs.request({ type: 'join', channel: busy });
  await aliceWs.request({ type: 'join', channel: quiet });
  // Several writers, so no one of them meets the per-user message rate.
  const writers = [bobWs];
  for (const name of ['erin', 'frank', 'grace']) {
    const writer = await WsClient.connect(fixture.server, await fixture.server.register(name));
    await writer.request({ type: 'join', channel: busy });
    writers.push(writer);
  }
  // (Joins are system lines in the channel's stream: seqs come from the acks.)
  let readUpTo = 0;
  for (let i = 1; i <= 20; i += 1) readUpTo = (await writers[i % writers.length].post(busy, `already read ${i}`)).seq;
  aliceWs.send({ type: 'read', channel: busy, seq: readUpTo });
  await aliceWs.next((frame) => frame.type === 'read' && frame.seq === readUpTo, 'alice\'s read marker after the 20 read');
  let newest = 0;
  for (let i = 1; i <= 40; i += 1) newest = (await writers[i % writers.length].post(busy, `unread ${i}: ${'the afternoon discussion goes on and on. '.repeat(2)}`)).seq;
  await bobWs.post(quiet, 'one for the quiet channel');

  const page = await session.newPage({ account: alice });
  await waitFor('busy to show 40 unread', async () => (await unreadBadge(page, 'busy')) === 40);
  await openChannel(page, 'busy');

  // The first unread message is at the top of the list; the bottom is out of view.
  await waitFor('the "New" divider near the top of the list', async () => {
    const state = await scrollState(page);
    return state.dividerTop !== null && state.dividerTop >= 0 && state.dividerTop < 60 && !state.atBottom;
  });
  const bar = page.locator('#unread-bar');
  await expectVisible(bar, 'the unread bar');
  assert.match(await page.locator('#unread-bar-text').textContent(), /^40 new messages since \d{1,2}[:.]\d{2}/);
  await saveScreenshot(page, 'unread-desktop');
  // Nothing was marked read: the other connection of alice hears no `read`.
  await assert.rejects(
    aliceWs.next((frame) => frame.type === 'read' && frame.channel === busy, 'no read marker move', 1500),
    /timed out/,
    'opening the channel must not mark it read',
  );

  // Scrolled further down (not to the bottom, which would read everything),
  // Jump goes back to the first unread.
  await page.locator('#messages').evaluate((list) => {
    list.scrollTop += list.clientHeight;
  });
  await waitFor('the divider scrolled out of view', async () => (await scrollState(page)).dividerTop < 0);
  await page.locator('#unread-jump').click();
  await waitFor('Jump back at the divider', async () => {
    const state = await scrollState(page);
    return state.dividerTop !== null && state.dividerTop >= 0 && state.dividerTop < 60;
  });

  // Escape marks the channel read: the bar goes, the server hears it.
  await page.locator('#composer-input').focus();
  await page.keyboard.press('Escape');
  await expectHidden(bar, 'the unread bar after Escape');
  await aliceWs.next((frame) => frame.type === 'read' && frame.channel === busy && frame.seq === newest, 'the read marker moved to the newest by Escape');

  // Alt+Shift+Down goes to the next channel with unread messages (quiet, past
  // none); from General, Alt+Shift+Up walks backwards round to busy.
  await page.keyboard.press('Alt+Shift+ArrowDown');
  await waitFor('quiet open', async () => (await page.locator('#channel-title .title-text').textContent()) === 'quiet');
  await openChannel(page, 'General');
  await bobWs.post(busy, 'one more after you read');
  await waitFor('busy to show 1 unread', async () => (await unreadBadge(page, 'busy')) === 1);
  await page.locator('#composer-input').focus();
  await page.keyboard.press('Alt+Shift+ArrowUp');
  await waitFor('busy open by Alt+Shift+Up', async () => (await page.locator('#channel-title .title-text').textContent()) === 'busy');

  for (const writer of writers) writer.close();
  aliceWs.close();
});

browserTest('Mark read clears the bar, and at phone width the menu shows a dot for other channels', env, async (session) => {
  const carol = await fixture.server.register('carol');
  const dave = await fixture.server.register('dave');
  const daveWs = await WsClient.connect(fixture.server, dave);
  const plans = (await daveWs.request({ type: 'create_channel', name: 'plans', private: false })).channel.id;
  await daveWs.post(plans, 'welcome to plans');
  daveWs.close();
  // Carol has read plans before (a channel never read opens at its newest messages).
  const carolWs = await WsClient.connect(fixture.server, carol);
  await carolWs.request({ type: 'join', channel: plans });
  // Her own join is the newest line of plans (a system line): read up to it.
  const { messages } = await carolWs.request({ type: 'history', channel: plans, limit: 1 });
  const seq = messages.at(-1).seq;
  carolWs.send({ type: 'read', channel: plans, seq });
  await carolWs.next((frame) => frame.type === 'read' && frame.seq === seq, 'carol\'s read marker at her join');
  carolWs.close();

  const phone = await session.newPage({ account: carol, viewport: { width: 390, height: 780 }, label: 'carol-phone' });
  const davePage = await session.newPage({ account: dave, label: 'dave' });
  const dot = phone.locator('#menu-dot');
  assert.equal(await dot.isVisible(), false, 'no dot while nothing is unread');

  // Dave writes in plans while carol reads General on her phone.
  await openChannel(davePage, 'plans');
  for (let i = 1; i <= 25; i += 1) await sendMessage(davePage, `plan item ${i}: ${'details to think about. '.repeat(3)}`);
  await expectVisible(dot, 'the unread dot on the menu button');
  assert.match(await phone.locator('#menu-button').getAttribute('aria-label'), /unread/);
  await saveScreenshot(phone, 'unread-menu-dot-phone');

  await phone.locator('#menu-button').click();
  await openChannel(phone, 'plans');
  await expectVisible(phone.locator('#unread-bar'), 'the unread bar on the phone');
  await expectHidden(dot, 'the dot once the only unread channel is open');
  await saveScreenshot(phone, 'unread-phone');
  await phone.locator('#unread-mark').click();
  await expectHidden(phone.locator('#unread-bar'), 'the bar after Mark read');
  await phone.locator('#menu-button').click();
  await waitFor('plans to show no unread', async () => (await unreadBadge(phone, 'plans')) === 0);
});
