// Channel settings in the web UI (docs/protocol.md, "Channel settings"): the
// store changes a channel in place on `channel_updated`; a rename and a topic
// made through the settings dialog show live in another member's sidebar and
// header; the server's refusals (a non-creator's rename, a non-admin's
// unarchive) are shown in its words; an archived channel leaves the sidebars,
// is marked in Browse channels and opens read-only; a send the server refuses
// as `archived` says so.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  WsClient,
  browserTest,
  expectCount,
  expectHidden,
  expectTexts,
  expectVisible,
  openChannel,
  saveScreenshot,
  sharedFixture,
  sidebarChannel,
  waitFor,
} from './helpers.mjs';
import { ChatStore } from '../../web/store.js';
import { inSidebar, isReadOnly } from '../../web/store-settings.js';

const fixture = sharedFixture();
const env = fixture.env;

// ---- the store, without a browser ---------------------------------------------------

test('channel_updated changes the channel in place; absent fields mean empty or false', () => {
  const store = new ChatStore();
  store.applyWelcome({
    type: 'welcome',
    user: { id: 1, name: 'alice', guest: false },
    channels: [
      { id: 1, name: 'General', kind: 'public', last_seq: 0, read_seq: 0, member: true },
      { id: 5, name: 'launch', kind: 'public', last_seq: 3, read_seq: 1, member: true, topic: 'T-minus 3', description: 'Line one\nLine two' },
    ],
    online: ['alice'],
    complete: true,
  });
  const before = store.channel(5);
  assert.equal(before.topic, 'T-minus 3', 'the welcome carries the topic');
  assert.equal(before.description, 'Line one\nLine two');
  assert.equal(before.archived, false);
  assert.equal(store.channel(1).topic, '', 'no topic field: none');

  const changes = [];
  store.addEventListener('change', (event) => changes.push(event.detail.what));
  store.applyChannelUpdated({ type: 'channel_updated', channel: 5, name: 'roadmap', topic: 'Q3 plans', archived: true });
  const after = store.channel(5);
  assert.equal(after, before, 'the same channel object: history, counts and draft stay');
  assert.deepEqual([after.name, after.topic, after.description, after.archived], ['roadmap', 'Q3 plans', '', true]);
  assert.equal(after.last_seq, 3, 'the seqs are untouched');
  assert.ok(changes.includes('channels'), 'the sidebar and header are told');
  assert.ok(isReadOnly(after) && !inSidebar(after), 'archived: read-only, out of the sidebar');

  // A later channel frame (a notification level changed) says how it stands too.
  store.upsertChannel({ id: 5, name: 'roadmap', kind: 'public', last_seq: 3, read_seq: 3, member: true, notify: 'none' });
  assert.deepEqual([after.topic, after.archived], ['', false], 'a channel frame without the fields clears them');
  assert.ok(!isReadOnly(after) && inSidebar(after));

  assert.equal(store.applyChannelUpdated({ type: 'channel_updated', channel: 99, name: 'x' }), undefined, 'a channel not held is ignored');
  assert.equal(store.channels.has(99), false);
});

// ---- in the browser ------------------------------------------------------------------

/** Opens the open channel's settings from the channel menu, by keyboard-reachable controls. */
async function openSettings(page) {
  await page.getByRole('button', { name: 'Channel options' }).click();
  await page.getByRole('menuitem', { name: 'Channel settings…' }).click();
  const dialog = page.locator('#settings-dialog');
  await expectVisible(dialog, 'the channel settings dialog');
  return dialog;
}

/** A public channel `name` created by `creator` and joined by `member`, over WebSockets; returns its id. */
async function sharedChannel(creator, member, name) {
  const created = await creator.request({ type: 'create_channel', name, private: false });
  await member.request({ type: 'join', channel: created.channel.id });
  return created.channel.id;
}

async function titleText(page) {
  return page.locator('#channel-title .title-text').textContent();
}

