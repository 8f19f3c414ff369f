// Private channels and direct messages: a private channel is created from the
// dialog, a member is invited from the header, both chat there, and a third user
// sees it nowhere (not in the sidebar, not when browsing). A DM starts from the
// online list and arrives with an unread count. Browsing joins public channels.

import assert from 'node:assert/strict';
import {
  browserTest,
  createChannel,
  expectHidden,
  expectTexts,
  expectVisible,
  messageBodies,
  openChannel,
  sendMessage,
  sidebarChannel,
  unreadBadge,
  waitFor,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture();
const env = fixture.env;

async function sidebarNames(page) {
  return page.locator('#channel-list .chan-name').allTextContents();
}

browserTest('a private channel is seen by invited members only', env, async (session) => {
  const [alice, bob, carol] = [await fixture.server.register('alice'), await fixture.server.register('bob'), await fixture.server.register('carol')];
  const alicePage = await session.newPage({ account: alice });
  const bobPage = await session.newPage({ account: bob });
  const carolPage = await session.newPage({ account: carol });

  await createChannel(alicePage, 'secret-plans', { isPrivate: true });
  assert.match(await alicePage.locator('#channel-sub').textContent(), /Private/);
  assert.equal(await sidebarChannel(alicePage, 'secret-plans').getAttribute('data-kind'), 'private');

  // Invite bob through the header's "Add people" dialog; a wrong name is an inline error.
  await alicePage.getByRole('button', { name: 'Add people' }).click();
  const dialog = alicePage.locator('#invite-dialog');
  await dialog.getByLabel('Username').fill('nobody-here');
  await dialog.getByRole('button', { name: 'Add', exact: true }).click();
  await expectVisible(dialog.getByText('There is no user named nobody-here.'), 'the unknown-user error');
  await dialog.getByLabel('Username').fill('bob');
  await dialog.getByRole('button', { name: 'Add', exact: true }).click();
  await expectVisible(dialog.getByText('bob was added to #secret-plans.'), 'the invite confirmation');
  await dialog.getByRole('button', { name: 'Done' }).click();

  // Bob gets the channel live, without reloading, and they chat there.
  await waitFor('secret-plans in bob\'s sidebar', async () => (await sidebarNames(bobPage)).includes('secret-plans'));
  await openChannel(bobPage, 'secret-plans');
  await sendMessage(alicePage, 'the plan is in motion');
  await expectTexts(messageBodies(bobPage), ['the plan is in motion'], 'bob to see alice\'s message');
  await sendMessage(bobPage, 'count me in');
  await expectTexts(messageBodies(alicePage), ['the plan is in motion', 'count me in'], 'alice to see both messages');

  // Carol sees it nowhere: not in her sidebar (also after a reload), not when browsing.
  await carolPage.reload();
  await carolPage.locator('body[data-connection="open"]').waitFor();
  assert.ok(!(await sidebarNames(carolPage)).includes('secret-plans'), 'not in carol\'s sidebar');
  await carolPage.getByRole('button', { name: 'Browse channels' }).click();
  const browse = carolPage.locator('#browse-dialog');
  await waitFor('the browse list to load', async () => (await browse.locator('.browse-name').count()) > 0);
  const listed = await browse.locator('.browse-name').allTextContents();
  assert.ok(listed.includes('General'), `General is listed (${listed})`);
  assert.ok(!listed.includes('secret-plans'), `secret-plans is not listed (${listed})`);
  await browse.getByRole('button', { name: 'Close' }).click();

  // Creating a channel of the same name does not get carol in either, and
  // does not even tell her the name is used: she gets a new, empty channel
  // of her own.
  await carolPage.getByRole('button', { name: 'Create a channel' }).click();
  const create = carolPage.locator('#create-dialog');
  await create.getByLabel('Name').fill('secret-plans');
  await create.getByRole('button', { name: 'Create' }).click();
  await expectHidden(create, 'the create dialog after creating');
  await waitFor('carol\'s own secret-plans in her sidebar', async () => (await sidebarNames(carolPage)).includes('secret-plans'));
  assert.deepEqual(await messageBodies(carolPage).allTextContents(), [], 'nothing of the private channel leaked into carol\'s view');
});

browserTest('public channels are browsed and joined; DMs start from the online list', env, async (session) => {
  const [dan, erin] = [await fixture.server.register('dan'), await fixture.server.register('erin')];
  const danPage = await session.newPage({ account: dan });
  const erinPage = await session.newPage({ account: erin });
  await createChannel(danPage, 'book-club');
  await sendMessage(danPage, 'first pick: Dune');

  // Erin finds book-club by browsing, joins, and reads its history.
  await erinPage.getByRole('button', { name: 'Browse channels' }).click();
  const browse = erinPage.locator('#browse-dialog');
  await browse.getByLabel('Filter channels').fill('book');
  await browse.getByRole('button', { name: 'Join book-club' }).click();
  await waitFor('book-club open for erin', async () => (await erinPage.locator('#channel-title').textContent()).includes('book-club'));
  await expectTexts(messageBodies(erinPage), ['first pick: Dune'], 'book-club history for erin');

  // Dan starts a DM with erin from the online list; erin gets it with 1 unread.
  await danPage.locator('#online-list button[data-user="erin"]').click();
  await waitFor('the DM open for dan', async () => (await danPage.locator('#channel-title').textContent()).includes('erin'));
  await sendMessage(danPage, 'psst, erin');
  await waitFor('the DM with dan in erin\'s sidebar with 1 unread', async () => (await unreadBadge(erinPage, 'dan')) === 1);
  await sidebarChannel(erinPage, 'dan').click();
  await expectTexts(messageBodies(erinPage), ['psst, erin'], 'the DM for erin');
  await waitFor('the DM read', async () => (await unreadBadge(erinPage, 'dan')) === 0);

  // Leaving a public channel (from the channel menu) removes it and goes back to General.
  await openChannel(erinPage, 'book-club');
  await erinPage.getByRole('button', { name: 'Channel options' }).click();
  await erinPage.getByRole('menuitem', { name: 'Leave channel' }).click();
  await waitFor('book-club gone from erin\'s sidebar', async () => !(await sidebarNames(erinPage)).includes('book-club'));
  await waitFor('General open', async () => (await erinPage.locator('#channel-title').textContent()).includes('General'));
});
