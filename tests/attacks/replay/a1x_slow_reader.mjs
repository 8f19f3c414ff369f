// 1 (bonus): broadcast pressure. mallory sends as many 4000-emoji messages (16 KB each) into
// General as her rate allows for 6 s; one reader reads normally, one stops reading for 6 s.
import { startServer, register, WsClient, log, sleep } from './lib.mjs';

const srv = await startServer('db1x.db');
try {
  const mallory = await new WsClient(srv.base, await register(srv.base, 'mallory')).open();
  const fast = await new WsClient(srv.base, await register(srv.base, 'fast')).open();
  const slow = await new WsClient(srv.base, await register(srv.base, 'slow')).open();
  slow.ws._socket.pause();
  let acks = 0; let refused = 0; const end = Date.now() + 6000; let i = 0;
  while (Date.now() < end) {
    const r = await mallory.request({ type: 'send', channel: 1, body: '\u{1F600}'.repeat(4000), client_id: 'm' + i++ });
    if (r.m.type === 'ack') acks++; else { refused++; await sleep(50); }
  }
  log(`mallory: ${acks} messages stored (${(acks * 16000 / 1e6).toFixed(2)} MB of bodies), ${refused} refused`);
  await sleep(500);
  log(`fast reader: ${fast.frames.filter((f) => f.type === 'message').length} message frames, closed=${JSON.stringify(fast.closed)}`);
  slow.ws._socket.resume();
  await sleep(3000);
  log(`slow reader (paused 6 s): ${slow.frames.filter((f) => f.type === 'message').length} message frames, closed=${JSON.stringify(slow.closed)}`);
  mallory.close(); fast.close(); slow.close();
} finally { srv.stop(); }