browserTest('a rename through the dialog shows live in the other member\'s sidebar and header', env, async (session) => {
  const alice = await fixture.server.register('alice');
  const bob = await fixture.server.register('bob');
  const aliceWs = await WsClient.connect(fixture.server, alice);
  const bobWs = await WsClient.connect(fixture.server, bob);
  const id = await sharedChannel(aliceWs, bobWs, 'launch');
  const alicePage = await session.newPage({ account: alice });
  const bobPage = await session.newPage({ account: bob });
  await openChannel(alicePage, 'launch');
  await openChannel(bobPage, 'launch');
  // Marks this load of bob's page: a reload would lose it.
  await bobPage.evaluate(() => {
    window.__sameLoad = true;
  });
  // Bob has the channel browser open meanwhile: it is a list that names the channel too.
  await bobPage.getByRole('button', { name: 'Browse channels' }).click();
  const browseNames = bobPage.locator('#browse-dialog .browse-name');
  await waitFor('launch in bob\'s channel browser', async () => (await browseNames.allTextContents()).includes('launch'));

  const dialog = await openSettings(alicePage);
  assert.equal(await dialog.getByLabel('Name').inputValue(), 'launch', 'the dialog starts from the current name');
  await dialog.getByLabel('Name').fill('roadmap');
  await dialog.getByRole('button', { name: 'Rename' }).click();
  await waitFor('the rename to be confirmed in the dialog', async () => (await alicePage.locator('#settings-name-done').textContent()) === 'Renamed to #roadmap.');

  // Bob's page follows without a reload: the open list, then (once he closes
  // it) the sidebar and header, the same channel by id, with the new name.
  await waitFor('roadmap, not launch, in bob\'s open channel browser', async () => {
    const names = await browseNames.allTextContents();
    return names.includes('roadmap') && !names.includes('launch');
  });
  await bobPage.keyboard.press('Escape');
  await expectHidden(bobPage.locator('#browse-dialog'), 'bob\'s channel browser closed');
  await expectCount(sidebarChannel(bobPage, 'roadmap'), 1, 'roadmap in bob\'s sidebar');
  await expectCount(sidebarChannel(bobPage, 'launch'), 0, 'launch gone from bob\'s sidebar');
  assert.equal(await sidebarChannel(bobPage, 'roadmap').getAttribute('data-channel'), String(id), 'renamed in place, same id');
  await waitFor('bob\'s header to read roadmap', async () => (await titleText(bobPage)) === 'roadmap');
  await waitFor('bob\'s tab title to read #roadmap', async () => (await bobPage.title()).startsWith('#roadmap'));
  assert.equal(await bobPage.evaluate(() => window.__sameLoad === true), true, 'bob\'s page was not reloaded');
  // Alice's own page too, behind the dialog.
  await expectCount(sidebarChannel(alicePage, 'roadmap'), 1, 'roadmap in alice\'s sidebar');
  await waitFor('alice\'s header to read roadmap', async () => (await titleText(alicePage)) === 'roadmap');
  aliceWs.close();
  bobWs.close();
});

