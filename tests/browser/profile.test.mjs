// Profiles (docs/protocol.md, "People"; web/profile.js, web/account.js): one
// sets a display name and time zone in "Your account" (the zone prefilled from
// the browser), and anyone opens a card from a message's sender name or the
// people dialog: display name above the username, role, presence, and their
// local time worked out in the viewer's browser. A display name is text only.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { browserTest, expectTexts, expectVisible, saveScreenshot, sendMessage, sharedFixture, waitFor } from './helpers.mjs';
import { localTime, roleText } from '../../web/profile.js';

const fixture = sharedFixture();
const env = fixture.env;

/** The clock in `timeZone` as the page formats it now. */
function clockIn(page, timeZone) {
  return page.evaluate((zone) => new Intl.DateTimeFormat(undefined, { timeZone: zone, hour: '2-digit', minute: '2-digit' }).format(new Date()), timeZone);
}

test('a local time needs a zone the browser knows; roles read as words', () => {
  assert.equal(localTime(undefined), '');
  assert.equal(localTime('Not/A_Zone'), '', 'an invalid zone shows nothing');
  assert.match(localTime('Asia/Tokyo', new Date(0)), /09/, 'midnight UTC is nine in Tokyo');
  assert.equal(roleText({ role: 'admin', guest: false }), 'Admin');
  assert.equal(roleText({ role: 'member', guest: false }), 'Member');
  assert.equal(roleText({ role: 'member', guest: true }), 'Guest');
});

browserTest('a display name set in the account dialog shows on the card bob opens from a message', env, async (session) => {
  const alice = await fixture.server.register('alice');
  const bob = await fixture.server.register('bob');
  const alicePage = await session.newPage({ account: alice, contextOptions: { timezoneId: 'Asia/Tokyo' } });
  const bobPage = await session.newPage({ account: bob, contextOptions: { timezoneId: 'America/New_York' } });

  // Alice's dialog: the zone comes from her browser; a bad one is refused in the server's words.
  await alicePage.getByRole('button', { name: 'Your account' }).click();
  const account = alicePage.locator('#account-dialog');
  await expectVisible(account, 'the account dialog');
  const zone = account.getByLabel('Time zone');
  await waitFor('the zone prefilled from the browser', async () => (await zone.inputValue()) === 'Asia/Tokyo');
  await account.getByLabel('Display name').fill('Alice Liddell');
  await zone.fill('Not a zone!');
  await account.getByRole('button', { name: 'Save profile' }).click();
  await waitFor('the refusal shown', async () => (await account.locator('#profile-error').textContent()).trim() !== '');
  assert.equal(await account.locator('#profile-done').textContent(), '', 'nothing said saved');
  await zone.fill('Asia/Tokyo');
  await account.getByRole('button', { name: 'Save profile' }).click();
  await expectTexts(account.locator('#profile-done'), ['Your profile was saved.'], 'saved');
  assert.equal(await account.locator('#profile-error').textContent(), '', 'the refusal cleared');
  await account.getByRole('button', { name: 'Close' }).click();
  await sendMessage(alicePage, 'hello from Tokyo');

  // Bob opens her card from her message, by keyboard.
  const sender = bobPage.locator('#messages .msg', { hasText: 'hello from Tokyo' }).locator('.msg-sender');
  await expectTexts(sender, ['alice'], 'alice as the sender');
  await sender.focus();
  await bobPage.keyboard.press('Enter');
  const card = bobPage.locator('#profile-dialog');
  await expectVisible(card, 'the profile card');
  await expectTexts(card.locator('.profile-display'), ['Alice Liddell'], 'the display name');
  await expectTexts(card.locator('.profile-name'), ['alice'], 'the username under it');
  await expectTexts(card.locator('.profile-role'), ['Member'], 'her role');
  await expectTexts(card.locator('.profile-presence'), ['Online'], 'online');
  // Her local time, not bob's (New York and Tokyo are 13 or 14 hours apart).
  await waitFor('her local time in Tokyo', async () => (await card.locator('.profile-time').textContent()) === `${await clockIn(bobPage, 'Asia/Tokyo')} local time`);
  assert.notEqual(await card.locator('.profile-time').textContent(), `${await clockIn(bobPage, 'America/New_York')} local time`, 'not the viewer’s own time');
  await saveScreenshot(bobPage, 'profile-card');
  await bobPage.keyboard.press('Escape');
  await waitFor('the card closed and focus back on the name', async () => !(await card.isVisible()) && (await sender.evaluate((el) => el === document.activeElement)));
  // Known now, the display name shows beside her name on messages.
  await expectTexts(bobPage.locator('#messages .msg-display'), ['Alice Liddell'], 'the display name beside the sender');

  // From the people dialog too.
  await bobPage.getByRole('button', { name: 'New message' }).click();
  const people = bobPage.locator('#people-dialog');
  await expectVisible(people, 'the people dialog');
  await people.getByRole('button', { name: 'Profile of alice' }).click();
  await expectTexts(card.locator('.profile-display'), ['Alice Liddell'], 'the card from the people dialog');
});

browserTest('a display name made of markup stays text', env, async (session) => {
  const mallory = await fixture.server.register('mallory');
  const bob = await fixture.server.register('bobby');
  const evil = '<img src=x onerror="window.__pwned=1"><b>Bold</b>';
  const malloryPage = await session.newPage({ account: mallory });
  const bobPage = await session.newPage({ account: bob });

  await malloryPage.getByRole('button', { name: 'Your account' }).click();
  const account = malloryPage.locator('#account-dialog');
  await account.getByLabel('Display name').fill(evil);
  await account.getByRole('button', { name: 'Save profile' }).click();
  await expectTexts(account.locator('#profile-done'), ['Your profile was saved.'], 'saved');
  await account.getByRole('button', { name: 'Close' }).click();
  await sendMessage(malloryPage, 'innocent');

  await bobPage.locator('#messages .msg', { hasText: 'innocent' }).locator('.msg-sender').click();
  const card = bobPage.locator('#profile-dialog');
  await expectTexts(card.locator('.profile-display'), [evil], 'the markup as text');
  assert.equal(await card.locator('img, b').count(), 0, 'no element made from it on the card');
  await expectTexts(bobPage.locator('#messages .msg-display'), [evil], 'the markup as text beside the sender');
  assert.equal(await bobPage.locator('#messages img, #messages .msg-meta b').count(), 0, 'no element made from it in the list');
  assert.equal(await bobPage.evaluate(() => window.__pwned), undefined, 'nothing ran');
});
