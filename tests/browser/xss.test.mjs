// Hostile text everywhere a user can put text: usernames (refused by the rules,
// with an inline error), channel names, message bodies (also edited ones, the
// editor and the delete question) and the people directory's search. It must show up as the
// very characters typed: no script runs, no dialog opens, no element is injected,
// only http(s) links become links, and a huge unbroken word does not widen the page.

import assert from 'node:assert/strict';
import {
  WsClient,
  browserTest,
  createChannel,
  expectTexts,
  expectVisible,
  messageBodies,
  openChannel,
  sendMessage,
  waitFor,
  sharedFixture,
} from './helpers.mjs';
import { CORPUS, injected } from './xss-corpus.mjs';

/** Unbroken, just under the server's 4000-character limit. */
const LONG_WORD = 'W'.repeat(3900);
const SAFE_LINK = 'docs at https://example.com/path?a=1&b=2, see?';

const fixture = sharedFixture();
const env = fixture.env;

async function noHorizontalOverflow(page, what) {
  const sizes = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    list: document.getElementById('messages').scrollWidth - document.getElementById('messages').clientWidth,
  }));
  assert.ok(sizes.page <= 0 && sizes.list <= 0, `${what}: no horizontal overflow (${JSON.stringify(sizes)})`);
}

browserTest('usernames outside the rules are refused with an inline error', env, async (session) => {
  const page = await session.newPage();
  await page.getByRole('button', { name: 'Create an account' }).click();
  const form = page.locator('#auth-form');
  for (const name of ['<script>', '"><svg onload=alert(1)>', 'x'.repeat(33), 'with space']) {
    await form.getByLabel('Username').fill(name);
    await form.getByLabel('Password').fill('correct horse battery');
    await form.getByRole('button', { name: 'Create account' }).click();
    await expectVisible(page.locator('#auth-username-error'), `the inline username error for ${JSON.stringify(name)}`);
    assert.equal(await form.getByLabel('Username').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('#app-screen').isVisible(), false);
  }
  // The server refuses them too (the form is not the only door).
  for (const name of CORPUS) {
    const { status, body } = await fixture.server.post('/api/register', { username: name, password: 'correct horse battery' });
    assert.equal(status, 400, `register ${JSON.stringify(name)} -> ${status} ${JSON.stringify(body)}`);
    assert.equal(body.error.code, 'invalid_username');
  }
});

browserTest('channel names and message bodies render as literal text', env, async (session) => {
  const mallory = await fixture.server.register('mallory');
  const victim = await fixture.server.register('victim');
  const attacker = await session.newPage({ account: mallory });
  const reader = await session.newPage({ account: victim });

  // Bodies, sent through the composer and read by both the sender and another user.
  const bodies = [...CORPUS, SAFE_LINK, LONG_WORD];
  for (const body of bodies) await sendMessage(attacker, body);
  for (const page of [attacker, reader]) {
    await expectTexts(messageBodies(page), bodies, `${page.label} to see every body verbatim`);
    assert.equal(await injected(page, '#messages'), 0, `${page.label}: nothing injected into the message list`);
    // Exactly one link, for the http(s) URL, made safely.
    const links = await page.locator('#messages a').evaluateAll((as) => as.map((a) => ({ href: a.href, text: a.textContent, rel: a.rel, target: a.target })));
    assert.deepEqual(links, [{ href: 'https://example.com/path?a=1&b=2', text: 'https://example.com/path?a=1&b=2', rel: 'noopener noreferrer nofollow', target: '_blank' }]);
    await noHorizontalOverflow(page, page.label);
  }

  // Over the limit: refused in the composer with a reason, nothing sent.
  await attacker.locator('#composer-input').fill('Z'.repeat(5000));
  await expectVisible(attacker.locator('#char-count').getByText('5000 / 4000'), 'the character counter');
  await attacker.locator('#composer-input').press('Enter');
  await expectVisible(attacker.locator('#composer-error'), 'the over-limit error');
  assert.equal(await messageBodies(attacker).count(), bodies.length, 'nothing was sent');
  await attacker.locator('#composer-input').fill('');

  // Channel names, created through the dialog.
  const names = CORPUS.filter((name) => [...name].length <= 64);
  for (const name of names) await createChannel(attacker, name);
  const shown = await attacker.locator('#channel-list .chan-name').allTextContents();
  for (const name of names) assert.ok(shown.includes(name), `sidebar shows ${JSON.stringify(name)} verbatim (has ${JSON.stringify(shown)})`);
  assert.equal(await injected(attacker, '#sidebar'), 0, 'nothing injected into the sidebar');
  assert.equal(await attacker.locator('#messages svg').count(), 0, 'no svg at all in the message list');
  await openChannel(attacker, names[0]);
  assert.equal(await attacker.locator('#channel-title .title-text').textContent(), names[0]);

  // The other user sees them as text in the browse list.
  await reader.getByRole('button', { name: 'Browse channels' }).click();
  const browse = reader.locator('#browse-dialog');
  await waitFor('every hostile name in the browse list', async () => {
    const listed = await browse.locator('.browse-name').allTextContents();
    return names.every((name) => listed.includes(name));
  });
  assert.equal(await injected(reader, '#browse-list'), 0, 'nothing injected into the browse list');
  await browse.getByRole('button', { name: 'Close' }).click();

  // A channel name over 64 characters is an inline error, not a request.
  await attacker.getByRole('button', { name: 'Create a channel' }).click();
  await attacker.locator('#create-dialog').getByLabel('Name').fill(LONG_WORD);
  await attacker.locator('#create-dialog').getByRole('button', { name: 'Create' }).click();
  await expectVisible(attacker.locator('#create-error').getByText('at most 64 characters'), 'the too-long name error');
  await attacker.locator('#create-dialog').getByRole('button', { name: 'Cancel' }).click();
  await noHorizontalOverflow(attacker, 'after creating hostile channels');
});

