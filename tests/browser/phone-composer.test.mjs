// Issue 13, point 8: on a touch-first device (a phone keyboard has no
// Shift+Enter) Return makes a new line and only the send button sends; the
// composer grows with its text up to a bound, then scrolls inside.

import assert from 'node:assert/strict';
import {
  browserTest,
  expectTexts,
  messageBodies,
  saveScreenshot,
  waitFor,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture();
const env = fixture.env;

const PHONE = { viewport: { width: 390, height: 780 }, contextOptions: { hasTouch: true, isMobile: true } };

function composerBox(page) {
  return page.locator('#composer-input').evaluate((el) => ({ height: el.getBoundingClientRect().height, scrollHeight: el.scrollHeight, clientHeight: el.clientHeight }));
}

browserTest('on a phone Return is a new line, the send button sends, and the composer grows', env, async (session) => {
  const alice = await fixture.server.register('alice');
  const bob = await fixture.server.register('bob');
  const phone = await session.newPage({ account: alice, label: 'alice-phone', ...PHONE });
  const bobPage = await session.newPage({ account: bob });
  const input = phone.locator('#composer-input');

  await input.tap();
  await phone.keyboard.type('shopping list:');
  const oneLine = await composerBox(phone);
  await phone.keyboard.press('Enter');
  await phone.keyboard.type('- oat milk');
  await phone.keyboard.press('Enter');
  await phone.keyboard.type('- bread');
  assert.equal(await input.inputValue(), 'shopping list:\n- oat milk\n- bread', 'Return made new lines');
  assert.equal(await messageBodies(phone).count(), 0, 'Return sent nothing');
  const threeLines = await composerBox(phone);
  assert.ok(threeLines.height > oneLine.height * 1.8, `the composer grew (${oneLine.height}px -> ${threeLines.height}px)`);
  await saveScreenshot(phone, 'composer-multiline-phone');

  await phone.getByRole('button', { name: 'Send message' }).tap();
  // Markdown: the line, then the two items as a list.
  await expectTexts(messageBodies(bobPage).locator('li'), ['oat milk', 'bread'], 'bob to get the three-line message as a list');
  await expectTexts(messageBodies(bobPage).locator('p'), ['shopping list:'], 'its first line');
  await waitFor('the composer empty and one line again', async () => (await input.inputValue()) === '' && (await composerBox(phone)).height <= oneLine.height + 1);

  // Up to a bound: 40 lines scroll inside a composer no taller than 40% of the screen.
  await input.tap();
  for (let i = 1; i <= 40; i += 1) {
    await phone.keyboard.type(`line ${i}`);
    if (i < 40) await phone.keyboard.press('Enter');
  }
  const tall = await composerBox(phone);
  assert.ok(tall.height <= 780 * 0.4 + 1, `the composer stops growing (${tall.height}px)`);
  assert.ok(tall.scrollHeight > tall.clientHeight, 'and scrolls inside');
  assert.equal(await messageBodies(phone).count(), 1, 'still nothing more sent');
  await saveScreenshot(phone, 'composer-bound-phone');
});
