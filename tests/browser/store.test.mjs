// The client store's promises, checked without a browser: one copy per
// (channel, seq) whatever mix of replay, history, ack and message delivers it;
// pending sends matched by client_id; a resume map only for loaded channels.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChatStore } from '../../web/store.js';

function welcome(store) {
  store.applyWelcome({
    type: 'welcome',
    user: { id: 1, name: 'alice', guest: false },
    channels: [
      { id: 1, name: 'General', kind: 'public', last_seq: 2, read_seq: 2, member: true },
      { id: 9, name: 'dm', kind: 'dm', last_seq: 0, read_seq: 0, member: true, members: ['alice', 'bob'] },
    ],
    online: ['alice', 'bob'],
  });
}

const message = (seq, extra = {}) => ({ type: 'message', channel: 1, id: 100 + seq, seq, sender: 'bob', body: `m${seq}`, ts: 1000 * seq, client_id: `b${seq}`, ...extra });

test('messages are kept once per seq and in seq order', () => {
  const store = new ChatStore();
  welcome(store);
  store.applyHistory({ type: 'history', channel: 1, messages: [message(1), message(2)], has_more: false }, 'latest');
  store.applyMessage(message(4));
  store.applyMessage(message(3));
  store.applyMessage(message(4)); // a replay after reconnect
  store.applyHistory({ type: 'history', channel: 1, messages: [message(2), message(3)], has_more: false }, 'gap');
  assert.deepEqual(store.channel(1).messages.map((m) => m.seq), [1, 2, 3, 4]);
  assert.deepEqual(store.resumeMap(), { 1: 4 });
});

test('a pending send is confirmed by ack or message, whichever comes first, once', () => {
  for (const order of [['ack', 'message'], ['message', 'ack']]) {
    const store = new ChatStore();
    welcome(store);
    store.applyHistory({ type: 'history', channel: 1, messages: [message(1), message(2)], has_more: false }, 'latest');
    store.addPending(1, 'hello', 'c-1');
    assert.equal(store.channel(1).pending.size, 1);
    for (const kind of order) {
      if (kind === 'ack') store.applyAck({ type: 'ack', client_id: 'c-1', channel: 1, id: 103, seq: 3 });
      else store.applyMessage(message(3, { sender: 'alice', body: 'hello', client_id: 'c-1', ts: 5000 }));
    }
    const channel = store.channel(1);
    assert.equal(channel.pending.size, 0, order.join(' then '));
    assert.deepEqual(channel.messages.map((m) => [m.seq, m.body]), [[1, 'm1'], [2, 'm2'], [3, 'hello']]);
    assert.equal(channel.messages[2].ts, 5000, 'the server timestamp wins');
  }
});

test('unread counts follow last_seq and read markers; a gap is reported', () => {
  const store = new ChatStore();
  welcome(store);
  const general = store.channel(1);
  store.applyMessage(message(3));
  store.applyMessage(message(4));
  assert.equal(store.unread(general), 2);
  store.applyRead(1, 3);
  store.applyRead(1, 2); // never backwards
  assert.equal(store.unread(general), 1);
  assert.deepEqual(store.resumeMap(), {}, 'General was never loaded, so it is not resumed');
  store.applyHistory({ type: 'history', channel: 1, messages: [message(3), message(4)], has_more: true }, 'latest');
  assert.deepEqual(store.applyMessage(message(7)).gapFrom, 5);
});

test('a DM is shown under the other participant', () => {
  const store = new ChatStore();
  welcome(store);
  assert.equal(store.displayName(store.channel(9)), 'bob');
});
