// What a message shows beyond its text, checked without a browser: its
// reactions as I see them (mine or not, with my unanswered requests laid
// over), a reply's quote (from the parent held, edited or deleted, or the
// server's excerpt), the mention spans, the unread and mention counts kept
// from the server's and moved live, and the window a jump to an old message
// loads (it never moves the resume point).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChatStore } from '../../web/store.js';
import { reactionKey, reactionTitle, replyQuote, shownReactions } from '../../web/messages.js';
import { mentionSegments } from '../../web/mentions.js';
import { shouldNotify } from '../../web/notifications.js';

function welcome(store, general = {}) {
  store.applyWelcome({
    type: 'welcome',
    user: { id: 1, name: 'alice', guest: false },
    channels: [
      { id: 1, name: 'General', kind: 'public', last_seq: 2, read_seq: 2, unread: 0, mentions: 0, member: true, ...general },
      { id: 9, name: 'dm', kind: 'dm', last_seq: 0, read_seq: 0, member: true, members: ['alice', 'bob'] },
    ],
    online: ['alice', 'bob'],
  });
}

const message = (seq, extra = {}) => ({ type: 'message', channel: 1, id: 100 + seq, seq, sender: 'bob', body: `m${seq}`, ts: 1000 * seq, client_id: `b${seq}`, rev: seq, ...extra });

test('a reaction is mine exactly when my name is in its users', () => {
  const msg = message(5, { reactions: [{ emoji: '👍', count: 2, users: ['bob', 'alice'] }, { emoji: '🎉', count: 1, users: ['carol'] }] });
  const shown = shownReactions(msg, 'alice');
  assert.deepEqual(shown.map((r) => [r.emoji, r.count, r.mine]), [['👍', 2, true], ['🎉', 1, false]]);
  assert.deepEqual(shownReactions(msg, 'carol').map((r) => r.mine), [false, true]);
});

test('my unanswered reactions show at once, as the state asked for', () => {
  const msg = message(5, { reactions: [{ emoji: '👍', count: 2, users: ['bob', 'alice'] }, { emoji: '🎉', count: 1, users: ['carol'] }] });
  const waiting = new Map([
    [reactionKey(5, '👍'), { seq: 5, emoji: '👍', add: false }],
    [reactionKey(5, '🎉'), { seq: 5, emoji: '🎉', add: true }],
    [reactionKey(5, '🔥'), { seq: 5, emoji: '🔥', add: true }],
    [reactionKey(6, '😮'), { seq: 6, emoji: '😮', add: true }], // another message's
  ]);
  const shown = shownReactions(msg, 'alice', waiting);
  assert.deepEqual(shown.map((r) => [r.emoji, r.count, r.mine]), [['👍', 1, false], ['🎉', 2, true], ['🔥', 1, true]]);
  // Asking for the state it already has changes nothing (add, never a toggle).
  const same = new Map([[reactionKey(5, '👍'), { seq: 5, emoji: '👍', add: true }]]);
  assert.deepEqual(shownReactions(msg, 'alice', same).map((r) => r.count), [2, 1]);
  // The last one taken back: the chip goes.
  const gone = new Map([[reactionKey(5, '🎉'), { seq: 5, emoji: '🎉', add: false }]]);
  assert.deepEqual(shownReactions(message(5, { reactions: [{ emoji: '🎉', count: 1, users: ['alice'] }] }), 'alice', gone), []);
});

test('a reaction title names who reacted, and how many others past the names listed', () => {
  assert.equal(reactionTitle({ emoji: '👍', count: 2, users: ['bob', 'carol'] }), 'bob, carol reacted with 👍');
  const many = Array.from({ length: 50 }, (_, i) => `u${i}`);
  assert.equal(reactionTitle({ emoji: '👍', count: 73, users: many }), 'u0, u1, u2, u3, u4, u5, u6, u7, u8, u9 and 63 others reacted with 👍');
});

test('a reply quote follows the parent held: its edits and deletion; else the server excerpt', () => {
  const store = new ChatStore();
  welcome(store);
  store.applyHistory({ type: 'history', channel: 1, messages: [message(1, { body: 'first line\nsecond' }), message(2)], has_more: false }, 'latest');
  const channel = store.channel(1);
  const reply = message(3, { sender: 'carol', reply_to: { seq: 1, sender: 'bob', excerpt: 'first line' } });
  store.applyMessage(reply);
  const held = () => replyQuote(channel, channel.bySeq.get(3));
  assert.deepEqual(held(), { seq: 1, sender: 'bob', text: 'first line', deleted: false, held: true });
  store.applyUpdate(message(1, { body: 'edited text', rev: 10, edited_at: 5 }));
  assert.equal(held().text, 'edited text', 'the quote follows the edit');
  store.applyUpdate(message(1, { body: '', rev: 11, deleted: 'sender' }));
  assert.deepEqual(held(), { seq: 1, sender: 'bob', text: '', deleted: true, held: true });
  // Not held: the server's quote as it stood.
  const far = message(4, { reply_to: { seq: 120, sender: 'dan', excerpt: 'long ago' } });
  assert.deepEqual(replyQuote(channel, far), { seq: 120, sender: 'dan', text: 'long ago', deleted: false, held: false });
  assert.equal(replyQuote(channel, message(4, { reply_to: { seq: 121, sender: 'dan', excerpt: '', deleted: true } })).deleted, true);
  assert.equal(replyQuote(channel, message(4)), null, 'no quote for a message that is no reply');
});

