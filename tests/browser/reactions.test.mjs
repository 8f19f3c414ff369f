// Reactions, replies, mentions and notifications in the web UI (docs/protocol.md,
// "Messages that change", "History", "Presence, typing, read markers"): chips
// with counts and who reacted, seen by another user, toggled by click and
// Enter as the state wanted; the emoji picker from the keyboard; a reply's
// quote and the jump to a parent 500 messages back (a window, with "Jump to
// latest"); the mention autocomplete, highlight and counts; the notification
// level menu; and a desktop notification raised while the page is hidden.

import assert from 'node:assert/strict';
import {
  WsClient,
  browserTest,
  createChannel,
  expectCount,
  expectHidden,
  expectTexts,
  expectVisible,
  messageBodies,
  openChannel,
  postMany,
  recordFrames,
  saveScreenshot,
  sendMessage,
  sidebarChannel,
  waitFor,
  sharedFixture,
} from './helpers.mjs';

// The jump test posts 500 messages at once; the crowd test makes 51 accounts.
const fixture = sharedFixture({
  args: ['--messages-per-second', '2000', '--message-burst', '2000', '--account-creations-per-minute', '1000'],
});
const env = fixture.env;

/** The message element whose body reads exactly `text`. */
function messageRow(page, text) {
  return page.locator('#messages .msg').filter({ has: page.locator('.msg-body').getByText(text, { exact: true }) });
}

/** The reaction chip of `emoji` under the message reading `text`. */
function chip(page, text, emoji) {
  return messageRow(page, text).locator(`.reaction[data-emoji="${emoji}"]`);
}

async function chipState(page, text, emoji) {
  const element = chip(page, text, emoji);
  if ((await element.count()) === 0) return null;
  return {
    count: await element.locator('.reaction-count').textContent(),
    pressed: await element.getAttribute('aria-pressed'),
    title: await element.getAttribute('title'),
  };
}

browserTest('reacting: chips with counts and who reacted, seen by the other; click and Enter set my own', env, async (session) => {
  const alice = await fixture.server.register('rita');
  const bob = await fixture.server.register('rob');
  const alicePage = await session.newPage({ account: alice });
  const frames = [];
  const bobPage = await session.newPage({ account: bob, beforeLoad: (page) => {
    page.on('websocket', (socket) => socket.on('framesent', ({ payload }) => frames.push(JSON.parse(String(payload)))));
  } });
  await sendMessage(alicePage, 'react to me');
  await expectVisible(messageRow(bobPage, 'react to me'), 'the message on bob\'s page');

  // Bob opens the picker from the toolbar and picks with the keyboard: Right, Enter.
  await messageRow(bobPage, 'react to me').hover();
  await messageRow(bobPage, 'react to me').getByRole('button', { name: 'Add reaction' }).click();
  const picker = bobPage.locator('#emoji-picker');
  await expectVisible(picker, 'the emoji picker');
  assert.equal(await picker.locator('button').count(), 24, 'a grid of 24 emoji');
  await saveScreenshot(bobPage, 'emoji-picker');
  await bobPage.keyboard.press('Escape');
  await expectHidden(picker, 'the picker after Escape');
  await messageRow(bobPage, 'react to me').getByRole('button', { name: 'Add reaction' }).click();
  await bobPage.keyboard.press('ArrowRight'); // 👍 -> 👎
  await bobPage.keyboard.press('ArrowLeft'); // back to 👍
  await bobPage.keyboard.press('Enter');
  await expectHidden(picker, 'the picker after a choice');
  await waitFor('bob sees his reaction', async () => (await chipState(bobPage, 'react to me', '👍'))?.pressed === 'true');
  await waitFor('alice sees bob\'s reaction', async () => {
    const state = await chipState(alicePage, 'react to me', '👍');
    return state?.count === '1' && state.pressed === 'false' && state.title === 'rob reacted with 👍';
  });

  // Alice clicks the chip: hers too, two now, both see it.
  await chip(alicePage, 'react to me', '👍').click();
  await waitFor('two on bob\'s page, naming both', async () => {
    const state = await chipState(bobPage, 'react to me', '👍');
    return state?.count === '2' && state.title === 'rob, rita reacted with 👍';
  });
  assert.equal((await chipState(alicePage, 'react to me', '👍')).pressed, 'true');

  // Bob takes his back with Enter on the chip: add false, never a toggle.
  await chip(bobPage, 'react to me', '👍').focus();
  await bobPage.keyboard.press('Enter');
  await waitFor('one left on alice\'s page, hers', async () => {
    const state = await chipState(alicePage, 'react to me', '👍');
    return state?.count === '1' && state.pressed === 'true' && state.title === 'rita reacted with 👍';
  });
  const reacts = frames.filter((frame) => frame.type === 'react');
  assert.deepEqual(reacts.map((frame) => [frame.emoji, frame.add]), [['👍', true], ['👍', false]]);
  await saveScreenshot(alicePage, 'reaction-chips');
});

