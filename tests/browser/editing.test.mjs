// Editing and deleting one's own messages in the web UI (docs/protocol.md,
// "Messages that change"): the toolbar on hover, keyboard focus and (on a
// phone) a tap; the inline editor (Enter saves, Escape cancels, Shift+Enter is
// a new line); Up in an empty composer; "(edited)" with its time; deletion
// behind the app's own question and the tombstone others see; and changes made
// while someone is away reaching them through the resume after the reconnect,
// also the ones they made themselves while offline.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  BIN,
  WsClient,
  browserTest,
  expectCount,
  expectHidden,
  expectTexts,
  expectVisible,
  messageBodies,
  saveScreenshot,
  sendMessage,
  waitFor,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture();
const env = fixture.env;

const PHONE = { viewport: { width: 390, height: 780 }, contextOptions: { hasTouch: true, isMobile: true } };

/** The message element whose body reads exactly `text`. */
function messageRow(page, text) {
  return page.locator('#messages .msg').filter({ has: page.locator('.msg-body').getByText(text, { exact: true }) });
}

/** Opens the editor of my message through its toolbar (hover, then Edit). */
async function openEditor(page, text) {
  const row = messageRow(page, text);
  await row.hover();
  await row.getByRole('button', { name: 'Edit message' }).click();
  const editor = page.locator('#messages .msg-editor textarea');
  await expectVisible(editor, `the editor of "${text}"`);
  return editor;
}

async function serverBodies(account, channelName) {
  const client = await WsClient.connect(fixture.server, account);
  const page = await client.request({ type: 'history', channel: client.channelNamed(channelName).id, limit: 200 });
  client.close();
  return page.messages.filter((m) => !m.system).map((m) => (m.deleted ? `[deleted by ${m.deleted}]` : m.body));
}

const focusedId = (page) => page.evaluate(() => document.activeElement?.id ?? '');

browserTest('editing my message: Enter saves, Escape cancels, and others see the text and "(edited)"', env, async (session) => {
  const alice = await fixture.server.register('alice');
  const bob = await fixture.server.register('bob');
  const alicePage = await session.newPage({ account: alice });
  const bobPage = await session.newPage({ account: bob });
  await sendMessage(alicePage, 'helo wrold');
  await expectTexts(messageBodies(bobPage), ['helo wrold'], 'bob to see the message');
  assert.equal(await bobPage.locator('#messages [data-action="edit"], #messages [data-action="delete"]').count(), 0, 'no Edit or Delete on someone else\'s message');

  // Escape leaves the editor and changes nothing.
  let editor = await openEditor(alicePage, 'helo wrold');
  assert.equal(await editor.inputValue(), 'helo wrold', 'the editor holds the text');
  await editor.fill('something else entirely');
  await editor.press('Escape');
  await expectHidden(alicePage.locator('#messages .msg-editor'), 'the editor after Escape');
  await expectTexts(messageBodies(alicePage), ['helo wrold'], 'the text unchanged');
  assert.equal(await focusedId(alicePage), 'composer-input', 'focus back in the composer');

  // Enter saves; Shift+Enter is a new line.
  editor = await openEditor(alicePage, 'helo wrold');
  await editor.fill('hello world');
  await editor.press('Shift+Enter');
  await editor.pressSequentially('second line');
  assert.equal(await editor.inputValue(), 'hello world\nsecond line');
  await saveScreenshot(alicePage, 'message-editor');
  await editor.press('Enter');
  await expectHidden(alicePage.locator('#messages .msg-editor'), 'the editor after Enter');
  for (const page of [alicePage, bobPage]) {
    await expectTexts(messageBodies(page), ['hello world\nsecond line'], `${page.label} to see the edited text`);
    const marker = page.locator('#messages .msg-edited');
    await expectTexts(marker, ['(edited)'], `${page.label} to see "(edited)"`);
    assert.match(await marker.getAttribute('title'), /^Edited \S/, 'the edit time as a tooltip');
  }
  assert.equal(await alicePage.locator('#messages .msg.saving').count(), 0, 'saved, not pending');
  await messageRow(alicePage, 'hello world\nsecond line').hover();
  await saveScreenshot(alicePage, 'message-toolbar-edited');
  assert.deepEqual(await serverBodies(alice, 'General'), ['hello world\nsecond line']);

  // Keyboard only: a focused toolbar button shows the toolbar and opens the editor.
  const edit = messageRow(alicePage, 'hello world\nsecond line').getByRole('button', { name: 'Edit message' });
  await alicePage.mouse.move(0, 0);
  await edit.focus();
  const opacity = await messageRow(alicePage, 'hello world\nsecond line').locator('.msg-tools').evaluate((el) => getComputedStyle(el).opacity);
  assert.equal(opacity, '1', 'the toolbar shows while a button in it has focus');
  await alicePage.keyboard.press('Enter');
  editor = alicePage.locator('#messages .msg-editor textarea');
  await expectVisible(editor, 'the editor opened from the keyboard');
  await waitFor('the editor to have focus', async () => (await alicePage.evaluate(() => document.activeElement?.classList.contains('msg-editor-input'))));
  // Saving the same text sends nothing and closes the editor.
  await alicePage.keyboard.press('Enter');
  await expectHidden(alicePage.locator('#messages .msg-editor'), 'the editor after saving unchanged text');
  assert.equal(await alicePage.locator('#messages .msg.saving').count(), 0);
});

