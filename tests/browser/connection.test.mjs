// web/connection.js without a browser: a fake WebSocket class and mocked timers
// drive the reconnect logic through the cases a real server makes hard to stage.
// - The server writes `welcome` before the replay and may then close with 1011
//   (storage trouble) or 4008 (too slow): the backoff must keep growing, not start
//   over at every welcome; it starts over only after a link that lasted.
// - "Retry now" (or the browser's `online` event) while a reconnect waits for the
//   session check must leave exactly one socket, not a second one opened behind it.
// - While a retry waits, a server seen down and then answering again is
//   reconnected to at once; one that answered all along keeps its backoff.
// - An HTTP error answer (a proxy's 502, natter's 503 server_full or 429) is the
//   server answering, not an outage: the reconnects stay on the backoff schedule.
// - A long welcome comes split (`complete: false`, then `welcome_more`): `open`
//   waits for the last part, so the page never picks a channel from half a list.

import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { ApiError } from '../../web/api.js';
import { ChatStore } from '../../web/store.js';
import { Connection, STABLE_AFTER_MS, probeServer } from '../../web/connection.js';

const WELCOME = { type: 'welcome', user: { id: 1, name: 'alice', guest: false }, channels: [], online: ['alice'] };

/** A fake WebSocket class that records every socket made from it; the test plays the server. */
function fakeSockets() {
  const sockets = [];
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.sent = [];
      this.closedWith = null;
      this.onopen = null;
      this.onmessage = null;
      this.onclose = null;
      sockets.push(this);
    }
    send(data) {
      this.sent.push(JSON.parse(data));
    }
    close(code) {
      this.closedWith = code ?? 1000;
    }
    // The server's side:
    accept() {
      this.onopen?.({});
    }
    deliver(frame) {
      this.onmessage?.({ data: JSON.stringify(frame) });
    }
    drop(code) {
      this.onclose?.({ code });
    }
  }
  return { FakeSocket, sockets };
}

/** Lets pending promise callbacks (the awaited session check) run. */
const settle = () => new Promise((done) => setImmediate(done));

