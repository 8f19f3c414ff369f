// Shared machinery of the browser tests: start the real natter binary on port 0
// with a fresh SQLite file (and restart it on the same file and port), register
// users over HTTP, open logged-in pages in Debian's Chromium through
// playwright-core, talk to the server as a plain WebSocket client, and wait for
// things with timeouts that fail with a message saying what was expected.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = resolve(ROOT, process.env.NATTER_BIN || 'target/debug/natter');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const FAILURES_DIR = join(ROOT, 'target', 'browser-failures');
export const SCREENSHOTS_DIR = join(ROOT, 'target', 'screenshots');

/** How long one expectation may take before the test fails (ms). */
export const WAIT_MS = Number(process.env.NATTER_TEST_WAIT_MS || 10000);
/** How long the server may take to print its listening line (ms). */
const START_MS = 20000;

// ---- waiting ------------------------------------------------------------------

/**
 * Polls `check` until it returns a truthy value and returns that value; after
 * `timeout` ms throws an error naming what was expected and what was last seen.
 */
export async function waitFor(description, check, { timeout = WAIT_MS, interval = 50 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  let lastError;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const seen = lastError ? `last error: ${lastError.message}` : `last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeout} ms waiting for ${description} (${seen})`);
    }
    await new Promise((done) => setTimeout(done, interval));
  }
}

/** Waits until the locator's elements have exactly these texts (textContent), in order. */
export async function expectTexts(locator, expected, description, options) {
  let seen;
  try {
    await waitFor(
      description,
      async () => {
        seen = await locator.allTextContents();
        return seen.length === expected.length && seen.every((text, i) => text === expected[i]);
      },
      options,
    );
  } catch (error) {
    const show = (list) => JSON.stringify(list.map((t) => (t.length > 80 ? `${t.slice(0, 77)}...(${t.length})` : t)));
    error.message += `\n  expected: ${show(expected)}\n  actual:   ${show(seen || [])}`;
    throw error;
  }
}

export async function expectCount(locator, count, description, options) {
  await waitFor(`${description} (count ${count})`, async () => (await locator.count()) === count, options);
}

export async function expectVisible(locator, description, options) {
  await waitFor(`${description} to be visible`, () => locator.isVisible(), options);
}

export async function expectHidden(locator, description, options) {
  await waitFor(`${description} to be hidden`, async () => !(await locator.isVisible()), options);
}

// ---- the server ---------------------------------------------------------------

