// 2: private "board-room" clash; 3: public channel taking a private channel's name on Socket.IO;
// 7b: look-alike channel names beside General.
import { io } from 'socket.io-client';
import { startServer, register, WsClient, log, sleep } from './lib.mjs';

const srv = await startServer('db23.db');
const short = (m) => JSON.stringify(m).slice(0, 220);
try {
  const mallory = await new WsClient(srv.base, await register(srv.base, 'mallory')).open();
  const carolTok = await register(srv.base, 'carol');
  const carol = await new WsClient(srv.base, carolTok).open();
  const aliceTok = await register(srv.base, 'alice');
  const alice = await new WsClient(srv.base, aliceTok).open();

  log('--- 2: board-room');
  const br = await mallory.request({ type: 'create_channel', name: 'board-room', private: true });
  log('mallory create private board-room ->', short(br.m));
  const inv = await mallory.request({ type: 'invite', channel: br.m.channel.id, user: 'carol' });
  log('mallory invite carol ->', short(inv.m));
  const c2 = await carol.request({ type: 'create_channel', name: 'Board-Room', private: true });
  log('carol create private Board-Room ->', short(c2.m));
  const c3 = await carol.request({ type: 'create_channel', name: 'Board-Room', private: false });
  log('carol create public Board-Room ->', short(c3.m));
  const a2 = await alice.request({ type: 'create_channel', name: 'Board-Room', private: true });
  log('alice (not invited) create private Board-Room ->', short(a2.m), 'same id as mallory\'s?', a2.m.channel?.id === br.m.channel.id);

  log('--- 3: secret-plans');
  const sp = await alice.request({ type: 'create_channel', name: 'secret-plans', private: true });
  log('alice create private secret-plans ->', short(sp.m));
  await alice.request({ type: 'send', channel: sp.m.channel.id, body: 'the real plan', client_id: 'a-1' });
  // Alice's tutorial client is connected before mallory acts.
  const sock = () => io(srv.base, { auth: { token: aliceTok }, transports: ['websocket'], reconnection: false, forceNew: true });
  const s1 = sock();
  const s1events = [];
  s1.onAny((ev, d) => s1events.push([ev, d]));
  await new Promise((r, j) => { s1.on('connect', r); setTimeout(() => j(new Error('s1 connect timeout')), 10000); });
  const mp = await mallory.request({ type: 'create_channel', name: 'secret-plans', private: false });
  log('mallory create PUBLIC secret-plans ->', short(mp.m));
  const mp2 = await mallory.request({ type: 'create_channel', name: 'Secret-Plans', private: false });
  log('mallory create PUBLIC Secret-Plans again ->', short(mp2.m));
  await sleep(500);
  log('alice socket 1 saw while connected:', short(s1events));
  s1.close();
  // After a reconnect: list, switch, type.
  const s2 = sock();
  const got = {};
  s2.onAny((ev, d) => { (got[ev] ||= []).push(d); });
  await new Promise((r, j) => { s2.on('connect', r); setTimeout(() => j(new Error('s2 connect timeout')), 10000); });
  const ask = (ev, arg) => new Promise((resolve) => {
    const t = setTimeout(() => resolve({ timeout: ev }), 8000);
    s2.once(ev, (d) => { clearTimeout(t); resolve(d); });
    if (arg === undefined) s2.emit(ev); else s2.emit(ev, arg);
  });
  const list = await ask('get all channels');
  log('alice reconnected, get all channels ->', JSON.stringify(list));
  const sw = await ask('user changed channel', 'secret-plans');
  log('alice switches to "secret-plans" ->', short(sw));
  const ack = await new Promise((resolve) => {
    const t = setTimeout(() => resolve({ timeout: 'new message ack' }), 8000);
    s2.emit('new message', { sender: 'alice', message: 'meet at 9, bring the keys', channel: 'secret-plans' }, (a) => { clearTimeout(t); resolve(a); });
  });
  log('alice types into "secret-plans" -> ack', short(ack));
  await sleep(300);
  const hPriv = await alice.request({ type: 'history', channel: sp.m.channel.id });
  log(`alice's private #${sp.m.channel.id} history bodies:`, JSON.stringify(hPriv.m.messages?.map((m) => m.body)));
  const hPub = await mallory.request({ type: 'history', channel: mp.m.channel.id });
  log(`mallory's public #${mp.m.channel.id} history bodies (what mallory sees):`, JSON.stringify(hPub.m.messages?.map((m) => m.body)));
  const mPriv = await mallory.request({ type: 'history', channel: sp.m.channel.id });
  log(`mallory asks history of alice's private #${sp.m.channel.id} ->`, short(mPriv.m));
  const mallorySaw = mallory.frames.filter((f) => f.type === 'message').map((f) => [f.msg.channel, f.msg.body]);
  log('message frames mallory received live:', JSON.stringify(mallorySaw));
  const swPub = await ask('user changed channel', `secret-plans #${mp.m.channel.id}`);
  log(`alice switches to "secret-plans #${mp.m.channel.id}" ->`, short(swPub));
  s2.close();

  log('--- 7b: look-alikes of General');
  const names = {
    cyrillic_e: 'G\u0435neral',
    zero_width_space: 'Gen\u200beral',
    rtl_override: '\u202eGeneral',
    rtl_override_inside: 'Gen\u202eeral',
    fullwidth: '\uff27\uff25\uff2e\uff25\uff32\uff21\uff2c',
    invisible_only: '\u200b\u200c\u2060',
    zwj_only: '\u200d\u200d',
    soft_hyphen: 'Gen\u00aderal',
    latin_confusable_rn: 'GeneraI', // capital I for l
    greek_mixed: '\u0393eneral',
    trailing_space: 'General ',
    hash_suffix: 'General #1',
  };
  for (const [k, n] of Object.entries(names)) {
    const r = await mallory.request({ type: 'create_channel', name: n, private: false });
    log(`create public ${k} ${JSON.stringify(n)} ->`, r.m.type === 'error' ? `error ${r.m.code} channel=${r.m.channel ?? ''} "${r.m.message}"` : `CREATED id ${r.m.channel?.id} name ${JSON.stringify(r.m.channel?.name)}`);
    await sleep(60);
  }
  const all = await alice.request({ type: 'list_channels' });
  log('public channels now:', JSON.stringify(all.m.channels?.map((c) => c.name)));
  mallory.close(); carol.close(); alice.close();
} finally { srv.stop(); }