browserTest('a topic set by one member shows in the other\'s header; a non-creator\'s rename shows the server\'s refusal', env, async (session) => {
  const carol = await fixture.server.register('carol');
  const dave = await fixture.server.register('dave');
  const carolWs = await WsClient.connect(fixture.server, carol);
  const daveWs = await WsClient.connect(fixture.server, dave);
  await sharedChannel(carolWs, daveWs, 'design');
  const carolPage = await session.newPage({ account: carol });
  const davePage = await session.newPage({ account: dave });
  await openChannel(carolPage, 'design');
  await openChannel(davePage, 'design');
  assert.equal(await carolPage.locator('#channel-sub').textContent(), 'Public channel', 'no topic yet');

  // Dave is a member, not the creator: topic and description are his to set.
  const dialog = await openSettings(davePage);
  await dialog.getByLabel('Topic').fill('Mockups for the launch, due Friday');
  await dialog.getByLabel('Description').fill('Where we review designs.\nPost links, not files.');
  await dialog.getByRole('button', { name: 'Save topic and description' }).click();
  await waitFor('the save to be confirmed', async () => (await davePage.locator('#settings-about-done').textContent()) === 'Saved.');
  await waitFor('carol\'s header to show the topic', async () => (await carolPage.locator('#channel-sub .channel-topic').textContent().catch(() => null)) === 'Mockups for the launch, due Friday');
  await waitFor('dave\'s header to show the topic', async () => (await davePage.locator('#channel-sub .channel-topic').textContent().catch(() => null)) === 'Mockups for the launch, due Friday');

  // The rename is offered to dave too, but the server decides: its reason is shown.
  await dialog.getByLabel('Name').fill('design-team');
  await dialog.getByRole('button', { name: 'Rename' }).click();
  await waitFor('the refusal under the name', async () => (await davePage.locator('#settings-name-error').textContent()) === 'Only its creator or an admin may rename a channel.');
  assert.equal(await dialog.getByLabel('Name').getAttribute('aria-invalid'), 'true', 'the name field is marked');
  await expectCount(sidebarChannel(carolPage, 'design'), 1, 'the channel keeps its name for carol');
  assert.equal(await titleText(davePage), 'design', 'and for dave');
  await saveScreenshot(davePage, 'channel-settings-refused');
  await dialog.getByRole('button', { name: 'Close' }).click();

  // Carol opens the settings: the description dave wrote is there.
  const carolDialog = await openSettings(carolPage);
  assert.equal(await carolDialog.getByLabel('Description').inputValue(), 'Where we review designs.\nPost links, not files.');
  assert.equal(await carolDialog.getByLabel('Topic').inputValue(), 'Mockups for the launch, due Friday');
  await carolPage.keyboard.press('Escape');
  await expectHidden(carolDialog, 'the dialog closed by Escape');

  // A DM has no settings and no topic line.
  const dm = await carolWs.request({ type: 'open_dm', user: 'dave' });
  await openChannel(carolPage, 'dave');
  assert.match(await carolPage.locator('#channel-sub').textContent(), /^Direct message · (online|away)$/, 'a DM says who, never a topic');
  await carolPage.getByRole('button', { name: 'Channel options' }).click();
  await expectHidden(carolPage.getByRole('menuitem', { name: 'Channel settings…' }), 'no settings for a DM');
  await carolPage.keyboard.press('Escape');
  assert.equal(dm.channel.kind, 'dm');
  carolWs.close();
  daveWs.close();
});

