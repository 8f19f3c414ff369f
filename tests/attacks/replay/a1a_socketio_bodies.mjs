// 1a (addendum): the same control-character and bidi bodies sent through Socket.IO `new message`.
import { io } from 'socket.io-client';
import { startServer, register, WsClient, log, sleep } from './lib.mjs';

const srv = await startServer('db1as.db');
try {
  const tok = await register(srv.base, 'mallory');
  const s = io(srv.base, { auth: { token: tok }, transports: ['websocket'], reconnection: false });
  await new Promise((r, j) => { s.on('connect', r); setTimeout(() => j(new Error('connect timeout')), 10000); });
  const send = (message) => new Promise((resolve) => { const t = setTimeout(() => resolve({ timeout: 'new message ack' }), 8000); s.emit('new message', { sender: 'x', message, channel: 'General' }, (a) => { clearTimeout(t); resolve(a); }); });
  for (const [k, b] of Object.entries({ control_U0001: '\u0001'.repeat(4000), nul: 'a\u0000b', ansi: '\u001b[31mred', rlo: 'abc\u202edef', crlf: 'a\r\nb', tab: 'a\tb', quote4000: '"'.repeat(4000), over4000: 'x'.repeat(4001) })) {
    const a = await send(b);
    log(`socket.io new message ${k} ->`, JSON.stringify(a).slice(0, 160));
    await sleep(120);
  }
  const reader = await new WsClient(srv.base, await register(srv.base, 'reader')).open();
  const h = await reader.request({ type: 'history', channel: 1, limit: 10 });
  log('stored bodies (JSON-escaped, first 20 chars each):', JSON.stringify(h.m.messages.map((m) => m.body.slice(0, 20))));
  s.close(); reader.close();
} finally { srv.stop(); }
