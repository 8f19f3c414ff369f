// History paging: opening a channel shows the latest page; scrolling to the top
// loads older pages while the message being read stays exactly where it was;
// messages arriving while the reader is scrolled up raise a "new messages" pill
// instead of yanking the view down.

import assert from 'node:assert/strict';
import { WsClient, browserTest, expectHidden, expectVisible, messageBodies, sharedFixture, waitFor } from './helpers.mjs';

const TOTAL = 150;
/** Seeding is spread over several users: the server allows each 20 messages in a burst. */
const SEEDERS = 8;

const fixture = sharedFixture();
const env = fixture.env;

/** Where the body of message `text` sits relative to the top of the list, in px. */
async function offsetOf(page, text) {
  return page.evaluate((wanted) => {
    const list = document.getElementById('messages');
    const body = [...list.querySelectorAll('.msg-body')].find((el) => el.textContent === wanted);
    return body ? body.getBoundingClientRect().top - list.getBoundingClientRect().top : null;
  }, text);
}

/** Scrolls the list to the very top and, in the same instant, measures `text`. */
async function scrollTopAndMeasure(page, text) {
  return page.evaluate((wanted) => {
    const list = document.getElementById('messages');
    list.scrollTop = 0;
    const body = [...list.querySelectorAll('.msg-body')].find((el) => el.textContent === wanted);
    return body.getBoundingClientRect().top - list.getBoundingClientRect().top;
  }, text);
}

browserTest('scrolling up loads older pages without moving what is on screen', env, async (session) => {
  const reader = await fixture.server.register('reader');
  const seeders = [];
  for (let i = 0; i < SEEDERS; i += 1) seeders.push(await WsClient.connect(fixture.server, await fixture.server.register(`seed${i}`)));
  const general = seeders[0].channelNamed('General').id;
  for (let n = 1; n <= TOTAL; n += 1) await seeders[n % SEEDERS].post(general, `seed message ${n}`);

  const page = await session.newPage({ account: reader, viewport: { width: 1100, height: 700 } });
  // The latest page: 101..150, scrolled to the bottom.
  await waitFor('the latest page', async () => (await messageBodies(page).first().textContent()) === 'seed message 101');
  assert.equal(await messageBodies(page).count(), 50);
  assert.equal(await messageBodies(page).last().textContent(), `seed message ${TOTAL}`);
  const atBottom = await page.evaluate(() => {
    const list = document.getElementById('messages');
    return list.scrollHeight - list.scrollTop - list.clientHeight < 50;
  });
  assert.ok(atBottom, 'the list opens scrolled to the newest message');

  // Scroll to the top: page 51..100 loads above, and 101 does not move.
  for (const [oldest, previous] of [[51, 101], [1, 51]]) {
    const before = await scrollTopAndMeasure(page, `seed message ${previous}`);
    await waitFor(`seed message ${oldest} to load`, async () => (await messageBodies(page).first().textContent()) === `seed message ${oldest}`);
    await waitFor('loading to settle', async () => (await page.locator('#messages .list-note[role=status]').count()) === 0);
    const afterLoad = await offsetOf(page, `seed message ${previous}`);
    assert.ok(Math.abs(afterLoad - before) <= 2, `seed message ${previous} stayed in place (was ${before}px from the top, now ${afterLoad}px)`);
  }

  // Everything once, in order, and the start of the channel is shown.
  const bodies = await messageBodies(page).allTextContents();
  assert.deepEqual(bodies, Array.from({ length: TOTAL }, (_, i) => `seed message ${i + 1}`));
  await expectVisible(page.getByText('This is the very beginning of #General.'), 'the start-of-channel note');

  // Scrolled up, a new message shows the pill instead of moving the view.
  const top = await page.evaluate(() => document.getElementById('messages').scrollTop);
  await seeders[1].post(general, 'a new one while reading');
  await expectVisible(page.locator('#new-pill'), 'the "new messages" pill');
  assert.equal(await page.evaluate(() => document.getElementById('messages').scrollTop), top, 'the view did not move');
  await page.locator('#new-pill').click();
  await expectHidden(page.locator('#new-pill'), 'the pill after clicking it');
  await waitFor('the list at the bottom', () =>
    page.evaluate(() => {
      const list = document.getElementById('messages');
      return list.scrollHeight - list.scrollTop - list.clientHeight < 50;
    }),
  );
  // At the bottom, new messages scroll into view by themselves.
  await seeders[2].post(general, 'and another at the bottom');
  await waitFor('the newest message visible at the bottom', () =>
    page.evaluate(() => {
      const list = document.getElementById('messages');
      const last = list.querySelector('.msg:last-child .msg-body');
      return last?.textContent === 'and another at the bottom' && last.getBoundingClientRect().bottom <= list.getBoundingClientRect().bottom + 1;
    }),
  );
  assert.equal(await page.locator('#new-pill').isVisible(), false);
  for (const seeder of seeders) seeder.close();
});
