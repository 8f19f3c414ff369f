// The search box and quick switcher (web/search-panel.js, web/search.js)
// against the real server's `search`: hits in any language with the matched
// text in <mark>s, a hit 500 messages back opened as a highlighted window with
// "Jump to latest", hostile bodies found and shown as text, Ctrl+K and / as a
// quick switcher to channels and people, the keyboard (Up, Down, Enter,
// Escape), the server's refusals shown in the panel, paging with the cursor,
// and a phone's width. The pure parts (excerpts, ranges, switcher ranking)
// are checked without a browser first.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  WsClient,
  browserTest,
  expectCount,
  expectHidden,
  expectTexts,
  expectVisible,
  postMany,
  recordFrames,
  saveScreenshot,
  waitFor,
  sharedFixture,
} from './helpers.mjs';
import { CORPUS, injected } from './xss-corpus.mjs';
import { cleanRanges, directoryPrefix, excerpt, isQuerySyntax, switchMatches } from '../../web/search.js';
import { frames } from '../../web/protocol.js';

// The jump test posts 500 messages at once.
const fixture = sharedFixture({ args: ['--messages-per-second', '2000', '--message-burst', '2000'] });
const env = fixture.env;

// ---- without a browser ------------------------------------------------------------

const pieces = (result) => result.segments.map((segment) => (segment.mark ? `[${segment.text}]` : segment.text)).join('');

test('highlight ranges become marked pieces: clipped, merged, in order, never a cut emoji', () => {
  assert.equal(pieces(excerpt('我家在上海东边', [[3, 5]])), '我家在[上海]东边');
  assert.equal(pieces(excerpt('deploy the thing, deploying', [[18, 27], [0, 6]])), '[deploy] the thing, [deploying]');
  assert.deepEqual(cleanRanges('abcdef', [[4, 99], [1, 3], [2, 4], [5, 5], ['x', 2], null]), [[1, 6]]);
  assert.equal(pieces(excerpt('line one\nline two', [[9, 13]])), 'line one [line] two', 'line breaks read as spaces');
  assert.equal(pieces(excerpt('no ranges', undefined)), 'no ranges');
  // A long body is cut to the stretch around its first match, said with an ellipsis.
  const long = `${'word '.repeat(200)}needle ${'tail '.repeat(200)}`;
  const cut = excerpt(long, [[1000, 1006]]);
  assert.equal(cut.cutStart, true);
  assert.equal(cut.cutEnd, true);
  assert.ok(pieces(cut).startsWith('word '), 'it starts at a word');
  assert.ok(pieces(cut).includes('[needle]'));
  assert.ok(pieces(cut).length <= 290);
  // Never half an emoji at either end.
  const emoji = `${'😀'.repeat(300)}x`;
  const round = excerpt(emoji, [[600, 601]]);
  const text = round.segments.map((segment) => segment.text).join('');
  assert.ok(!/[\uD800-\uDBFF]$|^[\uDC00-\uDFFF]/.test(text), 'no lone surrogate at the edges');
  assert.equal(round.segments.at(-1).text, 'x');
});

test('the quick switcher: names that start with the text first, DMs as people, query syntax never', () => {
  const channels = new Map(
    [
      { id: 1, name: 'General', kind: 'public' },
      { id: 2, name: 'design-review', kind: 'public' },
      { id: 3, name: 'web-design', kind: 'private' },
      { id: 4, name: 'dm', kind: 'dm', members: ['me', 'dana'] },
    ].map((channel) => [channel.id, channel]),
  );
  const store = {
    me: { name: 'me' },
    channels,
    displayName: (channel) => (channel.kind === 'dm' ? channel.members.find((name) => name !== 'me') : channel.name),
  };
  const directory = [{ name: 'me' }, { name: 'dana' }, { name: 'desmond' }];
  const found = switchMatches(store, 'des', directory);
  assert.deepEqual(found.channels.map((c) => [c.name, c.rank]), [['design-review', 0], ['web-design', 1]]);
  assert.deepEqual(found.people.map((p) => [p.name, p.dm]), [['desmond', null]]);
  assert.deepEqual(switchMatches(store, 'da', directory).people.map((p) => [p.name, p.dm]), [['dana', 4]], 'the DM, once, and never me');
  assert.deepEqual(switchMatches(store, '#d', directory).people, [], '# asks for channels only');
  assert.deepEqual(switchMatches(store, '@d', directory).channels, [], '@ asks for people only');
  for (const query of ['from:dana', 'in:#design x', '"design review"', 'design -web', 'has:link']) {
    assert.equal(isQuerySyntax(query), true, query);
    assert.deepEqual(switchMatches(store, query, directory), { channels: [], people: [] }, query);
  }
  assert.equal(directoryPrefix('@dan'), 'dan');
  assert.equal(directoryPrefix('上海'), '', 'not a username: the directory is not asked');
  const frame = frames.search('x', 'c1', 60);
  assert.deepEqual(frame, { type: 'search', query: 'x', utc_offset: 60, limit: 20, cursor: 'c1' });
});

