// The admin panel (web/admin.js; docs/protocol.md, "Administration"): only
// admins see its entry; it lists every account, 50 a page; an admin
// deactivates someone (after a confirmation) and that person's open page goes
// back to the sign-in form, where signing in shows the server's reason; the
// admin reactivates them and promotes someone else, who gets the entry after a
// reload. Refusals are shown in the panel in the server's words.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  WsClient,
  browserTest,
  expectCount,
  expectHidden,
  expectTexts,
  expectVisible,
  saveScreenshot,
  sharedFixture,
  signInThroughForm,
  waitFor,
  waitForChat,
} from './helpers.mjs';
import { relativeTime } from '../../web/format.js';

// The paging test registers a crowd in one go.
const fixture = sharedFixture({ args: ['--account-creations-per-minute', '1000'] });
const env = fixture.env;
const PASSWORD = 'correct horse battery';

/** The entry to the panel; role queries skip hidden elements, so a non-admin has none. */
function entry(page) {
  return page.getByRole('button', { name: 'Manage accounts' });
}

function rowOf(panel, name) {
  return panel.locator(`li.account-row[data-account="${name}"]`);
}

/** A row's facts in order: role, kind, state, presence, last login. */
function facts(panel, name) {
  return rowOf(panel, name).locator('.account-meta > span, .account-login').allTextContents();
}

async function expectFacts(panel, name, expected, description) {
  let seen;
  await waitFor(`${description}: ${expected.join(' · ')}`, async () => {
    seen = await facts(panel, name);
    return expected.every((fact, i) => (fact instanceof RegExp ? fact.test(seen[i]) : fact === seen[i])) && seen.length === expected.length;
  }).catch((error) => {
    error.message += `\n  seen: ${JSON.stringify(seen)}`;
    throw error;
  });
}

/** Every frame the page sends on its sockets, parsed (call before the app loads). */
function recordSent(page) {
  const sent = [];
  page.on('websocket', (socket) => socket.on('framesent', ({ payload }) => sent.push(JSON.parse(String(payload)))));
  return sent;
}

test('last logins read as people say them', () => {
  const now = Date.UTC(2026, 0, 31, 12, 0, 0);
  assert.equal(relativeTime(undefined, now), 'never');
  assert.equal(relativeTime(now - 20_000, now), 'just now');
  assert.equal(relativeTime(now + 5_000, now), 'just now', 'a clock slightly ahead is not the future');
  assert.equal(relativeTime(now - 5 * 60_000, now), '5 min ago');
  assert.equal(relativeTime(now - 3 * 3_600_000 - 59 * 60_000, now), '3 h ago');
  assert.equal(relativeTime(now - 2 * 86_400_000, now), '2 d ago');
  assert.doesNotMatch(relativeTime(now - 90 * 86_400_000, now), /ago/, 'a date once it is months old');
});

