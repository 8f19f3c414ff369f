// Links with a token in the address (web/links.js; docs/protocol.md, "HTTP
// API" and "Administration"): the setup link a fresh server prints makes the
// first admin, once; an admin makes sign-up invite-only and hands out an
// invite link, which signs someone up while a sign-up without one is refused;
// an admin's password-reset link lets its user choose a new password and come
// in. Each link's token leaves the address bar as the page loads, and the
// server's refusals show on the form in its words.

import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import {
  browserTest,
  expectHidden,
  expectTexts,
  expectVisible,
  launchBrowser,
  removeServer,
  saveScreenshot,
  signInThroughForm,
  startServer,
  waitFor,
  waitForChat,
} from './helpers.mjs';
import { inviteState } from '../../web/admin-invites.js';
import { timeUntil } from '../../web/format.js';

const PASSWORD = 'correct horse battery';

// Every test gets a server on a fresh database (the first one needs a
// workspace without an admin); the browser is shared.
const fixture = { browser: undefined, server: undefined };
const env = () => fixture;
before(async () => {
  fixture.browser = await launchBrowser();
});
after(async () => {
  await fixture.browser?.close();
});
beforeEach(async () => {
  fixture.server = await startServer();
});
afterEach(async () => {
  await removeServer(fixture.server);
  fixture.server = undefined;
});

/** The part of an address after the server's origin: `/#invite=TOKEN`. */
function pathOf(url) {
  assert.ok(url.startsWith(fixture.server.url), `${url} is on the server ${fixture.server.url}`);
  return url.slice(fixture.server.url.length);
}

/** The token-free address the page shows once the app has read its link. */
async function expectTokenGone(page, kind) {
  await waitFor(`the ${kind} token to leave the address bar`, async () => {
    const href = await page.evaluate(() => location.href);
    return !href.includes('#') && href === `${fixture.server.url}/`;
  });
}

async function fillForm(page, { username, password }) {
  const form = page.locator('#auth-form');
  if (username !== undefined) await form.getByLabel('Username').fill(username);
  await page.locator('#auth-password').fill(password);
}

test('invite links read as what became of them; expiry reads as people say it', () => {
  const now = Date.UTC(2026, 0, 31, 12, 0, 0);
  const invite = { revoked: false, uses: 0, max_uses: 2, expires: now + 3_600_000, usable: true };
  assert.equal(inviteState(invite, now), 'usable');
  assert.equal(inviteState({ ...invite, uses: 2, usable: false }, now), 'used up');
  assert.equal(inviteState({ ...invite, expires: now - 1, usable: false }, now), 'expired');
  assert.equal(inviteState({ ...invite, revoked: true, uses: 2, usable: false }, now), 'revoked', 'revoked says more than used up');
  assert.equal(inviteState({ ...invite, usable: false }, now), 'expired', "the server's word on a link that looks usable here");
  assert.equal(timeUntil(now + 7 * 86_400_000, now), 'in 7 d');
  assert.equal(timeUntil(now + 24 * 3_600_000, now), 'in 24 h');
  assert.equal(timeUntil(now + 90_000, now), 'in 2 min');
  assert.equal(timeUntil(now - 1, now), 'now');
});