// ---- in the browser -------------------------------------------------------------------

/** A channel `owner` creates over the protocol, joined by the `others`; its id. */
async function channelWith(owner, name, others = []) {
  const { channel } = await owner.request({ type: 'create_channel', name, private: false });
  for (const other of others) await other.request({ type: 'join', channel: channel.id });
  return channel.id;
}

const dialog = (page) => page.locator('#search-dialog');
const searchInput = (page) => page.getByRole('combobox', { name: 'Search messages, or go to a channel or person' });
const hits = (page) => page.locator('#search-list .search-hit');
const title = (page) => page.locator('#channel-title .title-text');

function messageRow(page, text) {
  return page.locator('#messages .msg').filter({ has: page.locator('.msg-body').getByText(text, { exact: true }) });
}

/** Opens the box with Ctrl+K, types `query` and presses Enter (Shift+Enter: a message search whatever is listed). */
async function searchFor(page, query, { shift = true } = {}) {
  if (!(await dialog(page).isVisible())) await page.keyboard.press('Control+K');
  await expectVisible(dialog(page), 'the search box');
  await searchInput(page).fill(query);
  await searchInput(page).press(shift ? 'Shift+Enter' : 'Enter');
  await waitFor(`the search for ${JSON.stringify(query)} to finish`, async () => {
    const status = (await page.locator('#search-status').textContent()) || '';
    return status !== '' && status !== 'Searching…' && !status.startsWith('Type to find');
  });
}

browserTest('a search finds messages in any language and marks what matched', env, async (session) => {
  const ann = await fixture.server.register('ann');
  const bob = await fixture.server.register('bob');
  const bobWs = await WsClient.connect(fixture.server, bob);
  const annWs = await WsClient.connect(fixture.server, ann);
  const general = bobWs.channelNamed('General').id;
  const ops = await channelWith(bobWs, 'ops', [annWs]);
  await bobWs.post(general, '我家在上海东边');
  await bobWs.post(ops, 'deploy the thing now');
  await bobWs.post(general, 'nothing to see here');
  const page = await session.newPage({ account: ann });

  await page.keyboard.press('Control+K');
  await expectVisible(dialog(page), 'the search box after Ctrl+K');
  await waitFor('the input focused', () => searchInput(page).evaluate((input) => input === document.activeElement));
  // No channel is called that: Enter searches the messages.
  await searchInput(page).fill('上海');
  await expectTexts(page.locator('#search-list [role="option"]'), ['Search messages for “上海”'], 'the one option');
  await searchInput(page).press('Enter');
  await expectCount(hits(page), 1, 'one hit for 上海');
  await expectTexts(hits(page).locator('.search-hit-body'), ['我家在上海东边'], 'the body');
  await expectTexts(hits(page).locator('mark'), ['上海'], 'the matched characters marked');
  await expectTexts(hits(page).locator('.search-hit-sender'), ['bob'], 'the sender');
  await expectTexts(hits(page).locator('.search-hit-place'), ['#General'], 'the channel');
  assert.match(await hits(page).locator('.search-hit-time').textContent(), /^Today /);
  assert.equal(await hits(page).first().getAttribute('aria-selected'), 'true');

  // The last word is a prefix: deplo finds deploy, in another channel.
  await searchFor(page, 'deplo');
  await expectTexts(hits(page).locator('.search-hit-body'), ['deploy the thing now'], 'the deploy message');
  await expectTexts(hits(page).locator('mark'), ['deploy'], 'the whole word marked');
  await expectTexts(hits(page).locator('.search-hit-place'), ['#ops'], 'its channel');
  assert.match(await page.locator('#search-status').textContent(), /1 message found for “deplo”/);
  await saveScreenshot(page, 'search-results');
  bobWs.close();
  annWs.close();
});