browserTest('an admin deactivates, reactivates and promotes accounts; only admins see the panel', env, async (session) => {
  const ada = await fixture.server.register('ada');
  const bob = await fixture.server.register('bob');
  const carol = await fixture.server.register('carol');
  // Made on the command line, never signed in.
  await fixture.server.cli(['user', 'add', 'dora'], 'dora password\n');
  await fixture.server.setRole('ada', 'admin');

  const bobPage = await session.newPage({ account: bob });
  const carolPage = await session.newPage({ account: carol });
  let adaSent = [];
  const adaPage = await session.newPage({ account: ada, beforeLoad: (page) => void (adaSent = recordSent(page)) });
  await expectVisible(entry(adaPage), "the admin's Manage accounts button");
  assert.equal(await entry(carolPage).count(), 0, 'a member has no Manage accounts button');
  assert.equal(await entry(bobPage).count(), 0, 'nor does bob');

  await entry(adaPage).click();
  const panel = adaPage.locator('#admin-dialog');
  await expectVisible(panel, 'the admin panel');
  await expectTexts(panel.locator('.account-name-text'), ['ada', 'bob', 'carol', 'dora'], 'every account, by name');
  await expectFacts(panel, 'ada', ['admin', 'registered', 'active', 'online', /^last login: (just now|\d+ min ago)$/], 'ada');
  await expectFacts(panel, 'bob', ['member', 'registered', 'active', 'online', /^last login: (just now|\d+ min ago)$/], 'bob');
  await expectFacts(panel, 'dora', ['member', 'registered', 'active', 'offline', 'last login: never'], 'dora');
  assert.equal(await rowOf(panel, 'bob').locator('.dot.on').count(), 1, "bob's dot says online");
  assert.equal(await rowOf(panel, 'ada').getByRole('button').count(), 0, 'no actions on my own row');
  assert.equal(await rowOf(panel, 'ada').locator('.account-you').textContent(), '(you)');
  await saveScreenshot(adaPage, 'admin-desktop');

  // The confirmation says what deactivating ends; cancelling sends nothing.
  await panel.getByRole('button', { name: 'Deactivate: bob' }).click();
  const confirm = adaPage.locator('#deactivate-dialog');
  await expectVisible(confirm, 'the confirmation');
  const warning = await confirm.locator('#deactivate-text').textContent();
  assert.match(warning, /sessions end/);
  assert.match(warning, /signed out everywhere/);
  assert.match(warning, /messages stay/);
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await expectHidden(confirm, 'the cancelled confirmation');
  assert.equal(adaSent.filter((frame) => frame.type === 'update_account').length, 0, 'Cancel sends no update_account');
  assert.equal(await panel.isVisible(), true, 'the panel stays open under the confirmation');

  // Confirmed: bob's open page goes back to the sign-in form.
  await panel.getByRole('button', { name: 'Deactivate: bob' }).click();
  await confirm.getByRole('button', { name: 'Deactivate', exact: true }).click();
  await bobPage.locator('#auth-screen').waitFor({ state: 'visible' });
  await expectHidden(bobPage.locator('#app-screen'), "bob's chat");
  assert.equal(await bobPage.locator('#auth-notice').textContent(), 'Your session has ended. Please sign in again.');
  await expectFacts(panel, 'bob', ['member', 'registered', 'deactivated', 'offline', /^last login: /], 'bob deactivated in the panel');
  await expectVisible(panel.getByRole('button', { name: 'Reactivate: bob' }), 'Reactivate for bob');
  assert.equal(await adaPage.locator('#admin-done').textContent(), 'bob was deactivated and signed out everywhere.');

  // Signing in shows the server's reason, not "wrong password".
  const refused = await fixture.server.post('/api/login', { username: 'bob', password: PASSWORD });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, 'deactivated');
  await signInThroughForm(bobPage, 'bob', PASSWORD);
  await expectTexts(bobPage.locator('#auth-error'), [refused.body.error.message], 'the deactivation message on the form');
  assert.equal(await bobPage.locator('#app-screen').isVisible(), false, 'bob is still signed out');

  // Reactivated, bob signs in again (through the form: the admin check is a
  // second /api/me there, and a member must still get no entry from it).
  await panel.getByRole('button', { name: 'Reactivate: bob' }).click();
  // Presence outlasts a closed connection by a grace period (5 s), so bob may
  // read as online again until it ends: only his state is asserted here.
  await expectFacts(panel, 'bob', ['member', 'registered', 'active', /^(online|offline)$/, /^last login: /], 'bob active again');
  const bobMe = bobPage.waitForResponse((response) => response.url().endsWith('/api/me'));
  await signInThroughForm(bobPage, 'bob', PASSWORD);
  await waitForChat(bobPage);
  assert.equal(await bobPage.locator('#me-name').textContent(), 'bob');
  assert.equal((await (await bobMe).json()).admin, false);
  assert.equal(await entry(bobPage).count(), 0, 'bob, a member, has no entry after signing in');

  // Carol made an admin gets the entry once her page asks again (a reload).
  await panel.getByRole('button', { name: 'Make admin: carol' }).click();
  await expectFacts(panel, 'carol', ['admin', 'registered', 'active', 'online', /^last login: /], 'carol an admin');
  await expectVisible(panel.getByRole('button', { name: 'Make member: carol' }), 'Make member for carol');
  await carolPage.reload();
  await waitForChat(carolPage);
  await expectVisible(entry(carolPage), "carol's Manage accounts button after a reload");
  await entry(carolPage).click();
  const carolPanel = carolPage.locator('#admin-dialog');
  await expectVisible(carolPanel.getByRole('button', { name: 'Deactivate: ada' }), 'carol may act on ada');
  assert.equal(await rowOf(carolPanel, 'carol').getByRole('button').count(), 0, 'but not on herself');

  // Escape closes the panel like the other dialogs, and focus returns to the entry.
  await adaPage.keyboard.press('Escape');
  await expectHidden(panel, 'the panel after Escape');
  await waitFor('focus back on the entry', () => adaPage.evaluate(() => document.activeElement?.id === 'admin-button'));

  // An admin signing in through the form (login answers without `admin`) gets the entry too.
  await adaPage.getByRole('button', { name: 'Sign out' }).click();
  await expectHidden(adaPage.locator('#admin-button'), 'the entry after signing out');
  await signInThroughForm(adaPage, 'ada', PASSWORD);
  await waitForChat(adaPage);
  await expectVisible(entry(adaPage), 'the entry after signing in through the form');
});