function deferred() {
  let resolve;
  const promise = new Promise((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

function connect(t, { sessionValid = async () => true, window = null, probe = null } = {}) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  t.mock.method(Math, 'random', () => 0); // delays are exactly half the ceiling
  const { FakeSocket, sockets } = fakeSockets();
  const connection = new Connection({ resume: () => ({}), sessionValid, WebSocket: FakeSocket, url: 'ws://natter.test/ws', window, probe });
  const states = [];
  const frames = [];
  connection.addEventListener('state', (event) => states.push(event.detail));
  connection.addEventListener('frame', (event) => frames.push(event.detail.frame));
  connection.start();
  return { connection, sockets, states, frames, lastDelay: () => states.findLast((s) => s.state === 'reconnecting').delayMs };
}

for (const code of [1011, 4008]) {
  test(`a welcome followed by close ${code} keeps backing off`, (t) => {
    const { connection, sockets, lastDelay } = connect(t);
    const delays = [];
    for (let round = 0; round < 7; round += 1) {
      const socket = sockets.at(-1);
      socket.accept();
      assert.equal(socket.sent[0].type, 'hello');
      socket.deliver(WELCOME);
      assert.equal(connection.state, 'open');
      socket.drop(code);
      delays.push(lastDelay());
      t.mock.timers.tick(lastDelay());
      assert.equal(sockets.length, round + 2, 'one new socket per retry');
    }
    // 1-2 s at least after such a close, then doubling up to the 15 s cap.
    assert.deepEqual(delays, [1000, 2000, 4000, 7500, 7500, 7500, 7500]);
    connection.stop();
  });
}

test('the backoff starts over only after a link that stayed open', (t) => {
  const { connection, sockets, lastDelay } = connect(t);
  let socket = sockets[0];
  socket.accept();
  socket.deliver(WELCOME);
  socket.drop(1006);
  assert.equal(lastDelay(), 250, 'the first retry is quick');
  t.mock.timers.tick(250);
  // Welcomed, but gone again within seconds: no reset.
  socket = sockets[1];
  socket.accept();
  socket.deliver(WELCOME);
  t.mock.timers.tick(STABLE_AFTER_MS - 1000);
  socket.drop(1006);
  assert.equal(lastDelay(), 500, 'a short-lived link does not reset the backoff');
  t.mock.timers.tick(500);
  // Welcomed and open for STABLE_AFTER_MS: the next outage starts at the base delay.
  socket = sockets[2];
  socket.accept();
  socket.deliver(WELCOME);
  t.mock.timers.tick(STABLE_AFTER_MS);
  socket.drop(1001);
  assert.equal(lastDelay(), 250);
  connection.stop();
});

for (const trigger of ['Retry now', 'the online event']) {
  test(`${trigger} during the session check leaves exactly one socket`, async (t) => {
    const check = deferred();
    const window = new EventTarget();
    const { connection, sockets, frames } = connect(t, { sessionValid: () => check.promise, window });
    sockets[0].accept();
    sockets[0].deliver(WELCOME);
    sockets[0].drop(1001); // the server went away
    t.mock.timers.tick(250);
    assert.equal(sockets.length, 2);
    sockets[1].drop(1006); // refused: the reconnect now asks whether the session is still good
    await settle();
    assert.equal(connection.state, 'reconnecting');
    assert.equal(connection.socket, null);

    // Meanwhile the user clicks "Retry now" (or the network comes back).
    if (trigger === 'Retry now') connection.connectNow();
    else window.dispatchEvent(new Event('online'));
    assert.equal(sockets.length, 3);
    const live = sockets[2];
    live.accept();
    live.deliver(WELCOME);
    assert.equal(connection.state, 'open');

    // The session check answers late; the reconnect it belonged to is stale.
    check.resolve(true);
    await settle();
    t.mock.timers.tick(20000);
    assert.equal(sockets.length, 3, 'no second socket is opened behind the live one');
    assert.equal(connection.socket, live);
    assert.equal(connection.state, 'open');
    assert.equal(live.closedWith, null);

    frames.length = 0;
    live.deliver({ type: 'presence', user: 'bob', online: true });
    assert.deepEqual(frames.map((f) => f.type), ['presence'], 'each frame is handled once');
    connection.stop();
  });
}

test('opening a socket drops the one before, whose events are then ignored', (t) => {
  const { connection, sockets, frames } = connect(t);
  const first = sockets[0];
  const { onopen, onmessage, onclose } = first; // as a browser might still call them
  connection.open();
  assert.equal(sockets.length, 2);
  assert.equal(first.closedWith, 1000, 'the old socket is closed');
  onopen({});
  onmessage({ data: JSON.stringify(WELCOME) });
  onclose({ code: 1006 });
  assert.deepEqual(first.sent, [], 'no hello on a dropped socket');
  assert.deepEqual(frames, [], 'no frames from a dropped socket');
  assert.equal(connection.socket, sockets[1]);
  assert.equal(connection.state, 'connecting', 'its close schedules no reconnect');
  sockets[1].accept();
  sockets[1].deliver(WELCOME);
  assert.equal(connection.state, 'open');
  assert.equal(frames.length, 1);
  connection.stop();
});

/** Fails connections until the retry delay exceeds the probe interval (2 s, 4 s ceiling). */
async function failUntilProbing(t, sockets, lastDelay) {
  sockets[0].accept();
  sockets[0].deliver(WELCOME);
  sockets[0].drop(1006);
  for (let i = 0; lastDelay() <= 1000; i += 1) {
    t.mock.timers.tick(lastDelay());
    sockets.at(-1).drop(1006); // refused: never welcomed
    await settle(); // the session check
  }
  assert.equal(lastDelay(), 2000);
}

test('a server seen down and then answering again is reconnected to at once', async (t) => {
  const answers = [false, false, true];
  const { connection, sockets, lastDelay, states } = connect(t, { probe: async () => answers.shift() ?? true });
  await failUntilProbing(t, sockets, lastDelay);
  const before = sockets.length;
  for (let probe = 0; probe < 3; probe += 1) {
    t.mock.timers.tick(500); // a probe every 0.5-1.5 s; Math.random is 0
    await settle();
  }
  assert.equal(states.at(-1).delayMs, 0, 'the retry is brought forward (jitter 0 here)');
  t.mock.timers.tick(0);
  assert.equal(sockets.length, before + 1, 'reconnected 1.5 s in, not after the 2 s backoff');
  connection.stop();
});

test('a server that answered all along keeps its backoff', async (t) => {
  let probes = 0;
  const { connection, sockets, lastDelay } = connect(t, {
    probe: async () => {
      probes += 1;
      return true;
    },
  });
  await failUntilProbing(t, sockets, lastDelay);
  const before = sockets.length;
  t.mock.timers.tick(500);
  await settle();
  assert.equal(probes, 1);
  t.mock.timers.tick(1499);
  assert.equal(sockets.length, before, 'no early retry: the refusal was not an outage');
  t.mock.timers.tick(1);
  assert.equal(sockets.length, before + 1, 'the backed-off retry');
  assert.equal(probes, 1, 'probing stops once the server is seen answering');
  connection.stop();
});

test('a link that dropped is resumed as soon as the server answers, even after a short outage', async (t) => {
  let probes = 0;
  const { connection, sockets, lastDelay } = connect(t, {
    probe: async () => {
      probes += 1;
      return true; // The server was back before the first probe.
    },
  });
  await failUntilProbing(t, sockets, lastDelay);
  // The backed-off retry gets in; the link works, then drops again within
  // seconds (a restart), so the backoff has not started over.
  t.mock.timers.tick(2000);
  sockets.at(-1).accept();
  sockets.at(-1).deliver(WELCOME);
  sockets.at(-1).drop(1001);
  assert.ok(lastDelay() > 1000, `a long retry delay (${lastDelay()} ms)`);
  const before = sockets.length;
  const probesBefore = probes;
  t.mock.timers.tick(500);
  await settle();
  t.mock.timers.tick(0);
  assert.equal(probes, probesBefore + 1, 'one probe');
  assert.equal(sockets.length, before + 1, 'reconnected at the first probe that found the server answering');
  connection.stop();
});

/**
 * Fails every socket before `welcome` for `spanMs` of mocked time (stepping
 * 50 ms, letting the session check and probes run) and returns the gaps
 * between one socket and the next.
 */
async function failEverySocket(t, sockets, spanMs) {
  const openedAt = [0];
  const dropped = new Set();
  for (let elapsed = 0; elapsed < spanMs; ) {
    const socket = sockets.at(-1);
    if (!dropped.has(socket)) {
      dropped.add(socket);
      socket.drop(1006); // refused before welcome, as a browser reports it
      await settle(); // the session check
    }
    t.mock.timers.tick(50);
    elapsed += 50;
    await settle(); // a probe, if one was due
    if (sockets.length > openedAt.length) openedAt.push(elapsed);
  }
  return openedAt.slice(1).map((at, i) => at - openedAt[i]);
}

for (const [status, code, expected] of [
  // A proxy in front of a stopped backend: plain backoff.
  [502, 'http_502', [250, 500, 1000, 2000, 4000, 7500, 7500]],
  // natter turning connections away asks us to back off, like close 1011/4008.
  [503, 'server_full', [250, 1000, 2000, 4000, 7500, 7500, 7500]],
  [429, 'too_many_connections', [250, 1000, 2000, 4000, 7500, 7500, 7500]],
]) {
  test(`an HTTP ${status} from the session check and the probe keeps the backoff`, async (t) => {
    // The real probe, with fetch answering as the proxy (or a full server) does.
    t.mock.method(globalThis, 'fetch', async () => new Response('unavailable', { status }));
    let checks = 0;
    const { connection, sockets } = connect(t, {
      probe: probeServer,
      sessionValid: async () => {
        checks += 1;
        throw new ApiError(status, code);
      },
    });
    const gaps = await failEverySocket(t, sockets, 30000);
    assert.ok(checks > 0, 'the session check was asked');
    assert.deepEqual(gaps, expected, `sockets opened ${gaps.length + 1} times in 30 s`);
    connection.stop();
  });
}

test('the probe counts only a successful answer as the server being up', async (t) => {
  for (const [status, up] of [[200, true], [502, false], [503, false], [429, false]]) {
    t.mock.method(globalThis, 'fetch', async () => new Response(null, { status }));
    assert.equal(await probeServer(), up, `HTTP ${status}`);
  }
  t.mock.method(globalThis, 'fetch', async () => {
    throw new TypeError('fetch failed');
  });
  assert.equal(await probeServer(), false, 'no answer at all');
});

test('a session check that gets no answer at all still counts as an outage', async (t) => {
  const answers = [false, true];
  const { connection, sockets, lastDelay, states } = connect(t, {
    probe: async () => answers.shift() ?? true,
    sessionValid: async () => {
      throw new ApiError(0, 'network');
    },
  });
  sockets[0].drop(1006);
  for (let i = 0; lastDelay() <= 1000; i += 1) {
    t.mock.timers.tick(lastDelay());
    sockets.at(-1).drop(1006);
    await settle();
  }
  assert.equal(lastDelay(), 2000);
  const before = sockets.length;
  for (let probe = 0; probe < 2; probe += 1) {
    t.mock.timers.tick(500);
    await settle();
  }
  assert.equal(states.at(-1).delayMs, 0, 'the retry is brought forward once the server answers');
  t.mock.timers.tick(0);
  assert.equal(sockets.length, before + 1, 'reconnected 1 s in, not after the 2 s backoff');
  connection.stop();
});

test('a split welcome opens the connection only once its last part has arrived', (t) => {
  const { connection, sockets } = connect(t);
  // Wired as web/app.js does: frames into the store, then the `open` handler.
  const store = new ChatStore();
  connection.addEventListener('frame', ({ detail: { frame } }) => {
    if (frame.type === 'welcome') store.applyWelcome(frame);
    if (frame.type === 'welcome_more') store.applyWelcomeMore(frame);
  });
  const opens = [];
  connection.addEventListener('open', () => opens.push({ channels: [...store.channels.keys()], state: connection.state }));
  const general = { id: 1, name: 'General', kind: 'public', last_seq: 0, read_seq: 0, member: true };
  const later = { id: 42, name: 'ops', kind: 'public', last_seq: 3, read_seq: 0, member: true };
  const socket = sockets[0];
  socket.accept();
  socket.deliver({ ...WELCOME, channels: [general], complete: false });
  assert.deepEqual(opens, [], 'no open on the first part');
  assert.notEqual(connection.state, 'open', 'not open while parts are missing');
  socket.deliver({ type: 'welcome_more', channels: [later], online: ['bob'], complete: true });
  assert.deepEqual(opens, [{ channels: [1, 42], state: 'open' }], 'one open, with every channel in the store');
  assert.ok(store.online.has('bob'), 'the later part\'s online users are in');
  // Frames after the welcome do not open it again.
  socket.deliver({ type: 'presence', user: 'carol', online: true });
  assert.equal(opens.length, 1);
  connection.stop();
});

test('an unsplit welcome opens the connection at once', (t) => {
  const { connection, sockets } = connect(t);
  let opens = 0;
  connection.addEventListener('open', () => {
    opens += 1;
  });
  sockets[0].accept();
  sockets[0].deliver({ ...WELCOME, complete: true });
  assert.equal(opens, 1);
  assert.equal(connection.state, 'open');
  connection.stop();
});
