// A tutorial client and a native client share channels, history and presence.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Natter, NativeClient, TutorialClient, pageLoad } from './harness.mjs';

const GENERAL = 1;

test('tutorial and native clients see each other\'s messages and presence', async () => {
  const server = await Natter.start();
  try {
    const native = await NativeClient.connect(server, await server.register('nadia'), 'nadia (native)');
    assert.deepEqual(native.welcome.online, ['nadia']);

    const tutorial = new TutorialClient(server.url, { label: 'tom (tutorial)' });
    const load = await pageLoad(tutorial, 'tom');
    assert.deepEqual(load.online, { nadia: true }, 'the native user is in the tutorial client\'s list');
    const online = await native.take('presence', (p) => p.user === 'tom');
    assert.deepEqual(online, { type: 'presence', user: 'tom', online: true });

    // Tutorial to native: stored with a seq, delivered in the native format.
    tutorial.emit('new message', { sender: 'tom', message: 'hi from Socket.IO', channel: 'General' });
    const received = await native.take('message', (m) => m.body === 'hi from Socket.IO');
    assert.equal(received.channel, GENERAL);
    assert.equal(received.sender, 'tom');
    assert.equal(received.seq, 1);
    assert.equal((await tutorial.message('hi from Socket.IO')).id, received.id);

    // Native to tutorial.
    native.send({ type: 'send', channel: GENERAL, body: 'hi from /ws', client_id: 'n-1', ref: 1 });
    const ack = await native.take('ack', (a) => a.ref === 1);
    const shown = await tutorial.message('hi from /ws');
    assert.deepEqual(
      [shown.sender, shown.channel, shown.seq, shown.id],
      ['nadia', 'General', 2, ack.id],
    );

    // A channel created over Socket.IO is a natter channel: the native client
    // can find it, join it and read what was said there.
    tutorial.emit('new channel', 'Yogurt');
    await tutorial.switched('Yogurt');
    tutorial.emit('new message', { sender: 'tom', message: 'yogurt talk', channel: 'Yogurt' });
    await tutorial.message('yogurt talk');
    native.send({ type: 'list_channels', ref: 2 });
    const listing = await native.take('channels', (c) => c.ref === 2);
    const yogurt = listing.channels.find((c) => c.name === 'Yogurt');
    assert.ok(yogurt, JSON.stringify(listing));
    native.send({ type: 'join', channel: yogurt.id, ref: 3 });
    await native.take('channel', (c) => c.ref === 3);
    native.send({ type: 'history', channel: yogurt.id, ref: 4 });
    const history = await native.take('history', (h) => h.ref === 4);
    // Natter's join is a system line in the stream; tutorial pages never see those.
    assert.deepEqual(history.messages.map((m) => [m.sender, m.body]), [['tom', 'yogurt talk'], ['nadia', 'nadia joined']]);
    assert.deepEqual(history.messages[1].system, { kind: 'joined', user: 'nadia' });
    native.send({ type: 'send', channel: yogurt.id, body: 'me too', client_id: 'n-2' });
    assert.equal((await tutorial.message('me too')).channel, 'Yogurt');

    // Presence both ways on leaving.
    native.close();
    assert.deepEqual(await tutorial.take('user has left'), { tom: true });
    const watcher = await NativeClient.connect(server, await server.register('walter'), 'walter (native)');
    assert.deepEqual(watcher.welcome.online, ['tom', 'walter']);
    tutorial.close();
    const offline = await watcher.take('presence', (p) => p.user === 'tom');
    assert.equal(offline.online, false);
    watcher.close();
  } finally {
    await server.dispose();
  }
});