browserTest('past the 50 names a chip lists, a click takes back a reaction of mine it does not name', env, async (session) => {
  const xena = await fixture.server.register('xena');
  const poster = await WsClient.connect(fixture.server, xena);
  await poster.post(1, 'a popular one');
  const message = (await poster.request({ type: 'history', channel: 1, limit: 5 })).messages.find((m) => m.body === 'a popular one');
  // Fifty others react first; Xena is the 51st, so the server does not name her.
  for (let n = 0; n < 50; n += 1) {
    const fan = await WsClient.connect(fixture.server, await fixture.server.register(`fan${n}`));
    await fan.request({ type: 'react', channel: 1, seq: message.seq, emoji: '🎉', add: true });
    fan.close();
  }
  await poster.request({ type: 'react', channel: 1, seq: message.seq, emoji: '🎉', add: true });
  const sent = [];
  const page = await session.newPage({ account: xena, beforeLoad: (opened) => {
    opened.on('websocket', (socket) => socket.on('framesent', ({ payload }) => sent.push(JSON.parse(String(payload)))));
  } });
  await waitFor('the chip counts 51', async () => (await chipState(page, 'a popular one', '🎉'))?.count === '51');
  assert.equal((await chipState(page, 'a popular one', '🎉')).pressed, 'false', 'not known to be mine');
  await chip(page, 'a popular one', '🎉').click();
  await waitFor('mine is taken back', async () => (await chipState(page, 'a popular one', '🎉'))?.count === '50');
  const reacts = sent.filter((frame) => frame.type === 'react');
  assert.deepEqual(reacts.map((frame) => frame.add), [true, false], 'asked to add (already there), then took it back');
  poster.close();
});

browserTest('a reply quotes its parent and jumps to it 500 messages back, then back to the latest', env, async (session) => {
  const carl = await fixture.server.register('carl');
  const dora = await fixture.server.register('dora');
  const page = await session.newPage({ account: carl });
  await createChannel(page, 'long-history');
  const client = await WsClient.connect(fixture.server, dora);
  const channelId = (await client.request({ type: 'join', channel: (await client.request({ type: 'list_channels', prefix: 'long-history' })).channels[0].id })).channel.id;
  const parent = await client.post(channelId, 'the very first question\nwith a second line');
  await postMany(client, channelId, Array.from({ length: 500 }, (_, i) => `filler ${i}`));
  await client.request({ type: 'send', channel: channelId, body: 'answering that one', client_id: 'reply-1', reply_to: parent.seq });
  // Carl watched them arrive live; a reload holds only the latest page.
  await page.reload();
  await waitFor('long-history open again', async () => (await page.locator('#channel-title .title-text').textContent()) === 'long-history');
  const quote = messageRow(page, 'answering that one').locator('.reply-quote');
  await expectTexts(quote, ['dorathe very first question'], 'the quote: sender and the first line');
  assert.equal(await messageRow(page, 'the very first question\nwith a second line').count(), 0, 'the parent is not loaded');

  // Enter on the quote loads the window around the parent and highlights it.
  await quote.focus();
  await page.keyboard.press('Enter');
  const parentRow = page.locator(`#messages .msg[data-seq="${parent.seq}"]`);
  await expectVisible(parentRow, 'the parent after the jump');
  await waitFor('the parent highlighted', async () => (await parentRow.getAttribute('class')).includes('highlight'));
  await expectVisible(page.getByRole('button', { name: 'Jump to latest' }), 'Jump to latest');
  assert.equal(await messageRow(page, 'answering that one').count(), 0, 'the latest page is not shown with the window');
  await saveScreenshot(page, 'reply-jump-window');

  // A live message meanwhile does not show inside the window, and its stream is not lost.
  await client.post(channelId, 'while you were away');
  await page.getByRole('button', { name: 'Jump to latest' }).click();
  await expectVisible(messageRow(page, 'while you were away'), 'the latest after returning');
  await expectVisible(messageRow(page, 'answering that one'), 'the reply again');
  await expectHidden(page.getByRole('button', { name: 'Jump to latest' }), 'no Jump to latest at the latest');

  // Replying from the toolbar: the composer says to whom, Escape cancels, the send carries reply_to.
  await messageRow(page, 'while you were away').hover();
  await messageRow(page, 'while you were away').getByRole('button', { name: 'Reply' }).click();
  await expectTexts(page.locator('#reply-bar-text'), ['Replying to dora: while you were away'], 'the reply bar');
  await page.locator('#composer-input').press('Escape');
  await expectHidden(page.locator('#reply-bar'), 'the reply bar after Escape');
  await messageRow(page, 'while you were away').hover();
  await messageRow(page, 'while you were away').getByRole('button', { name: 'Reply' }).click();
  await sendMessage(page, 'welcome back');
  await expectTexts(messageRow(page, 'welcome back').locator('.reply-quote'), ['dorawhile you were away'], 'my reply\'s quote');
  const reply = await client.next((frame) => frame.type === 'message' && frame.body === 'welcome back', 'my reply at dora');
  assert.equal(reply.reply_to.sender, 'dora');

  // The quote follows the parent's edit and deletion.
  const away = reply.reply_to.seq;
  await client.request({ type: 'edit', channel: channelId, seq: away, body: 'edited parent' });
  await expectTexts(messageRow(page, 'welcome back').locator('.reply-text'), ['edited parent'], 'the quote after the edit');
  await client.request({ type: 'delete', channel: channelId, seq: away });
  await expectTexts(messageRow(page, 'welcome back').locator('.reply-text'), ['Original message deleted'], 'the quote after the deletion');
  client.close();
});

