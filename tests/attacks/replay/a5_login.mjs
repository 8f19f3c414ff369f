// 5: login lockout. Wrong passwords from one loopback address, the owner's right password from
// another; a slow trickle of wrong tries against the owner; 60 concurrent wrong guesses.
import { startServer, httpJson, log, sleep } from './lib.mjs';

const srv = await startServer('db5.db');
const PW = 'correct horse battery';
const login = (u, p, ip) => httpJson(srv.base, 'POST', '/api/login', { username: u, password: p }, { localAddress: ip }).then((r) => `${r.status}${r.body?.error ? ' ' + r.body.error.code : ''}`);
try {
  for (const u of ['alice', 'bob', 'dave']) {
    const r = await httpJson(srv.base, 'POST', '/api/register', { username: u, password: PW }, { localAddress: '127.0.0.50' });
    if (r.status !== 201) throw new Error('register ' + r.text);
  }
  const five = [];
  for (let i = 0; i < 5; i++) five.push(await login('alice', 'wrong password ' + i, '127.0.0.2'));
  log('5 wrong for alice from 127.0.0.2:', five.join(', '));
  log('6th wrong from 127.0.0.2:', await login('alice', 'wrong again', '127.0.0.2'));
  log('correct from 127.0.0.2 (the failing address):', await login('alice', PW, '127.0.0.2'));
  log('correct from 127.0.0.3 (never failed):', await login('alice', PW, '127.0.0.3'));

  // Many addresses each failing: the name's own count passes 5.
  const spread = [];
  for (let i = 0; i < 8; i++) spread.push(await login('alice', 'spread guess ' + i, `127.0.1.${i + 1}`));
  log('one wrong each from 8 more addresses 127.0.1.1-8:', spread.join(', '));
  log('correct from 127.0.0.4 (never failed) after that:', await login('alice', PW, '127.0.0.4'));
  log('correct from 127.0.0.3 (succeeded before, never failed):', await login('alice', PW, '127.0.0.3'));

  // Trickle: an attacker keeps trying (one wrong every 1.1 s from 127.0.0.2, plus one from a
  // fresh address every 3 s) for 30 s; the owner tries every 2 s from 127.0.0.5.
  const owner = {}; const attacker = {};
  const end = Date.now() + 30000; let fresh = 1;
  const attackLoop = (async () => { while (Date.now() < end) { const r = await login('alice', 'trickle', '127.0.0.2'); attacker[r] = (attacker[r] || 0) + 1; await sleep(1100); } })();
  const attackFresh = (async () => { while (Date.now() < end) { const r = await login('alice', 'fresh', `127.0.2.${fresh++}`); attacker['fresh ' + r] = (attacker['fresh ' + r] || 0) + 1; await sleep(3000); } })();
  const ownerLoop = (async () => { while (Date.now() < end) { const r = await login('alice', PW, '127.0.0.5'); owner[r] = (owner[r] || 0) + 1; await sleep(2000); } })();
  await Promise.all([attackLoop, attackFresh, ownerLoop]);
  log('30 s trickle: attacker results', JSON.stringify(attacker), '| owner (127.0.0.5) results', JSON.stringify(owner));

  // 60 concurrent wrong guesses for bob from one address.
  const conc = await Promise.all(Array.from({ length: 60 }, (_, i) => login('bob', 'concurrent ' + i, '127.0.0.9')));
  const tally = {}; for (const r of conc) tally[r] = (tally[r] || 0) + 1;
  log('60 concurrent wrong for bob from 127.0.0.9:', JSON.stringify(tally));
  log('bob correct from 127.0.0.10 after:', await login('bob', PW, '127.0.0.10'));
  // Per-address failure budget (10 a minute) across different names.
  const perAddr = [];
  for (let i = 0; i < 12; i++) perAddr.push(await login(i % 2 ? 'dave' : 'nosuchuser' + i, 'x wrong', '127.0.0.11'));
  log('12 failures across names from 127.0.0.11:', perAddr.join(', '));
  log('dave correct from 127.0.0.11 after that:', await login('dave', PW, '127.0.0.11'));
} finally { srv.stop(); }
