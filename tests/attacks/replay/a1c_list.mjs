// 1c: hundreds of public channels with long names, then list_channels paging.
// Usage: node a1c_list.mjs DB CREATORS CHANNELS_EACH
import { startServer, register, WsClient, log, sleep } from './lib.mjs';

const [db, nC, perC] = process.argv.slice(2);
const srv = await startServer(db, []);
try {
  const creators = [];
  for (let i = 0; i < Number(nC); i++) creators.push(await new WsClient(srv.base, await register(srv.base, `pub${i}`)).open());
  const tally = {};
  await Promise.all(creators.map(async (c, i) => {
    for (let j = 0; j < Number(perC); j++) {
      const tag = `p${i}c${j}-`;
      const r = await c.request({ type: 'create_channel', name: tag + '\u{1F4A9}'.repeat(64 - tag.length), private: false });
      await sleep(55);
      const k = r.m.type === 'error' ? r.m.code : r.m.type; tally[k] = (tally[k] || 0) + 1;
    }
  }));
  log(`created public channels:`, JSON.stringify(tally));
  const reader = await new WsClient(srv.base, await register(srv.base, 'reader')).open();
  let after; let pages = 0; let total = 0; const sizes = [];
  for (;;) {
    const r = await reader.request({ type: 'list_channels', ...(after ? { after } : {}) });
    if (r.m.type !== 'channels') { log('unexpected', JSON.stringify(r.m).slice(0, 300), JSON.stringify(reader.closed)); break; }
    pages++; total += r.m.channels.length; sizes.push(r.size);
    log(`page ${pages}: ${r.m.channels.length} channels, ${r.size} bytes, has_more=${r.m.has_more}, next=${r.m.next ? JSON.stringify(r.m.next).slice(0, 40) : r.m.next}`);
    if (!r.m.has_more) break;
    after = r.m.next;
    if (pages > 100) break;
  }
  log(`list_channels: ${pages} pages, ${total} channels in all, largest page ${Math.max(...sizes)} bytes, reader open: ${reader.ws.readyState === 1}`);
  const pre = await reader.request({ type: 'list_channels', prefix: 'p1c1' });
  log(`prefix "p1c1": ${pre.m.channels?.length} channels, has_more=${pre.m.has_more}`);
  // Socket.IO channel list (names only, capped at 1,000 public).
  const { io } = await import('socket.io-client');
  const s = io(srv.base, { auth: { token: await register(srv.base, 'sioreader') }, transports: ['websocket'], reconnection: false });
  const list = await new Promise((resolve) => {
    const t = setTimeout(() => resolve({ timeout: 'get all channels' }), 10000);
    s.on('connect', () => s.emit('get all channels'));
    s.on('get all channels', (d) => { clearTimeout(t); resolve(d); });
  });
  log(`socket.io get all channels: ${Array.isArray(list) ? list.length : JSON.stringify(list)} names, ${Buffer.byteLength(JSON.stringify(list))} bytes, connected=${s.connected}`);
  s.close(); reader.close(); creators.forEach((c) => c.close());
} finally { srv.stop(); }