browserTest('mentions: autocomplete from the members, highlighted, counted in the sidebar and the title', env, async (session) => {
  const erin = await fixture.server.register('erin');
  const frank = await fixture.server.register('frank');
  await fixture.server.register('franziska');
  const erinPage = await session.newPage({ account: erin });
  const frankPage = await session.newPage({ account: frank });
  await createChannel(frankPage, 'standup');
  await frankPage.getByRole('button', { name: 'Create a channel' }).isVisible();
  const erinWs = await WsClient.connect(fixture.server, erin);
  const standup = (await erinWs.request({ type: 'list_channels', prefix: 'standup' })).channels[0].id;
  await erinWs.request({ type: 'join', channel: standup });
  erinWs.close();

  // Frank types "@er": the list offers erin; Enter inserts "@erin ".
  const input = frankPage.locator('#composer-input');
  await input.click();
  await input.pressSequentially('hi @er');
  const list = frankPage.locator('#mention-list');
  await expectTexts(list.getByRole('option'), ['@erin'], 'the mention list');
  await saveScreenshot(frankPage, 'mention-autocomplete');
  await input.press('Enter');
  await expectHidden(list, 'the list after a pick');
  assert.equal(await input.inputValue(), 'hi @erin ');
  await input.pressSequentially('and @cha');
  await expectTexts(list.getByRole('option'), ['@channel everyone here'], '@channel offered');
  await input.press('Escape');
  await expectHidden(list, 'the list after Escape');
  await input.pressSequentially('nnel see this');
  await input.press('Enter');
  await expectVisible(messageRow(frankPage, 'hi @erin and @channel see this'), 'the sent mention');
  await expectTexts(messageRow(frankPage, 'hi @erin and @channel see this').locator('.mention'), ['@erin', '@channel'], 'highlighted for frank');

  // Erin, in General: an @ badge on standup and the count in the tab's title.
  await waitFor('the @ badge for erin', async () => (await sidebarChannel(erinPage, 'standup').locator('.mention-badge .badge-count').textContent().catch(() => '')) === '@1');
  await waitFor('the title counts the mention', async () => (await erinPage.title()).startsWith('(1) '));
  await openChannel(erinPage, 'standup');
  const row = messageRow(erinPage, 'hi @erin and @channel see this');
  await expectVisible(row.locator('.mention.mention-me').first(), 'her name highlighted');
  assert.ok((await row.getAttribute('class')).includes('mentions-me'), 'the message marked as mentioning her');
  await waitFor('the title clear after reading', async () => !(await erinPage.title()).startsWith('('));
  await expectCount(sidebarChannel(erinPage, 'standup').locator('.mention-badge'), 0, 'no @ badge after reading');
});

