// Messages that change, as Socket.IO clients see them (docs/protocol.md,
// Socket.IO events): a socket showing the channel gets natter's `message
// updated` when a message there is edited or deleted, a socket elsewhere does
// not; `user changed channel` histories show the edited text and leave deleted
// messages out, also after a restart; and the tutorial's own events carry on
// around them.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Natter, NativeClient, TutorialClient, pageLoad } from './harness.mjs';

const GENERAL = 1;

describe('edits and deletions reach Socket.IO clients', () => {
  let server;
  before(async () => { server = await Natter.start(); });
  after(async () => { await server.dispose(); });

  test('a tutorial socket viewing the channel gets `message updated`; one elsewhere does not', async () => {
    const native = await NativeClient.connect(server, await server.register('nadia'), 'nadia (native)');
    const viewer = new TutorialClient(server.url, { label: 'tom (viewing General)' });
    await pageLoad(viewer, 'tom');
    const elsewhere = new TutorialClient(server.url, { label: 'una (elsewhere)' });
    await pageLoad(elsewhere, 'una');
    elsewhere.emit('new channel', 'Elsewhere');
    await elsewhere.switched('Elsewhere');

    native.send({ type: 'send', channel: GENERAL, body: 'meet at 5', client_id: 'n-1', ref: 1 });
    native.send({ type: 'send', channel: GENERAL, body: 'a secret', client_id: 'n-2', ref: 2 });
    const first = await native.take('ack', (a) => a.ref === 1);
    const second = await native.take('ack', (a) => a.ref === 2);
    await viewer.message('meet at 5');
    await viewer.message('a secret');

    native.send({ type: 'edit', channel: GENERAL, seq: first.seq, body: 'meet at 6', ref: 3 });
    const edited = await native.take('changed', (c) => c.ref === 3);
    assert.equal(edited.changed, true);
    assert.deepEqual(
      await viewer.take('message updated', (u) => u.seq === first.seq, 'the edit'),
      { channel: 'General', id: first.id, seq: first.seq, message: 'meet at 6', edited: true, deleted: false },
    );
    native.send({ type: 'delete', channel: GENERAL, seq: second.seq, ref: 4 });
    await native.take('changed', (c) => c.ref === 4);
    assert.deepEqual(
      await viewer.take('message updated', (u) => u.seq === second.seq, 'the deletion'),
      { channel: 'General', id: second.id, seq: second.seq, message: '', edited: false, deleted: true },
    );
    // The same edit again and a second deletion change nothing, and say nothing.
    native.send({ type: 'edit', channel: GENERAL, seq: first.seq, body: 'meet at 6', ref: 5 });
    assert.equal((await native.take('changed', (c) => c.ref === 5)).changed, false);
    native.send({ type: 'delete', channel: GENERAL, seq: second.seq, ref: 6 });
    assert.equal((await native.take('changed', (c) => c.ref === 6)).changed, false);
    await viewer.assertNone('message updated', () => true, 'an update for a change that changed nothing');
    await elsewhere.assertNone('message updated', () => true, 'an update of a channel not on screen');

    // The tutorial's own events carry on: it still chats, and the native side hears it.
    viewer.emit('new message', { sender: 'tom', message: 'see you then', channel: 'General' });
    await viewer.message('see you then');
    await native.take('message', (m) => m.body === 'see you then');

    // A late switch to General gets the channel as it stands.
    elsewhere.emit('user changed channel', 'General');
    const history = await elsewhere.switched('General');
    assert.deepEqual(history.messages.map((m) => [m.sender, m.message, m.seq]), [['nadia', 'meet at 6', first.seq], ['tom', 'see you then', second.seq + 1]]);
    assert.equal(history.has_more, false);
    viewer.close();
    elsewhere.close();
    native.close();
  });

  test('a guest\'s message sent over Socket.IO is edited with its token over /ws; only its sender may', async () => {
    const guest = new TutorialClient(server.url, { label: 'vic (guest)' });
    guest.emit('get online users');
    guest.emit('user changed channel', 'General');
    await guest.connected();
    const named = await guest.request('new user', 'vic');
    assert.equal(named.ok, true, JSON.stringify(named));
    const sent = await guest.request('new message', { sender: 'vic', message: 'frist', channel: 'General' });
    assert.equal(sent.ok, true, JSON.stringify(sent));
    const watcher = new TutorialClient(server.url, { label: 'wes' });
    await pageLoad(watcher, 'wes');

    // Someone else may not edit it.
    const other = await NativeClient.connect(server, await server.register('otto'), 'otto (native)');
    other.send({ type: 'edit', channel: GENERAL, seq: sent.seq, body: 'hijacked', ref: 1 });
    const refused = await other.take('error', (e) => e.ref === 1);
    assert.equal(refused.code, 'forbidden');

    // The guest's own token, on /ws, may.
    const same = await NativeClient.connect(server, named.token, 'vic (native)');
    same.send({ type: 'edit', channel: GENERAL, seq: sent.seq, body: 'first', ref: 1 });
    const changed = await same.take('changed', (c) => c.ref === 1);
    assert.deepEqual([changed.message.body, changed.message.sender, changed.message.id], ['first', 'vic', sent.id]);
    for (const client of [guest, watcher]) {
      const update = await client.take('message updated', (u) => u.seq === sent.seq, 'the guest\'s edit');
      assert.deepEqual(update, { channel: 'General', id: sent.id, seq: sent.seq, message: 'first', edited: true, deleted: false });
    }
    // A native member sees it as an `update`.
    const update = await other.take('update', (u) => u.seq === sent.seq);
    assert.equal(update.body, 'first');
    assert.ok(update.edited_at > 0 && update.rev > 0, JSON.stringify(update));
    for (const client of [guest, watcher]) client.close();
    other.close();
    same.close();
  });

  test('histories leave deleted messages out and show edited text, also after a restart', async () => {
    const native = await NativeClient.connect(server, await server.register('petra'), 'petra (native)');
    const tutorial = new TutorialClient(server.url, { label: 'quinn' });
    await pageLoad(tutorial, 'quinn');
    tutorial.emit('new channel', 'Notes');
    await tutorial.switched('Notes');
    tutorial.emit('new message', { sender: 'quinn', message: 'note one', channel: 'Notes' });
    await tutorial.message('note one');
    native.send({ type: 'list_channels', prefix: 'Notes', ref: 1 });
    const notes = (await native.take('channels', (c) => c.ref === 1)).channels.find((c) => c.name === 'Notes');
    native.send({ type: 'join', channel: notes.id, ref: 2 });
    await native.take('channel', (c) => c.ref === 2);
    const acks = [];
    for (const [index, body] of ['note two', 'note three', 'note four'].entries()) {
      native.send({ type: 'send', channel: notes.id, body, client_id: `p-${index}`, ref: 10 + index });
      acks.push(await native.take('ack', (a) => a.ref === 10 + index));
      await tutorial.message(body);
    }
    native.send({ type: 'edit', channel: notes.id, seq: acks[0].seq, body: 'note two (revised)', ref: 20 });
    await native.take('changed', (c) => c.ref === 20);
    native.send({ type: 'delete', channel: notes.id, seq: acks[1].seq, ref: 21 });
    await native.take('changed', (c) => c.ref === 21);
    await tutorial.take('message updated', (u) => u.seq === acks[0].seq);
    await tutorial.take('message updated', (u) => u.seq === acks[1].seq && u.deleted);
    tutorial.close();
    native.close();

    const expected = [['quinn', 'note one'], ['petra', 'note two (revised)'], ['petra', 'note four']];
    for (const moment of ['before', 'after']) {
      if (moment === 'after') await server.restart();
      const reader = new TutorialClient(server.url, { label: `reader ${moment} a restart` });
      await pageLoad(reader, `reader_${moment}`);
      reader.emit('user changed channel', 'Notes');
      const history = await reader.switched('Notes');
      // The native join is a system line, which tutorial clients never see.
      assert.deepEqual(history.messages.map((m) => [m.sender, m.message]), expected, `the history ${moment} a restart`);
      assert.ok(history.messages.every((m) => m.message !== ''), 'no empty message stands for a deleted one');
      reader.close();
    }
  });
});
