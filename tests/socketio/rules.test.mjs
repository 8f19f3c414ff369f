// What natter does that the tutorial's server did not: identity, unique names,
// errors instead of crashes, no socket ids, the Origin check.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Natter, TutorialClient, pageLoad, request } from './harness.mjs';

describe('identity', () => {
  test('without --allow-guests a socket needs a session, and the session is its name', async () => {
    const server = await Natter.start({ guests: false });
    try {
      for (const transports of [['websocket'], ['polling']]) {
        const stranger = new TutorialClient(server.url, { label: `stranger over ${transports}`, transports });
        stranger.emit('new user', 'stranger');
        const refusal = await stranger.take('connect_error');
        assert.match(refusal, /^guests_disabled: guest access is disabled/);
        stranger.close();
      }
      const forged = new TutorialClient(server.url, { label: 'forged', auth: { token: 'not-a-token' } });
      assert.match(await forged.take('connect_error'), /^unauthorized:/);
      forged.close();

      const token = await server.register('dana');
      const dana = new TutorialClient(server.url, { label: 'dana', auth: { token } });
      dana.emit('get online users');
      dana.emit('user changed channel', 'General');
      await dana.connected();
      assert.deepEqual(await dana.take('get online users'), { dana: true }, 'signed in from the start');
      await dana.switched('General');
      // The tutorial page still sends its name; the session's is the same one.
      assert.deepEqual(await dana.request('new user', 'dana'), { ok: true, user: { id: 1, name: 'dana', guest: false } });
      dana.emit('new user', 'someone-else');
      assert.equal((await dana.error('new user')).code, 'already_named');
      dana.emit('new message', { sender: 'someone-else', message: 'signed in', channel: 'General' });
      assert.equal((await dana.message('signed in')).sender, 'dana');
      dana.close();
    } finally {
      await server.dispose();
    }
  });

  describe('names', () => {
    let server;
    before(async () => { server = await Natter.start(); });
    after(async () => { await server.dispose(); });

    test('a registered name or an online one is refused with a clear error', async () => {
      await server.register('carol');
      const alice = new TutorialClient(server.url, { label: 'alice' });
      await pageLoad(alice, 'alice');

      const impostor = new TutorialClient(server.url, { label: 'impostor' });
      impostor.emit('get online users');
      await impostor.connected();
      impostor.emit('new user', 'Carol');
      const taken = await impostor.error('new user');
      assert.equal(taken.code, 'name_taken');
      assert.match(taken.message, /taken/);
      impostor.emit('new user', 'ALICE');
      const inUse = await impostor.error('new user');
      assert.equal(inUse.code, 'name_in_use');
      assert.match(inUse.message, /online/);
      impostor.emit('new user', '<b>bold</b>');
      assert.equal((await impostor.error('new user')).code, 'invalid_username');
      // Refused, the socket has no name: it cannot send.
      impostor.emit('new message', { sender: 'alice', message: 'spoof', channel: 'General' });
      assert.equal((await impostor.error('new message')).code, 'unauthorized');
      await alice.assertNone('new message', () => true, 'a message from a nameless socket');
      // A free name works, and the online list waited for it.
      impostor.emit('new user', 'eve');
      assert.deepEqual(await impostor.take('get online users'), { alice: true });
      assert.equal(await impostor.take('new user', (n) => n === 'eve'), 'eve');
      alice.close();
      impostor.close();
    });

    test('the sender is the socket\'s user, whatever the payload says', async () => {
      const bob = new TutorialClient(server.url, { label: 'bob' });
      await pageLoad(bob, 'bob');
      const mallory = new TutorialClient(server.url, { label: 'mallory' });
      await pageLoad(mallory, 'mallory');
      mallory.emit('new message', { sender: 'bob', message: 'I am bob, honest', channel: 'General' });
      for (const client of [bob, mallory]) {
        assert.equal((await client.message('I am bob, honest')).sender, 'mallory');
      }
      bob.emit('user changed channel', 'General');
      const history = await bob.switched('General');
      assert.equal(history.messages.find((m) => m.message === 'I am bob, honest').sender, 'mallory');
      bob.close();
      mallory.close();
    });

    test('online lists map names to true, never to socket ids', async () => {
      // A server of its own, so no one else's departure is in the way.
      const server = await Natter.start();
      const frank = new TutorialClient(server.url, { label: 'frank' });
      const frankLoad = await pageLoad(frank, 'frank');
      const grace = new TutorialClient(server.url, { label: 'grace' });
      const graceLoad = await pageLoad(grace, 'grace');
      const socketIds = [frank.socket.id, grace.socket.id];
      grace.emit('get online users');
      const online = await grace.take('get online users');
      assert.ok('frank' in online && 'grace' in online, JSON.stringify(online));
      grace.close();
      const left = await frank.take('user has left');
      assert.ok('frank' in left && !('grace' in left), JSON.stringify(left));
      for (const map of [frankLoad.online, graceLoad.online, online, left]) {
        for (const [name, value] of Object.entries(map)) {
          assert.equal(value, true, `${name} maps to ${value}`);
          assert.ok(!socketIds.includes(name), `a socket id as a key: ${name}`);
        }
      }
      frank.close();
      await server.dispose();
    });
  });
});