browserTest('opening a hit 500 messages back shows it highlighted; Jump to latest goes back', env, async (session) => {
  const carl = await fixture.server.register('carl');
  const dora = await fixture.server.register('dora');
  const carlWs = await WsClient.connect(fixture.server, carl);
  const doraWs = await WsClient.connect(fixture.server, dora);
  const channelId = await channelWith(carlWs, 'long-history', [doraWs]);
  const old = await doraWs.post(channelId, 'the ancient rhubarb question');
  await postMany(doraWs, channelId, Array.from({ length: 500 }, (_, i) => `filler ${i}`));
  await doraWs.post(channelId, 'the newest word');
  const page = await session.newPage({ account: carl });
  await waitFor('General open', async () => (await title(page).textContent()) === 'General');

  await searchFor(page, 'rhubarb');
  await expectTexts(hits(page).locator('.search-hit-place'), ['#long-history'], 'the hit, in long-history');
  await searchInput(page).press('Enter');
  await expectHidden(dialog(page), 'the search box after opening a hit');
  await waitFor('long-history open', async () => (await title(page).textContent()) === 'long-history');
  const row = page.locator(`#messages .msg[data-seq="${old.seq}"]`);
  await expectVisible(row, 'the old message');
  await waitFor('the old message highlighted', async () => (await row.getAttribute('class')).includes('highlight'));
  await expectTexts(row.locator('.msg-body'), ['the ancient rhubarb question'], 'its text');
  await expectVisible(page.getByRole('button', { name: 'Jump to latest' }), 'Jump to latest');
  assert.equal(await messageRow(page, 'the newest word').count(), 0, 'the latest page is not shown with the window');
  await saveScreenshot(page, 'search-hit-window');

  await page.getByRole('button', { name: 'Jump to latest' }).click();
  await expectVisible(messageRow(page, 'the newest word'), 'the newest message after Jump to latest');
  await expectHidden(page.getByRole('button', { name: 'Jump to latest' }), 'no Jump to latest at the latest');
  carlWs.close();
  doraWs.close();
});

browserTest('hostile bodies found by search show as text: nothing injected, nothing run', env, async (session) => {
  const eve = await fixture.server.register('eve');
  const vic = await fixture.server.register('vic');
  const eveWs = await WsClient.connect(fixture.server, eve);
  const general = eveWs.channelNamed('General').id;
  const bodies = CORPUS.map((payload) => `payload ${payload}`);
  for (const body of bodies) await eveWs.post(general, body);
  const page = await session.newPage({ account: vic });

  await searchFor(page, 'payload');
  await expectTexts(hits(page).locator('.search-hit-body'), [...bodies].reverse(), 'every hostile body verbatim, newest first');
  await expectTexts(hits(page).locator('mark'), bodies.map(() => 'payload'), 'one mark per hit');
  assert.equal(await injected(page, '#search-dialog'), 0, 'nothing injected into the results');
  assert.equal(await page.locator('#search-list a').count(), 0, 'no links in excerpts');

  // Matches inside the markup: the marks sit among text, never elements.
  await searchFor(page, 'alert');
  const alerts = bodies.filter((body) => body.includes('alert'));
  await expectCount(hits(page), alerts.length, 'every body with alert');
  for (const text of await hits(page).locator('mark').allTextContents()) assert.equal(text.toLowerCase(), 'alert');
  assert.equal(await injected(page, '#search-dialog'), 0, 'nothing injected by the marked results');
  const children = await page.locator('#search-list .search-hit-body').evaluateAll((ps) => ps.flatMap((p) => [...p.children].map((child) => child.tagName)));
  assert.ok(children.every((tag) => tag === 'MARK'), `only <mark> elements in excerpts (${children})`);

  // The query box takes hostile text as text too.
  await searchFor(page, '<img src=x onerror=alert(1)>');
  assert.equal(await searchInput(page).inputValue(), '<img src=x onerror=alert(1)>');
  assert.equal(await injected(page, '#search-dialog'), 0, 'nothing injected by the query');
  assert.equal(await page.evaluate(() => document.querySelectorAll('#search-status *').length), 0, 'the status is plain text');
  eveWs.close();
});

