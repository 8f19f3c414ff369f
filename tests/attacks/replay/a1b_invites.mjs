// 1b: several accounts create private channels with 64-character names and invite one user
// into all of them; then that user connects (welcome / welcome_more frames) and leaves one.
// Usage: node a1b_invites.mjs DB INVITERS CHANNELS_EACH [extra server args...]
import { startServer, register, WsClient, log, sleep } from './lib.mjs';

const [db, nInv, perInv, ...extra] = process.argv.slice(2);
const srv = await startServer(db, extra);
try {
  const victimToken = await register(srv.base, 'victim');
  const inviters = [];
  for (let i = 0; i < Number(nInv); i++) inviters.push(await new WsClient(srv.base, await register(srv.base, `inv${i}`)).open());
  const tally = {};
  const t0 = Date.now();
  await Promise.all(inviters.map(async (c, i) => {
    for (let j = 0; j < Number(perInv); j++) {
      const tag = `i${i}c${j}-`;
      const name = tag + '\u{1F600}'.repeat(64 - tag.length); // 64 characters, up to 4 bytes each
      let r = await c.request({ type: 'create_channel', name, private: true });
      await sleep(60); // stay under 20 requests per second per connection
      if (r.m.type !== 'channel') { const k = 'create:' + (r.m.code || r.m.type); tally[k] = (tally[k] || 0) + 1; continue; }
      r = await c.request({ type: 'invite', channel: r.m.channel.id, user: 'victim' });
      await sleep(60);
      const k = 'invite:' + (r.m.type === 'error' ? r.m.code : r.m.type);
      tally[k] = (tally[k] || 0) + 1;
    }
  }));
  log(`${nInv} inviters x ${perInv} private channels in ${((Date.now() - t0) / 1000).toFixed(1)} s:`, JSON.stringify(tally));
  const v = new WsClient(srv.base, victimToken);
  const t1 = Date.now();
  await v.open({ type: 'hello' }, 30000);
  const ws = v.frames.filter((f) => f.type === 'welcome' || f.type === 'welcome_more');
  const chans = ws.flatMap((f) => f.msg.channels || []);
  log(`victim connected in ${Date.now() - t1} ms: ${ws.length} welcome frames (${ws.map((f) => f.type + ':' + f.size).join(', ')}), largest ${Math.max(...ws.map((f) => f.size))} bytes, channels listed ${chans.length} (private ${chans.filter((c) => c.kind === 'private').length}), last complete=${ws[ws.length - 1].msg.complete}`);
  const target = chans.find((c) => c.kind === 'private');
  const l = await v.request({ type: 'leave', channel: target.id });
  log(`victim leaves channel ${target.id} (${target.name.slice(0, 8)}..., added_by ${target.added_by}) ->`, l.m.type, l.m.code || '');
  const v2 = await new WsClient(srv.base, victimToken).open({ type: 'hello' }, 30000);
  const chans2 = v2.frames.filter((f) => f.type === 'welcome' || f.type === 'welcome_more').flatMap((f) => f.msg.channels || []);
  log(`victim reconnects: ${chans2.length} channels, left one present: ${chans2.some((c) => c.id === target.id)}`);
  // The same user on Socket.IO: the tutorial's channel list is names only, one event.
  const { io } = await import('socket.io-client');
  const s = io(srv.base, { auth: { token: victimToken }, transports: ['websocket'], reconnection: false });
  const out = await new Promise((resolve) => {
    const t = setTimeout(() => resolve({ timeout: 'get all channels' }), 15000);
    s.on('connect', () => s.emit('get all channels'));
    s.on('get all channels', (d) => { clearTimeout(t); resolve(d); });
    s.on('disconnect', (r) => { clearTimeout(t); resolve({ disconnect: r }); });
    s.on('connect_error', (e) => { clearTimeout(t); resolve({ connect_error: e.message }); });
  });
  log(`victim on Socket.IO, get all channels -> ${Array.isArray(out) ? out.length + ' names, ' + Buffer.byteLength(JSON.stringify(out)) + ' bytes' : JSON.stringify(out)}, connected=${s.connected}`);
  s.close();
  v.close(); v2.close(); inviters.forEach((c) => c.close());
} finally { srv.stop(); }
