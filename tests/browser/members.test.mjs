// A channel's member list in the web UI (docs/protocol.md, "members" and
// "remove_member"): it opens from the channel menu and names every member; an
// admin removes someone from it after a confirm step, the row goes, and the
// removed person's page loses the channel from its sidebar.

import assert from 'node:assert/strict';
import { WsClient, browserTest, expectCount, expectTexts, expectVisible, openChannel, sharedFixture, sidebarChannel, waitFor } from './helpers.mjs';
import { frames } from '../../web/protocol.js';

const fixture = sharedFixture();
const env = fixture.env;

/** Opens the open channel's member list from the channel menu. */
async function openMembers(page) {
  await page.getByRole('button', { name: 'Channel options' }).click();
  await page.getByRole('menuitem', { name: 'Members…' }).click();
  const dialog = page.locator('#members-dialog');
  await expectVisible(dialog, 'the member list');
  return dialog;
}

browserTest('the members builder pages with after', env, async () => {
  assert.deepEqual(frames.members(3, '', 50, 'bob'), { type: 'members', channel: 3, limit: 50, after: 'bob' });
  assert.deepEqual(frames.members(3, 'bo'), { type: 'members', channel: 3, prefix: 'bo', limit: 8 });
});

browserTest('the member list names everyone; an admin removes a member, who loses the channel', env, async (session) => {
  const ann = await fixture.server.register('ann');
  const ben = await fixture.server.register('ben');
  const cat = await fixture.server.register('cat');
  await fixture.server.setRole('ann', 'admin');
  const annWs = await WsClient.connect(fixture.server, ann);
  const benWs = await WsClient.connect(fixture.server, ben);
  const catWs = await WsClient.connect(fixture.server, cat);
  const created = await annWs.request({ type: 'create_channel', name: 'crew', private: false });
  await benWs.request({ type: 'join', channel: created.channel.id });
  await catWs.request({ type: 'join', channel: created.channel.id });

  // Ben, not an admin, sees all three names and no Remove button.
  const benPage = await session.newPage({ account: ben });
  await openChannel(benPage, 'crew');
  const benDialog = await openMembers(benPage);
  await expectTexts(benDialog.locator('.person-name'), ['ann', 'ben', 'cat'], 'the three members in ben\'s list');
  await expectCount(benDialog.getByRole('button', { name: /^Remove/ }), 0, 'no Remove for a non-admin');
  // A name opens the profile card.
  await benDialog.getByRole('button', { name: 'Profile of cat' }).click();
  await expectVisible(benPage.locator('#profile-dialog'), 'cat\'s profile card');
  await waitFor('the card to be cat\'s', async () => (await benPage.locator('#profile-body .profile-name').textContent()) === 'cat');
  await benPage.keyboard.press('Escape');

  const catPage = await session.newPage({ account: cat });
  await expectCount(sidebarChannel(catPage, 'crew'), 1, 'crew in cat\'s sidebar before');

  const annPage = await session.newPage({ account: ann });
  await openChannel(annPage, 'crew');
  const annDialog = await openMembers(annPage);
  await expectTexts(annDialog.locator('.person-name'), ['ann', 'ben', 'cat'], 'the three members in ann\'s list');
  await expectCount(annDialog.getByRole('button', { name: 'Remove ann' }), 0, 'no Remove for herself');
  await annDialog.getByRole('button', { name: 'Remove cat' }).click();
  // The confirm step: nothing is sent until it is answered.
  await annDialog.getByRole('button', { name: 'Yes, remove cat' }).click();
  await expectTexts(annDialog.locator('.person-name'), ['ann', 'ben'], 'cat\'s row gone from ann\'s list');
  await expectCount(sidebarChannel(catPage, 'crew'), 0, 'crew gone from cat\'s sidebar');
  const after = await benWs.request({ type: 'members', channel: created.channel.id, limit: 50 });
  assert.deepEqual(after.users, ['ann', 'ben'], 'the server no longer lists cat');

  // In General nobody can be removed: no Remove is offered.
  await annPage.keyboard.press('Escape');
  await openChannel(annPage, 'General');
  const generalDialog = await openMembers(annPage);
  await waitFor('General\'s members listed', async () => (await generalDialog.locator('.person-name').count()) >= 3);
  await expectCount(generalDialog.getByRole('button', { name: /^Remove/ }), 0, 'no Remove in General');
  annWs.close();
  benWs.close();
  catWs.close();
});