browserTest('the quick switcher: Ctrl+K or / and a name prefix, Enter opens the channel or the DM', env, async (session) => {
  const fay = await fixture.server.register('fay');
  await fixture.server.register('gideon');
  const fayWs = await WsClient.connect(fixture.server, fay);
  await channelWith(fayWs, 'design-review');
  await channelWith(fayWs, 'marketing');
  const page = await session.newPage({ account: fay });
  const frames = recordFrames(page);
  await waitFor('General open', async () => (await title(page).textContent()) === 'General');

  await page.keyboard.press('Control+K');
  await searchInput(page).fill('desi');
  const options = page.locator('#search-list [role="option"]');
  await expectTexts(options.locator('.search-option-name'), ['design-review', 'Search messages for “desi”'], 'the channel first, then the message search');
  assert.equal(await options.first().getAttribute('aria-selected'), 'true', 'the channel is chosen');
  await saveScreenshot(page, 'search-switcher');
  await searchInput(page).press('Enter');
  await expectHidden(dialog(page), 'the box after choosing');
  await waitFor('design-review open', async () => (await title(page).textContent()) === 'design-review');

  // "/" outside a text field opens it too; a person opens the conversation with them.
  await page.locator('#messages').focus();
  await page.keyboard.press('/');
  await expectVisible(dialog(page), 'the search box after /');
  assert.equal(await searchInput(page).inputValue(), '', 'no slash typed into it');
  await page.keyboard.type('gid');
  await expectTexts(options.locator('.search-option-name'), ['gideon', 'Search messages for “gid”'], 'the person from the directory');
  await page.keyboard.press('Enter');
  await waitFor('the DM with gideon open', async () => (await title(page).textContent()) === 'gideon');
  // "/" in the composer is just a character.
  await page.locator('#composer-input').focus();
  await page.keyboard.type('/me');
  assert.equal(await dialog(page).isVisible(), false, 'no box from / in the composer');
  assert.equal(await page.locator('#composer-input').inputValue(), '/me');
  assert.equal(frames.filter((frame) => frame.type === 'search_results').length, 0, 'switching sent no search');
  fayWs.close();
});

browserTest('the keyboard: Up and Down choose, Enter opens, Escape closes and gives the focus back', env, async (session) => {
  const hal = await fixture.server.register('hal');
  const halWs = await WsClient.connect(fixture.server, hal);
  const general = halWs.channelNamed('General').id;
  for (const word of ['one', 'two', 'three']) await halWs.post(general, `kiwi ${word}`);
  const page = await session.newPage({ account: hal });
  await page.locator('#composer-input').focus();
  // Ctrl+K works from the composer as well.
  await searchFor(page, 'kiwi', { shift: false });
  await expectTexts(hits(page).locator('.search-hit-body'), ['kiwi three', 'kiwi two', 'kiwi one'], 'newest first');
  const selected = () => page.locator('#search-list [aria-selected="true"] .search-hit-body').textContent();
  const active = () => searchInput(page).getAttribute('aria-activedescendant');
  assert.equal(await selected(), 'kiwi three');
  assert.equal(await active(), await hits(page).nth(0).getAttribute('id'));
  await page.keyboard.press('ArrowDown');
  assert.equal(await selected(), 'kiwi two');
  assert.equal(await active(), await hits(page).nth(1).getAttribute('id'));
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  assert.equal(await selected(), 'kiwi three', 'Down from the last wraps to the first');
  await page.keyboard.press('ArrowUp');
  assert.equal(await selected(), 'kiwi one', 'Up from the first wraps to the last');
  await expectCount(page.locator('#search-list [aria-selected="true"]'), 1, 'one chosen at a time');

  await page.keyboard.press('Escape');
  await expectHidden(dialog(page), 'the box after Escape');
  await waitFor('the focus back in the composer', () => page.evaluate(() => document.activeElement?.id === 'composer-input'));

  // Opening it again shows the same hits; Enter opens the chosen one.
  await page.keyboard.press('Control+K');
  await expectCount(hits(page), 3, 'the hits again');
  assert.equal(await searchInput(page).inputValue(), 'kiwi');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await expectHidden(dialog(page), 'the box after Enter');
  const row = messageRow(page, 'kiwi two');
  await waitFor('kiwi two highlighted', async () => ((await row.getAttribute('class')) || '').includes('highlight'));
  halWs.close();
});

