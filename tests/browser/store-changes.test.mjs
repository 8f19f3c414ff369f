// Messages that change (docs/protocol.md, "Messages that change"), checked on
// the client store without a browser: per (channel, seq) the copy with the
// highest rev wins, so `message`, `update`, `changed` and history frames in any
// order end in the state of the in-order stream; `reset` drops a channel; the
// resume point says seq, rev and held_from; my own edits and deletions wait
// like pending sends.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChatStore } from '../../web/store.js';

const GENERAL = 1;

function welcomed() {
  const store = new ChatStore();
  store.applyWelcome({
    type: 'welcome',
    user: { id: 1, name: 'alice', guest: false },
    channels: [{ id: GENERAL, name: 'General', kind: 'public', last_seq: 0, last_rev: 0, read_seq: 0, member: true }],
    online: ['alice'],
  });
  return store;
}

/** What a channel shows, independent of object identity and field order. */
function shown(store, channel = GENERAL) {
  return store.channel(channel).messages.map((m) => ({ seq: m.seq, rev: m.rev, body: m.body, edited_at: m.edited_at ?? null, deleted: m.deleted ?? null }));
}

/**
 * A channel's history as the server writes it: a list of changes, each taking
 * the next rev. Returns the stream frames (in rev order), the state after
 * every rev, and helpers for history pages and `changed` replies.
 */
function scenario() {
  const changes = [
    ['send', 1, 'alice'],
    ['send', 2, 'alice'],
    ['send', 3, 'bob'],
    ['send', 4, 'alice'],
    ['edit', 2, 'two, edited'],
    ['send', 5, 'bob'],
    ['delete', 3, 'sender'],
    ['edit', 2, 'two, edited again <b>'],
    ['send', 6, 'alice'],
    ['edit', 6, 'six!'],
    ['delete', 4, 'admin'],
    ['send', 7, 'bob'],
    ['edit', 5, 'five, by bob'],
    ['delete', 2, 'sender'],
  ];
  const current = new Map();
  const states = [new Map()];
  const stream = [];
  changes.forEach(([kind, seq, arg], index) => {
    const rev = index + 1;
    const ts = 1_000_000 + rev * 1000;
    let copy;
    if (kind === 'send') {
      copy = { channel: GENERAL, id: 100 + seq, seq, sender: arg, body: `m${seq}`, ts, client_id: `c${seq}`, rev };
      stream.push({ type: 'message', ...copy });
    } else if (kind === 'edit') {
      copy = { ...current.get(seq), body: arg, rev, edited_at: ts };
      stream.push({ type: 'update', ...copy });
    } else {
      copy = { ...current.get(seq), body: '', rev, deleted: arg };
      stream.push({ type: 'update', ...copy });
    }
    current.set(seq, copy);
    states.push(new Map(current));
  });
  /** A history page as the server would have answered at `rev`: seqs from..to, oldest first. */
  const page = (rev, from, to, hasMore = false) => ({
    type: 'history',
    channel: GENERAL,
    messages: [...states[rev].values()].filter((m) => m.seq >= from && m.seq <= to).sort((a, b) => a.seq - b.seq).map((m) => ({ ...m })),
    has_more: hasMore,
  });
  /** The `changed` reply to the change that took `rev`. */
  const changed = (rev) => ({ type: 'changed', message: { ...stream[rev - 1], type: undefined }, changed: true, ref: rev });
  return { stream, states, page, changed, lastRev: changes.length };
}

