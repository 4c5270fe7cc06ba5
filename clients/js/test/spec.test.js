// The client behaviour spec both runtimes run (Tests/Fixtures/client-behaviour.json): channel
// grammar, close-code actions, the rule of three expired tokens, backoff, the error vocabulary, a
// live presence list.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRuntime, ErrorCode } from '../hybridsync.js';
import { FakeSocket, FakeTimers, settle, accept } from './fakes.js';

const spec = JSON.parse(readFileSync(new URL('../../../Tests/Fixtures/client-behaviour.json', import.meta.url), 'utf8'));
let timers;
let tokens;

beforeEach(() => {
  FakeSocket.reset();
  timers = new FakeTimers();
  tokens = 0;
});

const makeRuntime = (random = () => 0.5) => createRuntime({
  url: 'ws://127.0.0.1:9/', getToken: async () => `token-${++tokens}`, WebSocket: FakeSocket,
  timers: timers.clock(), random, onError: () => {},
});

test('spec: channel grammar', () => {
  const runtime = makeRuntime();
  const app = runtime.mount('spec');
  for (const name of [...spec.channels.valid, ...spec.channels.invalid]) {
    let error = null;
    app.observeChannel(name, () => {}, (e) => { error = e; }).cancel();
    assert.equal(error?.code === ErrorCode.invalidChannel, spec.channels.invalid.includes(name), JSON.stringify(name));
  }
  runtime.close();
});

test('spec: what each close code does', async () => {
  for (const rule of spec.closeCodes) {
    FakeSocket.reset();
    tokens = 0;
    const runtime = makeRuntime();
    runtime.mount('spec').observeChannel('chat:lobby', () => {});
    const socket = await accept();
    const before = FakeSocket.all.length;
    socket.serverClose(rule.code);
    await settle();
    if (rule.then === 'stop') {
      assert.equal(runtime.status.state, 'closed', `${rule.code}`);
      assert.equal(runtime.status.error.code, rule.error, `${rule.code}`);
    } else if (rule.then.startsWith('reconnect with a fresh token')) {
      assert.equal(FakeSocket.all.length, before + 1, `${rule.code}: a new attempt without a backoff`);
      assert.equal(tokens, 2, `${rule.code}: with a fresh token`);
    } else {
      assert.equal(runtime.status.state, 'reconnecting', `${rule.code}`);
    }
    runtime.close();
  }
});

test('spec: expired tokens while connecting stop the runtime after the stated number in a row', async () => {
  const runtime = makeRuntime(() => 0);
  runtime.mount('spec').observeChannel('chat:lobby', () => {});
  for (let attempt = 1; attempt <= spec.expiredTokensInARowStop; attempt++) {
    await timers.advance(1);
    await settle();
    FakeSocket.last.open();
    FakeSocket.last.serverClose(4002);
    await settle();
    assert.equal(runtime.status.state === 'closed', attempt === spec.expiredTokensInARowStop, `after ${attempt}`);
  }
  assert.equal(runtime.status.error.code, ErrorCode.unauthorized);
});

test('spec: full-jitter backoff from base, multiplied per attempt, up to max', async () => {
  const { baseMilliseconds: base, maxMilliseconds: max, multiplier } = spec.backoff;
  const runtime = makeRuntime(() => 0.999);
  runtime.mount('spec').observeChannel('chat:lobby', () => {});
  await settle();
  for (let attempt = 0; attempt < 8; attempt++) {
    const before = FakeSocket.all.length;
    FakeSocket.last.serverClose(1006);
    let waited = 0;
    while (FakeSocket.all.length === before) {
      await timers.advance(1);
      waited += 1;
    }
    const ceiling = Math.min(max, base * multiplier ** attempt);
    assert.ok(Math.abs(waited - Math.floor(0.999 * ceiling)) <= 1, `attempt ${attempt}: waited ${waited} ms, ceiling ${ceiling}`);
  }
  runtime.close();
});

test('spec: the error vocabulary, and docs/BROWSER.md names exactly these codes', () => {
  const expected = [...spec.errorCodes.both, ...Object.keys(spec.errorCodes.jsOnly)].sort();
  assert.deepEqual(Object.values(ErrorCode).sort(), expected);
  const page = readFileSync(new URL('../../../docs/BROWSER.md', import.meta.url), 'utf8');
  const section = page.slice(page.indexOf('### Errors'), page.indexOf('### Options'));
  const documented = [...section.matchAll(/^\| `(\w+)`/gm)].map((match) => match[1]).sort();
  assert.deepEqual(documented, expected);
  // The Swift SDK's other codes are named too, as never raised here: both guides name the same codes.
  for (const code of Object.keys(spec.errorCodes.swiftOnly)) assert.match(section, new RegExp(`\`${code}\``), code);
});

test('spec: a live presence list: pushes held during the read apply on top of its answer; later ones as they come', async () => {
  for (const rule of spec.presence.cases) {
    FakeSocket.reset();
    const runtime = makeRuntime();
    const lists = [];
    runtime.mount('spec').observePresence('room:1', (users) => lists.push(users));
    const socket = await accept();
    socket.reply('subscribe', { channel: 'room:1', epoch: 'E', offset: 0 });
    await settle();
    for (const push of rule.heldDuringRead) socket.receive(push);
    socket.reply('presence', { channel: 'room:1', members: rule.answer });
    await settle();
    for (const push of rule.after) socket.receive(push);
    assert.deepEqual(lists, rule.lists, rule.name);
    runtime.close();
  }
});
