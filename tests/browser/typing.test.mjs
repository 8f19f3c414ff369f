// Issue 13, point 2: typing the next message right after sending one, at a
// normal pace, must not produce "You are sending too fast". The client sends no
// typing event the server would refuse (one per channel per interval), and the
// refusal of a best-effort event is never shown to the user.

import assert from 'node:assert/strict';
import {
  browserTest,
  expectTexts,
  expectVisible,
  messageBodies,
  recordFrames,
  recordToasts,
  saveScreenshot,
  waitFor,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture();
const env = fixture.env;

const MESSAGES = [
  'ok, sending the draft now',
  'and the second one, typed at an ordinary pace right after the first',
  'third: still no complaints from the server please',
];

browserTest('sending then typing the next message at once draws no refusal and no toast', env, async (session) => {
  const alice = await fixture.server.register('alice');
  const bob = await fixture.server.register('bob');
  let frames = [];
  const alicePage = await session.newPage({
    account: alice,
    beforeLoad: (page) => {
      frames = recordFrames(page);
    },
  });
  const bobPage = await session.newPage({ account: bob });
  await recordToasts(alicePage);
  await alicePage.locator('#composer-input').focus();

  for (const [index, text] of MESSAGES.entries()) {
    // Bob sees alice typing each message, also the ones typed right after a send.
    const seenTyping = expectVisible(bobPage.getByText('alice is typing…'), `bob to see alice typing message ${index + 1}`);
    await alicePage.keyboard.type(text, { delay: 45 });
    await seenTyping;
    await alicePage.keyboard.press('Enter');
    await expectTexts(messageBodies(bobPage), MESSAGES.slice(0, index + 1), `bob to get message ${index + 1}`);
  }

  const errors = frames.filter((frame) => frame.type === 'error');
  assert.deepEqual(errors, [], 'the server refused nothing alice\'s page sent');
  const toasts = await alicePage.evaluate(() => window.__toasts);
  assert.deepEqual(toasts, [], 'no toast appeared');
  await saveScreenshot(alicePage, 'typing-desktop');
});

browserTest('a typing event the server refuses is not shown to the user', env, async (session) => {
  const carol = await fixture.server.register('carol');
  let frames = [];
  const page = await session.newPage({
    account: carol,
    beforeLoad: async (page) => {
      frames = recordFrames(page);
      // The page's clock can be moved forward (as an NTP correction would), so
      // the client believes the interval has passed when the server knows it has not.
      await page.addInitScript(() => {
        const realNow = Date.now.bind(Date);
        window.__skewMs = 0;
        Date.now = () => realNow() + window.__skewMs;
      });
    },
  });
  await recordToasts(page);
  const input = page.locator('#composer-input');
  await input.focus();
  await page.keyboard.type('a');
  await page.evaluate(() => {
    window.__skewMs += 60000;
  });
  await page.keyboard.type('b');
  await waitFor('the server to refuse the second typing event', () => frames.some((frame) => frame.type === 'error'));
  const refusal = frames.find((frame) => frame.type === 'error');
  assert.equal(refusal.code, 'rate_limited');
  // Carol goes on and sends; nothing about the refusal ever reached her screen.
  await page.keyboard.press('Enter');
  await expectTexts(messageBodies(page).last(), ['ab'], 'carol\'s message');
  assert.deepEqual(await page.evaluate(() => window.__toasts), [], 'no toast appeared');
});
