// 4: guest takeover from the same address within the grace period (with and without the
// guest's natter_sio cookie); 7c: logging out a Socket.IO guest's token closes its socket?
import { io } from 'socket.io-client';
import crypto from 'node:crypto';
import { startServer, register, httpJson, WsClient, log, sleep } from './lib.mjs';

const srv = await startServer('db4.db', ['--allow-guests']);
const short = (m) => JSON.stringify(m).slice(0, 260);
const cookie = () => crypto.randomBytes(32).toString('hex');
function sock(opts = {}) {
  const s = io(srv.base, { transports: ['websocket'], reconnection: false, forceNew: true, ...opts });
  s.seen = []; s.onAny((ev, d) => s.seen.push([ev, d]));
  s.on('disconnect', (r) => s.seen.push(['disconnect', r]));
  return s;
}
const connected = (s) => new Promise((r, j) => { if (s.connected) r(); s.on('connect', r); s.on('connect_error', (e) => j(e)); setTimeout(() => j(new Error('connect timeout')), 10000); });
const emitAck = (s, ev, arg) => new Promise((resolve) => { const t = setTimeout(() => resolve({ timeout: ev }), 8000); s.emit(ev, arg, (a) => { clearTimeout(t); resolve(a); }); });
const once = (s, ev) => new Promise((resolve) => { const t = setTimeout(() => resolve({ timeout: ev }), 8000); s.once(ev, (d) => { clearTimeout(t); resolve(d); }); });
try {
  const bobTok = await register(srv.base, 'bob');
  const bob = await new WsClient(srv.base, bobTok).open();

  async function setupGuest(name, guestCookie) {
    const g = sock(guestCookie ? { extraHeaders: { cookie: `natter_sio=${guestCookie}` } } : {});
    await connected(g);
    const a = await emitAck(g, 'new user', name);
    // The guest makes a private-ish trail: a DM from bob, and a channel of its own.
    // bob puts the guest into a private channel and writes there; the guest writes too.
    const pc = await bob.request({ type: 'create_channel', name: `${name}-priv`, private: true });
    await bob.request({ type: 'invite', channel: pc.m.channel.id, user: name });
    await bob.request({ type: 'send', channel: pc.m.channel.id, body: `secret for ${name}`, client_id: `${name}-s` });
    await bob.request({ type: 'open_dm', user: name });
    return { g, ack: a };
  }

  for (const [label, guestCookie, claimCookie] of [
    ['claimant without any cookie', cookie(), undefined],
    ['claimant with a different cookie', cookie(), cookie()],
    ['claimant with the guest\'s own natter_sio cookie', 'SAME', 'SAME'],
    ['guest had no cookie, claimant without cookie', undefined, undefined],
  ]) {
    const name = 'gus' + Math.floor(Math.random() * 1e6);
    const gc = guestCookie === 'SAME' ? cookie() : guestCookie;
    const cc = claimCookie === 'SAME' ? gc : claimCookie;
    const { g, ack } = await setupGuest(name, gc);
    log(`--- 4 (${label}): guest ${name} took name -> ok=${ack.ok} user=${short(ack.user)} token=${ack.token ? 'yes' : 'no'}`);
    g.close();
    await sleep(300);
    const c = sock(cc ? { extraHeaders: { cookie: `natter_sio=${cc}` } } : {});
    await connected(c);
    const t0 = Date.now();
    const ca = await emitAck(c, 'new user', name);
    log(`  claimant 127.0.0.1 'new user' ${name} after ${300 + Date.now() - t0} ms (grace 5000) -> ${short(ca)}${ca.user ? ` same id as guest: ${ca.user.id === ack.user?.id}` : ''}`);
    if (ca.ok) {
      const lp = once(c, 'get all channels'); c.emit('get all channels');
      log('  claimant channel list:', JSON.stringify(await lp));
    }
    c.close();
    // HTTP guest sign-in for the same name inside the grace period.
    const hg = await httpJson(srv.base, 'POST', '/api/guest', { username: name });
    log(`  POST /api/guest ${name} right after -> ${hg.status} ${hg.text.slice(0, 120)}`);
    await sleep(5600);
    const late = sock();
    await connected(late);
    const la = await emitAck(late, 'new user', name);
    const lst = once(late, 'get all channels'); late.emit('get all channels');
    const lateList = await lst;
    const priv = await emitAck(late, 'user changed channel', `${name}-priv`);
    log(`  after grace (5.6 s): fresh client 'new user' -> ${short(la)} (guest's id ${ack.user?.id}); its channel list ${JSON.stringify(lateList)}; switch to guest's ${name}-priv -> ${short(priv)}`);
    const oldMe = await httpJson(srv.base, 'GET', '/api/me', undefined, { token: ack.token });
    log(`  after the name passed on: the first guest's own token -> GET /api/me ${oldMe.status}`);
    if (la.token) {
      const w = await new WsClient(srv.base, la.token).open();
      const ch = w.frames[0].msg.channels.map((c) => `${c.name}(${c.kind})`);
      log(`  after grace: claimant's /ws welcome channels: ${JSON.stringify(ch)}`);
      w.close();
    }
    late.close();
  }

  log('--- 7c: logging out a Socket.IO guest token');
  const g = sock();
  await connected(g);
  const a = await emitAck(g, 'new user', 'tokguest');
  log('guest new user ack ->', short({ ...a, token: a.token ? a.token.slice(0, 6) + '...' : a.token }));
  const me1 = await httpJson(srv.base, 'GET', '/api/me', undefined, { token: a.token });
  const lo = await httpJson(srv.base, 'POST', '/api/logout', undefined, { token: a.token });
  log(`GET /api/me with token -> ${me1.status}; POST /api/logout (Bearer) -> ${lo.status}`);
  const t0 = Date.now();
  while (g.connected && Date.now() - t0 < 5000) await sleep(20);
  log(`socket connected after logout: ${g.connected} (waited ${Date.now() - t0} ms); events:`, short(g.seen.filter(([e]) => e === 'error' || e === 'disconnect')));
  const me2 = await httpJson(srv.base, 'GET', '/api/me', undefined, { token: a.token });
  log(`GET /api/me with the logged-out token -> ${me2.status}`);
  const g2 = sock({ auth: { token: a.token } });
  let ce = null; try { await connected(g2); } catch (e) { ce = e.message; }
  log('reconnect with logged-out token ->', ce ? `connect_error: ${ce}` : 'CONNECTED');
  g2.close(); g.close(); bob.close();
} finally { srv.stop(); }