browserTest('deleting asks first; everyone then sees a tombstone, also for an admin\'s deletion', env, async (session) => {
  const carol = await fixture.server.register('carol');
  const dan = await fixture.server.register('dan');
  const root = await fixture.server.register('root');
  const made = spawnSync(BIN, ['user', 'role', 'root', 'admin', '--database', `sqlite://${fixture.server.dbPath}`], { encoding: 'utf8' });
  assert.equal(made.status, 0, `natter user role: ${made.stderr}`);
  const carolPage = await session.newPage({ account: carol });
  const danPage = await session.newPage({ account: dan });
  // What General already holds, once its first page is shown (its top item says so).
  await danPage.locator('#messages [data-key="top"]').waitFor();
  const before = await messageBodies(danPage).allTextContents();
  await sendMessage(carolPage, 'keep me');
  await sendMessage(carolPage, 'delete me');
  await sendMessage(carolPage, 'an admin removes me');
  await expectTexts(messageBodies(danPage), [...before, 'keep me', 'delete me', 'an admin removes me'], 'dan to see the messages');

  // The question is the app's own dialog, not window.confirm; Cancel keeps the message.
  const row = messageRow(carolPage, 'delete me');
  await row.hover();
  await row.getByRole('button', { name: 'Delete message' }).click();
  const dialog = carolPage.locator('#delete-dialog');
  await expectVisible(dialog, 'the delete question');
  assert.equal(await dialog.locator('#delete-preview').textContent(), 'delete me', 'it shows which message');
  await saveScreenshot(carolPage, 'delete-question');
  assert.equal(await carolPage.evaluate(() => document.activeElement?.value), 'cancel', 'Cancel has the focus');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expectHidden(dialog, 'the dialog after Cancel');
  await expectVisible(messageRow(carolPage, 'delete me'), 'the message, kept');

  await row.hover();
  await row.getByRole('button', { name: 'Delete message' }).click();
  await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
  for (const page of [carolPage, danPage]) {
    await expectTexts(page.locator('#messages .msg-tombstone'), ['This message was deleted.'], `${page.label} to see the tombstone`);
    await expectCount(messageRow(page, 'delete me'), 0, `${page.label}: the text gone`);
  }
  // The tombstone keeps its place between the others, and offers nothing to do.
  const after = await messageBodies(danPage).allTextContents();
  assert.deepEqual(after.slice(-3), ['keep me', 'This message was deleted.', 'an admin removes me']);
  assert.equal(await carolPage.locator('#messages .msg.deleted .msg-tools').count(), 0);

  // An admin's deletion says so.
  const rootWs = await WsClient.connect(fixture.server, root);
  const general = rootWs.channelNamed('General').id;
  const page = await rootWs.request({ type: 'history', channel: general, limit: 200 });
  const target = page.messages.find((m) => m.body === 'an admin removes me');
  const reply = await rootWs.request({ type: 'delete', channel: general, seq: target.seq });
  assert.equal(reply.message.deleted, 'admin');
  rootWs.close();
  for (const p of [carolPage, danPage]) {
    await expectTexts(p.locator('#messages .msg-tombstone'), ['This message was deleted.', 'This message was removed by an admin.'], `${p.label} to see the admin's tombstone`);
  }
  await saveScreenshot(danPage, 'message-tombstones');
});

