// The client store's promises, checked without a browser: one copy per
// (channel, seq) whatever mix of replay, history, ack and message delivers it;
// pending sends matched by client_id; a resume map only for loaded channels,
// up to the last seq received from the server without a hole.

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

/** channel id -> the seq a reconnect resumes from (the resume map's `seq`). */
function resumeSeqs(store) {
  return Object.fromEntries(Object.entries(store.resumeMap()).map(([id, point]) => [id, point.seq]));
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
  assert.deepEqual(resumeSeqs(store), { 1: 4 });
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
  assert.deepEqual(resumeSeqs(store), {}, 'General was never loaded, so it is not resumed');
  store.applyHistory({ type: 'history', channel: 1, messages: [message(3), message(4)], has_more: true }, 'latest');
  assert.deepEqual(store.applyMessage(message(7)).gapFrom, 5);
});

test('a DM is shown under the other participant', () => {
  const store = new ChatStore();
  welcome(store);
  assert.equal(store.displayName(store.channel(9)), 'bob');
});

test('a group DM is shown under the others, by name, never me', () => {
  const store = new ChatStore();
  welcome(store);
  store.upsertChannel({ id: 11, name: 'dm', kind: 'dm', last_seq: 0, read_seq: 0, member: true, members: ['zoe', 'alice', 'bob'] });
  assert.equal(store.displayName(store.channel(11)), 'bob, zoe');
  assert.equal(store.isGroupDm(store.channel(11)), true);
  assert.equal(store.isGroupDm(store.channel(9)), false, 'a DM for two is no group');
  // A group DM has no presence dot, so its people are not watched for it.
  assert.deepEqual(store.presenceWanted(), ['bob']);
});

// The resume point is the last seq received from the server without a hole, so
// a reconnect's replay never skips a message (docs/protocol.md, Session start).

const page = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => message(from + i));

test('an ack that overtakes earlier messages does not move the resume point', () => {
  const store = new ChatStore();
  welcome(store);
  store.applyHistory({ type: 'history', channel: 1, messages: page(1, 9), has_more: false }, 'latest');
  assert.deepEqual(resumeSeqs(store), { 1: 9 });
  store.addPending(1, 'mine', 'c-11');
  // The server writes my ack for 11 before the `message` for bob's 10.
  store.applyAck({ type: 'ack', client_id: 'c-11', channel: 1, id: 111, seq: 11 });
  const general = store.channel(1);
  assert.deepEqual(general.messages.map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 11], 'the confirmed copy is shown');
  assert.deepEqual(resumeSeqs(store), { 1: 9 }, 'the link may drop now: 10 must still be replayed');
  store.applyMessage(message(10));
  assert.deepEqual(resumeSeqs(store), { 1: 10 }, '11 is still only my ack-built copy');
  store.applyMessage(message(11, { sender: 'alice', body: 'mine', client_id: 'c-11' }));
  assert.deepEqual(resumeSeqs(store), { 1: 11 });
  assert.deepEqual(general.messages.map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
});

test('the resume point after an ack-built copy follows the replay of a reconnect', () => {
  const store = new ChatStore();
  welcome(store);
  store.applyHistory({ type: 'history', channel: 1, messages: page(1, 9), has_more: false }, 'latest');
  store.addPending(1, 'mine', 'c-11');
  store.applyAck({ type: 'ack', client_id: 'c-11', channel: 1, id: 111, seq: 11 });
  // The link drops; the reconnect says hello with the resume map and gets a welcome, then the replay.
  assert.deepEqual(resumeSeqs(store), { 1: 9 });
  welcome(store);
  for (const seq of [10, 11]) store.applyMessage(seq === 11 ? message(11, { sender: 'alice', body: 'mine', client_id: 'c-11' }) : message(seq));
  assert.deepEqual(resumeSeqs(store), { 1: 11 });
  assert.deepEqual(store.channel(1).messages.map((m) => [m.seq, m.body]).slice(-3), [[9, 'm9'], [10, 'm10'], [11, 'mine']]);
});

test('a live message that skips seqs reports the gap and leaves the resume point before it', () => {
  const store = new ChatStore();
  welcome(store);
  store.applyHistory({ type: 'history', channel: 1, messages: page(1, 4), has_more: false }, 'latest');
  assert.equal(store.applyMessage(message(7)).gapFrom, 5);
  assert.deepEqual(resumeSeqs(store), { 1: 4 }, 'the gap is not skipped');
  assert.equal(store.applyMessage(message(8)).gapFrom, null, 'the same gap is not reported twice');
  assert.deepEqual(resumeSeqs(store), { 1: 4 });
  store.applyHistory({ type: 'history', channel: 1, messages: page(5, 6), has_more: true }, 'gap');
  assert.deepEqual(resumeSeqs(store), { 1: 8 }, 'the filled gap joins the stream up');
});

test('a gap behind an ack-built copy is still reported', () => {
  const store = new ChatStore();
  welcome(store);
  store.applyHistory({ type: 'history', channel: 1, messages: page(1, 9), has_more: false }, 'latest');
  store.addPending(1, 'mine', 'c-11');
  store.applyAck({ type: 'ack', client_id: 'c-11', channel: 1, id: 111, seq: 11 });
  // 10 and the message for 11 never came (say a lost frame); 12 did.
  assert.equal(store.applyMessage(message(12)).gapFrom, 10);
  assert.deepEqual(resumeSeqs(store), { 1: 9 });
  store.applyHistory({ type: 'history', channel: 1, messages: [message(10), message(11, { sender: 'alice', body: 'mine', client_id: 'c-11' })], has_more: true }, 'gap');
  assert.deepEqual(resumeSeqs(store), { 1: 12 });
});

