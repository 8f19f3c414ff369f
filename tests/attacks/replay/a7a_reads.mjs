// 7a: one address with many connections asking for history as fast as it can; how many history
// replies per second are served, and what happens to another user's send->ack latency.
// Usage: node a7a_reads.mjs DB CONNECTIONS USERS SECONDS
import { startServer, register, WsClient, log, sleep } from './lib.mjs';

const [db, nConn, nUsers, secs] = process.argv.slice(2).map((x, i) => (i ? Number(x) : x));
const srv = await startServer(db, []);
try {
  // Fill General with 60 fat messages so each page is near the 64 KiB cap.
  const filler = await new WsClient(srv.base, await register(srv.base, 'filler')).open();
  for (let i = 0; i < 60; i++) {
    const r = await filler.request({ type: 'send', channel: 1, body: '\u{1F600}'.repeat(1000), client_id: 'f' + i });
    if (r.m.type !== 'ack') { i--; await sleep(200); }
  }
  const probe = await new WsClient(srv.base, await register(srv.base, 'probe'), { localAddress: '127.0.0.30' }).open();
  async function latencies(n, tag) {
    const out = [];
    for (let i = 0; i < n; i++) {
      const t = process.hrtime.bigint();
      const r = await probe.request({ type: 'send', channel: 1, body: 'ping ' + i, client_id: `${tag}-${i}` }, 20000);
      out.push(r.m.type === 'ack' ? Number(process.hrtime.bigint() - t) / 1e6 : Infinity);
      await sleep(200);
    }
    out.sort((a, b) => a - b);
    return `median ${out[Math.floor(n / 2)].toFixed(1)} ms, p90 ${out[Math.floor(n * 0.9)].toFixed(1)} ms, max ${out[n - 1].toFixed(1)} ms`;
  }
  log('probe send->ack before:', await latencies(20, 'before'));
  const tokens = [];
  for (let u = 0; u < nUsers; u++) tokens.push(await register(srv.base, 'reader' + u));
  const conns = [];
  for (let i = 0; i < nConn; i++) conns.push(await new WsClient(srv.base, tokens[i % nUsers], { localAddress: '127.0.0.20' }).open());
  log(`${nConn} connections of ${nUsers} user(s) open from 127.0.0.20`);
  const stats = { history: 0, bytes: 0, rate_limited: 0, other: 0 };
  const end = Date.now() + secs * 1000;
  let stop = false;
  const loops = conns.map(async (c) => {
    while (!stop && Date.now() < end) {
      const r = await c.request({ type: 'history', channel: 1, limit: 200 }, 10000);
      if (r.m.type === 'history') { stats.history++; stats.bytes += r.size; } else if (r.m.code === 'rate_limited') { stats.rate_limited++; await sleep(50); } else { stats.other++; await sleep(50); }
    }
  });
  const t0 = Date.now();
  const during = await latencies(20, 'during');
  stop = Date.now() >= end ? stop : stop;
  await Promise.all(loops);
  const el = (Date.now() - t0) / 1000;
  log(`flood for ${el.toFixed(1)} s: ${stats.history} history replies (${(stats.history / el).toFixed(1)}/s), ${(stats.bytes / 1e6).toFixed(1)} MB (${(stats.bytes / 1e6 / el).toFixed(2)} MB/s), ${stats.rate_limited} rate_limited, ${stats.other} other; closed conns: ${conns.filter((c) => c.closed).length}`);
  log('probe send->ack during:', during);
  conns.forEach((c) => c.close()); probe.close(); filler.close();
} finally { srv.stop(); }