browserTest('at phone width the panel pages by 50, and shows a refusal in the server words', env, async (session) => {
  const eve = await fixture.server.register('eve');
  for (let i = 1; i <= 55; i += 1) await fixture.server.register(`m${String(i).padStart(3, '0')}`);
  await fixture.server.setRole('eve', 'admin');
  const eveWs = await WsClient.connect(fixture.server, eve);
  const everyone = (await eveWs.request({ type: 'list_accounts', limit: 100 })).accounts.map((account) => account.name);
  assert.ok(everyone.length > 50 && everyone.length <= 100, `accounts for two pages: ${everyone.length}`);

  const page = await session.newPage({ account: eve, viewport: { width: 390, height: 780 }, label: 'eve-phone' });
  await page.getByRole('button', { name: 'Open menu' }).click();
  await entry(page).click();
  const panel = page.locator('#admin-dialog');
  await expectCount(panel.locator('li.account-row'), 50, 'the first page');
  const more = panel.getByRole('button', { name: 'Load more' });
  await expectVisible(more, 'Load more');
  // By keyboard: the buttons are real buttons.
  await more.focus();
  await page.keyboard.press('Enter');
  await expectTexts(panel.locator('.account-name-text'), everyone, 'every account after Load more, in order, none twice');
  await expectHidden(more, 'Load more once all are here');

  // Nothing sticks out of the dialog or the page at phone width.
  const overflow = await panel.evaluate((dialog) => ({
    dialog: dialog.scrollWidth - dialog.clientWidth,
    page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  }));
  assert.ok(overflow.dialog <= 0 && overflow.page <= 0, `no horizontal overflow: ${JSON.stringify(overflow)}`);
  const dialogBox = await panel.boundingBox();
  const buttonBox = await panel.getByRole('button', { name: 'Make admin: m001' }).boundingBox();
  assert.ok(buttonBox.x >= dialogBox.x && buttonBox.x + buttonBox.width <= dialogBox.x + dialogBox.width, 'the row actions lie inside the dialog');
  await panel.getByRole('button', { name: 'Make admin: m001' }).scrollIntoViewIfNeeded();
  await saveScreenshot(page, 'admin-phone');

  // Demoted on the command line meanwhile: the next request is refused, and
  // the panel says so in the server's words (as it answers any non-admin).
  await fixture.server.setRole('eve', 'member');
  eveWs.send({ type: 'list_accounts', ref: 'after-demotion' });
  const refusal = await eveWs.next((frame) => frame.ref === 'after-demotion', 'the refusal after demotion');
  assert.equal(refusal.code, 'forbidden');
  eveWs.close();
  await panel.getByRole('button', { name: 'Make admin: m001' }).click();
  await expectTexts(panel.locator('#admin-error'), [`Could not change m001: ${refusal.message}`], 'the refusal in the panel');
  await expectFacts(panel, 'm001', ['member', 'registered', 'active', 'offline', /^last login: /], 'm001 unchanged');

  await page.keyboard.press('Escape');
  await expectHidden(panel, 'the panel after Escape');
});