browserTest('the people directory takes hostile search text as text and lists names verbatim', env, async (session) => {
  // The oddest names the rules allow: only dots, dashes and underscores, and 32 characters.
  const odd = ['-._', '_'.repeat(32), 'a.b-c_d'];
  for (const name of odd) await fixture.server.register(name);
  const seeker = await fixture.server.register('seeker');
  const page = await session.newPage({ account: seeker });
  await page.getByRole('button', { name: 'New message' }).click();
  const dialog = page.locator('#people-dialog');
  await waitFor('the odd names listed verbatim', async () => {
    const listed = await dialog.locator('.person-name').allTextContents();
    return odd.every((name) => listed.includes(name));
  });
  assert.equal(await injected(page, '#people-list'), 0, 'nothing injected into the directory');

  // Hostile search text is refused in the dialog, shown back as nothing but text.
  const filter = dialog.getByLabel('Find people by name');
  for (const text of CORPUS) {
    await filter.fill(text);
    await expectVisible(dialog.locator('#people-status').getByText('Names use only letters'), `the hint for ${JSON.stringify(text)}`);
    assert.equal(await dialog.locator('.person-row').count(), 0, 'no one listed');
    assert.equal(await filter.inputValue(), text, 'the search field holds the text as typed');
    assert.equal(await injected(page, '#people-dialog'), 0, `nothing injected by ${JSON.stringify(text)}`);
  }
  // Someone coming online redraws the list: the hint stays.
  const hint = dialog.locator('#people-status').getByText('Names use only letters');
  const online = async () => Number(await page.locator('#online-count').textContent());
  const before = await online();
  const newcomer = await WsClient.connect(fixture.server, await fixture.server.register('newcomer'));
  await waitFor('the newcomer counted online', async () => (await online()) > before);
  await expectVisible(hint, 'the hint after a presence change');
  newcomer.close();
  // And the server refuses it too, with a stable code (the dialog is not the only door).
  const ws = await WsClient.connect(fixture.server, seeker);
  for (const prefix of CORPUS) {
    const ref = `x${CORPUS.indexOf(prefix)}`;
    ws.send({ type: 'list_users', prefix, ref });
    const reply = await ws.next((frame) => frame.ref === ref, `the answer to list_users ${JSON.stringify(prefix)}`);
    assert.equal(reply.code, 'bad_request', JSON.stringify(reply));
  }
  ws.close();
  await filter.fill('a.b');
  await expectTexts(dialog.locator('.person-name'), ['a.b-c_d'], 'a plain search works after all that');
});

browserTest('system lines in channels with hostile names are plain text', env, async (session) => {
  const owner = await fixture.server.register('owner');
  const joiner = await fixture.server.register('joiner');
  const ownerPage = await session.newPage({ account: owner });
  const joinerPage = await session.newPage({ account: joiner });
  // Fresh names (the corpus itself was taken by the test above).
  const names = CORPUS.filter((name) => [...name].length <= 60).slice(0, 4).map((name) => `re ${name}`);
  for (const name of names) await createChannel(ownerPage, name);
  for (const name of names) {
    await joinerPage.getByRole('button', { name: 'Browse channels' }).click();
    await joinerPage.locator('#browse-dialog').getByRole('button', { name: `Join ${name}`, exact: true }).click();
    await waitFor(`${JSON.stringify(name)} open for the joiner`, async () => (await joinerPage.locator('#channel-title .title-text').textContent()) === name);
    await expectTexts(joinerPage.locator('#messages .system-line .system-text'), ['joiner joined.'], `the join line in ${JSON.stringify(name)}`);
    assert.equal(await injected(joinerPage, '#messages'), 0, `nothing injected in ${JSON.stringify(name)}`);
  }
  await openChannel(ownerPage, names[0]);
  await expectTexts(ownerPage.locator('#messages .system-line .system-text'), ['joiner joined.'], 'the owner sees the line too');
  assert.equal(await injected(ownerPage, '#messages'), 0, 'nothing injected for the owner');
});

