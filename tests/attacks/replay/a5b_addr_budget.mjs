// 5 (addendum): the per-address failure budget (10 a minute) against a correct password from
// the same address: 11 failures with 11 different unknown names, then a right password.
import { startServer, httpJson, log, sleep } from './lib.mjs';

const srv = await startServer('db5b.db');
const PW = 'correct horse battery';
const login = (u, p, ip) => httpJson(srv.base, 'POST', '/api/login', { username: u, password: p }, { localAddress: ip }).then((r) => `${r.status}${r.body?.error ? ' ' + r.body.error.code : ''}`);
try {
  await httpJson(srv.base, 'POST', '/api/register', { username: 'dave', password: PW }, { localAddress: '127.0.0.50' });
  const r = [];
  for (let i = 0; i < 11; i++) r.push(await login('nosuch' + i, 'wrong pw', '127.0.0.12'));
  log('11 failures, 11 different unknown names, from 127.0.0.12:', r.join(', '));
  log('dave (never tried before) correct from 127.0.0.12:', await login('dave', PW, '127.0.0.12'));
  log('dave correct from 127.0.0.13:', await login('dave', PW, '127.0.0.13'));
  const t0 = Date.now(); let res;
  while (Date.now() - t0 < 15000) { res = await login('dave', PW, '127.0.0.12'); if (res.startsWith('200')) break; await sleep(500); }
  log(`dave correct from 127.0.0.12 retried every 0.5 s: ${res} after ${Date.now() - t0} ms`);
} finally { srv.stop(); }
