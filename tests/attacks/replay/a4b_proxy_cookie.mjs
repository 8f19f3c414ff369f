// 4 (addendum): the natter_sio cookie on the Engine.IO handshake, and --trusted-proxy:
// X-Forwarded-For is read from the named proxy only.
import { startServer, httpJson, log } from './lib.mjs';

const PW = 'correct horse battery';
for (const extra of [[], ['--trusted-proxy', '127.0.0.1/32']]) {
  const srv = await startServer('db4b.db', extra);
  try {
    const hs = await httpJson(srv.base, 'GET', '/socket.io/?EIO=4&transport=polling');
    log(`[${extra.join(' ') || 'no proxy'}] Engine.IO polling handshake -> ${hs.status}, set-cookie: ${JSON.stringify(hs.headers['set-cookie'])}`);
    await httpJson(srv.base, 'POST', '/api/register', { username: 'alice', password: PW }, { localAddress: '127.0.0.50' });
    const login = (p, ip, xff) => httpJson(srv.base, 'POST', '/api/login', { username: 'alice', password: p }, { localAddress: ip, headers: xff ? { 'x-forwarded-for': xff } : {} }).then((r) => r.status);
    const viaProxy = [];
    for (let i = 0; i < 6; i++) viaProxy.push(await login('wrong ' + i, '127.0.0.1', `10.0.0.${i + 1}`));
    log(`  6 wrong from 127.0.0.1 each with a different X-Forwarded-For: ${viaProxy.join(',')}`);
    log(`  correct from 127.0.0.1 with X-Forwarded-For 10.9.9.9: ${await login(PW, '127.0.0.1', '10.9.9.9')}`);
    const spoof = [];
    for (let i = 0; i < 6; i++) spoof.push(await login('wrong ' + i, '127.0.0.7', `10.1.0.${i + 1}`));
    log(`  6 wrong from 127.0.0.7 (not a proxy) with changing X-Forwarded-For: ${spoof.join(',')}`);
  } finally { srv.stop(); await new Promise((r) => srv.proc.on('exit', r)); }
}
