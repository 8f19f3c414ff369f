// Shared helpers for replaying issue 18's attacks against the release binary.
import { spawn } from 'node:child_process';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

// Built with `cargo build --release --locked --bin natter`; NATTER_BIN overrides it.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = process.env.NATTER_BIN || path.join(ROOT, 'target', 'release', 'natter');
// Each run's databases live in a fresh directory of their own.
const DATA_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'natter-replay-'));

export function log(...a) { console.log(new Date().toISOString().slice(11, 23), ...a); }

export async function startServer(name, extra = []) {
  const db = path.join(DATA_DIR, name);
  const args = ['serve', '--listen', '127.0.0.1:0', '--database', `sqlite://${db}`, ...extra];
  const p = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } });
  let stderr = '';
  p.stderr.on('data', (d) => { stderr += d; });
  const addr = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('server did not print its address in 20 s: ' + stderr)), 20000);
    let out = '';
    const onData = (d) => {
      out += d;
      const m = /natter listening on http:\/\/(\S+)/.exec(out + stderr);
      if (m) { clearTimeout(t); resolve(m[1]); }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('exit', (c) => reject(new Error('server exited ' + c + ': ' + stderr)));
  });
  log('server', p.pid, 'at', addr, 'args', args.join(' '));
  return { proc: p, addr, base: `http://${addr}`, stop: () => p.kill('SIGTERM'), stderr: () => stderr };
}

export function httpJson(base, method, path, body, { localAddress, token, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(path, base);
    const data = body === undefined ? undefined : JSON.stringify(body);
    const h = { ...headers };
    if (data !== undefined) { h['content-type'] = 'application/json'; h['content-length'] = Buffer.byteLength(data); }
    if (token) h.authorization = `Bearer ${token}`;
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h, localAddress, agent: false, timeout: 30000 }, (res) => {
      let b = '';
      res.on('data', (c) => { b += c; });
      res.on('end', () => {
        let j = null; try { j = JSON.parse(b); } catch { /* not json */ }
        resolve({ status: res.statusCode, body: j, text: b, headers: res.headers });
      });
    });
    req.on('timeout', () => req.destroy(new Error('http timeout ' + path)));
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

// Registers with rotating loopback source addresses so the 30-accounts-per-address budget is not hit.
let regCounter = 0;
export async function register(base, username, password = 'correct horse battery') {
  const localAddress = `127.0.${10 + Math.floor(regCounter / 25)}.${1 + (regCounter % 25)}`;
  regCounter++;
  const r = await httpJson(base, 'POST', '/api/register', { username, password }, { localAddress });
  if (r.status !== 201) throw new Error(`register ${username}: ${r.status} ${r.text}`);
  return r.body.token;
}

// A native /ws client that records every frame (type, byte size) and matches replies by ref.
export class WsClient {
  constructor(base, token, { localAddress } = {}) {
    this.url = base.replace('http', 'ws') + '/ws';
    this.token = token; this.localAddress = localAddress;
    this.frames = []; this.waiters = new Map(); this.nextRef = 1; this.closed = null; this.listeners = [];
  }
  open(hello = { type: 'hello' }, timeoutMs = 15000) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, { headers: { authorization: `Bearer ${this.token}` }, localAddress: this.localAddress, maxPayload: 64 << 20 });
      this.ws = ws;
      const t = setTimeout(() => reject(new Error('no welcome within ' + timeoutMs + ' ms')), timeoutMs);
      ws.on('open', () => ws.send(JSON.stringify(hello)));
      ws.on('message', (data) => {
        const size = data.length; let m; try { m = JSON.parse(data.toString()); } catch { m = { type: '?' }; }
        this.frames.push({ type: m.type, size, msg: m });
        if (m.type === 'welcome' && m.complete !== false) { clearTimeout(t); resolve(this); }
        if (m.type === 'welcome_more' && m.complete) { clearTimeout(t); resolve(this); }
        for (const l of this.listeners) l(m, size);
        if (m.ref !== undefined && this.waiters.has(m.ref)) { const w = this.waiters.get(m.ref); this.waiters.delete(m.ref); w({ m, size }); }
      });
      ws.on('close', (code, reason) => { this.closed = { code, reason: reason.toString() }; clearTimeout(t); reject(new Error('closed ' + code)); for (const w of this.waiters.values()) w({ m: { type: 'closed', code }, size: 0 }); this.waiters.clear(); });
      ws.on('error', (e) => { clearTimeout(t); reject(e); });
    });
  }
  request(obj, timeoutMs = 10000) {
    const ref = this.nextRef++;
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.waiters.delete(ref); resolve({ m: { type: 'timeout', waited_for: obj.type }, size: 0 }); }, timeoutMs);
      this.waiters.set(ref, (x) => { clearTimeout(t); resolve(x); });
      this.ws.send(JSON.stringify({ ...obj, ref }));
    });
  }
  close() { try { this.ws.close(); } catch { /* already */ } }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
