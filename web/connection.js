// The WebSocket to /ws and its whole life: connect, say `hello` with where we were
// (`resume`), match replies to requests by `ref`, notice a dead link, and
// reconnect with exponential backoff plus jitter. It knows nothing of channels or
// the DOM: the caller supplies the resume map and receives every server frame.

import { frames, CLOSE_UNAUTHORIZED } from './protocol.js';

/** First retry delay; doubles per failed attempt up to RECONNECT_MAX_MS. */
const RECONNECT_BASE_MS = 500;
/** Cap on the retry delay, so a long outage is noticed within seconds of its end. */
const RECONNECT_MAX_MS = 15000;
/** How often an idle connection sends `ping`: the server drops a silent client after 60 s. */
const PING_EVERY_MS = 25000;
/** A `pong` slower than this means the link is dead even if the socket has not noticed. */
const PONG_TIMEOUT_MS = 10000;
/**
 * While a retry waits, the server is asked this often (with jitter) whether it
 * answers again, so a client does not sit out a long backoff after the server
 * is back. An unreachable server costs only a refused connection per probe.
 */
const PROBE_EVERY_MS = 1000;
/**
 * Once a probe finds the server answering after it did not, the reconnect waits
 * a random delay up to this long, so a restarted server is not hit by every
 * client in the same instant.
 */
const RECONNECT_JITTER_MS = 750;
/** Default time a request waits for its reply before it counts as failed. */
const REQUEST_TIMEOUT_MS = 10000;
/**
 * A connection must stay open this long after `welcome` before the backoff starts
 * over: the server writes `welcome` before the replay and may still close right
 * after it (1011, 4008), and such a link is no sign that reconnecting is safe.
 */
export const STABLE_AFTER_MS = 10000;
/** "Reconnect later": storage trouble on the server. */
const CLOSE_SERVER_ERROR = 1011;
/** The client read too slowly and its queue overflowed. */
const CLOSE_TOO_SLOW = 4008;
/** Closes that ask us to slow down: even after a stable link, the next retry is not immediate. */
const BACK_OFF_CLOSES = new Set([CLOSE_SERVER_ERROR, CLOSE_TOO_SLOW]);
/** The least backoff attempt after such a close (or status): 2 means a first delay of 1-2 s. */
const MIN_ATTEMPT_AFTER_BACK_OFF_CLOSE = 2;

/**
 * HTTP answers that ask us to slow down: natter's 503 server_full and 429
 * too_many_connections. Like BACK_OFF_CLOSES, they raise the backoff.
 */
const BACK_OFF_STATUSES = new Set([429, 503]);

/**
 * Whether the page's server is up and healthy. Only a 2xx counts: a proxy's
 * 502 or 504 means the server behind it is down, and natter's own 503 or 429
 * means it is turning clients away, so neither is a reason to reconnect early.
 */
export async function probeServer() {
  try {
    const response = await fetch('/healthz', { cache: 'no-store' });
    return response.ok;
  } catch {
    return false;
  }
}