browserTest('the setup link a fresh server prints creates the admin, and works once', env, async (session) => {
  const server = fixture.server;
  const [line, token] = await server.waitForOutput(/natter setup: [^\n]*#setup=([A-Za-z0-9_-]+)/, 'the setup link');
  assert.ok(line.includes(`${server.url}/#setup=${token}`), `the printed link is this server's: ${line}`);

  const page = await session.newPage({ path: `/#setup=${token}`, label: 'founder' });
  await expectTexts(page.locator('#auth-title'), ['Create the admin account'], 'the setup form');
  await expectTokenGone(page, 'setup');
  assert.equal(await page.locator('#auth-form').getAttribute('data-mode'), 'setup');
  await expectVisible(page.locator('#auth-username'), 'the username field');
  await saveScreenshot(page, 'setup-link-desktop');

  await fillForm(page, { username: 'founder', password: PASSWORD });
  await page.getByRole('button', { name: 'Create admin account' }).click();
  await waitForChat(page);
  assert.equal(await page.locator('#me-name').textContent(), 'founder');
  await expectVisible(page.getByRole('button', { name: 'Manage accounts' }), "the new admin's Manage accounts button");
  const me = await page.evaluate(async () => (await fetch('/api/me')).json());
  assert.equal(me.admin, true, 'the server says the account is an admin');

  // Used once: the same link again is refused, in the server's words.
  const again = await session.newPage({ path: `/#setup=${token}`, label: 'second-comer' });
  await expectTexts(again.locator('#auth-title'), ['Create the admin account'], 'the setup form again');
  await fillForm(again, { username: 'usurper', password: PASSWORD });
  await again.getByRole('button', { name: 'Create admin account' }).click();
  const refused = await server.post('/api/register', { username: 'usurper2', password: PASSWORD, invite: token });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, 'invalid_invite');
  await expectTexts(again.locator('#auth-error'), [refused.body.error.message], 'the invalid-link message on the form');
  assert.equal(await again.locator('#app-screen').isVisible(), false, 'the second comer stays out');

  // "Sign in" leaves the link's form for the plain one.
  await again.getByRole('button', { name: 'Sign in' }).click();
  // Leaving the link asks the server who is signed in first (app.js's boot), so the form changes a moment later.
  await waitFor('the plain sign-in form', async () => (await again.locator('#auth-form').getAttribute('data-mode')) === 'login');
});