describe('bad requests end at the client that made them', () => {
  let server;
  before(async () => { server = await Natter.start(); });
  after(async () => { await server.dispose(); });

  test('unknown channels, missing payloads and unknown events get errors; the others chat on', async () => {
    const alice = new TutorialClient(server.url, { label: 'alice' });
    await pageLoad(alice, 'alice');
    const bob = new TutorialClient(server.url, { label: 'bob', transports: ['polling'] });
    await pageLoad(bob, 'bob');

    bob.emit('new message', { sender: 'bob', message: 'hello?', channel: 'Nowhere' });
    const unknown = await bob.error('new message');
    assert.deepEqual(unknown, { code: 'not_found', message: 'no such channel', event: 'new message' });
    bob.emit('user changed channel', 'Nowhere');
    assert.equal((await bob.error('user changed channel')).code, 'not_found');
    bob.emit('new message');
    assert.equal((await bob.error('new message')).code, 'bad_request');
    bob.emit('new message', 'just a string');
    assert.equal((await bob.error('new message')).code, 'bad_request');
    bob.emit('new message', { message: '   ', channel: 'General' });
    assert.equal((await bob.error('new message')).code, 'invalid_body');
    bob.emit('new channel', { name: 'not a string' });
    assert.equal((await bob.error('new channel')).code, 'bad_request');
    bob.emit('new channel', '   ');
    assert.equal((await bob.error('new channel')).code, 'invalid_name');
    bob.emit('fly to the moon', 1);
    assert.equal((await bob.error('fly to the moon')).code, 'unknown_event');
    const ack = await bob.request('new message', { message: 'x', channel: 'Nowhere' });
    assert.deepEqual(ack, { ok: false, code: 'not_found', message: 'no such channel' });

    await alice.assertNone('error', () => true, 'errors meant for bob');
    await alice.assertNone('new message', () => true, 'a message from a failed send');
    bob.emit('new message', { sender: 'bob', message: 'still here', channel: 'General' });
    assert.equal((await alice.message('still here')).sender, 'bob');
    const sent = await bob.request('new message', { message: 'with an ack', channel: 'General' });
    assert.equal(sent.ok, true);
    assert.equal((await alice.message('with an ack')).seq, sent.seq);
    assert.equal((await request(`${server.url}/healthz`)).status, 200);
    alice.close();
    bob.close();
  });
});

describe('the Origin check covers /socket.io/', () => {
  let server;
  before(async () => { server = await Natter.start({ args: ['--allowed-origin', 'https://chat.example.com'] }); });
  after(async () => { await server.dispose(); });

  for (const transports of [['websocket'], ['polling']]) {
    test(`over ${transports[0]}`, async () => {
      const foreign = new TutorialClient(server.url, {
        label: 'foreign page', transports, extraHeaders: { Origin: 'http://evil.example' },
      });
      foreign.emit('new user', 'victim');
      await foreign.take('connect_error');
      foreign.close();

      for (const origin of [server.url, 'https://chat.example.com']) {
        const page = new TutorialClient(server.url, { label: `page from ${origin}`, transports, extraHeaders: { Origin: origin } });
        await page.connected();
        page.close();
      }
    });
  }

  test('the handshake itself is refused with 403', async () => {
    const handshake = `${server.url}/socket.io/?EIO=4&transport=polling`;
    const refused = await request(handshake, { headers: { origin: 'http://evil.example' } });
    assert.equal(refused.status, 403);
    assert.equal((await refused.json()).error.code, 'forbidden_origin');
    const allowed = await request(handshake, { headers: { origin: 'https://chat.example.com' } });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://chat.example.com');
    const sameOrigin = await request(handshake, { headers: { origin: server.url } });
    assert.equal(sameOrigin.status, 200);
  });
});