browserTest('an archived channel leaves the sidebars and opens read-only from the browser; unarchiving takes an admin', env, async (session) => {
  const erin = await fixture.server.register('erin');
  const frank = await fixture.server.register('frank');
  const gina = await fixture.server.register('gina');
  const erinWs = await WsClient.connect(fixture.server, erin);
  const frankWs = await WsClient.connect(fixture.server, frank);
  const id = await sharedChannel(erinWs, frankWs, 'old-project');
  await frankWs.post(id, 'the last word before archiving');
  const erinPage = await session.newPage({ account: erin });
  const frankPage = await session.newPage({ account: frank });
  await openChannel(erinPage, 'old-project');
  await expectCount(sidebarChannel(frankPage, 'old-project'), 1, 'old-project in frank\'s sidebar');

  // The creator archives it, after a confirm step that says what it means.
  const dialog = await openSettings(erinPage);
  await dialog.getByRole('button', { name: 'Archive channel' }).click();
  const confirm = erinPage.locator('#settings-archive-confirm');
  await expectVisible(confirm, 'the archive confirmation');
  assert.match(await confirm.textContent(), /Nobody can post here until an admin unarchives it; its history stays readable\./);
  await dialog.getByRole('button', { name: 'Archive', exact: true }).click();
  await expectHidden(dialog, 'the dialog after archiving');

  await expectCount(sidebarChannel(erinPage, 'old-project'), 0, 'old-project gone from erin\'s sidebar');
  await expectCount(sidebarChannel(frankPage, 'old-project'), 0, 'old-project gone from frank\'s sidebar');
  // Erin was in it: it stays open, read-only.
  await expectVisible(erinPage.locator('#read-only'), 'the read-only notice for erin');
  await expectHidden(erinPage.locator('#composer'), 'erin\'s composer');

  // Frank finds it in Browse channels, marked archived, and opens it read-only.
  await frankPage.getByRole('button', { name: 'Browse channels' }).click();
  const browse = frankPage.locator('#browse-dialog');
  const row = browse.locator('.browse-row').filter({ has: frankPage.locator('.browse-name').getByText('old-project', { exact: true }) });
  await expectCount(row, 1, 'old-project listed in Browse channels');
  await waitFor('the row to say archived', async () => (await row.locator('.browse-archived').textContent().catch(() => null)) === 'archived');
  await row.getByRole('button', { name: 'Open old-project (archived)' }).click();
  await waitFor('frank\'s header to read old-project', async () => (await titleText(frankPage)) === 'old-project');
  await expectVisible(frankPage.locator('#read-only'), 'the read-only notice');
  assert.equal(await frankPage.locator('#read-only-text').textContent(), 'This channel is archived: read-only. Its history stays readable.');
  await expectHidden(frankPage.locator('#composer'), 'the composer');
  await expectTexts(frankPage.locator('#messages .msg-body'), ['the last word before archiving'], 'the history, still readable');
  await expectCount(frankPage.locator('#messages .msg-tools'), 0, 'no message actions in an archived channel');
  await expectVisible(frankPage.locator('#channel-sub .archived-tag'), 'the Archived mark in the header');
  await saveScreenshot(frankPage, 'channel-archived');

  // Gina was never in it: she can look, not join.
  const ginaPage = await session.newPage({ account: gina });
  await ginaPage.getByRole('button', { name: 'Browse channels' }).click();
  const ginaRow = ginaPage.locator('#browse-dialog .browse-row').filter({ has: ginaPage.locator('.browse-name').getByText('old-project', { exact: true }) });
  await ginaRow.getByRole('button', { name: 'View old-project (archived)' }).click();
  await waitFor('gina\'s header to read old-project', async () => (await titleText(ginaPage)) === 'old-project');
  await expectVisible(ginaPage.locator('#read-only'), 'the read-only notice for gina');
  await expectHidden(ginaPage.locator('#read-only-join'), 'no Join for an archived channel');
  await expectTexts(ginaPage.locator('#messages .msg-body'), ['the last word before archiving'], 'the history, readable to a non-member');
  await expectCount(sidebarChannel(ginaPage, 'old-project'), 0, 'not in gina\'s sidebar');
  // Her channel menu holds the settings only (notifications and leaving are for members),
  // and the keyboard lands on it.
  await ginaPage.getByRole('button', { name: 'Channel options' }).focus();
  await ginaPage.keyboard.press('ArrowDown');
  await expectTexts(ginaPage.locator('#channel-menu').getByRole('menuitem'), ['Channel settings…'], 'gina\'s menu items');
  await expectCount(ginaPage.locator('#channel-menu').getByRole('menuitemradio'), 0, 'no notification levels for gina');
  assert.equal(await ginaPage.evaluate(() => document.activeElement?.id), 'menu-settings', 'the focus on Channel settings');
  await ginaPage.keyboard.press('Escape');

  // Erin, its creator but no admin, may not unarchive it: the server says so.
  const again = await openSettings(erinPage);
  await expectVisible(again.locator('#settings-archived'), 'the archived note in the dialog');
  assert.equal(await again.getByLabel('Topic').isDisabled(), true, 'nothing else can change');
  await again.getByRole('button', { name: 'Unarchive' }).click();
  await waitFor('the refusal', async () => (await erinPage.locator('#settings-archive-error').textContent()) === 'Only an admin may unarchive a channel.');

  // As an admin she may.
  await fixture.server.setRole('erin', 'admin');
  await again.getByRole('button', { name: 'Unarchive' }).click();
  await expectHidden(again, 'the dialog after unarchiving');
  await expectCount(sidebarChannel(erinPage, 'old-project'), 1, 'old-project back in erin\'s sidebar');
  await expectCount(sidebarChannel(frankPage, 'old-project'), 1, 'old-project back in frank\'s sidebar');
  await expectVisible(frankPage.locator('#composer'), 'frank\'s composer again');
  await expectHidden(frankPage.locator('#read-only'), 'frank\'s read-only notice');
  erinWs.close();
  frankWs.close();
});

