// Starts real natter binaries and drives them with real clients: the official
// socket.io-client (as the Make Chat tutorial's pages use it) and a native
// client on `ws` speaking docs/protocol.md. Every wait has a timeout that fails
// with what was expected and what arrived instead.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

import { io } from 'socket.io-client';
import WebSocket from 'ws';

/** How long any single expected event may take to arrive. */
export const TIMEOUT_MS = 10_000;
/** How long "nothing more arrives" is watched for. */
export const QUIET_MS = 400;

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const natterBin = process.env.NATTER_BIN ?? path.join(repoRoot, 'target', 'debug', 'natter');

/** Rejects after `ms` with `message` (a string, or a function giving one at
 * that time), unless `promise` settles first. */
export function withTimeout(promise, message, ms = TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    const describe = () => (typeof message === 'function' ? message() : message);
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${describe()}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A natter server on a fresh SQLite file and a free port.
 * Options: guests (default true), graceMs (presence grace), extra CLI args.
 */
export class Natter {
  static async start({ guests = true, graceMs = 1000, args = [] } = {}) {
    const server = new Natter(mkdtempSync(path.join(tmpdir(), 'natter-socketio-')), { guests, graceMs, args });
    await server.launch();
    return server;
  }

  constructor(dir, options) {
    this.dir = dir;
    this.options = options;
    this.stderr = '';
  }

  async launch() {
    const { guests, graceMs, args } = this.options;
    const argv = [
      'serve',
      '--listen', '127.0.0.1:0',
      '--database', `sqlite://${path.join(this.dir, 'natter.db')}`,
      '--presence-grace-ms', String(graceMs),
      // Tests post quickly; rate limits have their own tests in the Rust suite.
      '--messages-per-second', '10000',
      '--message-burst', '10000',
      ...(guests ? ['--allow-guests'] : []),
      ...args,
    ];
    this.child = spawn(natterBin, argv, {
      env: { ...process.env, NATTER_LOG: process.env.NATTER_LOG ?? 'natter=warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stderr.on('data', (chunk) => { this.stderr += chunk; });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    const lines = createInterface({ input: this.child.stdout });
    const listening = new Promise((resolve, reject) => {
      lines.on('line', (line) => {
        const match = /^natter listening on (http:\/\/\S+)$/.exec(line.trim());
        if (match) resolve(match[1]);
      });
      this.exited.then(({ code }) => reject(new Error(`natter exited (${code}) before listening:\n${this.stderr}`)));
    });
    this.url = await withTimeout(listening, `natter (${natterBin}) to print its listening line`);
  }

  /** Stops gracefully (SIGTERM) and waits for the exit. */
  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const { code } = await withTimeout(
      this.exited,
      () => `natter to exit after SIGTERM; its log ends:\n${this.stderr.slice(-4000)}`,
    );
    return code;
  }

  /** Stops and starts again on the same database (on a new port). */
  async restart() {
    const code = await this.stop();
    if (code !== 0) throw new Error(`natter exited with ${code}:\n${this.stderr}`);
    await this.launch();
  }

  /** Stops and removes the database. */
  async dispose() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Registers an account over HTTP and returns its session token. */
  async register(username, password = 'correct horse') {
    const response = await fetch(`${this.url}/api/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    if (response.status !== 201) throw new Error(`registering ${username}: ${response.status} ${await response.text()}`);
    return (await response.json()).token;
  }
}

/** Records events in arrival order; waits look at unread ones first. */
class Recorder {
  constructor(label) {
    this.label = label;
    this.unread = [];
    this.waiters = [];
  }

  push(event, payload) {
    this.unread.push({ event, payload });
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Takes the first unread `event` whose payload satisfies `matches`. */
  take(event, matches = () => true, what = event) {
    const find = () => {
      const index = this.unread.findIndex((item) => item.event === event && matches(item.payload));
      return index === -1 ? undefined : this.unread.splice(index, 1)[0];
    };
    const found = find();
    if (found) return Promise.resolve(found.payload);
    let waiter;
    const arrival = new Promise((resolve) => {
      waiter = () => {
        const item = find();
        if (item) resolve(item.payload);
      };
      this.waiters.push(waiter);
    });
    const describe = () => `${this.label} waiting for ${what}; unread: ${JSON.stringify(this.unread)}`;
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${TIMEOUT_MS} ms: ${describe()}`)), TIMEOUT_MS);
    });
    return Promise.race([arrival, timeout]).finally(() => {
      clearTimeout(timer);
      this.waiters = this.waiters.filter((w) => w !== waiter);
    });
  }

  /** Waits for a matching event like `take`, but leaves it unread. */
  async peek(event, matches = () => true, what = event) {
    const payload = await this.take(event, matches, what);
    this.unread.unshift({ event, payload });
    return payload;
  }

  /** Fails if a matching event is unread or arrives within the quiet period. */
  async assertNone(event, matches = () => true, what = event) {
    const check = () => {
      const found = this.unread.find((item) => item.event === event && matches(item.payload));
      if (found) throw new Error(`${this.label}: unexpected ${what}: ${JSON.stringify(found.payload)}`);
    };
    check();
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    check();
  }
}

