// 1a: a dozen 4000-character bodies of control characters into General, then a 50-message
// history page; then the same with 4000-character bodies of '"' and of 4-byte emoji (allowed).
import { startServer, register, WsClient, log, sleep } from './lib.mjs';

const srv = await startServer('db1a.db');
try {
  const mallory = await new WsClient(srv.base, await register(srv.base, 'mallory')).open();
  const alice = await new WsClient(srv.base, await register(srv.base, 'alice')).open();
  const general = mallory.frames[0].msg.channels.find((c) => c.name === 'General').id;
  const bodies = {
    control_U0001: '\u0001'.repeat(4000),
    nul: '\u0000'.repeat(4000),
    esc_ansi: '\u001b[31m'.repeat(800),
    bidi_RLO: '\u202e'.repeat(4000),
    quote: '"'.repeat(4000),
    emoji4byte: '\u{1F600}'.repeat(4000),
    backslash: '\\'.repeat(4000),
  };
  for (const [name, body] of Object.entries(bodies)) {
    await sleep(2100); // let the 10/s, burst-20 message budget refill between batches
    const res = {};
    for (let i = 0; i < 12; i++) {
      const r = await mallory.request({ type: 'send', channel: general, body, client_id: `${name}-${i}` });
      const k = r.m.type === 'error' ? `error:${r.m.code}` : r.m.type;
      res[k] = (res[k] || 0) + 1;
    }
    log(`send 12 x 4000-char ${name} (${Buffer.byteLength(JSON.stringify(body))} JSON bytes each):`, JSON.stringify(res));
    const h = await alice.request({ type: 'history', channel: general, limit: 50 });
    const msgs = h.m.messages || [];
    log(`  alice history limit 50 -> type=${h.m.type} frame=${h.size} bytes, messages=${msgs.length}, has_more=${h.m.has_more}, alice closed=${JSON.stringify(alice.closed)}`);
  }
  // Page back through everything with `before` and check each page's size and has_more.
  let before; let pages = 0; let total = 0; let maxSize = 0;
  for (;;) {
    const h = await alice.request({ type: 'history', channel: general, limit: 200, ...(before ? { before } : {}) });
    if (h.m.type !== 'history') { log('  paging: unexpected', JSON.stringify(h.m).slice(0, 200)); break; }
    pages++; total += h.m.messages.length; maxSize = Math.max(maxSize, h.size);
    log(`  page ${pages}: ${h.m.messages.length} messages, ${h.size} bytes, has_more=${h.m.has_more}`);
    if (!h.m.has_more || h.m.messages.length === 0) break;
    before = h.m.messages[0].seq;
    if (pages > 50) break;
  }
  log(`paging with limit 200: ${pages} pages, ${total} messages, largest frame ${maxSize} bytes; alice still open: ${alice.ws.readyState === 1}`);
  const p = await alice.request({ type: 'ping' });
  log('alice ping after all that ->', p.m.type);
  // Socket.IO side: a tutorial client switching to General gets one bounded page.
  const { io } = await import('socket.io-client');
  const s = io(srv.base, { auth: { token: await register(srv.base, 'sioreader') }, transports: ['websocket'], reconnection: false });
  const ucc = await new Promise((resolve) => {
    const t = setTimeout(() => resolve({ timeout: 'user changed channel' }), 10000);
    s.on('connect', () => s.emit('user changed channel', 'General'));
    s.on('user changed channel', (d) => { clearTimeout(t); resolve(d); });
    s.on('connect_error', (e) => { clearTimeout(t); resolve({ connect_error: e.message }); });
  });
  log(`socket.io 'user changed channel' General: messages=${ucc.messages?.length}, has_more=${ucc.has_more}, JSON bytes=${Buffer.byteLength(JSON.stringify(ucc))}, connected=${s.connected}`);
  s.close();
  mallory.close(); alice.close();
} finally { srv.stop(); }