browserTest('refused searches say why in the panel; more hits come page by page', env, async (session) => {
  const ivy = await fixture.server.register('ivy');
  const ivyWs = await WsClient.connect(fixture.server, ivy);
  const general = ivyWs.channelNamed('General').id;
  await postMany(ivyWs, general, Array.from({ length: 25 }, (_, i) => `mango number ${i}`));
  const page = await session.newPage({ account: ivy });
  const status = page.locator('#search-status');

  for (const [query, expected] of [
    ['from:nobody mango', 'No one has that name.'],
    ['in:#nowhere mango', 'There is no such channel or conversation to search in.'],
    ['before:2020-13-01 mango', 'That search cannot run: before: 2020-13-01 is not a date'],
    ['x'.repeat(501), 'That search is too long.'],
    ['zzzqqq', 'No messages match “zzzqqq”.'],
  ]) {
    await searchFor(page, query);
    await expectTexts(status, [expected], `what ${query.slice(0, 30)} says`);
    await expectCount(hits(page), 0, `no hits for ${query.slice(0, 30)}`);
  }
  assert.equal(await page.locator('#toast').isVisible(), false, 'errors stay in the panel');

  await searchFor(page, 'mango');
  await expectCount(hits(page), 20, 'the first page');
  await expectTexts(status, ['20+ messages found for “mango”, newest first.'], 'more to come');
  await page.getByRole('button', { name: 'Load more results' }).click();
  await expectCount(hits(page), 25, 'all of them after Load more');
  await expectHidden(page.getByRole('button', { name: 'Load more results' }), 'no Load more on the last page');
  const bodies = await hits(page).locator('.search-hit-body').allTextContents();
  assert.deepEqual(bodies, Array.from({ length: 25 }, (_, i) => `mango number ${24 - i}`), 'newest first, none twice');
  ivyWs.close();
});

browserTest('at a phone width the box fills the screen and the hits are readable', env, async (session) => {
  const jo = await fixture.server.register('jo');
  const joWs = await WsClient.connect(fixture.server, jo);
  const general = joWs.channelNamed('General').id;
  const long = `${'lorem ipsum '.repeat(150)}the papaya is here ${'dolor sit '.repeat(150)}`;
  await joWs.post(general, long);
  await joWs.post(general, `papaya ${'W'.repeat(600)}`);
  await joWs.post(general, 'short papaya note');
  const page = await session.newPage({ account: jo, viewport: { width: 390, height: 780 }, contextOptions: { hasTouch: true, isMobile: true }, label: 'jo-phone' });

  await page.getByRole('button', { name: 'Search', exact: true }).tap();
  await expectVisible(dialog(page), 'the search box from the header button');
  const box = await dialog(page).boundingBox();
  assert.ok(box.x <= 0.5 && Math.abs(box.width - 390) <= 1 && box.height >= 779, `the box fills the screen (${JSON.stringify(box)})`);
  await searchInput(page).fill('papaya');
  await searchInput(page).press('Enter');
  await expectCount(hits(page), 3, 'three hits');
  await expectTexts(hits(page).locator('mark'), ['papaya', 'papaya', 'papaya'], 'each marked');
  const cut = await hits(page).nth(2).locator('.search-hit-body').textContent();
  assert.ok(cut.startsWith('…') && cut.endsWith('…') && cut.length < 300, `the long one is an excerpt (${cut.length})`);
  const sizes = await page.evaluate(() => {
    const list = document.getElementById('search-list');
    return { page: document.documentElement.scrollWidth - document.documentElement.clientWidth, list: list.scrollWidth - list.clientWidth };
  });
  assert.ok(sizes.page <= 0 && sizes.list <= 0, `no horizontal overflow (${JSON.stringify(sizes)})`);
  for (const index of [0, 1, 2]) {
    const mark = await hits(page).nth(index).locator('mark').boundingBox();
    assert.ok(mark && mark.x >= 0 && mark.x + mark.width <= 390, `hit ${index}'s mark is on screen (${JSON.stringify(mark)})`);
  }
  const fontSize = await hits(page).first().locator('.search-hit-body').evaluate((p) => parseFloat(getComputedStyle(p).fontSize));
  assert.ok(fontSize >= 14, `readable text (${fontSize}px)`);
  await saveScreenshot(page, 'search-phone');

  await hits(page).first().tap();
  await expectHidden(dialog(page), 'the box after tapping a hit');
  await waitFor('the note highlighted', async () => ((await messageRow(page, 'short papaya note').getAttribute('class')) || '').includes('highlight'));
  joWs.close();
});