/**
 * A Socket.IO client as the tutorial's page makes it (`io()`), with a record
 * of every event it receives.
 * Options: transports (['websocket'], ['polling'], or undefined for polling
 * with upgrade), auth, extraHeaders, localAddress (WebSocket only: the client
 * address the server sees), reconnection (default false).
 */
export class TutorialClient extends Recorder {
  constructor(url, { label = 'tutorial client', transports, auth, extraHeaders, localAddress, reconnection = false } = {}) {
    super(label);
    const options = { forceNew: true, reconnection, timeout: TIMEOUT_MS, auth, extraHeaders, localAddress };
    if (transports) {
      options.transports = transports;
      options.upgrade = false;
    }
    this.socket = io(url, options);
    this.socket.onAny((event, payload) => this.push(event, payload));
    this.socket.on('connect', () => this.push('connect', this.socket.id));
    this.socket.on('connect_error', (error) => this.push('connect_error', error.message));
    this.socket.on('disconnect', (reason) => this.push('disconnect', reason));
  }

  emit(event, ...args) {
    this.socket.emit(event, ...args);
  }

  /** Emits with an acknowledgement and returns it. */
  request(event, payload) {
    return withTimeout(
      new Promise((resolve) => this.socket.emit(event, payload, resolve)),
      `${this.label}: the ack of ${event}`,
    );
  }

  connected() {
    return this.take('connect', () => true, 'connect');
  }

  /** The next `error` event, for the request `event`. */
  error(event) {
    return this.take('error', (e) => e.event === event, `an error for ${event}`);
  }

  /** The first unread `new message` with this text. */
  message(text) {
    return this.take('new message', (m) => m.message === text, `new message ${JSON.stringify(text)}`);
  }

  /** The first unread `user changed channel` for this channel. */
  switched(channel) {
    return this.take('user changed channel', (h) => h.channel === channel, `user changed channel ${channel}`);
  }

  close() {
    this.socket.disconnect();
  }
}

/**
 * The tutorial page's load sequence: connect, `get online users`,
 * `user changed channel "General"`, then (the user typed a name) `new user`.
 * Returns the online list and General's history as the page receives them.
 */
export async function pageLoad(client, name) {
  client.emit('get online users');
  client.emit('user changed channel', 'General');
  await client.connected();
  client.emit('new user', name);
  const online = await client.take('get online users');
  const self = await client.take('new user', (n) => n === name, `new user ${name} (the echo)`);
  const general = await client.switched('General');
  return { online, self, general };
}

/** A native-protocol client (docs/protocol.md) on `ws`. */
export class NativeClient extends Recorder {
  static async connect(server, token, label = 'native client') {
    const client = new NativeClient(label);
    const url = `${server.url.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(token)}`;
    client.ws = new WebSocket(url);
    client.ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      client.push(frame.type, frame);
    });
    await withTimeout(
      new Promise((resolve, reject) => {
        client.ws.once('open', resolve);
        client.ws.once('error', reject);
      }),
      `${label}: the /ws connection to open`,
    );
    client.send({ type: 'hello' });
    client.welcome = await client.take('welcome');
    return client;
  }

  send(frame) {
    this.ws.send(JSON.stringify(frame));
  }

  close() {
    this.ws.close();
  }
}

/** An HTTP request that must answer; returns the response. */
export function request(url, init) {
  return withTimeout(fetch(url, init), `${init?.method ?? 'GET'} ${url}`);
}
