// Pictures of people (notes/files-spec.md, /api/avatar and /api/avatars/NAME;
// web/avatars.js, web/account.js): one sets a picture in "Your account" and it
// replaces the initials at once in one's own page and, after a reload, in
// everyone else's; removed, the initials come back. Avatars start as initials
// and each name's picture is asked for once per page load, however often the
// name is drawn. A file that is no picture is refused in words.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WsClient, browserTest, expectHidden, expectTexts, expectVisible, saveScreenshot, sendMessage, sharedFixture, waitFor, waitForChat } from './helpers.mjs';
import { pngBytes } from './pictures.mjs';
import { avatarProblem } from '../../web/account.js';

const fixture = sharedFixture();
const env = fixture.env;

test('only PNG, JPEG, GIF and WebP pictures up to 10 MB are offered to the server', () => {
  assert.equal(avatarProblem({ type: 'image/png', size: 1000 }), '');
  assert.equal(avatarProblem({ type: 'image/webp', size: 10 * 1024 * 1024 }), '');
  assert.match(avatarProblem({ type: 'image/svg+xml', size: 1000 }), /PNG, JPEG, GIF or WebP/);
  assert.match(avatarProblem({ type: 'text/plain', size: 10 }), /PNG, JPEG, GIF or WebP/);
  assert.match(avatarProblem({ type: 'image/jpeg', size: 10 * 1024 * 1024 + 1 }), /at most 10 MB/);
});

/** The avatar beside the message that says `text`. */
function avatarBeside(page, text) {
  return page.locator('#messages .msg').filter({ hasText: text }).locator('.msg-gutter .avatar');
}

/** Waits until `avatar` shows a loaded picture instead of initials. */
async function expectPicture(avatar, description) {
  await waitFor(`${description} to show a picture`, () =>
    avatar.evaluate((element) => {
      const picture = element.querySelector('img');
      return Boolean(picture && picture.complete && picture.naturalWidth > 0 && element.textContent === '');
    }),
  );
}

/** Waits until `avatar` shows the initial `letter` and no picture. */
async function expectInitial(avatar, letter, description) {
  await waitFor(`${description} to show the initial ${letter}`, () =>
    avatar.evaluate((element, expected) => element.querySelector('img') === null && element.textContent === expected, letter),
  );
}

async function openAccount(page) {
  await page.getByRole('button', { name: 'Your account' }).click();
  const dialog = page.locator('#account-dialog');
  await expectVisible(dialog, 'the account dialog');
  return dialog;
}