/** A small seeded generator, so a failing order can be reproduced. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function shuffled(list, next) {
  const copy = [...list];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(next() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

function apply(store, item) {
  if (item.kind === 'frame') {
    const frame = item.frame;
    if (frame.type === 'message') store.applyMessage(frame);
    else if (frame.type === 'update') store.applyUpdate(frame);
    else if (frame.type === 'changed') store.applyChanged(frame);
  } else {
    store.applyHistory(item.frame, item.page);
  }
}

test('frames in any order converge to the state of the in-order stream (a loaded channel)', () => {
  const { stream, page, changed, lastRev } = scenario();
  const inOrder = welcomed();
  inOrder.applyHistory({ type: 'history', channel: GENERAL, messages: [], has_more: false }, 'latest');
  for (const frame of stream) apply(inOrder, { kind: 'frame', frame });
  const expected = shown(inOrder);
  assert.deepEqual(
    expected.map((m) => [m.seq, m.body, m.deleted]),
    [[1, 'm1', null], [2, '', 'sender'], [3, '', 'sender'], [4, '', 'admin'], [5, 'five, by bob', null], [6, 'six!', null], [7, 'm7', null]],
  );
  assert.deepEqual(inOrder.resumeMap(), { [GENERAL]: { seq: 7, rev: lastRev, held_from: 1 } });

  // Everything a client may get about these messages: the stream, `changed`
  // replies to the edits and deletions, and history pages read at various times.
  const items = [
    ...stream.map((frame) => ({ kind: 'frame', frame })),
    ...[5, 7, 8, 10, 11, 13, 14].map((rev) => ({ kind: 'frame', frame: changed(rev) })),
    { kind: 'history', frame: page(4, 1, 4), page: 'gap' },
    { kind: 'history', frame: page(8, 1, 5), page: 'gap' },
    { kind: 'history', frame: page(11, 3, 6), page: 'gap' },
    { kind: 'history', frame: page(lastRev, 1, 7), page: 'gap' },
    { kind: 'history', frame: page(9, 2, 3), page: 'gap' },
  ];
  for (let seed = 1; seed <= 300; seed += 1) {
    const store = welcomed();
    store.applyHistory({ type: 'history', channel: GENERAL, messages: [], has_more: false }, 'latest');
    for (const item of shuffled(items, random(seed))) apply(store, item);
    assert.deepEqual(shown(store), expected, `order seed ${seed}`);
    assert.deepEqual(store.resumeMap(), { [GENERAL]: { seq: 7, rev: lastRev, held_from: 1 } }, `resume point, order seed ${seed}`);
  }
});

test('frames in any order converge while the first page is still loading', () => {
  const { stream, page, changed, lastRev } = scenario();
  const inOrder = welcomed();
  inOrder.applyHistory(page(0, 1, 0), 'latest');
  for (const frame of stream) apply(inOrder, { kind: 'frame', frame });
  const expected = shown(inOrder);

  for (const firstPageAt of [0, 3, 6, 9, lastRev]) {
    const items = [
      ...stream.map((frame) => ({ kind: 'frame', frame })),
      ...[5, 8, 14].map((rev) => ({ kind: 'frame', frame: changed(rev) })),
      { kind: 'history', frame: page(firstPageAt, 1, 99), page: 'latest' },
    ];
    for (let seed = 1; seed <= 100; seed += 1) {
      const store = welcomed();
      store.channel(GENERAL).loading = true; // as app.js does before asking for the latest page
      for (const item of shuffled(items, random(seed * 7919 + firstPageAt))) apply(store, item);
      assert.deepEqual(shown(store), expected, `first page read at rev ${firstPageAt}, order seed ${seed}`);
      assert.deepEqual(store.resumeMap(), { [GENERAL]: { seq: 7, rev: lastRev, held_from: 1 } });
    }
  }
});

test('an older copy never replaces a newer one, and my ack-built copy gives way to the server', () => {
  const store = welcomed();
  store.applyHistory({ type: 'history', channel: GENERAL, messages: [], has_more: false }, 'latest');
  store.addPending(GENERAL, 'draft', 'c-1');
  store.applyAck({ type: 'ack', client_id: 'c-1', channel: GENERAL, id: 101, seq: 1 });
  assert.equal(store.channel(GENERAL).messages[0].body, 'draft', 'the ack-built copy');
  const edited = { channel: GENERAL, id: 101, seq: 1, sender: 'alice', body: 'draft, edited', ts: 5, client_id: 'c-1', rev: 2, edited_at: 9 };
  store.applyUpdate({ type: 'update', ...edited });
  assert.deepEqual(shown(store), [{ seq: 1, rev: 2, body: 'draft, edited', edited_at: 9, deleted: null }], 'the server copy replaced it');
  store.applyMessage({ type: 'message', ...edited, body: 'draft', rev: 1, edited_at: undefined });
  store.applyHistory({ type: 'history', channel: GENERAL, messages: [{ ...edited, body: 'draft', rev: 1 }], has_more: false }, 'gap');
  assert.deepEqual(shown(store), [{ seq: 1, rev: 2, body: 'draft, edited', edited_at: 9, deleted: null }], 'late older copies change nothing');
  // A deletion drops the text and the fields of the old copy that it no longer has.
  store.applyUpdate({ type: 'update', ...edited, body: '', rev: 3, deleted: 'sender' });
  const [message] = store.channel(GENERAL).messages;
  assert.equal(message.body, '');
  assert.equal(message.deleted, 'sender');
  assert.equal('type' in message, false, 'frames are stored as messages, without their type');
});

test('older pages, gap pages and changed replies do not move the resume rev; stream frames do', () => {
  const { page, stream, changed } = scenario();
  const store = welcomed();
  // The latest page, read at rev 6, holds seqs 3..5 of 5 (older ones exist).
  store.applyHistory(page(6, 3, 5, true), 'latest');
  assert.deepEqual(store.resumeMap(), { [GENERAL]: { seq: 5, rev: 6, held_from: 3 } }, 'the first page sets seq, rev and held_from');
  // An older page read later shows seq 2 as edited at rev 8: not a reason to skip revs 7 and 8.
  store.applyHistory(page(8, 1, 2, false), 'older');
  assert.deepEqual(store.resumeMap(), { [GENERAL]: { seq: 5, rev: 6, held_from: 1 } }, 'held_from follows the oldest held');
  store.applyChanged(changed(8));
  assert.equal(store.resumeMap()[GENERAL].rev, 6, 'a changed reply is no stream frame');
  for (const frame of stream.slice(6, 8)) store.applyUpdate(frame); // revs 7 and 8
  assert.equal(store.resumeMap()[GENERAL].rev, 8);
});

test('an update of a message below the oldest held waits for the older page that brings it', () => {
  const { page, stream } = scenario();
  const store = welcomed();
  store.applyHistory(page(4, 3, 4, true), 'latest');
  store.applyUpdate(stream[4]); // rev 5: edits seq 2, not held
  assert.deepEqual(store.channel(GENERAL).messages.map((m) => m.seq), [3, 4], 'not held: "Load older" would skip what lies between');
  assert.equal(store.resumeMap()[GENERAL].rev, 5, 'the stream moved on all the same');
  store.applyHistory(page(5, 1, 2, false), 'older');
  assert.deepEqual(shown(store).map((m) => [m.seq, m.body]), [[1, 'm1'], [2, 'two, edited'], [3, 'm3'], [4, 'm4']]);
});

test('an update that skips seqs reports the gap like a message does', () => {
  const { page, stream } = scenario();
  const store = welcomed();
  store.applyHistory(page(2, 1, 2), 'latest');
  // Messages 3 and 4 never came; the edit of a later message (seq 6, rev 10) did.
  assert.equal(store.applyUpdate({ ...stream[9] }).gapFrom, 3);
  assert.equal(store.resumeMap()[GENERAL].seq, 2, 'the gap is not skipped');
});

test('reset drops what is held of the channel and the next first page starts over', () => {
  const { page, stream } = scenario();
  const store = welcomed();
  store.applyHistory(page(6, 1, 5), 'latest');
  const change = store.addChange(GENERAL, 2, 'edit', 'changed offline');
  const seen = [];
  store.addEventListener('change', (event) => seen.push(event.detail.what));
  const general = store.channel(GENERAL);
  const epoch = general.epoch;
  store.applyReset({ type: 'reset', channel: GENERAL, last_seq: 7, last_rev: 14 });
  assert.deepEqual(general.messages, []);
  assert.equal(general.loaded, false);
  assert.equal(general.hasMore, true);
  assert.equal(general.epoch, epoch + 1, 'history replies asked for before the reset are told apart');
  assert.equal(general.last_seq, 7);
  assert.equal(general.last_rev, 14);
  assert.deepEqual(store.resumeMap(), {}, 'a channel not held is not resumed');
  assert.equal(store.changeFor(general, 2), change, 'my edit still waits to be sent');
  assert.ok(seen.includes('messages'));
  // Frames that come before the new first page are not kept for a channel not loading.
  store.applyUpdate(stream[12]);
  assert.deepEqual(general.messages, []);
  general.loading = true;
  store.applyHistory(page(14, 3, 7, true), 'latest');
  // The page's newest change is rev 13 (rev 14 deleted seq 2, which it does not hold).
  assert.deepEqual(store.resumeMap(), { [GENERAL]: { seq: 7, rev: 13, held_from: 3 } });
});

test('the resume point of an empty channel, and one whose newest copy is only my ack', () => {
  const store = welcomed();
  store.applyHistory({ type: 'history', channel: GENERAL, messages: [], has_more: false }, 'latest');
  assert.deepEqual(store.resumeMap(), { [GENERAL]: { seq: 0, rev: 0, held_from: 0 } });
  store.applyMessage({ type: 'message', channel: GENERAL, id: 1, seq: 1, sender: 'bob', body: 'hi', ts: 1, client_id: 'b1', rev: 1 });
  store.addPending(GENERAL, 'mine', 'c-2');
  store.applyAck({ type: 'ack', client_id: 'c-2', channel: GENERAL, id: 2, seq: 2 });
  assert.deepEqual(store.resumeMap(), { [GENERAL]: { seq: 1, rev: 1, held_from: 1 } }, 'the ack moves neither seq nor rev');
  // The welcome after a reconnect keeps what is held and its resume point.
  store.applyWelcome({
    type: 'welcome',
    user: { id: 1, name: 'alice', guest: false },
    channels: [{ id: GENERAL, name: 'General', kind: 'public', last_seq: 2, last_rev: 2, read_seq: 0, member: true }],
    online: ['alice'],
  });
  assert.deepEqual(store.resumeMap(), { [GENERAL]: { seq: 1, rev: 1, held_from: 1 } });
});

test('my edits and deletions wait like pending sends; the newest one of a message wins', () => {
  const { page } = scenario();
  const store = welcomed();
  store.applyHistory(page(6, 1, 5), 'latest');
  const general = store.channel(GENERAL);
  const first = store.addChange(GENERAL, 1, 'edit', 'one');
  const second = store.addChange(GENERAL, 1, 'edit', 'one, better');
  assert.equal(store.changeFor(general, 1), second);
  store.settleChange(first); // the answer to the first arrives: the second still waits
  assert.equal(store.changeFor(general, 1), second);
  store.failChange(first, 'ignored');
  assert.equal(second.state, 'sending');
  store.failChange(second, 'Too fast.');
  assert.deepEqual([second.state, second.error], ['failed', 'Too fast.']);
  assert.equal(store.retryChange(GENERAL, 1), second);
  assert.deepEqual([second.state, second.error], ['sending', null]);
  store.settleChange(second);
  assert.equal(store.changeFor(general, 1), undefined);
  store.addChange(GENERAL, 4, 'delete');
  store.discardChange(GENERAL, 4);
  assert.equal(store.changeFor(general, 4), undefined);
});

test('Up edits my newest message that can still change', () => {
  const { page } = scenario();
  const store = welcomed();
  // At rev 12: seq 2 edited (alice), 3 deleted (bob), 4 deleted by an admin (alice), 6 edited (alice), 7 bob's.
  store.applyHistory(page(12, 1, 7), 'latest');
  assert.equal(store.lastEditable(store.channel(GENERAL)).seq, 6);
  store.addChange(GENERAL, 6, 'delete');
  assert.equal(store.lastEditable(store.channel(GENERAL)).seq, 2, 'not one I am deleting, nor a deleted one, nor someone else\'s');
  store.applyMessage({ type: 'message', channel: GENERAL, id: 200, seq: 8, sender: 'alice', body: 'alice joined', ts: 1, client_id: 's', rev: 15, system: { kind: 'joined', user: 'alice' } });
  assert.equal(store.lastEditable(store.channel(GENERAL)).seq, 2, 'never a system line');
});
