// How the main screen looks and how it is used without a mouse or a wide screen:
// saves target/screenshots/main.png of a lived-in workspace (the README shows a
// copy of it, docs/screenshot.png), checks that at phone width
// the sidebar hides behind a menu button, and that the whole round (sign up,
// send, switch channel, create a channel) works with the keyboard alone.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  ROOT,
  WsClient,
  browserTest,
  expectHidden,
  expectTexts,
  expectVisible,
  messageBodies,
  openChannel,
  sendMessage,
  sidebarChannel,
  unreadBadge,
  waitFor,
  waitForChat,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture();
const env = fixture.env;

browserTest('main screen screenshot (target/screenshots/main.png)', env, async (session) => {
  const alice = await fixture.server.register('alice');
  const bob = await fixture.server.register('bob');
  const carol = await fixture.server.register('carol');
  const aliceWs = await WsClient.connect(fixture.server, alice);
  const bobWs = await WsClient.connect(fixture.server, bob);
  const carolWs = await WsClient.connect(fixture.server, carol);
  const general = bobWs.channelNamed('General').id;

  const design = (await aliceWs.request({ type: 'create_channel', name: 'design', private: false })).channel.id;
  const random = (await aliceWs.request({ type: 'create_channel', name: 'random', private: false })).channel.id;
  await aliceWs.request({ type: 'create_channel', name: 'launch-plans', private: true });
  await bobWs.request({ type: 'join', channel: random });
  await carolWs.request({ type: 'join', channel: design });

  await bobWs.post(general, 'Morning all! The 0.3 release notes are up: https://example.com/natter/releases/0.3');
  await carolWs.post(general, 'Nice. I will try the reconnect path on my phone today.');
  await carolWs.post(general, 'Checklist for the demo:\n- sign up and log in\n- private channel + invite\n- kill the server mid-chat');
  await aliceWs.post(general, 'Thanks both. I will take the screenshots.');
  await bobWs.post(random, 'Anyone up for lunch at noon?');
  await bobWs.post(random, 'The place with the good noodles.');
  const dm = (await bobWs.request({ type: 'open_dm', user: 'alice' })).channel.id;
  await bobWs.post(dm, 'Got a minute to review the invite flow?');
  aliceWs.close();

  const page = await session.newPage({ account: alice, viewport: { width: 1280, height: 760 } });
  await expectTexts(messageBodies(page).last(), ['Thanks both. I will take the screenshots.'], 'General history');
  // Bob's join is a system line in random's stream; the server's unread count
  // leaves system lines out (docs/protocol.md, "Session start"): two messages.
  await waitFor('random to show 2 unread', async () => (await unreadBadge(page, 'random')) === 2);
  await waitFor('the DM with bob to show 1 unread', async () => (await unreadBadge(page, 'bob')) === 1);
  bobWs.send({ type: 'typing', channel: general });
  await expectVisible(page.getByText('bob is typing…'), 'the typing indicator');
  await page.locator('#composer-input').fill('Sounds good, on it');
  mkdirSync(join(ROOT, 'target', 'screenshots'), { recursive: true });
  await page.screenshot({ path: join(ROOT, 'target', 'screenshots', 'main.png') });

  bobWs.close();
  carolWs.close();
});

browserTest('at phone width the sidebar hides behind a menu button', env, async (session) => {
  const dora = await fixture.server.register('dora');
  const doraWs = await WsClient.connect(fixture.server, dora);
  const listing = await doraWs.request({ type: 'list_channels', prefix: 'random' });
  await doraWs.request({ type: 'join', channel: listing.channels[0].id });
  doraWs.close();
  const page = await session.newPage({ account: dora, viewport: { width: 390, height: 780 } });
  const sidebar = page.locator('#sidebar');
  const menu = page.getByRole('button', { name: 'Open menu' });
  await expectHidden(sidebar, 'the sidebar at phone width');
  await expectVisible(menu, 'the menu button');
  assert.equal(await menu.getAttribute('aria-expanded'), 'false');

  await menu.click();
  await expectVisible(sidebar, 'the sidebar after opening the menu');
  assert.equal(await menu.getAttribute('aria-expanded'), 'true');
  await page.keyboard.press('Escape');
  await expectHidden(sidebar, 'the sidebar after Escape');
  await waitFor('focus back on the menu button', () => page.evaluate(() => document.activeElement?.id === 'menu-button'));

  await menu.click();
  await sidebarChannel(page, 'random').click();
  await expectHidden(sidebar, 'the sidebar after choosing a channel');
  await waitFor('the random channel open', async () => (await page.locator('#channel-title').textContent()).includes('random'));
  await sendMessage(page, 'x'.repeat(300));
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling at phone width (overflow ${overflow}px)`);
});

browserTest('everything works with the keyboard alone', env, async (session) => {
  const page = await session.newPage({ label: 'erin' });
  // The form starts focused on the username; Tab moves on; Enter submits.
  await waitFor('focus in the username field', () => page.evaluate(() => document.activeElement?.id === 'auth-username'));
  await tabUntil(page, (el) => el.id === 'auth-switch', 'the "Create an account" button');
  await page.keyboard.press('Enter');
  await page.keyboard.type('erin');
  await page.keyboard.press('Tab');
  await page.keyboard.type('correct horse battery');
  await page.keyboard.press('Enter');
  await waitForChat(page);

  // The composer has focus; Enter sends.
  await waitFor('focus in the composer', () => page.evaluate(() => document.activeElement?.id === 'composer-input'));
  await page.keyboard.type('typed without a mouse');
  await page.keyboard.press('Enter');
  await expectTexts(messageBodies(page).last(), ['typed without a mouse'], 'the sent message');

  // Create a channel: Tab to the button, Enter, type, Enter.
  await tabUntil(page, (el) => el.getAttribute('aria-label') === 'Create a channel', 'the "Create a channel" button');
  await page.keyboard.press('Enter');
  await waitFor('focus in the channel name', () => page.evaluate(() => document.activeElement?.id === 'create-name'));
  await page.keyboard.type('keyboard-club');
  await page.keyboard.press('Enter');
  await waitFor('keyboard-club open', async () => (await page.locator('#channel-title').textContent()).includes('keyboard-club'));

  // Alt+Up walks back to General.
  await page.locator('#composer-input').focus();
  await page.keyboard.press('Alt+ArrowUp');
  await waitFor('General open again', async () => (await page.locator('#channel-title').textContent()).includes('General'));
  // Focus is always visible.
  await tabUntil(page, (el) => el.dataset.channel !== undefined, 'a channel button');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'the focused channel shows a focus ring');
  await openChannel(page, 'keyboard-club');
});

/** Presses Tab until the focused element satisfies `test` (at most 40 times). */
async function tabUntil(page, test, description) {
  for (let i = 0; i < 40; i += 1) {
    await page.keyboard.press('Tab');
    const found = await page.evaluate(`(${test.toString()})(document.activeElement)`);
    if (found) return;
  }
  throw new Error(`Tab never reached ${description}`);
}
