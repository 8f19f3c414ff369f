// Two people sign up through the form in two separate browsers and talk in
// General in real time: both see both messages, in order, confirmed once. Also:
// Enter sends and Shift+Enter makes a new line, a sent message shows at once,
// the typing indicator comes and goes, and presence is live.

import assert from 'node:assert/strict';
import {
  WsClient,
  browserTest,
  createChannel,
  expectHidden,
  expectTexts,
  expectVisible,
  messageBodies,
  sendMessage,
  signInThroughForm,
  signUpThroughForm,
  waitFor,
  waitForChat,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture();
const env = fixture.env;

browserTest('two users sign up through the form and chat in General in real time', env, async (session) => {
  const alice = await session.newPage({ label: 'alice' });
  await signUpThroughForm(alice, 'alice');
  const bob = await session.newPage({ label: 'bob' });
  await signUpThroughForm(bob, 'bob');

  for (const page of [alice, bob]) {
    await waitFor('the channel title General', async () => (await page.locator('#channel-title').textContent()).includes('General'));
  }
  // Presence is live: alice sees bob arrive without reloading.
  await expectTexts(alice.locator('#online-list .user-name'), ['alice', 'bob'], 'alice to see both users online');

  await sendMessage(alice, 'Hello from alice');
  await expectTexts(messageBodies(bob), ['Hello from alice'], 'bob to receive alice\'s message live');
  await sendMessage(bob, 'Hi alice, bob here');
  const both = ['Hello from alice', 'Hi alice, bob here'];
  await expectTexts(messageBodies(alice), both, 'alice to see both messages in order');
  await expectTexts(messageBodies(bob), both, 'bob to see both messages in order');

  // Senders are shown, and every message is there exactly once.
  assert.deepEqual(await alice.locator('#messages .msg-sender').allTextContents(), ['alice', 'bob']);
  assert.equal(await alice.locator('#messages .msg.sending').count(), 0);
});

browserTest('Enter sends, Shift+Enter is a new line, and typing is shown then hidden', env, async (session) => {
  // The accounts of the first test, signed in through the form (click, then Enter).
  const alice = await session.newPage({ label: 'alice' });
  await signInThroughForm(alice, 'alice');
  await waitForChat(alice);
  const bob = await session.newPage({ label: 'bob' });
  await signInThroughForm(bob, 'bob', undefined, { submitWithEnter: true });
  await waitForChat(bob);
  const existing = (await messageBodies(alice).allTextContents()).length;

  const input = alice.locator('#composer-input');
  await input.focus();
  await alice.keyboard.type('first line');
  // Bob sees alice typing, and the line disappears a few seconds after she stops.
  await expectVisible(bob.getByText('alice is typing…'), 'bob\'s typing indicator');
  await alice.keyboard.press('Shift+Enter');
  await alice.keyboard.type('second line');
  assert.equal(await input.inputValue(), 'first line\nsecond line', 'Shift+Enter adds a line break');
  await alice.keyboard.press('Enter');
  assert.equal(await input.inputValue(), '', 'Enter sends and clears the composer');
  await expectTexts(messageBodies(bob).nth(existing), ['first line\nsecond line'], 'bob to get the two-line message');
  // The break is rendered as a break (pre-wrap), not collapsed into a space.
  const lines = await bob.locator('#messages .msg-body').nth(existing).evaluate((el) => {
    const style = getComputedStyle(el);
    return { whiteSpace: style.whiteSpace, height: el.getBoundingClientRect().height, lineHeight: parseFloat(style.lineHeight) };
  });
  assert.equal(lines.whiteSpace, 'pre-wrap');
  assert.ok(lines.height >= lines.lineHeight * 1.9, `two lines tall (height ${lines.height}, line ${lines.lineHeight})`);
  await expectHidden(bob.getByText('alice is typing…'), 'bob\'s typing indicator after alice sent', { timeout: 6000 });
});

browserTest('a send the server refuses shows Retry, and retrying delivers it once', env, async (session) => {
  const frank = await fixture.server.register('frank');
  const page = await session.newPage({ account: frank });
  await createChannel(page, 'burst');
  // 30 sends in one go: the server allows a burst of 20, so some are refused
  // with rate_limited and must be offered for retry.
  const bodies = Array.from({ length: 30 }, (_, i) => `burst ${i + 1}`);
  await page.evaluate((all) => {
    const input = document.getElementById('composer-input');
    const form = document.getElementById('composer');
    for (const body of all) {
      input.value = body;
      form.requestSubmit();
    }
  }, bodies);
  const failed = page.locator('#messages .msg.failed');
  await waitFor('some sends to be refused', async () => (await failed.count()) > 0);
  await expectVisible(failed.first().getByText(/Not sent/), 'the failure reason');

  // Retry each (with the same client_id) until none is left failing.
  await waitFor(
    'every refused send to go through on retry',
    async () => {
      const retry = page.locator('#messages .msg.failed button[data-action="retry"]').first();
      if (await retry.count()) await retry.click();
      return (await page.locator('#messages .msg.failed, #messages .msg.sending').count()) === 0;
    },
    { interval: 200, timeout: 20000 },
  );
  // Each body exactly once, in the server's order.
  const shown = await messageBodies(page).allTextContents();
  assert.deepEqual([...shown].sort(), [...bodies].sort(), 'every message exactly once');
  const ws = await WsClient.connect(fixture.server, frank);
  const history = await ws.request({ type: 'history', channel: ws.channelNamed('burst').id, limit: 100 });
  ws.close();
  assert.deepEqual(shown, history.messages.map((m) => m.body), 'the page shows the server\'s order');
});
