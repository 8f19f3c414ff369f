// The "Your account" dialog (web/account.js; docs/protocol.md, "HTTP API"):
// changing the password signs out one's other sessions unless asked not to,
// and the new password is the one that works; the list of sessions shows
// where one is signed in, this device marked, a device's self-chosen text as
// text, and ending another session sends that page back to the sign-in form.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
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
import { deviceName } from '../../web/account.js';

const fixture = sharedFixture();
const env = fixture.env;
const ENDED = 'Your session has ended. Please sign in again.';

/** An account made on the command line: it has no session until someone signs in. */
async function addUser(name, password) {
  await fixture.server.cli(['user', 'add', name], `${password}\n`);
}

/** A page of `name`'s own, signed in through the form (each is a session of its own). */
async function signedInPage(session, name, password, options = {}) {
  const page = await session.newPage({ label: options.label || name, ...options });
  await signInThroughForm(page, name, password);
  await waitForChat(page);
  return page;
}

async function openAccount(page) {
  await page.getByRole('button', { name: 'Your account' }).click();
  const dialog = page.locator('#account-dialog');
  await expectVisible(dialog, 'the account dialog');
  return dialog;
}

test('a User-Agent reads as a browser and a system', () => {
  assert.equal(
    deviceName('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0'),
    'Firefox on Windows',
  );
  assert.equal(
    deviceName('Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15'),
    'Safari on macOS',
  );
  assert.equal(
    deviceName('Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36'),
    'Chrome on Android',
  );
  assert.equal(
    deviceName('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0'),
    'Edge on Windows',
  );
  assert.equal(deviceName('curl/8.5.0'), '', 'nothing known named');
  assert.equal(deviceName(undefined), '');
});

browserTest('changing the password signs out my other sessions, unless I say not to', env, async (session) => {
  await addUser('cleo', 'first password');
  const here = await signedInPage(session, 'cleo', 'first password', { label: 'cleo-here' });
  const there = await signedInPage(session, 'cleo', 'first password', { label: 'cleo-there' });

  const dialog = await openAccount(here);
  const endOthers = dialog.getByRole('checkbox', { name: /Sign out my other sessions/ });
  assert.equal(await endOthers.isChecked(), true, 'signing out the others is the default');
  await waitFor('focus in the current password', () => here.evaluate(() => document.activeElement?.id === 'password-current'));

  // A wrong current password is refused inline; nothing changes.
  await dialog.getByLabel('Current password').fill('not my password');
  await dialog.getByLabel('New password').fill('second password');
  await dialog.getByRole('button', { name: 'Change password' }).click();
  await expectTexts(dialog.locator('#password-current-error'), ['That is not your current password.'], 'the wrong-password message');
  assert.equal(await dialog.locator('#password-done').textContent(), '', 'no success claimed');
  assert.equal(await there.locator('#app-screen').isVisible(), true, 'the other page is still in');

  await dialog.getByLabel('Current password').fill('first password');
  await dialog.getByLabel('New password').fill('second password');
  await dialog.getByRole('button', { name: 'Change password' }).click();
  await expectTexts(
    dialog.locator('#password-done'),
    ['Your password was changed, and your other sessions were signed out.'],
    'the success message',
  );
  await there.locator('#auth-screen').waitFor({ state: 'visible' });
  await expectHidden(there.locator('#app-screen'), 'the other page’s chat');
  assert.equal(await there.locator('#auth-notice').textContent(), ENDED);
  await expectCount(dialog.locator('li.session-row'), 1, 'only this session left');
  assert.equal(await dialog.getByLabel('Current password').inputValue(), '', 'the typed passwords are cleared');
  assert.equal(await here.locator('body').getAttribute('data-connection'), 'open', 'this page stays connected');

  // The old password is refused, the new one works.
  await signInThroughForm(there, 'cleo', 'first password');
  await expectTexts(there.locator('#auth-error'), ['Wrong username or password.'], 'the old password refused');
  await signInThroughForm(there, 'cleo', 'second password');
  await waitForChat(there);
  assert.equal(await there.locator('#me-name').textContent(), 'cleo');

  // With the box unticked, the other session lives on.
  await dialog.getByLabel('Current password').fill('second password');
  await dialog.getByLabel('New password').fill('third password');
  await endOthers.uncheck();
  await dialog.getByRole('button', { name: 'Change password' }).click();
  await expectTexts(dialog.locator('#password-done'), ['Your password was changed.'], 'the success message, others kept');
  const sessions = await here.evaluate(async () => (await (await fetch('/api/sessions')).json()).sessions.length);
  assert.equal(sessions, 2, 'both sessions live on');
  await there.reload();
  await waitForChat(there);
  assert.equal((await fixture.server.post('/api/login', { username: 'cleo', password: 'third password' })).status, 200);
});

browserTest('the sessions list shows where I am signed in and ends another session', env, async (session) => {
  await addUser('dina', 'dina password');
  // The device text is whatever the browser said: markup in it stays text.
  const oddAgent = 'Mozilla/5.0 <img src=x onerror="window.__pwned=1"> "Odd" Browser/1.0';
  const phone = await signedInPage(session, 'dina', 'dina password', { label: 'dina-phone', viewport: { width: 390, height: 780 } });
  const other = await signedInPage(session, 'dina', 'dina password', { label: 'dina-other', contextOptions: { userAgent: oddAgent } });

  await phone.getByRole('button', { name: 'Open menu' }).click();
  const dialog = await openAccount(phone);
  const rows = dialog.locator('li.session-row');
  await expectCount(rows, 2, 'two sessions');
  const mine = rows.filter({ has: phone.locator('.session-here') });
  const theirs = rows.filter({ hasNot: phone.locator('.session-here') });
  await expectCount(mine, 1, 'one row marked this device');
  assert.equal(await mine.locator('.session-here').textContent(), 'this device');
  assert.equal(await mine.getByRole('button').count(), 0, 'no End on this device');
  assert.equal(await theirs.locator('.session-agent').textContent(), oddAgent, 'the device text as sent');
  assert.equal(await dialog.locator('img').count(), 0, 'no markup from the device text');
  assert.equal(await phone.evaluate(() => window.__pwned), undefined);
  assert.match(await theirs.locator('.session-meta').textContent(), /^from 127\.0\.0\.1.*last used (just now|\d+ min ago)$/);

  const overflow = await dialog.evaluate((element) => ({
    dialog: element.scrollWidth - element.clientWidth,
    page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  }));
  assert.ok(overflow.dialog <= 0 && overflow.page <= 0, `no horizontal overflow: ${JSON.stringify(overflow)}`);
  await theirs.scrollIntoViewIfNeeded();
  await saveScreenshot(phone, 'account-phone');

  // By keyboard: End is a real button.
  const end = theirs.getByRole('button', { name: /^End session: / });
  await end.focus();
  await phone.keyboard.press('Enter');
  await other.locator('#auth-screen').waitFor({ state: 'visible' });
  assert.equal(await other.locator('#auth-notice').textContent(), ENDED);
  await expectCount(rows, 1, 'one session left');
  await expectCount(mine, 1, 'and it is this device');
  await waitFor('the focus on Close once nothing is left to end', () =>
    phone.evaluate(() => document.activeElement?.closest('#account-dialog') && document.activeElement.textContent === 'Close'),
  );
  assert.equal(await phone.locator('body').getAttribute('data-connection'), 'open', 'this page stays connected');
  await phone.keyboard.press('Escape');
  await expectHidden(dialog, 'the dialog after Escape');
});
