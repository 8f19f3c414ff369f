// The Make Chat tutorial's clients against natter: its page-load sequence, a
// full chat over each transport, the late joiner, channels, history, reconnects.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Natter, TutorialClient, pageLoad, request } from './harness.mjs';

const TRANSPORTS = [
  { name: 'websocket', transports: ['websocket'], expect: 'websocket' },
  { name: 'long-polling', transports: ['polling'], expect: 'polling' },
  { name: 'polling upgraded to websocket', transports: undefined, expect: 'websocket' },
];

for (const mode of TRANSPORTS) {
  describe(`two tutorial clients chat over ${mode.name}`, () => {
    let server;
    before(async () => { server = await Natter.start(); });
    after(async () => { await server.dispose(); });

    test('page load, chat, and leaving', async () => {
      const alice = new TutorialClient(server.url, { label: 'alice', transports: mode.transports });
      const first = await pageLoad(alice, 'alice');
      assert.deepEqual(first.online, {}, 'nobody else is online yet');
      assert.equal(first.self, 'alice');
      assert.deepEqual(first.general, { channel: 'General', messages: [], has_more: false });

      const bob = new TutorialClient(server.url, { label: 'bob', transports: mode.transports });
      const second = await pageLoad(bob, 'bob');
      assert.deepEqual(second.online, { alice: true });
      assert.equal(await alice.take('new user', (n) => n === 'bob', 'bob coming online'), 'bob');

      alice.emit('new message', { sender: 'alice', message: 'hello bob', channel: 'General' });
      for (const client of [alice, bob]) {
        const message = await client.message('hello bob');
        assert.equal(message.sender, 'alice');
        assert.equal(message.channel, 'General');
        assert.equal(message.seq, 1);
      }
      bob.emit('new message', { sender: 'bob', message: 'hi alice', channel: 'General' });
      // Both clients see one order; the test makes it this one.
      await alice.peek('new message', (m) => m.message === 'hi alice');
      alice.emit('new message', { sender: 'alice', message: 'how are you?', channel: 'General' });
      for (const client of [alice, bob]) {
        const seen = [await client.message('hi alice'), await client.message('how are you?')];
        assert.deepEqual(seen.map((m) => [m.seq, m.sender]), [[2, 'bob'], [3, 'alice']]);
        assert.ok(seen.every((m) => m.ts > 1_700_000_000_000 && m.id > 0), JSON.stringify(seen));
      }

      if (!mode.transports) {
        // The default client starts with polling and upgrades.
        await upgraded(alice);
        await upgraded(bob);
      }
      assert.equal(alice.socket.io.engine.transport.name, mode.expect);
      assert.equal(bob.socket.io.engine.transport.name, mode.expect);

      bob.close();
      const left = await alice.take('user has left');
      assert.deepEqual(left, { alice: true });
      alice.close();
    });
  });
}

