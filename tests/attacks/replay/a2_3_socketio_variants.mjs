// Variants of 2 and 3 on the Socket.IO edge:
//  2b: carol's tutorial client creates "Board-Room" with `new channel` after mallory put her
//      into private "board-room": does it switch her into mallory's channel, and does mallory read?
//  3b: bob makes private "war-room" first; mallory's public "war-room" comes later and alice
//      joins it; then bob invites alice into his private one. Where does "war-room" go now?
import { io } from 'socket.io-client';
import { startServer, register, WsClient, log, sleep } from './lib.mjs';

const srv = await startServer('db23b.db');
const short = (m) => JSON.stringify(m).slice(0, 240);
const sock = (token) => { const s = io(srv.base, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true }); s.seen = []; s.onAny((e, d) => s.seen.push([e, d])); return s; };
const connected = (s) => new Promise((r, j) => { s.on('connect', r); s.on('connect_error', j); setTimeout(() => j(new Error('connect timeout')), 10000); });
const emitAck = (s, ev, arg) => new Promise((resolve) => { const t = setTimeout(() => resolve({ timeout: ev }), 8000); const cb = (a) => { clearTimeout(t); resolve(a); }; if (arg === undefined) s.emit(ev, cb); else s.emit(ev, arg, cb); });
const once = (s, ev) => new Promise((resolve) => { const t = setTimeout(() => resolve({ timeout: ev }), 8000); s.once(ev, (d) => { clearTimeout(t); resolve(d); }); });
try {
  const mallory = await new WsClient(srv.base, await register(srv.base, 'mallory')).open();
  const bob = await new WsClient(srv.base, await register(srv.base, 'bob')).open();
  const carolTok = await register(srv.base, 'carol');
  const aliceTok = await register(srv.base, 'alice');
  const alice = await new WsClient(srv.base, aliceTok).open();

  log('--- 2b: Socket.IO new channel "Board-Room"');
  const br = await mallory.request({ type: 'create_channel', name: 'board-room', private: true });
  await mallory.request({ type: 'invite', channel: br.m.channel.id, user: 'carol' });
  const c = sock(carolTok); await connected(c);
  const ucc = once(c, 'user changed channel');
  const nc = await emitAck(c, 'new channel', 'Board-Room');
  log('carol emits new channel "Board-Room" -> ack', short(nc), '| user changed channel', short(await ucc));
  await sleep(200);
  log('carol\'s socket events:', short(c.seen));
  const sent = await emitAck(c, 'new message', { sender: 'carol', message: 'Q3 numbers: confidential', channel: 'Board-Room' });
  log('carol types into "Board-Room" -> ack', short(sent));
  await sleep(300);
  const mh = await mallory.request({ type: 'history', channel: br.m.channel.id });
  log(`mallory reads her board-room #${br.m.channel.id}:`, JSON.stringify(mh.m.messages?.map((m) => `${m.sender}: ${m.body}`)));
  c.close();

  log('--- 3b: war-room');
  const bw = await bob.request({ type: 'create_channel', name: 'war-room', private: true });
  const mw = await mallory.request({ type: 'create_channel', name: 'war-room', private: false });
  log(`bob private war-room #${bw.m.channel?.id}; mallory public war-room -> ${short(mw.m)}`);
  const a1 = sock(aliceTok); await connected(a1);
  const l1 = once(a1, 'get all channels'); a1.emit('get all channels');
  log('alice lists (before invite):', JSON.stringify(await l1));
  const sw1 = await emitAck(a1, 'user changed channel', 'war-room');
  log('alice switches to "war-room" (joins the public one) ->', short(sw1));
  const inv = await bob.request({ type: 'invite', channel: bw.m.channel.id, user: 'alice' });
  log('bob invites alice into his private war-room ->', inv.m.type, inv.m.code || '');
  await sleep(300);
  log('alice\'s socket saw after the invite:', short(a1.seen.filter(([e]) => e === 'new channel' || e === 'error')));
  a1.close();
  const a2 = sock(aliceTok); await connected(a2);
  const l2 = once(a2, 'get all channels'); a2.emit('get all channels');
  log('alice reconnects and lists:', JSON.stringify(await l2));
  const sw2 = once(a2, 'user changed channel'); a2.emit('user changed channel', 'war-room');
  log('alice switches to "war-room" ->', short(await sw2));
  const ack = await emitAck(a2, 'new message', { sender: 'alice', message: 'for the public room', channel: 'war-room' });
  log('alice types into "war-room" -> ack', short(ack));
  await sleep(300);
  const hb = await bob.request({ type: 'history', channel: bw.m.channel.id });
  const hm = await mallory.request({ type: 'history', channel: mw.m.channel.id });
  log(`bob's private #${bw.m.channel.id}:`, JSON.stringify(hb.m.messages?.map((m) => `${m.sender}: ${m.body}`)), `| public #${mw.m.channel.id}:`, JSON.stringify(hm.m.messages?.map((m) => `${m.sender}: ${m.body}`)));
  a2.close(); mallory.close(); bob.close(); alice.close();
} finally { srv.stop(); }