/** The page's own /ws address (ws: or wss: like the page). */
function defaultSocketUrl() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/ws`;
}

export class RequestError extends Error {
  /** `frame`: the server's whole `error` frame, for codes that carry more (channel_exists names the channel). */
  constructor(code, message, frame = null) {
    super(message || code);
    this.code = code;
    this.frame = frame;
  }
}

/**
 * Events (all CustomEvent): `state` {state, attempt, delayMs, at} (`at`: when
 * the next attempt is due, epoch ms), `frame` {frame},
 * `open` after the whole `welcome` was handled (a split one: after its last
 * `welcome_more`), `unauthorized` when the session is gone.
 */
export class Connection extends EventTarget {
  /**
   * @param {object} options
   * @param {() => Record<string, number>} options.resume channel id -> last seq held
   * @param {() => Promise<boolean>} options.sessionValid asked after a failed connect
   * @param {typeof WebSocket} [options.WebSocket] the socket class (tests pass a fake)
   * @param {string | (() => string)} [options.url] where to connect; the page's /ws by default
   * @param {EventTarget | null} [options.window] source of `online` events; the page's window by default
   * @param {(() => Promise<boolean>) | null} [options.probe] whether the server answers; none outside a page
   */
  constructor({
    resume,
    sessionValid,
    WebSocket: SocketClass = globalThis.WebSocket,
    url = defaultSocketUrl,
    window: events = globalThis.window ?? null,
    probe = globalThis.location ? probeServer : null,
  }) {
    super();
    this.probe = probe;
    this.probeTimer = null;
    /** The link was lost, or a probe found the server unreachable, since the last refusal. */
    this.serverWasDown = false;
    this.resume = resume;
    this.sessionValid = sessionValid;
    this.SocketClass = SocketClass;
    this.url = url;
    this.events = events;
    this.socket = null;
    this.state = 'idle';
    this.attempt = 0;
    this.stopped = false;
    this.nextRef = 1;
    this.pending = new Map();
    this.retryTimer = null;
    this.stableTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    /** Counts sockets opened, so a reconnect decided before an await can tell it was overtaken. */
    this.opened = 0;
    this.onOnline = () => {
      if (this.state === 'reconnecting') this.connectNow();
    };
  }

  get isOpen() {
    return this.state === 'open';
  }

  start() {
    this.stopped = false;
    this.events?.addEventListener('online', this.onOnline);
    this.setState('connecting');
    this.open();
  }

  /** Closes for good (logout): no reconnect, pending requests fail. */
  stop() {
    this.stopped = true;
    this.events?.removeEventListener('online', this.onOnline);
    clearTimeout(this.retryTimer);
    this.stopProbing();
    this.dropSocket(1000);
    this.setState('closed');
  }

  /** Sends a frame that expects no reply. Returns false when not connected. */
  send(frame) {
    if (!this.isOpen) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /**
   * Sends a frame with a fresh `ref` and resolves with the reply that echoes it,
   * or rejects with a RequestError (the server's `error` code, `timeout` or
   * `disconnected`).
   */
  request(frame, timeoutMs = REQUEST_TIMEOUT_MS) {
    if (!this.isOpen) return Promise.reject(new RequestError('disconnected'));
    const ref = this.nextRef++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new RequestError('timeout'));
      }, timeoutMs);
      this.pending.set(ref, { resolve, reject, timer });
      this.socket.send(JSON.stringify({ ...frame, ref }));
    });
  }

  open() {
    // Never two sockets: whatever was open or opening is dropped first, and every
    // handler below ignores a socket that is no longer this.socket.
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.stopProbing();
    if (this.socket) this.dropSocket(1000);
    this.opened += 1;
    let socket;
    try {
      socket = new this.SocketClass(typeof this.url === 'function' ? this.url() : this.url);
    } catch {
      this.scheduleReconnect(false);
      return;
    }
    this.socket = socket;
    let welcomed = false;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      socket.send(JSON.stringify(frames.hello(this.resume())));
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!frame || typeof frame.type !== 'string') return;
      this.armPing();
      if (frame.type === 'welcome') {
        welcomed = true;
        this.serverWasDown = false;
        // Not a success yet: the backoff starts over only once this link has
        // lasted a while (see STABLE_AFTER_MS).
        clearTimeout(this.stableTimer);
        this.stableTimer = setTimeout(() => {
          if (this.socket === socket) this.attempt = 0;
        }, STABLE_AFTER_MS);
        this.emit('frame', { frame, settled: false });
        if (frame.complete !== false) this.welcomeComplete();
        return;
      }
      if (frame.type === 'welcome_more') {
        this.emit('frame', { frame, settled: false });
        // The caller's store has taken this part in; if it was the last, the
        // welcome is whole and the link counts as open.
        if (frame.complete !== false && welcomed && !this.isOpen) this.welcomeComplete();
        return;
      }
      const settled = this.settle(frame);
      this.emit('frame', { frame, settled });
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      clearTimeout(this.stableTimer);
      this.failPending();
      this.stopPing();
      if (this.stopped) return;
      if (event.code === CLOSE_UNAUTHORIZED) {
        this.unauthorized();
        return;
      }
      if (BACK_OFF_CLOSES.has(event.code)) this.attempt = Math.max(this.attempt, MIN_ATTEMPT_AFTER_BACK_OFF_CLOSE);
      // A working link that dropped (a restart, a network change) is an outage:
      // once the server answers again, reconnect at once. A connection refused
      // before `welcome` may be the server answering and turning us away: the
      // session check below (or a probe) tells which. Closes that ask us to
      // back off never count.
      if (welcomed) this.serverWasDown = !BACK_OFF_CLOSES.has(event.code);
      this.scheduleReconnect(welcomed);
    };
    // onerror is always followed by onclose, which does the work.
  }

  /**
   * The whole welcome has been handed to the caller: only now is the link open.
   * A long welcome comes in parts (`complete: false`, then `welcome_more`), and
   * an `open` handler that ran on the first part would act on half the channel
   * list (a reload on a channel in a later part would land in General).
   */
  welcomeComplete() {
    this.setState('open');
    this.emit('open', {});
  }

  /** Resolves or rejects the request whose ref this frame echoes; true if there was one. */
  settle(frame) {
    if (frame.ref === undefined || !this.pending.has(frame.ref)) return false;
    const { resolve, reject, timer } = this.pending.get(frame.ref);
    this.pending.delete(frame.ref);
    clearTimeout(timer);
    if (frame.type === 'error') reject(new RequestError(frame.code, frame.message, frame));
    else resolve(frame);
    return true;
  }

  failPending() {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new RequestError('disconnected'));
    }
    this.pending.clear();
  }

  async scheduleReconnect(wasWelcomed) {
    // A refused upgrade looks like any other failed connection to a browser, so
    // after a failure that never got a welcome we ask HTTP whether the session is
    // still good: if not, reconnecting forever would never help.
    if (!wasWelcomed && this.attempt > 0) {
      const opened = this.opened;
      let valid = true;
      try {
        valid = await this.sessionValid();
        this.serverWasDown = false; // It answers: the connection was turned away, not lost.
      } catch (error) {
        valid = true; // The session could not be checked: keep trying.
        // Any HTTP status (a proxy's 502, our 503 server_full, 429) means
        // something answered: that is no outage, and counting it as one would
        // let the next probe cut every backoff short. Only no answer at all
        // (ApiError status 0, or a bare network error) is the server down.
        const status = typeof error?.status === 'number' ? error.status : 0;
        this.serverWasDown = status === 0;
        if (BACK_OFF_STATUSES.has(status)) this.attempt = Math.max(this.attempt, MIN_ATTEMPT_AFTER_BACK_OFF_CLOSE);
      }
      if (this.stopped) return;
      // Meanwhile "Retry now" or the `online` event may have opened a socket (which
      // may even have failed and scheduled its own retry): this reconnect is stale.
      if (this.socket || this.opened !== opened) return;
      if (!valid) {
        this.unauthorized();
        return;
      }
    }
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** this.attempt);
    // "Equal jitter": at least half the ceiling, so clients spread out after a
    // restart without any of them retrying in a tight loop.
    const delayMs = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.attempt += 1;
    this.setState('reconnecting', { attempt: this.attempt, delayMs, at: Date.now() + delayMs });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), delayMs);
    if (delayMs > PROBE_EVERY_MS) this.scheduleProbe();
  }

  /**
   * Probes the server while a retry waits. Only a server seen down and then up
   * again cuts the wait short: a server that answers HTTP all along but closed
   * the socket (overload, a refused upgrade) keeps its backoff.
   */
  scheduleProbe() {
    if (!this.probe) return;
    clearTimeout(this.probeTimer);
    const delay = PROBE_EVERY_MS / 2 + Math.random() * PROBE_EVERY_MS;
    this.probeTimer = setTimeout(async () => {
      const opened = this.opened;
      const answers = await this.probe();
      // Meanwhile a socket may have been opened (Retry now, the timer): stale.
      if (this.stopped || this.socket || this.opened !== opened || this.state !== 'reconnecting') return;
      if (!answers) {
        this.serverWasDown = true;
        this.scheduleProbe();
      } else if (this.serverWasDown) {
        const delayMs = Math.round(Math.random() * RECONNECT_JITTER_MS);
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.open(), delayMs);
        this.setState('reconnecting', { attempt: this.attempt, delayMs, at: Date.now() + delayMs });
      }
    }, delay);
  }

  stopProbing() {
    clearTimeout(this.probeTimer);
    this.probeTimer = null;
  }

  connectNow() {
    clearTimeout(this.retryTimer);
    this.stopProbing();
    if (!this.socket && !this.stopped) this.open();
  }

  unauthorized() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.stopProbing();
    this.setState('closed');
    this.emit('unauthorized', {});
  }

  dropSocket(code) {
    const socket = this.socket;
    this.socket = null;
    clearTimeout(this.stableTimer);
    this.failPending();
    this.stopPing();
    if (socket) {
      socket.onopen = null;
      socket.onclose = null;
      socket.onmessage = null;
      try {
        socket.close(code);
      } catch {
        // Already closing.
      }
    }
  }

  /** Every frame received proves the link alive; ping only after a quiet spell. */
  armPing() {
    clearTimeout(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pongTimer = null;
    this.pingTimer = setTimeout(() => {
      if (!this.isOpen) return;
      this.socket.send(JSON.stringify({ ...frames.ping(), ref: `ping-${this.nextRef++}` }));
      this.pongTimer = setTimeout(() => {
        // A half-open link: drop it ourselves instead of waiting for TCP to notice.
        this.dropSocket(4000);
        this.serverWasDown = true;
        if (!this.stopped) this.scheduleReconnect(true);
      }, PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
  }

  stopPing() {
    clearTimeout(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  setState(state, extra = {}) {
    this.state = state;
    this.emit('state', { state, ...extra });
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}