browserTest('Up in an empty composer edits my last message', env, async (session) => {
  const erin = await fixture.server.register('erin');
  const frank = await fixture.server.register('frank');
  const erinPage = await session.newPage({ account: erin });
  const frankPage = await session.newPage({ account: frank });
  await sendMessage(erinPage, 'my first');
  await sendMessage(erinPage, 'my secnod');
  const frankWs = await WsClient.connect(fixture.server, frank);
  await frankWs.post(frankWs.channelNamed('General').id, 'frank was last');
  frankWs.close();
  await expectVisible(messageRow(erinPage, 'frank was last'), 'frank\'s message');

  // Not while the composer holds text.
  const input = erinPage.locator('#composer-input');
  await input.fill('a draft');
  await input.press('ArrowUp');
  assert.equal(await erinPage.locator('#messages .msg-editor').count(), 0, 'Up in a composer with text moves the caret only');
  await input.fill('');
  await input.press('ArrowUp');
  const editor = erinPage.locator('#messages .msg-editor textarea');
  await expectVisible(editor, 'the editor of my last message');
  assert.equal(await editor.inputValue(), 'my secnod', 'my newest message, not frank\'s');
  await waitFor('the editor to have focus', async () => (await erinPage.evaluate(() => document.activeElement?.classList.contains('msg-editor-input'))));
  await erinPage.keyboard.press('Control+A');
  await erinPage.keyboard.type('my second');
  await erinPage.keyboard.press('Enter');
  await expectVisible(messageRow(frankPage, 'my second'), 'frank to see the fix');
  await expectVisible(messageRow(frankPage, 'my second').locator('.msg-edited'), 'frank to see "(edited)"');
  assert.equal(await focusedId(erinPage), 'composer-input', 'back in the composer');
});

browserTest('on a phone a tap shows the toolbar, Return is a new line and Save saves', env, async (session) => {
  const gina = await fixture.server.register('gina');
  const hal = await fixture.server.register('hal');
  const phone = await session.newPage({ account: gina, label: 'gina-phone', ...PHONE });
  const halPage = await session.newPage({ account: hal });
  const halWs = await WsClient.connect(fixture.server, hal);
  const dm = (await halWs.request({ type: 'open_dm', user: 'gina' })).channel.id;
  await halWs.post(dm, 'hi gina');
  halWs.close();
  // A DM, so the phone's list holds only this conversation.
  await phone.getByRole('button', { name: 'Open menu' }).tap();
  await phone.locator('#dm-list button[data-channel]').first().tap();
  await expectVisible(messageRow(phone, 'hi gina'), 'hal\'s message on the phone');
  await phone.locator('#composer-input').tap();
  await phone.keyboard.type('shoping list');
  await phone.getByRole('button', { name: 'Send message' }).tap();
  await expectVisible(messageRow(phone, 'shoping list'), 'the sent message');
  await waitFor('the message confirmed', async () => (await phone.locator('#messages .msg.sending').count()) === 0);

  // Hal's message offers React and Reply only; a tap on mine shows its toolbar with Edit.
  await messageRow(phone, 'hi gina').locator('.msg-body').tap();
  await expectVisible(messageRow(phone, 'hi gina').getByRole('button', { name: 'Reply' }), 'Reply on hal\'s message');
  assert.equal(await messageRow(phone, 'hi gina').getByRole('button', { name: 'Edit message' }).count(), 0, 'no Edit on hal\'s message');
  const mine = messageRow(phone, 'shoping list');
  await mine.locator('.msg-body').tap();
  await expectVisible(phone.locator('#messages .msg.tools-open'), 'the toolbar after a tap');
  await saveScreenshot(phone, 'message-toolbar-phone');
  const opacity = await mine.locator('.msg-tools').evaluate((el) => getComputedStyle(el).opacity);
  assert.equal(opacity, '1');
  await mine.getByRole('button', { name: 'Edit message' }).tap();
  const editor = phone.locator('#messages .msg-editor textarea');
  await expectVisible(editor, 'the editor on the phone');
  await editor.fill('shopping list:');
  await editor.press('Enter');
  await editor.pressSequentially('- oat milk');
  assert.equal(await editor.inputValue(), 'shopping list:\n- oat milk', 'Return made a new line');
  await saveScreenshot(phone, 'message-editor-phone');
  await phone.locator('#messages .msg-editor').getByRole('button', { name: 'Save' }).tap();
  await halPage.locator('#dm-list button[data-channel]').first().click();
  // The edited text is Markdown: a line, then a list of one item.
  const edited = halPage.locator('#messages .msg-body').filter({ has: halPage.locator('li').getByText('oat milk', { exact: true }) });
  await expectVisible(edited, 'hal to see the edit');
  assert.equal(await edited.locator('p').textContent(), 'shopping list:');
});