browserTest('an invite link signs someone up while sign-up is invite only', env, async (session) => {
  const server = fixture.server;
  const ada = await server.register('ada');
  await server.setRole('ada', 'admin');
  const adaPage = await session.newPage({ account: ada, contextOptions: { permissions: ['clipboard-read', 'clipboard-write'] } });
  await adaPage.getByRole('button', { name: 'Manage accounts' }).click();
  const panel = adaPage.locator('#admin-dialog');
  const mode = panel.getByLabel('Who may sign up');
  await waitFor('the registration mode to load', async () => (await mode.isEnabled()) && (await mode.inputValue()) === 'open');
  await expectTexts(panel.locator('#invites-status'), ['No invite links yet.'], 'no links yet');

  await mode.selectOption({ label: 'Invite only' });
  await expectTexts(panel.locator('#registration-hint'), ['Only people with an invite link can create an account.'], 'the hint for invite only');
  await waitFor('the mode to be in force', async () => (await mode.isEnabled()) && (await mode.inputValue()) === 'invite');
  const closed = await server.post('/api/register', { username: 'outsider', password: PASSWORD });
  assert.equal(closed.status, 403, 'the server refuses a sign-up without a link now');
  assert.equal(closed.body.error.code, 'registration_closed');

  // A link for two sign-ups, for a day; its link is shown once, with Copy.
  await panel.getByLabel('Works for').selectOption({ label: '1 day' });
  await panel.getByLabel('Sign-ups').fill('0');
  await panel.getByRole('button', { name: 'Create invite link' }).click();
  await expectTexts(panel.locator('#invite-link-uses-error'), ['Enter a whole number from 1 to 1000.'], 'the uses checked before asking');
  await panel.getByLabel('Sign-ups').fill('2');
  await panel.getByRole('button', { name: 'Create invite link' }).click();
  const field = panel.getByRole('textbox', { name: 'New invite link' });
  await expectVisible(field, 'the new link');
  const url = await field.inputValue();
  assert.match(url, /\/#invite=[A-Za-z0-9_-]+$/);
  const path = pathOf(url);
  const token = path.slice('/#invite='.length);
  assert.equal(await field.getAttribute('readonly'), '', 'the link field is read-only');
  assert.match(await panel.locator('.link-once .hint').textContent(), /shown only this once/);
  await panel.getByRole('button', { name: 'Copy new invite link' }).click();
  await expectTexts(panel.locator('.link-once-status'), ['Copied.'], 'the copy confirmed');
  assert.equal(await adaPage.evaluate(() => navigator.clipboard.readText()), url, 'the link is on the clipboard');
  const firstRow = panel.locator('li.invite-row').first();
  await expectTexts(firstRow.locator('.invite-meta > span'), ['usable', '0/2 used', 'expires in 24 h'], 'the new link in the list');
  assert.equal(await firstRow.locator('.invite-by').textContent(), 'Made by ada');

  // At phone width the section fits.
  await adaPage.setViewportSize({ width: 390, height: 780 });
  const overflow = await panel.evaluate((dialog) => dialog.scrollWidth - dialog.clientWidth);
  assert.ok(overflow <= 0, `no horizontal overflow in the panel: ${overflow}`);
  const dialogBox = await panel.boundingBox();
  const copyBox = await panel.getByRole('button', { name: 'Copy new invite link' }).boundingBox();
  assert.ok(copyBox.x + copyBox.width <= dialogBox.x + dialogBox.width, 'Copy lies inside the panel');
  await panel.locator('#invites-title').scrollIntoViewIfNeeded();
  await saveScreenshot(adaPage, 'invite-links-phone');
  await adaPage.setViewportSize({ width: 1200, height: 800 });

  // Bob opens the link: the sign-up form says he was invited, and he is in.
  const bobPage = await session.newPage({ path, label: 'bob' });
  await expectTexts(bobPage.locator('#auth-title'), ['Create your natter account'], 'the sign-up form');
  assert.match(await bobPage.locator('#auth-lead').textContent(), /^You were invited/);
  await expectTokenGone(bobPage, 'invite');
  await saveScreenshot(bobPage, 'invite-link-desktop');
  await fillForm(bobPage, { username: 'bob', password: PASSWORD });
  await bobPage.getByRole('button', { name: 'Create account' }).click();
  await waitForChat(bobPage);
  assert.equal(await bobPage.locator('#me-name').textContent(), 'bob');

  // Carol, without a link, is refused in the server's words.
  const carolPage = await session.newPage({ label: 'carol' });
  await carolPage.getByRole('button', { name: 'Create an account' }).click();
  await fillForm(carolPage, { username: 'carol', password: PASSWORD });
  await carolPage.getByRole('button', { name: 'Create account' }).click();
  await expectTexts(carolPage.locator('#auth-error'), [closed.body.error.message], 'the registration-closed message');
  assert.equal(await carolPage.locator('#app-screen').isVisible(), false, 'carol stays out');

  // The panel opened again: the link is not shown again, and the list counts bob.
  await adaPage.keyboard.press('Escape');
  await expectHidden(panel, 'the panel after Escape');
  await adaPage.getByRole('button', { name: 'Manage accounts' }).click();
  await expectTexts(firstRow.locator('.invite-meta > span'), ['usable', '1/2 used', 'expires in 24 h'], 'one use counted');
  assert.equal(await panel.getByRole('textbox', { name: 'New invite link' }).count(), 0, 'the link is shown only once');
  await waitFor('the mode still invite only', async () => (await mode.inputValue()) === 'invite');

  // Revoked, the link signs nobody up.
  await firstRow.getByRole('button', { name: /^Revoke: invite link made by ada/ }).click();
  await expectTexts(firstRow.locator('.invite-meta > span'), ['revoked', '1/2 used', 'expires in 24 h'], 'the link revoked');
  assert.equal(await firstRow.getByRole('button').count(), 0, 'nothing left to revoke');
  const daveRefused = await server.post('/api/register', { username: 'dave2', password: PASSWORD, invite: token });
  assert.equal(daveRefused.body.error.code, 'invalid_invite');
  const davePage = await session.newPage({ path, label: 'dave' });
  await fillForm(davePage, { username: 'dave', password: PASSWORD });
  await davePage.getByRole('button', { name: 'Create account' }).click();
  await expectTexts(davePage.locator('#auth-error'), [daveRefused.body.error.message], 'the invalid-invite message');
});

browserTest("an admin's reset link lets its user choose a new password and come in", env, async (session) => {
  const server = fixture.server;
  const ada = await server.register('ada');
  const bob = await server.register('bob');
  await server.setRole('ada', 'admin');
  const bobOld = await session.newPage({ account: bob, label: 'bob-before' });
  const adaPage = await session.newPage({ account: ada });
  await adaPage.getByRole('button', { name: 'Manage accounts' }).click();
  const panel = adaPage.locator('#admin-dialog');
  assert.equal(await panel.locator('li.account-row[data-account="ada"]').getByRole('button', { name: /Reset link/ }).count(), 0, 'no reset link for myself');
  await panel.getByRole('button', { name: 'Reset link: bob' }).click();
  const shown = adaPage.locator('#reset-link-dialog');
  await expectVisible(shown, 'the reset link dialog');
  assert.equal(await shown.locator('h2').textContent(), 'Password-reset link for bob');
  const url = await shown.getByRole('textbox', { name: 'Reset link' }).inputValue();
  assert.match(url, /\/#reset=[A-Za-z0-9_-]+$/);
  const path = pathOf(url);
  assert.match(await shown.locator('.hint').textContent(), /shown only this once/);
  await waitFor('the link selected for copying', () => adaPage.evaluate(() => document.activeElement?.classList.contains('link-once-url')));
  await shown.getByRole('button', { name: 'Done' }).click();
  await expectHidden(shown, 'the reset link dialog after Done');
  await waitFor('the link gone from the page once closed', async () => (await adaPage.locator('#reset-link-body input').count()) === 0);
  await waitFor('the focus back on the Reset link button', () =>
    adaPage.evaluate(() => document.activeElement?.getAttribute('aria-label') === 'Reset link: bob'),
  );

  const page = await session.newPage({ path, label: 'bob-reset' });
  await expectTexts(page.locator('#auth-title'), ['Choose a new password'], 'the reset form');
  await expectTokenGone(page, 'reset');
  await expectHidden(page.locator('#auth-username'), 'the username field (the link names the account)');
  await fillForm(page, { password: 'short' });
  await page.getByRole('button', { name: 'Save password and sign in' }).click();
  await expectTexts(page.locator('#auth-password-error'), ['Passwords need at least 8 characters.'], 'the rules checked first');
  await fillForm(page, { password: 'a brand new secret' });
  await page.getByRole('button', { name: 'Save password and sign in' }).click();
  await waitForChat(page);
  assert.equal(await page.locator('#me-name').textContent(), 'bob');

  // Every earlier session of bob's ended; the new password is the one that works.
  await bobOld.locator('#auth-screen').waitFor({ state: 'visible' });
  assert.equal((await server.post('/api/login', { username: 'bob', password: PASSWORD })).status, 401, 'the old password is refused');
  assert.equal((await server.post('/api/login', { username: 'bob', password: 'a brand new secret' })).status, 200, 'the new one works');

  // Used once: the same link again is refused, in the server's words.
  const refused = await server.post('/api/reset', { token: path.slice('/#reset='.length), password: 'yet another secret' });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, 'invalid_reset');
  const again = await session.newPage({ path, label: 'bob-again' });
  await fillForm(again, { password: 'yet another secret' });
  await again.getByRole('button', { name: 'Save password and sign in' }).click();
  await expectTexts(again.locator('#auth-error'), [refused.body.error.message], 'the invalid-reset message');
  assert.equal(await again.locator('#app-screen').isVisible(), false);
  await signInThroughForm(bobOld, 'bob', 'a brand new secret');
  await waitForChat(bobOld);
});