browserTest('the notification level menu sets and syncs the level; a DM raises a desktop notification while hidden', env, async (session) => {
  const gus = await fixture.server.register('gus');
  const hana = await fixture.server.register('hana');
  const page = await session.newPage({ account: gus });
  const second = await session.newPage({ account: gus, label: 'gus-2' });

  // The level, from the channel menu, reaches my other tab through the server's `channel` frame.
  await page.getByRole('button', { name: 'Channel options' }).click();
  await expectVisible(page.getByRole('menuitemradio', { name: 'All messages' }), 'the levels');
  assert.equal(await page.getByRole('menuitemradio', { name: 'All messages' }).getAttribute('aria-checked'), 'true');
  await page.getByRole('menuitemradio', { name: 'Mentions only' }).click();
  await second.getByRole('button', { name: 'Channel options' }).click();
  await waitFor('the other tab shows Mentions only', async () => (await second.getByRole('menuitemradio', { name: 'Mentions only' }).getAttribute('aria-checked')) === 'true');
  await second.keyboard.press('Escape');
  const check = await WsClient.connect(fixture.server, gus);
  assert.equal(check.welcome.channels.find((c) => c.name === 'General').notify, 'mentions');
  check.close();

  // Permission is asked only from the menu item, never on load.
  const asked = await page.evaluate(() => Notification.permission);
  assert.equal(asked, 'default', 'nothing asked on load');
  // Playwright's grantPermissions is CDP's Browser.grantPermissions for this context.
  await page.context().grantPermissions(['notifications'], { origin: fixture.server.url });
  assert.equal(await page.evaluate(() => Notification.permission), 'granted');

  // Real notifications are raised; a spy subclass records them (Playwright cannot
  // see the system's), and the page is made hidden by overriding visibilityState.
  await page.evaluate(() => {
    window.__notifications = [];
    const Real = window.Notification;
    window.Notification = class extends Real {
      constructor(title, options) {
        super(title, options);
        window.__notifications.push({ title, body: options?.body, instance: this });
      }
    };
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  const hanaWs = await WsClient.connect(fixture.server, hana);
  const general = hanaWs.channelNamed('General').id;
  await hanaWs.post(general, 'plain words in General'); // mentions only: no notification
  const dm = (await hanaWs.request({ type: 'open_dm', user: 'gus' })).channel.id;
  await hanaWs.post(dm, 'psst, gus');
  await waitFor('a notification for the DM', async () => (await page.evaluate(() => window.__notifications.length)) > 0);
  const shown = await page.evaluate(() => window.__notifications.map(({ title, body }) => ({ title, body })));
  assert.deepEqual(shown, [{ title: 'hana', body: 'psst, gus' }]);

  // Clicking it opens the DM at the message.
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
    window.__notifications[0].instance.dispatchEvent(new Event('click'));
  });
  await waitFor('the DM open', async () => (await page.locator('#channel-title .title-text').textContent()) === 'hana');
  await expectVisible(messageRow(page, 'psst, gus'), 'the message');
  hanaWs.close();
});

browserTest('mentions are highlighted in Markdown prose, never inside code or links', env, async (session) => {
  const ivan = await fixture.server.register('ivan');
  const jill = await fixture.server.register('jill');
  const page = await session.newPage({ account: ivan });
  const jillWs = await WsClient.connect(fixture.server, jill);
  const body = '**@ivan** look at `@ivan` and https://example.com/@ivan please';
  await jillWs.post(jillWs.channelNamed('General').id, body);
  jillWs.close();
  const row = page.locator('#messages .msg').filter({ has: page.locator('strong') }).last();
  await expectTexts(row.locator('.mention'), ['@ivan'], 'one mention, in the bold prose');
  await expectTexts(row.locator('strong .mention.mention-me'), ['@ivan'], 'the mention inside <strong>');
  assert.equal(await row.locator('code .mention, a .mention').count(), 0, 'none in code or the link');
  assert.equal(await row.locator('.msg-body').textContent(), '@ivan look at @ivan and https://example.com/@ivan please');
});

browserTest('a reaction made offline shows at once and goes out after the reconnect', env, async (session) => {
  const kira = await fixture.server.register('kira');
  const leo = await fixture.server.register('leo');
  const page = await session.newPage({ account: kira });
  const leoWs = await WsClient.connect(fixture.server, leo);
  const general = leoWs.channelNamed('General').id;
  const posted = await leoWs.post(general, 'react while away');
  leoWs.close();
  await expectVisible(messageRow(page, 'react while away'), 'the message');

  await fixture.server.kill();
  await page.context().setOffline(true);
  await expectVisible(page.locator('#conn-banner'), 'the reconnecting banner');
  await messageRow(page, 'react while away').hover();
  await messageRow(page, 'react while away').getByRole('button', { name: 'Add reaction' }).click();
  await page.locator('#emoji-picker').getByRole('button', { name: 'React with 🎉' }).click();
  await waitFor('shown at once as mine', async () => (await chipState(page, 'react while away', '🎉'))?.pressed === 'true');

  await fixture.server.restart();
  await page.context().setOffline(false);
  await page.locator('body[data-connection="open"]').waitFor({ timeout: 20000 });
  const check = await WsClient.connect(fixture.server, leo);
  await waitFor('the server to hold kira\'s reaction', async () => {
    const history = await check.request({ type: 'history', channel: general, around: posted.seq, limit: 3 });
    const message = history.messages.find((m) => m.seq === posted.seq);
    return Boolean(message?.reactions?.some((r) => r.emoji === '🎉' && r.users.includes('kira')));
  });
  check.close();
  await waitFor('still one, mine, after the server\'s copy came', async () => {
    const state = await chipState(page, 'react while away', '🎉');
    return state?.count === '1' && state.pressed === 'true';
  });
});
