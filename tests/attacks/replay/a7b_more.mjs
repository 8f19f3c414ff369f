// 7b (addendum): more look-alikes: digit one and capital I for "l", "rn" for "m".
import { startServer, register, WsClient, log, sleep } from './lib.mjs';

const srv = await startServer('db7b.db');
try {
  const m = await new WsClient(srv.base, await register(srv.base, 'mallory')).open();
  for (const n of ['Genera1', 'GeneraI', 'GENERAI', 'main', 'rnain', 'RNAIN', 'Ⅼaunch', 'Launch', 'launch']) {
    const r = await m.request({ type: 'create_channel', name: n, private: false });
    log(`create public ${JSON.stringify(n)} ->`, r.m.type === 'error' ? `error ${r.m.code} channel=${r.m.channel ?? ''} "${r.m.message}"` : `CREATED id ${r.m.channel.id} ${JSON.stringify(r.m.channel.name)}`);
    await sleep(60);
  }
  m.close();
} finally { srv.stop(); }
