// Issue 13, point 7: after signing out, a browser that has signed in before
// opens on "Sign in" (with the name filled in), never on "Create your natter
// account", where a returning user would type their password into sign-up and
// meet "That username is taken". The two forms are told apart at a glance.

import assert from 'node:assert/strict';
import {
  browserTest,
  saveScreenshot,
  signUpThroughForm,
  waitFor,
  waitForChat,
  sharedFixture,
} from './helpers.mjs';

const fixture = sharedFixture();
const env = fixture.env;

async function formText(page) {
  return {
    mode: await page.locator('#auth-form').getAttribute('data-mode'),
    title: await page.locator('#auth-title').textContent(),
    lead: await page.locator('#auth-lead').textContent(),
    submit: await page.locator('#auth-submit').textContent(),
  };
}

browserTest('after signing out, the form is Sign in with the name filled in', env, async (session) => {
  const page = await session.newPage({ label: 'gina' });
  const signIn = await formText(page);
  await page.getByRole('button', { name: 'Create an account' }).click();
  const signUp = await formText(page);
  // Distinct in every part a person reads.
  assert.equal(signIn.mode, 'login');
  assert.equal(signUp.mode, 'register');
  for (const part of ['title', 'lead', 'submit']) assert.notEqual(signIn[part], signUp[part], `the ${part} differs between the forms`);
  await saveScreenshot(page, 'signup-desktop');

  await signUpThroughForm(page, 'gina');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#auth-screen').waitFor({ state: 'visible' });
  assert.deepEqual(await formText(page), signIn, 'the sign-in form after signing out');
  assert.equal(await page.locator('#auth-username').inputValue(), 'gina', 'the name is filled in');
  await waitFor('focus in the password field', () => page.evaluate(() => document.activeElement?.id === 'auth-password'));
  await saveScreenshot(page, 'signin-returning-desktop');

  // The same after a reload, and the password alone signs her in.
  await page.reload();
  await page.locator('#auth-screen').waitFor({ state: 'visible' });
  assert.equal((await formText(page)).mode, 'login', 'still Sign in after a reload');
  assert.equal(await page.locator('#auth-username').inputValue(), 'gina');
  await page.setViewportSize({ width: 390, height: 780 });
  await saveScreenshot(page, 'signin-returning-phone');
  await page.locator('#auth-password').fill('correct horse battery');
  await page.locator('#auth-password').press('Enter');
  await waitForChat(page);
  assert.equal(await page.locator('#me-name').textContent(), 'gina');
});

browserTest('eleven people signing in from one address within a minute all get in', env, async (session) => {
  // One office, one address: only failed sign-ins count against its limit.
  const names = Array.from({ length: 11 }, (_, i) => `office${i + 1}`);
  for (const name of names) await fixture.server.register(name);
  for (const name of names) {
    const page = await session.newPage({ label: name });
    await page.locator('#auth-username').fill(name);
    await page.locator('#auth-password').fill('correct horse battery');
    await page.locator('#auth-password').press('Enter');
    await waitForChat(page);
    assert.equal(await page.locator('#me-name').textContent(), name, `${name} is signed in`);
    await page.context().close();
  }
  // A wrong password is still refused, inline.
  const page = await session.newPage({ label: 'typo' });
  await page.locator('#auth-username').fill('office1');
  await page.locator('#auth-password').fill('not the password');
  await page.locator('#auth-password').press('Enter');
  await waitFor('the wrong-password message', async () => (await page.locator('#auth-error').textContent()) === 'Wrong username or password.');
});