browserTest('a picture set in the account dialog replaces the initials for another user after a reload; removed, the initials return', env, async (session) => {
  const alice = await fixture.server.register('alice_pic');
  const bob = await fixture.server.register('bob_pic');
  const alicePage = await session.newPage({ account: alice });
  const bobPage = await session.newPage({ account: bob });
  await sendMessage(alicePage, 'hello with a face');
  await expectInitial(avatarBeside(bobPage, 'hello with a face'), 'A', 'alice’s avatar in bob’s page');

  // Alice uploads a picture through the dialog's button (a file chooser).
  let dialog = await openAccount(alicePage);
  await expectHidden(dialog.getByRole('button', { name: 'Remove picture' }), 'Remove, with no picture yet');
  await expectInitial(dialog.locator('#avatar-preview .avatar'), 'A', 'the preview');
  const [chooser] = await Promise.all([alicePage.waitForEvent('filechooser'), dialog.getByRole('button', { name: 'Upload picture' }).click()]);
  await chooser.setFiles({ name: 'me.png', mimeType: 'image/png', buffer: pngBytes(300, 200, [20, 160, 90]) });
  await expectTexts(dialog.locator('#avatar-done'), ['Your picture was saved.'], 'saved');
  await expectVisible(dialog.getByRole('button', { name: 'Remove picture' }), 'Remove, now that there is a picture');
  // At once in her own page: the preview, the sidebar and her message, at a new address.
  await expectPicture(dialog.locator('#avatar-preview .avatar'), 'the preview');
  await expectPicture(alicePage.locator('#me-avatar .avatar'), 'her own sidebar avatar');
  await expectPicture(avatarBeside(alicePage, 'hello with a face'), 'the avatar beside her message');
  assert.match(await alicePage.locator('#me-avatar .avatar img').getAttribute('src'), /^\/api\/avatars\/alice_pic\?v=\d+$/);
  await saveScreenshot(alicePage, 'avatar-account-dialog');
  await dialog.getByRole('button', { name: 'Close' }).click();

  // Bob, after a reload: her picture, and his own initials still.
  await bobPage.reload();
  await waitForChat(bobPage);
  await expectPicture(avatarBeside(bobPage, 'hello with a face'), 'alice’s avatar in bob’s page');
  assert.equal(await avatarBeside(bobPage, 'hello with a face').locator('img').getAttribute('src'), '/api/avatars/alice_pic');
  await expectInitial(bobPage.locator('#me-avatar .avatar'), 'B', 'bob’s own avatar');
  await saveScreenshot(bobPage, 'avatar-in-messages');

  // Removed: her initials at once; bob's after a reload.
  dialog = await openAccount(alicePage);
  await dialog.getByRole('button', { name: 'Remove picture' }).click();
  await expectTexts(dialog.locator('#avatar-done'), ['Your picture was removed.'], 'removed');
  await expectHidden(dialog.getByRole('button', { name: 'Remove picture' }), 'Remove, with the picture gone');
  await expectInitial(alicePage.locator('#me-avatar .avatar'), 'A', 'her own sidebar avatar');
  await expectInitial(avatarBeside(alicePage, 'hello with a face'), 'A', 'the avatar beside her message');
  await dialog.getByRole('button', { name: 'Close' }).click();
  await bobPage.reload();
  await waitForChat(bobPage);
  await expectInitial(avatarBeside(bobPage, 'hello with a face'), 'A', 'alice’s avatar in bob’s page after the removal');
});

browserTest('each name’s picture is asked for once per page load, and a file that is no picture is refused in words', env, async (session) => {
  const carol = await fixture.server.register('carol_once');
  const dave = await fixture.server.register('dave_once');
  const asked = [];
  const carolPage = await session.newPage({
    account: carol,
    beforeLoad: (page) =>
      page.on('request', (request) => {
        const path = new URL(request.url()).pathname;
        if (path.startsWith('/api/avatars/')) asked.push(decodeURIComponent(path.slice('/api/avatars/'.length)));
      }),
  });
  const daveWs = await WsClient.connect(fixture.server, dave);
  const general = daveWs.channelNamed('General').id;
  // Every message re-renders the sidebar (her own avatar) and adds to the list.
  for (let i = 1; i <= 3; i += 1) {
    await daveWs.post(general, `dave says ${i}`);
    await sendMessage(carolPage, `carol says ${i}`);
  }
  daveWs.close();
  await expectInitial(avatarBeside(carolPage, 'dave says 1'), 'D', 'dave’s avatar');
  await expectInitial(carolPage.locator('#me-avatar .avatar'), 'C', 'her own avatar');
  assert.ok((await carolPage.locator('#messages .avatar').count()) >= 4, 'several avatars drawn');
  assert.equal(asked.filter((name) => name === 'carol_once').length, 1, `carol asked for once (${JSON.stringify(asked)})`);
  assert.equal(asked.filter((name) => name === 'dave_once').length, 1, `dave asked for once (${JSON.stringify(asked)})`);

  // A text file is refused before asking the server; bytes that only claim to be a PNG, by the server.
  const dialog = await openAccount(carolPage);
  await carolPage.locator('#avatar-input').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
  await expectTexts(dialog.locator('#avatar-error'), ['Choose a PNG, JPEG, GIF or WebP picture.'], 'the refusal of a text file');
  await carolPage.locator('#avatar-input').setInputFiles({ name: 'fake.png', mimeType: 'image/png', buffer: Buffer.from('this is not a picture at all') });
  await expectTexts(dialog.locator('#avatar-error'), ['That file is not a picture the server can read.'], 'the server’s refusal, in words');
  assert.equal(await dialog.locator('#avatar-done').textContent(), '', 'nothing said saved');
  await expectInitial(carolPage.locator('#me-avatar .avatar'), 'C', 'her avatar unchanged');
});
