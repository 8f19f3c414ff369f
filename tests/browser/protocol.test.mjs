// The UI's protocol constants (web/protocol.js) must name exactly the message
// types the server defines (CLIENT_MESSAGE_TYPES / SERVER_MESSAGE_TYPES in
// src/protocol/names.rs), and the UI code may spell no "type" outside them.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers.mjs';
import { CLIENT_TYPES, SERVER_TYPES, frames } from '../../web/protocol.js';

const rust = readFileSync(join(ROOT, 'src', 'protocol', 'names.rs'), 'utf8');

/** The string literals of `pub const NAME: &[&str] = &[ ... ];` in the Rust source. */
function rustStringArray(name) {
  const match = rust.match(new RegExp(`pub const ${name}\\s*:\\s*&\\[&str\\]\\s*=\\s*&\\[([\\s\\S]*?)\\];`));
  assert.ok(match, `src/protocol/names.rs defines no ${name}`);
  const body = match[1].replace(/\/\/[^\n]*/g, '');
  return [...body.matchAll(/"([^"\\]*)"/g)].map((m) => m[1]);
}

test('client message types match src/protocol/names.rs CLIENT_MESSAGE_TYPES', () => {
  const server = rustStringArray('CLIENT_MESSAGE_TYPES');
  assert.ok(server.length > 0);
  assert.deepEqual([...CLIENT_TYPES].sort(), [...server].sort());
});

test('server message types match src/protocol/names.rs SERVER_MESSAGE_TYPES', () => {
  const server = rustStringArray('SERVER_MESSAGE_TYPES');
  assert.ok(server.length > 0);
  assert.deepEqual([...SERVER_TYPES].sort(), [...server].sort());
});

test('every frame builder produces a listed client type', () => {
  const built = new Set();
  for (const [name, build] of Object.entries(frames)) {
    const frame = build(1, 'x', 'y');
    assert.ok(CLIENT_TYPES.includes(frame.type), `frames.${name} builds unknown type ${frame.type}`);
    built.add(frame.type);
  }
  assert.deepEqual([...built].sort(), [...CLIENT_TYPES].sort(), 'a client type has no builder');
});

test('the UI code spells no message type outside the constants', () => {
  const web = join(ROOT, 'web');
  const known = new Set([...CLIENT_TYPES, ...SERVER_TYPES]);
  for (const file of readdirSync(web).filter((f) => f.endsWith('.js'))) {
    const source = readFileSync(join(web, file), 'utf8');
    for (const match of source.matchAll(/\btype:\s*'([a-z_]+)'/g)) {
      // `type: 'button'` and friends are DOM element properties, not frames.
      if (['button', 'submit', 'checkbox', 'search'].includes(match[1])) continue;
      assert.ok(known.has(match[1]), `${file} uses unknown frame type ${match[1]}`);
    }
    for (const match of source.matchAll(/case '([a-z_]+)':/g)) {
      assert.ok(known.has(match[1]) || file === 'auth.js', `${file} handles unknown frame type ${match[1]}`);
    }
  }
});