async function upgraded(client) {
  const engine = client.socket.io.engine;
  if (engine.transport.name === 'websocket') return;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${client.label} never upgraded to websocket`)), 10_000);
    engine.once('upgrade', () => { clearTimeout(timer); resolve(); });
  });
}

describe('channels', () => {
  let server;
  before(async () => { server = await Natter.start(); });
  after(async () => { await server.dispose(); });

  test('a late joiner sees channels and messages created before it arrived, also after a restart', async () => {
    const alice = new TutorialClient(server.url, { label: 'alice' });
    await pageLoad(alice, 'alice');
    for (const [channel, text] of [['Yogurt', 'Frozen yogurt is the best'], ['Exercise', 'Ran 5k today']]) {
      alice.emit('new channel', channel);
      assert.equal(await alice.take('new channel'), channel, 'the creator hears of the channel');
      const history = await alice.switched(channel);
      assert.deepEqual(history.messages, [], `${channel} starts empty`);
      alice.emit('new message', { sender: 'alice', message: text, channel });
      assert.equal((await alice.message(text)).channel, channel);
    }
    alice.close();

    const bob = new TutorialClient(server.url, { label: 'bob' });
    await pageLoad(bob, 'bob');
    for (const listing of ['get all channels', 'get existing channels', 'load channels']) {
      bob.emit(listing);
      assert.deepEqual(await bob.take(listing), ['General', 'Yogurt', 'Exercise'], listing);
    }
    bob.emit('user changed channel', 'Yogurt');
    const yogurt = await bob.switched('Yogurt');
    assert.deepEqual(yogurt.messages.map((m) => [m.sender, m.message]), [['alice', 'Frozen yogurt is the best']]);
    bob.emit('user changed channel', 'Exercise');
    const exercise = await bob.switched('Exercise');
    assert.deepEqual(exercise.messages.map((m) => [m.sender, m.message]), [['alice', 'Ran 5k today']]);
    bob.close();

    // Everything persists.
    await server.restart();
    const carol = new TutorialClient(server.url, { label: 'carol' });
    await pageLoad(carol, 'carol');
    carol.emit('load channels');
    assert.deepEqual(await carol.take('load channels'), ['General', 'Yogurt', 'Exercise']);
    carol.emit('user changed channel', 'exercise');
    const again = await carol.switched('Exercise');
    assert.deepEqual(again.messages.map((m) => m.message), ['Ran 5k today'], 'names match without case');
    carol.close();
  });

  test('creating an existing channel changes nothing and keeps its history', async () => {
    const alice = new TutorialClient(server.url, { label: 'alice' });
    await pageLoad(alice, 'alice2');
    const bob = new TutorialClient(server.url, { label: 'bob' });
    await pageLoad(bob, 'bob2');
    alice.emit('new channel', 'Cooking');
    assert.equal(await alice.take('new channel'), 'Cooking');
    assert.equal(await bob.take('new channel'), 'Cooking', 'everyone hears of a new channel');
    await alice.switched('Cooking');
    alice.emit('new message', { sender: 'alice2', message: 'Pasta tonight', channel: 'Cooking' });
    await alice.message('Pasta tonight');

    bob.emit('new channel', 'cooking');
    const history = await bob.switched('Cooking');
    assert.deepEqual(history.messages.map((m) => [m.sender, m.message]), [['alice2', 'Pasta tonight']]);
    alice.emit('new channel', 'Cooking');
    const own = await alice.switched('Cooking');
    assert.equal(own.messages.length, 1, 'the history survives being "created" again');
    await alice.assertNone('new channel', () => true, 'a second announcement of Cooking');
    await bob.assertNone('new channel', () => true, 'a second announcement of Cooking');
    alice.close();
    bob.close();
  });

  test('switching channel stops the old channel\'s messages on that socket', async () => {
    const alice = new TutorialClient(server.url, { label: 'alice' });
    await pageLoad(alice, 'alice3');
    const bob = new TutorialClient(server.url, { label: 'bob' });
    await pageLoad(bob, 'bob3');
    alice.emit('new channel', 'Quiet');
    await alice.switched('Quiet');
    bob.emit('new message', { sender: 'bob3', message: 'anyone in General?', channel: 'General' });
    await bob.message('anyone in General?');
    await alice.assertNone('new message', () => true, 'a General message while in Quiet');
    // Back in General, the message is in the history.
    alice.emit('user changed channel', 'General');
    const general = await alice.switched('General');
    assert.equal(general.messages.at(-1).message, 'anyone in General?');
    bob.emit('new message', { sender: 'bob3', message: 'welcome back', channel: 'General' });
    assert.equal((await alice.message('welcome back')).sender, 'bob3');
    alice.close();
    bob.close();
  });

  test('the history sent on a switch is the latest page, oldest first', async () => {
    const alice = new TutorialClient(server.url, { label: 'alice' });
    await pageLoad(alice, 'alice4');
    alice.emit('new channel', 'Busy');
    await alice.switched('Busy');
    for (let n = 1; n <= 60; n += 1) {
      alice.emit('new message', { sender: 'alice4', message: `message ${n}`, channel: 'Busy' });
      // In batches, as a person types: a socket may queue 64 requests.
      if (n % 20 === 0) await alice.message(`message ${n}`);
    }
    const bob = new TutorialClient(server.url, { label: 'bob' });
    await pageLoad(bob, 'bob4');
    bob.emit('user changed channel', 'Busy');
    const history = await bob.switched('Busy');
    assert.equal(history.messages.length, 50);
    assert.deepEqual(history.messages.map((m) => m.seq), Array.from({ length: 50 }, (_, i) => i + 11));
    assert.equal(history.messages[0].message, 'message 11');
    assert.equal(history.has_more, true);
    alice.close();
    bob.close();
  });
});

describe('reconnecting', () => {
  let server;
  // Long enough for the client's reconnection delay (at most 1.5 s by default).
  before(async () => { server = await Natter.start({ graceMs: 5000 }); });
  after(async () => { await server.dispose(); });

  test('a tutorial client that reconnects gets its name and its channel back', async () => {
    const watcher = new TutorialClient(server.url, { label: 'watcher' });
    await pageLoad(watcher, 'watcher');
    // A browser keeps the natter_sio cookie the first handshake set; this
    // Node client sends one of its own, as a browser would.
    const alice = new TutorialClient(server.url, {
      label: 'alice', reconnection: true, extraHeaders: { cookie: `natter_sio=${'a'.repeat(64)}` },
    });
    await pageLoad(alice, 'alice');
    await watcher.take('new user', (n) => n === 'alice');
    alice.emit('new message', { sender: 'alice', message: 'before the drop', channel: 'General' });
    await watcher.message('before the drop');

    // The network drops; socket.io-client reconnects by itself, and the
    // page sends its name and channel again.
    alice.socket.io.engine.close();
    await alice.take('disconnect');
    await alice.connected();
    alice.emit('new user', 'alice');
    alice.emit('user changed channel', 'General');
    assert.equal(await alice.take('new user', (n) => n === 'alice', 'the name back'), 'alice');
    const history = await alice.switched('General');
    assert.deepEqual(history.messages.map((m) => m.message), ['before the drop']);
    await alice.assertNone('error', () => true, 'an error on reconnect');
    // Nobody saw alice leave or arrive again.
    await watcher.assertNone('user has left', () => true, 'alice leaving');
    await watcher.assertNone('new user', (n) => n === 'alice', 'alice arriving twice');

    alice.emit('new message', { sender: 'alice', message: 'after the drop', channel: 'General' });
    assert.equal((await watcher.message('after the drop')).sender, 'alice');
    watcher.emit('get online users');
    assert.deepEqual(await watcher.take('get online users'), { alice: true, watcher: true });
    alice.close();
    watcher.close();
  });

  test('only the same browser gets a lingering name back, never just the same address', async () => {
    const lenaBrowser = { cookie: `natter_sio=${'b'.repeat(64)}` };
    const watcher = new TutorialClient(server.url, { label: 'watcher' });
    await pageLoad(watcher, 'watcher2');
    const first = new TutorialClient(server.url, { label: 'lena', transports: ['websocket'], extraHeaders: lenaBrowser });
    await pageLoad(first, 'lena');
    first.close();
    // Someone else within the grace period, from the same address (as
    // behind a proxy or in an office), with another browser or none.
    for (const extraHeaders of [{ cookie: `natter_sio=${'c'.repeat(64)}` }, undefined]) {
      const stranger = new TutorialClient(server.url, { label: 'stranger', transports: ['websocket'], extraHeaders });
      stranger.emit('new user', 'lena');
      assert.equal((await stranger.error('new user')).code, 'name_in_use');
      stranger.close();
    }
    const back = new TutorialClient(server.url, { label: 'lena again', transports: ['websocket'], extraHeaders: lenaBrowser });
    await pageLoad(back, 'lena');
    await watcher.assertNone('user has left', () => true, 'lena leaving');
    back.close();
    watcher.close();
  });

  test('a guest that asked for an ack can come back with its token', async () => {
    const guest = new TutorialClient(server.url, { label: 'guest' });
    guest.emit('get online users');
    await guest.connected();
    const ack = await guest.request('new user', 'tokenholder');
    assert.equal(ack.ok, true);
    assert.equal(ack.user.name, 'tokenholder');
    assert.equal(ack.user.guest, true);
    assert.equal(typeof ack.token, 'string');
    guest.close();
    const again = new TutorialClient(server.url, { label: 'guest again', auth: { token: ack.token } });
    await again.connected();
    again.emit('get online users');
    assert.ok('tokenholder' in (await again.take('get online users')), 'signed in from the start');
    again.emit('user changed channel', 'General');
    await again.switched('General');
    again.emit('new message', { message: 'I am back', channel: 'General' });
    assert.equal((await again.message('I am back')).sender, 'tokenholder');
    again.close();
  });
});

test('the official client bundle is served where tutorial pages load it', async () => {
  const server = await Natter.start();
  try {
    for (const path of ['/socket.io/socket.io.js', '/socket.io/socket.io.min.js']) {
      const response = await request(`${server.url}${path}`);
      assert.equal(response.status, 200, path);
      assert.match(response.headers.get('content-type'), /^text\/javascript/);
      const body = await response.text();
      assert.match(body.slice(0, 100), /Socket\.IO v4\.\d+\.\d+/);
      const etag = response.headers.get('etag');
      const cached = await request(`${server.url}${path}`, { headers: { 'if-none-match': etag } });
      assert.equal(cached.status, 304);
    }
  } finally {
    await server.dispose();
  }
});