browserTest('a send the server refuses as archived says so', env, async (session, t) => {
  const hana = await fixture.server.register('hana');
  const ivan = await fixture.server.register('ivan');
  let hanaWs = await WsClient.connect(fixture.server, hana);
  const ivanWs = await WsClient.connect(fixture.server, ivan);
  const id = await sharedChannel(hanaWs, ivanWs, 'closing-soon');
  ivanWs.close();
  const page = await session.newPage({ account: ivan });
  await openChannel(page, 'closing-soon');

  // Ivan's page is cut off and writes a message; meanwhile hana archives the channel.
  await fixture.server.kill();
  hanaWs.close();
  await page.context().setOffline(true);
  await page.locator('#composer-input').fill('one more thing');
  await page.locator('#composer-input').press('Enter');
  await expectVisible(page.locator('#messages .msg.sending').getByText('one more thing'), 'the pending message');
  await fixture.server.restart();
  hanaWs = await WsClient.connect(fixture.server, hana);
  await hanaWs.request({ type: 'update_channel', channel: id, archived: true });
  const stillAway = await page.evaluate(() => document.body.dataset.connection !== 'open');
  assert.ok(stillAway, 'the page stayed offline until the channel was archived');

  // Back online, the send goes again and is refused: the message says why.
  await page.context().setOffline(false);
  await page.locator('body[data-connection="open"]').waitFor({ timeout: 20000 });
  const failed = page.locator('#messages .msg.failed .msg-status.error');
  await waitFor('the failed send to say the channel is archived', async () => ((await failed.textContent().catch(() => '')) || '').includes('This channel is archived: read-only.'));
  await expectVisible(page.locator('#read-only'), 'the read-only notice after the reconnect');
  await expectHidden(page.locator('#composer'), 'the composer after the reconnect');
  t.diagnostic(`refused send shown as: ${await failed.textContent()}`);
  hanaWs.close();
});

browserTest('the settings dialog fits a phone', env, async (session) => {
  const jo = await fixture.server.register('jo');
  const joWs = await WsClient.connect(fixture.server, jo);
  await joWs.request({ type: 'create_channel', name: 'pocket', private: false });
  joWs.close();
  const page = await session.newPage({ account: jo, viewport: { width: 360, height: 740 } });
  await page.getByRole('button', { name: /Open menu/ }).click();
  await sidebarChannel(page, 'pocket').click();
  await waitFor('the header to read pocket', async () => (await titleText(page)) === 'pocket');
  const dialog = await openSettings(page);
  const fits = await dialog.evaluate((element) => {
    const box = element.getBoundingClientRect();
    const body = element.querySelector('.dialog-body');
    return box.left >= 0 && box.right <= window.innerWidth && body.scrollWidth <= body.clientWidth;
  });
  assert.equal(fits, true, 'the dialog is inside the screen and nothing in it scrolls sideways');
  // Reachable by keyboard alone: Tab from the focused Topic reaches the Save button.
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'settings-topic', 'the topic field has the focus');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Save topic and description');
  await saveScreenshot(page, 'channel-settings-phone');
});