test('mention spans: only the names the server found, @channel when it says so, never inside words', () => {
  const pieces = (text, names, all) => mentionSegments(text, names, all).map((s) => (s.mention ? `[${s.text}]` : s.text)).join('');
  assert.equal(pieces('@bob @channel standup, @carol.', ['bob', 'Carol'], true), '[@bob] [@channel] standup, [@carol].');
  assert.equal(pieces('@bob @channel', ['bob'], false), '[@bob] @channel', '@channel only when the server says so');
  assert.equal(pieces('mail bob@example.com or @dave', ['bob'], false), 'mail bob@example.com or @dave', 'not an email, not a non-member');
  assert.equal(pieces('<b>@bob</b>', ['bob'], false), '<b>[@bob]</b>', 'markup stays text');
  assert.equal(mentionSegments('@bob', ['bob'])[0].mention, 'bob');
  assert.equal(mentionSegments('hi', []).length, 1);
});

test('unread and mention counts: the server\'s, moved live by messages that count', () => {
  const store = new ChatStore();
  welcome(store, { last_seq: 10, read_seq: 4, unread: 3, mentions: 1, notify: 'mentions' });
  const channel = store.channel(1);
  assert.equal(store.unread(channel), 3, 'the server\'s count, not last_seq - read_seq');
  assert.equal(store.mentionCount(channel), 1);
  assert.equal(channel.notify, 'mentions');
  store.applyMessage(message(11));
  store.applyMessage(message(12, { mentions: ['alice'] }));
  store.applyMessage(message(13, { sender: 'carol', body: '@channel', mentions_channel: true }));
  store.applyMessage(message(14, { sender: 'alice', mentions: ['alice'] })); // mine: never counts
  store.applyMessage(message(15, { system: { kind: 'joined', user: 'dan' } })); // a system line
  store.applyMessage(message(12, { mentions: ['alice'] })); // a replay
  assert.equal(store.unread(channel), 6);
  assert.equal(store.mentionCount(channel), 3);
  // The read echo says the counts after it.
  store.applyRead(1, 12, { unread: 1, mentions: 1 });
  assert.deepEqual([store.unread(channel), store.mentionCount(channel)], [1, 1]);
  store.markRead(1, 15);
  assert.deepEqual([store.unread(channel), store.mentionCount(channel)], [0, 0], 'reading to the newest clears both at once');
  // A `channel` frame (a notify answer) brings the level and counts.
  store.upsertChannel({ id: 1, name: 'General', kind: 'public', last_seq: 15, read_seq: 15, unread: 0, mentions: 0, notify: 'none', member: true });
  assert.equal(channel.notify, 'none');
});

test('desktop notifications follow the level: none never, mentions only mentions, all DMs and mentions', () => {
  const room = { kind: 'public', notify: 'all' };
  const dm = { kind: 'dm', notify: 'all' };
  const plain = message(3);
  const mention = message(4, { mentions: ['alice'] });
  assert.equal(shouldNotify(room, plain, 'alice'), false, 'a plain message in a room');
  assert.equal(shouldNotify(room, mention, 'alice'), true);
  assert.equal(shouldNotify(dm, plain, 'alice'), true);
  assert.equal(shouldNotify({ ...dm, notify: 'mentions' }, plain, 'alice'), false);
  assert.equal(shouldNotify({ ...room, notify: 'mentions' }, mention, 'alice'), true);
  assert.equal(shouldNotify({ ...room, notify: 'none' }, mention, 'alice'), false);
  assert.equal(shouldNotify(dm, message(5, { sender: 'alice' }), 'alice'), false, 'never my own');
});

test('a window around an old message replaces what is shown and never moves the resume point', () => {
  const store = new ChatStore();
  welcome(store, { last_seq: 500, read_seq: 500 });
  const page = Array.from({ length: 50 }, (_, i) => message(451 + i));
  store.applyHistory({ type: 'history', channel: 1, messages: page, has_more: true, has_newer: false }, 'latest');
  const channel = store.channel(1);
  assert.equal(store.resumeMap()['1'].seq, 500);
  const window = Array.from({ length: 50 }, (_, i) => message(76 + i));
  store.applyWindow({ type: 'history', channel: 1, messages: window, has_more: true, has_newer: true });
  assert.equal(channel.detached, true);
  assert.deepEqual([channel.messages[0].seq, channel.messages.at(-1).seq], [76, 125]);
  assert.equal(store.resumeMap()['1'].seq, 500, 'the window does not move the resume point');
  // Live messages go on from the stream's point, beyond the hole, without asking for the hole.
  assert.equal(store.applyMessage(message(501)).gapFrom, null);
  assert.equal(store.resumeMap()['1'].seq, 501);
  assert.equal(store.applyMessage(message(503)).gapFrom, 502, 'a skipped live seq is still a gap');
  // Leaving it drops everything; the latest page is loaded anew.
  assert.equal(store.leaveWindow(1), true);
  assert.equal(channel.loaded, false);
  assert.equal(channel.messages.length, 0);
});