browserTest('edited bodies, the editor and the delete question keep hostile text as text', env, async (session) => {
  const author = await fixture.server.register('trudy');
  const reader = await fixture.server.register('walt');
  // A second author edits the corpus in over the protocol (each user has a message rate of their own).
  const scripted = await fixture.server.register('mallet');
  const authorPage = await session.newPage({ account: author });
  const readerPage = await session.newPage({ account: reader });
  await createChannel(authorPage, 'edited-text');
  const scriptedWs = await WsClient.connect(fixture.server, scripted);
  const readerWs = await WsClient.connect(fixture.server, reader);
  const channel = (await scriptedWs.request({ type: 'list_channels', prefix: 'edited-text' })).channels[0].id;
  for (const client of [scriptedWs, readerWs]) await client.request({ type: 'join', channel });
  readerWs.close();
  await openChannel(readerPage, 'edited-text');

  // Harmless text first, then each edited into a piece of the corpus.
  const acks = [];
  for (const [index] of CORPUS.entries()) acks.push(await scriptedWs.post(channel, `placeholder ${index}`));
  for (const [index, body] of CORPUS.entries()) {
    const reply = await scriptedWs.request({ type: 'edit', channel, seq: acks[index].seq, body });
    assert.equal(reply.changed, true);
  }
  scriptedWs.close();
  // And one through the UI's editor, typed as text.
  const typed = '<img src=x onerror=alert(2)> & <b>edited</b>';
  await sendMessage(authorPage, 'to be edited in the page');
  const row = (text) => authorPage.locator('#messages .msg').filter({ has: authorPage.locator('.msg-body').getByText(text, { exact: true }) });
  await row('to be edited in the page').hover();
  await row('to be edited in the page').getByRole('button', { name: 'Edit message' }).click();
  const editor = authorPage.locator('#messages .msg-editor textarea');
  await editor.fill(typed);
  await editor.press('Enter');

  const bodies = [...CORPUS, typed];
  for (const page of [authorPage, readerPage]) {
    await expectTexts(messageBodies(page), bodies, `${page.label} to see every edited body verbatim`);
    await waitFor(`${page.label}: every message marked edited`, async () => (await page.locator('#messages .msg-edited').count()) === bodies.length);
    assert.equal(await injected(page, '#messages'), 0, `${page.label}: nothing injected by edited bodies`);
    assert.equal(await page.locator('#messages a').count(), 0, 'no link made of hostile text');
  }

  // Reopening the editor on the hostile body gives back the very characters.
  await row(typed).hover();
  await row(typed).getByRole('button', { name: 'Edit message' }).click();
  assert.equal(await editor.inputValue(), typed);
  await editor.press('Escape');
  // The delete question quotes it as text.
  await row(typed).hover();
  await row(typed).getByRole('button', { name: 'Delete message' }).click();
  const dialog = authorPage.locator('#delete-dialog');
  await expectVisible(dialog, 'the delete question');
  assert.equal(await dialog.locator('#delete-preview').textContent(), typed);
  assert.equal(await injected(authorPage, '#delete-dialog'), 0, 'nothing injected into the question');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
});

browserTest('reaction emoji, reply quotes and mentions keep hostile text as text', env, async (session) => {
  const reader = await fixture.server.register('rhea');
  const readerPage = await session.newPage({ account: reader });
  // Three writers, each within the message rate: parents, replies, reactions.
  const [posterWs, replierWs, reactorWs] = await Promise.all(['quinn', 'quill', 'quade'].map(async (name) => WsClient.connect(fixture.server, await fixture.server.register(name))));
  const general = posterWs.channelNamed('General').id;
  // Each piece of the corpus, a reply quoting it, and a reaction to it.
  for (const [index, body] of CORPUS.entries()) {
    const parent = await posterWs.post(general, body);
    await replierWs.request({ type: 'send', channel: general, body: `re ${index}`, client_id: `xss-re-${index}`, reply_to: parent.seq });
    await reactorWs.request({ type: 'react', channel: general, seq: parent.seq, emoji: '🎉', add: true });
  }
  // A hostile "emoji" is refused by the server; the page never shows it.
  await assert.rejects(reactorWs.request({ type: 'react', channel: general, seq: 1, emoji: '<img src=x onerror=alert(3)>', add: true }), /invalid_emoji/);
  const mentionBody = '<b>@rhea</b> <img src=x onerror=alert(4)> @rhea';
  await reactorWs.post(general, mentionBody);
  for (const client of [posterWs, replierWs, reactorWs]) client.close();

  const quotes = readerPage.locator('#messages .reply-quote .reply-text');
  await expectTexts(quotes.last(), [CORPUS.at(-1)], 'the last quote verbatim');
  const shown = await quotes.allTextContents();
  // Quotes are the first line of each parent, verbatim (the parents held here follow their text).
  assert.deepEqual(shown.slice(-3), CORPUS.slice(-3).map((body) => body.split('\n')[0]));
  const mention = readerPage.locator('#messages .msg').filter({ has: readerPage.locator('.mention') }).last();
  await expectTexts(mention.locator('.mention'), ['@rhea', '@rhea'], 'the mentions highlighted');
  assert.equal(await mention.locator('.msg-body').textContent(), mentionBody, 'the body verbatim around the mentions');
  await expectTexts(readerPage.locator('#messages .reaction-emoji').last(), ['🎉'], 'the reaction emoji');
  assert.equal(await injected(readerPage, '#messages'), 0, 'nothing injected by quotes, reactions or mentions');
});