browserTest('changes made while someone is away reach them after the reconnect, and theirs made offline go out', env, async (session) => {
  const ivy = await fixture.server.register('ivy');
  const jack = await fixture.server.register('jack');
  const kim = await fixture.server.register('kim');
  const ivyPage = await session.newPage({ account: ivy });
  // Jack's page: what it says in its hellos.
  const hellos = [];
  const jackPage = await session.newPage({
    account: jack,
    beforeLoad: (page) =>
      page.on('websocket', (socket) =>
        socket.on('framesent', ({ payload }) => {
          const frame = JSON.parse(String(payload));
          if (frame.type === 'hello') hellos.push(frame);
        }),
      ),
  });
  let kimWs = await WsClient.connect(fixture.server, kim);
  const general = kimWs.channelNamed('General').id;
  const earlier = await messageBodies(jackPage).allTextContents();
  const earlierEdited = await jackPage.locator('#messages .msg-edited').count();
  const typo = await kimWs.post(general, 'kim: see you at 5');
  const doomed = await kimWs.post(general, 'kim: a secret');
  await sendMessage(ivyPage, 'ivy: brign snacks');
  await expectTexts(messageBodies(jackPage), [...earlier, 'kim: see you at 5', 'kim: a secret', 'ivy: brign snacks'], 'jack to see the messages');

  // The server goes down and both pages stay offline until the others are done.
  await fixture.server.kill();
  await ivyPage.context().setOffline(true);
  await jackPage.context().setOffline(true);
  await expectVisible(jackPage.locator('#conn-banner'), 'jack\'s reconnecting banner');
  await fixture.server.restart();
  kimWs = await WsClient.connect(fixture.server, kim);
  await kimWs.request({ type: 'edit', channel: general, seq: typo.seq, body: 'kim: see you at 6' });
  await kimWs.request({ type: 'delete', channel: general, seq: doomed.seq });
  kimWs.close();

  // Ivy fixes her typo while offline: shown at once as saving, sent after the reconnect.
  const editor = await openEditor(ivyPage, 'ivy: brign snacks');
  await editor.fill('ivy: bring snacks');
  await editor.press('Enter');
  await expectVisible(ivyPage.locator('#messages .msg.saving').getByText('ivy: bring snacks'), 'ivy\'s edit waiting');
  await expectVisible(ivyPage.locator('#messages .msg.saving .msg-status').getByText('Saving…'), 'the saving note');

  // Nothing reached jack yet: what he gets, he gets through the resume.
  await expectVisible(messageRow(jackPage, 'kim: see you at 5'), 'jack\'s old copy while away');
  await expectVisible(messageRow(jackPage, 'kim: a secret'), 'jack\'s old copy of the deleted message while away');
  const helloCount = hellos.length;
  await ivyPage.context().setOffline(false);
  await jackPage.context().setOffline(false);
  for (const page of [ivyPage, jackPage]) await page.locator('body[data-connection="open"]').waitFor({ timeout: 20000 });
  const expected = [...earlier, 'kim: see you at 6', 'This message was deleted.', 'ivy: bring snacks'];
  for (const page of [ivyPage, jackPage]) {
    await expectTexts(messageBodies(page), expected, `${page.label} to see every change made while away`);
    await expectCount(page.locator('#messages .msg-edited'), earlierEdited + 2, `${page.label}: both edits marked`);
  }
  assert.equal(await ivyPage.locator('#messages .msg.saving, #messages .msg.change-failed').count(), 0, 'ivy\'s edit went through');
  assert.deepEqual((await serverBodies(kim, 'General')).slice(-3), ['kim: see you at 6', '[deleted by sender]', 'ivy: bring snacks']);

  // Jack resumed (not reloaded): his hello named where he was, seq, rev and oldest held.
  const resumed = hellos.slice(helloCount).at(-1) ?? hellos.at(-1);
  assert.ok(hellos.length > 1, 'jack said hello again');
  const point = resumed.resume[String(general)];
  assert.equal(typeof point, 'object', JSON.stringify(resumed));
  assert.ok(point.seq >= 3 && point.rev >= point.seq && point.held_from >= 1 && point.held_from <= point.seq, JSON.stringify(point));
});