export class NatterServer {
  /** `args`: extra `natter serve` flags, kept across restarts. */
  constructor(dir, args = []) {
    this.dir = dir;
    this.args = args;
    this.dbPath = join(dir, 'natter.db');
    this.process = null;
    this.port = 0;
    this.log = '';
    /** Everything the binary printed on standard output, across restarts (the setup link is there). */
    this.stdout = '';
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** Starts the binary; `port` 0 picks a free one, a number reuses it (restart). */
  async start(port = 0) {
    const child = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--database', `sqlite://${this.dbPath}`, ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NATTER_LOG: process.env.NATTER_LOG || 'warn' },
    });
    this.process = child;
    child.stderr.on('data', (chunk) => {
      this.log = (this.log + chunk).slice(-8000);
    });
    const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
    this.exited = exited;
    const listening = new Promise((done, fail) => {
      let buffer = '';
      child.stdout.on('data', (chunk) => {
        this.stdout += chunk;
        buffer += chunk;
        const match = buffer.match(/natter listening on http:\/\/[^\s:]+:(\d+)/);
        if (match) done(Number(match[1]));
      });
      child.once('error', fail);
    });
    let timer;
    const timeout = new Promise((_, fail) => {
      timer = setTimeout(() => fail(new Error(`no "natter listening on" line within ${START_MS} ms`)), START_MS);
    });
    try {
      this.port = await Promise.race([
        listening,
        exited.then(({ code, signal }) => {
          throw new Error(`natter exited early (code ${code}, signal ${signal})`);
        }),
        timeout,
      ]);
    } catch (error) {
      child.kill('SIGKILL');
      throw new Error(`could not start ${BIN}: ${error.message}\n--- server log ---\n${this.log}`);
    } finally {
      clearTimeout(timer);
    }
    return this;
  }

  /** Restarts on the same database file and the same port, retrying while the port is still held. */
  async restart() {
    const port = this.port;
    let lastError;
    for (let attempt = 0; attempt < 20; attempt += 1) {
      try {
        return await this.start(port);
      } catch (error) {
        lastError = error;
        await new Promise((done) => setTimeout(done, 250));
      }
    }
    throw lastError;
  }

  /** SIGKILL: the crash case; nothing gets a chance to flush or say goodbye. */
  async kill() {
    if (!this.process || this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM with a deadline, then SIGKILL. */
  async stop() {
    if (!this.process || this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.kill('SIGTERM');
    let timer;
    const gone = await Promise.race([
      this.exited.then(() => true),
      new Promise((done) => {
        timer = setTimeout(() => done(false), 5000);
      }),
    ]);
    clearTimeout(timer);
    if (!gone) await this.kill();
  }

  /**
   * Waits for the binary to print a line on standard output matching
   * `pattern` (since it started, this run or an earlier one) and returns the
   * last such match: `natter setup: ... #setup=TOKEN` comes after the
   * listening line, perhaps in a later chunk.
   */
  async waitForOutput(pattern, description) {
    const global = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`);
    try {
      return await waitFor(`${description} on the server's standard output`, () => [...this.stdout.matchAll(global)].at(-1));
    } catch (error) {
      error.message += `\n  standard output: ${JSON.stringify(this.stdout.slice(-500))}`;
      throw error;
    }
  }

  /** Registers a user over HTTP and returns {name, password, token, cookie, user}. */
  async register(name, password = 'correct horse battery') {
    const response = await fetch(`${this.url}/api/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: name, password }),
    });
    const body = await response.json().catch(() => null);
    if (response.status !== 201) throw new Error(`register ${name}: HTTP ${response.status} ${JSON.stringify(body)}`);
    const cookie = response.headers
      .getSetCookie()
      .map((line) => line.split(';')[0])
      .find((pair) => pair.startsWith('natter_session='));
    if (!cookie) throw new Error(`register ${name}: no natter_session cookie in the response`);
    return { name, password, token: body.token, cookie: cookie.slice('natter_session='.length), user: body.user };
  }

  /**
   * Runs the binary's command line on this server's database (`natter user
   * role NAME admin` and the like: the only way to make the first admin) and
   * resolves with its output; `input` is its standard input (a password).
   */
  async cli(args, input = '') {
    const child = spawn(BIN, [...args, '--database', `sqlite://${this.dbPath}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.stdin.end(input);
    let timer;
    const code = await Promise.race([
      new Promise((done, fail) => {
        child.once('exit', done);
        child.once('error', fail);
      }),
      new Promise((_, fail) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          fail(new Error(`natter ${args.join(' ')}: no exit within ${START_MS} ms`));
        }, START_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    if (code !== 0) throw new Error(`natter ${args.join(' ')}: exit ${code}\n${output}`);
    return output;
  }

  /** Makes an account an admin or a member (`role`: 'admin' | 'member'). */
  setRole(name, role) {
    return this.cli(['user', 'role', name, role]);
  }

  /** POST a JSON body to the API; returns {status, body}. */
  async post(path, body) {
    const response = await fetch(`${this.url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: await response.json().catch(() => null) };
  }
}

/** A fresh server with a fresh database in a temp folder, removed at the end; `args` are extra flags. */
export async function startServer({ args = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'natter-browser-'));
  const server = new NatterServer(dir, args);
  await server.start(0);
  return server;
}

export async function removeServer(server) {
  if (!server) return;
  await server.stop();
  rmSync(server.dir, { recursive: true, force: true });
}

// ---- a WebSocket client (Node has no global WebSocket in v20) -------------------

export class WsClient {
  constructor(socket) {
    this.socket = socket;
    this.frames = [];
    this.waiters = new Set();
    this.nextRef = 1;
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data));
      this.frames.push(frame);
      for (const waiter of this.waiters) waiter();
    });
  }

  /** Connects with a bearer token, says hello, and waits for welcome. */
  static async connect(server, account, resume = {}) {
    const socket = new WebSocket(`${server.wsUrl}?token=${encodeURIComponent(account.token)}`);
    await new Promise((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`WebSocket to ${server.wsUrl} did not open`)), WAIT_MS);
      socket.once('open', () => {
        clearTimeout(timer);
        done();
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        fail(error);
      });
    });
    const client = new WsClient(socket);
    client.send({ type: 'hello', resume });
    client.welcome = await client.next((frame) => frame.type === 'welcome', 'welcome');
    return client;
  }

  send(frame) {
    this.socket.send(JSON.stringify(frame));
  }

  /** Waits for the first frame (already received or coming) matching `match`, and consumes it. */
  next(match, description, timeout = WAIT_MS) {
    return new Promise((done, fail) => {
      const look = () => {
        const index = this.frames.findIndex(match);
        if (index === -1) return;
        const [frame] = this.frames.splice(index, 1);
        clearTimeout(timer);
        this.waiters.delete(look);
        done(frame);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(look);
        const types = this.frames.map((frame) => frame.type).join(',');
        fail(new Error(`timed out after ${timeout} ms waiting for ${description} (frames held: ${types || 'none'})`));
      }, timeout);
      this.waiters.add(look);
      look();
    });
  }

  /** Sends a request with a ref and resolves with its reply, rejecting on `error`. */
  async request(frame) {
    const ref = `t${this.nextRef++}`;
    this.send({ ...frame, ref });
    const reply = await this.next((f) => f.ref === ref, `reply to ${frame.type}`);
    if (reply.type === 'error') throw new Error(`${frame.type} failed: ${reply.code} ${reply.message}`);
    return reply;
  }

  /** Posts a message and waits for its ack. */
  async post(channel, body, clientId = `node-${Math.random().toString(36).slice(2)}`) {
    const ack = await this.request({ type: 'send', channel, body, client_id: clientId });
    if (ack.type !== 'ack') throw new Error(`send answered with ${ack.type}`);
    return ack;
  }

  channelNamed(name) {
    const channel = this.welcome.channels.find((c) => c.name === name);
    if (!channel) throw new Error(`no channel ${name} in welcome`);
    return channel;
  }

  close() {
    this.socket.close();
  }
}

// ---- the browser ----------------------------------------------------------------

/** Posts many messages over one socket without waiting for each ack, then waits for every ack. */
export async function postMany(client, channel, bodies) {
  const refs = bodies.map((body, i) => {
    const ref = `bulk${i}`;
    client.send({ type: 'send', channel, body, client_id: `bulk-${i}-${Math.random().toString(36).slice(2)}`, ref });
    return ref;
  });
  for (const ref of refs) {
    const reply = await client.next((frame) => frame.ref === ref, `the ack of ${ref}`);
    if (reply.type !== 'ack') throw new Error(`send answered with ${reply.type} ${reply.code}`);
  }
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * One test's browser pages: tracks every page it opens so a failing test can
 * save a screenshot of each, and records dialogs and page errors (neither should
 * ever happen).
 */
export class Session {
  constructor(browser, server) {
    this.browser = browser;
    this.server = server;
    this.contexts = [];
    this.pages = [];
    this.dialogs = [];
    this.pageErrors = [];
  }

  /** A fresh browser context (its own cookies) with one page at the app. */
  /**
   * `contextOptions` go to the browser context (e.g. a touch screen); `beforeLoad(page)`
   * runs before the app is loaded (to watch its WebSocket from the first frame);
   * `path` is where the page opens (`/#invite=TOKEN`).
   */
  async newPage({ account = null, viewport = { width: 1200, height: 800 }, label = account?.name || 'anonymous', contextOptions = {}, beforeLoad = null, path = '' } = {}) {
    const context = await this.browser.newContext({ viewport, ...contextOptions });
    context.setDefaultTimeout(WAIT_MS);
    this.contexts.push(context);
    if (account) {
      await context.addCookies([{ name: 'natter_session', value: account.cookie, url: this.server.url }]);
    }
    // Anything the server's Content-Security-Policy blocks is a bug in the UI.
    await context.addInitScript(() => {
      window.__cspViolations = [];
      document.addEventListener('securitypolicyviolation', (event) => {
        window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`);
      });
    });
    const page = await context.newPage();
    page.label = label;
    this.pages.push(page);
    page.on('dialog', (dialog) => {
      this.dialogs.push(`${label}: ${dialog.type()} ${dialog.message()}`);
      dialog.dismiss().catch(() => {});
    });
    page.on('pageerror', (error) => this.pageErrors.push(`${label}: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/WebSocket|Failed to load resource|ERR_CONNECTION_REFUSED/.test(message.text())) {
        this.pageErrors.push(`${label} console: ${message.text()}`);
      }
    });
    if (beforeLoad) await beforeLoad(page);
    await page.goto(`${this.server.url}${path}`);
    if (account) await waitForChat(page);
    return page;
  }

  /** Fails the test if any page raised an error, broke the CSP or opened a dialog. */
  async assertClean() {
    for (const page of this.pages) {
      if (page.isClosed()) continue;
      const violations = await page.evaluate(() => window.__cspViolations || []).catch(() => []);
      if (violations.length) throw new Error(`${page.label}: Content-Security-Policy violations: ${violations.join('; ')}`);
    }
    if (this.dialogs.length) throw new Error(`unexpected dialogs: ${this.dialogs.join('; ')}`);
    if (this.pageErrors.length) throw new Error(`page errors: ${this.pageErrors.join('; ')}`);
  }

  async screenshotAll(testName) {
    mkdirSync(FAILURES_DIR, { recursive: true });
    const safe = testName.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 80);
    for (const [index, page] of this.pages.entries()) {
      if (page.isClosed()) continue;
      const path = join(FAILURES_DIR, `${safe}-${index}-${page.label.replace(/[^A-Za-z0-9_-]+/g, '_')}.png`);
      await page.screenshot({ path, fullPage: true }).catch(() => {});
      console.error(`screenshot of the failing page: ${path}`);
    }
  }

  async close() {
    for (const context of this.contexts) await context.close().catch(() => {});
  }
}

/**
 * Declares a test that gets a Session; on failure every open page is saved as a
 * screenshot in target/browser-failures/ before the error is reported.
 * `getEnv` returns {browser, server} prepared by the file's before() hook.
 */
/**
 * The server and browser that every test of one file shares: started before
 * the file's tests, stopped after them. `fixture.server` and
 * `fixture.browser` are set once the tests run; `fixture.env` is what
 * `browserTest` takes.
 */
export function sharedFixture({ args } = {}) {
  const fixture = { browser: undefined, server: undefined, env: () => fixture };
  before(async () => {
    fixture.server = await startServer({ args });
    fixture.browser = await launchBrowser();
  });
  after(async () => {
    await fixture.browser?.close();
    await removeServer(fixture.server);
  });
  return fixture;
}

export function browserTest(name, getEnv, body) {
  test(name, async (t) => {
    const { browser, server } = getEnv();
    const session = new Session(browser, server);
    try {
      await body(session, t);
      await session.assertClean();
    } catch (error) {
      if (server?.log) console.error(`--- server log (tail) ---\n${server.log.slice(-3000)}`);
      await session.screenshotAll(name);
      throw error;
    } finally {
      await session.close();
    }
  });
}

// ---- page helpers ---------------------------------------------------------------

/** Waits until the page shows the chat and its socket is welcomed. */
export async function waitForChat(page) {
  await page.locator('body[data-connection="open"]').waitFor({ timeout: WAIT_MS });
  await page.locator('#app-screen').waitFor({ state: 'visible' });
}

/** Signs up through the form (the visible UI path) and waits for the chat. */
export async function signUpThroughForm(page, name, password = 'correct horse battery') {
  await page.locator('#auth-screen').waitFor({ state: 'visible' });
  if ((await page.locator('#auth-form').getAttribute('data-mode')) !== 'register') {
    await page.getByRole('button', { name: 'Create an account' }).click();
  }
  const form = page.locator('#auth-form');
  await form.getByLabel('Username').fill(name);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Create account' }).click();
  await waitForChat(page);
}

/** Signs in through the form; `submitWithEnter` presses Enter in the password field instead of clicking. */
export async function signInThroughForm(page, name, password = 'correct horse battery', { submitWithEnter = false } = {}) {
  await page.locator('#auth-screen').waitFor({ state: 'visible' });
  const form = page.locator('#auth-form');
  await form.getByLabel('Username').fill(name);
  await form.getByLabel('Password').fill(password);
  if (submitWithEnter) await form.getByLabel('Password').press('Enter');
  else await form.getByRole('button', { name: 'Sign in' }).click();
}

export function messageBodies(page) {
  return page.locator('#messages .msg-body');
}

/** The sidebar button of a channel or DM, by the exact name shown. */
export function sidebarChannel(page, name) {
  return page.locator('#sidebar button[data-channel]').filter({
    has: page.locator('.chan-name').getByText(name, { exact: true }),
  });
}

export async function openChannel(page, name) {
  await sidebarChannel(page, name).click();
  await waitFor(`#channel-title to read ${name}`, async () => (await page.locator('#channel-title .title-text').textContent()) === name);
}

/** The unread badge number of a sidebar channel, or 0 when it shows none. */
export async function unreadBadge(page, name) {
  const badge = sidebarChannel(page, name).locator('.badge-count');
  if ((await badge.count()) === 0) return 0;
  return Number(await badge.textContent());
}

/** Types into the composer and presses Enter, then waits for the message to be confirmed. */
export async function sendMessage(page, text) {
  const input = page.locator('#composer-input');
  await input.fill(text);
  await input.press('Enter');
  await waitFor(`"${text.slice(0, 40)}" to be sent and confirmed`, async () => {
    const pending = await page.locator('#messages .msg.sending, #messages .msg.failed').count();
    return pending === 0 && (await input.inputValue()) === '';
  });
}

/**
 * Saves what the page shows as target/screenshots/<name>.png, for people to look
 * at (the tests assert on the DOM, not on pixels). Returns the path.
 */
export async function saveScreenshot(page, name) {
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  const path = join(SCREENSHOTS_DIR, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/**
 * Records every frame the page receives on its WebSockets (parsed JSON) in the
 * returned array; call it from `beforeLoad` so nothing is missed.
 */
export function recordFrames(page) {
  const received = [];
  page.on('websocket', (socket) => {
    socket.on('framereceived', ({ payload }) => {
      try {
        received.push(JSON.parse(String(payload)));
      } catch {
        // Not JSON: not a natter frame.
      }
    });
  });
  return received;
}

/**
 * Keeps, in the page, every text the toast has shown (window.__toasts), so a
 * test can say "no toast ever appeared" rather than "none is showing now".
 */
export async function recordToasts(page) {
  await page.evaluate(() => {
    window.__toasts = [];
    const toast = document.getElementById('toast');
    new MutationObserver(() => {
      if (!toast.hidden && toast.textContent) window.__toasts.push(toast.textContent);
    }).observe(toast, { childList: true, characterData: true, subtree: true, attributes: true });
  });
}

/** Creates a channel through the dialog. */
export async function createChannel(page, name, { isPrivate = false } = {}) {
  await page.getByRole('button', { name: 'Create a channel' }).click();
  const dialog = page.locator('#create-dialog');
  await dialog.getByLabel('Name').fill(name);
  if (isPrivate) await dialog.getByRole('checkbox').check();
  await dialog.getByRole('button', { name: 'Create' }).click();
  await waitFor('the create dialog to close', async () => !(await dialog.isVisible()));
  await waitFor(`#channel-title to read ${name}`, async () => (await page.locator('#channel-title .title-text').textContent()) === name);
}