test('the first page starts the stream; messages kept while it loads extend it up to a hole', () => {
  const store = new ChatStore();
  welcome(store);
  const general = store.channel(1);
  general.loading = true; // as app.js does before asking for the latest page
  store.applyMessage(message(101));
  store.applyMessage(message(103)); // 102 was never received
  assert.deepEqual(resumeSeqs(store), {}, 'not resumed until loaded');
  store.applyHistory({ type: 'history', channel: 1, messages: page(51, 100), has_more: true }, 'latest');
  assert.deepEqual(resumeSeqs(store), { 1: 101 }, 'everything from 51 up to 101 is held; 102 is not');
  // An older page lies below the oldest held and changes nothing about the resume point.
  store.applyHistory({ type: 'history', channel: 1, messages: page(1, 50), has_more: false }, 'older');
  assert.deepEqual(resumeSeqs(store), { 1: 101 });
  store.applyMessage(message(102));
  assert.deepEqual(resumeSeqs(store), { 1: 103 });
});

test('an empty first page of a new channel resumes from 0, then follows live messages', () => {
  const store = new ChatStore();
  welcome(store);
  store.applyHistory({ type: 'history', channel: 9, messages: [], has_more: false }, 'latest');
  assert.deepEqual(resumeSeqs(store), { 9: 0 });
  store.applyMessage(message(1, { channel: 9 }));
  store.applyMessage(message(2, { channel: 9 }));
  assert.deepEqual(resumeSeqs(store), { 9: 2 });
});

test('a channel that was loading when the link dropped starts over at the welcome', () => {
  const store = new ChatStore();
  welcome(store);
  const general = store.channel(1);
  general.loading = true;
  store.applyMessage(message(3));
  welcome(store); // reconnected; the page request was cut
  assert.equal(general.messages.length, 0);
  assert.equal(general.streamSeq, 0);
  assert.deepEqual(resumeSeqs(store), {});
});

test('watched presence: the online page and the watched people make who is shown online', () => {
  const store = new ChatStore();
  store.applyWelcome({ type: 'welcome', user: { id: 1, name: 'alice', guest: false }, channels: [
    { id: 9, name: 'dm', kind: 'dm', last_seq: 0, read_seq: 0, member: true, members: ['alice', 'bob'] },
    { id: 10, name: 'dm', kind: 'dm', last_seq: 0, read_seq: 0, member: true, members: ['alice', 'zoe'] },
  ], online: [] });
  assert.deepEqual(store.presenceWanted(), ['bob', 'zoe'], 'DM partners are watched, never me');
  store.applyOnlinePage({ type: 'online_page', users: ['alice', 'bob', 'carl'], total: 3 });
  store.applyWatching(['bob', 'zoe'], [{ name: 'bob', online: true }, { name: 'zoe', online: true }]);
  assert.deepEqual([...store.online].sort(), ['alice', 'bob', 'carl', 'zoe']);
  // Someone earlier in the list arrives: carl (not watched) and bob (watched)
  // drop off the page; only carl is no longer known to be online.
  store.applyOnlinePage({ type: 'online_page', users: ['aaron', 'alice'], total: 5 });
  assert.deepEqual([...store.online].sort(), ['aaron', 'alice', 'bob', 'zoe']);
  assert.deepEqual(store.onlinePage, { users: ['aaron', 'alice'], total: 5 });
  store.applyOnlinePage({ type: 'online_page', total: 6 }); // only the count changed
  assert.deepEqual(store.onlinePage, { users: ['aaron', 'alice'], total: 6 });
  // A watched person's own presence frame says when they leave.
  store.applyPresence('zoe', false);
  assert.equal(store.online.has('zoe'), false);
});

test('someone no longer watched and not on the page is no longer shown online', () => {
  const store = new ChatStore();
  store.applyWelcome({ type: 'welcome', user: { id: 1, name: 'alice', guest: false }, channels: [], online: [] });
  store.applyOnlinePage({ type: 'online_page', users: ['alice'], total: 3 });
  store.applyWatching(['bob', 'zoe'], [{ name: 'bob', online: true }, { name: 'zoe', online: true }]);
  store.applyWatching(['zoe'], [{ name: 'zoe', online: true }]);
  assert.deepEqual([...store.online].sort(), ['alice', 'zoe']);
});

test('the people the dialog shows are watched after the DM partners, me never', () => {
  const store = new ChatStore();
  store.applyWelcome({ type: 'welcome', user: { id: 1, name: 'alice', guest: false }, channels: [
    { id: 9, name: 'dm', kind: 'dm', last_seq: 0, read_seq: 0, member: true, members: ['alice', 'zoe'] },
  ], online: [] });
  const seen = [];
  store.addEventListener('change', (event) => seen.push(event.detail.what));
  store.setShownPeople(['bob', 'alice', 'zoe', 'carl']);
  assert.deepEqual(store.presenceWanted(), ['zoe', 'bob', 'carl']);
  store.setShownPeople(['bob', 'alice', 'zoe', 'carl']);
  assert.deepEqual(seen, ['watch'], 'the same list again is no change');
  store.setShownPeople([]);
  assert.deepEqual(store.presenceWanted(), ['zoe']);
});
