// Unit tests of hybridsync.js against a fake socket and a manual clock: `node --test clients/js/test/`.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, runtimeFor, stateKey, ErrorCode, HybridSyncError } from '../hybridsync.js';
import { FakeSocket, FakeTimers, settle, accept } from './fakes.js';

let timers;
let tokens;
let reports;

beforeEach(() => {
  FakeSocket.reset();
  timers = new FakeTimers();
  tokens = 0;
  reports = [];
});

function makeRuntime(options = {}) {
  return createRuntime({
    url: 'ws://127.0.0.1:9/',
    getToken: async () => `token-${++tokens}`,
    WebSocket: FakeSocket,
    timers: timers.clock(),
    random: () => 0.5,
    onError: (report) => reports.push(report),
    ...options,
  });
}

/** Lets time pass until the runtime opens its next socket. */
async function nextSocket() {
  const before = FakeSocket.all.length;
  let waited = 0;
  while (FakeSocket.all.length === before) {
    await timers.advance(10);
    waited += 10;
  }
  return waited;
}

const BANS = 'moderation:users';
const banned = (reason) => ({ banned: true, reason, until: null });

test('connects with the subprotocol, the token in the first command, never in the URL', async () => {
  const runtime = makeRuntime();
  runtime.mount('chat').observeChannel('chat:lobby', () => {});
  const socket = await accept();
  assert.equal(socket.protocol, 'hybridsync.v1');
  assert.equal(socket.url, 'ws://127.0.0.1:9/');
  assert.deepEqual(socket.sent[0], { id: socket.sent[0].id, op: 'connect', token: 'token-1', name: 'hybridsync.js' });
  assert.equal(runtime.status.state, 'connected');
  assert.equal(runtime.mode, 'local');
});

test('observe delivers the current value first, then changes, and never a default before the snapshot', async () => {
  const runtime = makeRuntime();
  const seen = [];
  runtime.mount('profile').observe(stateKey(BANS, '42', 'no ban'), (value) => seen.push(value));
  const socket = await accept();
  assert.deepEqual(seen, [], 'nothing before the snapshot');
  socket.reply('subscribe', { channel: BANS, epoch: 'E', offset: 3, state: { 42: { value: banned('spam'), version: 3 } } });
  assert.deepEqual(seen, [banned('spam')]);
  socket.receive({ push: 'publication', channel: BANS, offset: 4, key: '7', data: banned('other') });
  assert.equal(seen.length, 1, 'another key does not repeat the value');
  socket.receive({ push: 'publication', channel: BANS, offset: 5, key: '42', removed: true, data: null });
  assert.deepEqual(seen, [banned('spam'), 'no ban']);

  const late = [];
  runtime.mount('late').observe({ channel: BANS }, (value) => late.push(value));
  assert.deepEqual(late, [{ 7: banned('other') }], 'a late observer gets the current map at once, no second subscribe');
  assert.equal(socket.commands('subscribe').length, 1);
});

test('observe on a namespace without retained state ends with stateNotRetained', async () => {
  const runtime = makeRuntime();
  let ended;
  runtime.mount('a').observe(stateKey('chat:lobby', 'x'), () => assert.fail('no value'), (error) => { ended = error; });
  const socket = await accept();
  socket.reply('subscribe', { channel: 'chat:lobby', epoch: 'E', offset: 0 });
  assert.equal(ended.code, ErrorCode.stateNotRetained);
});

test('micro-apps share one subscription per channel; the last unmount unsubscribes after the linger', async () => {
  const runtime = makeRuntime();
  const chat = runtime.mount('chat');
  const profile = runtime.mount('profile');
  chat.observe({ channel: BANS }, () => {});
  profile.observe(stateKey(BANS, '42'), () => {});
  const socket = await accept();
  socket.reply('subscribe', { channel: BANS, epoch: 'E', offset: 0, state: {} });
  assert.equal(socket.commands('subscribe').length, 1);

  chat.unmount();
  profile.unmount();
  await timers.advance(500);
  const again = runtime.mount('chat-again');
  again.observe({ channel: BANS }, () => {});
  await timers.advance(2000);
  assert.equal(socket.commands('unsubscribe').length, 0, 'a remount within the linger keeps the subscription');
  assert.equal(socket.commands('subscribe').length, 1);

  again.unmount();
  await timers.advance(999);
  assert.equal(socket.commands('unsubscribe').length, 0);
  await timers.advance(1);
  assert.deepEqual(socket.commands('unsubscribe').map((c) => c.channel), [BANS]);
});

test('a dropped connection reconnects with full-jitter backoff and recovers from the last position', async () => {
  const runtime = makeRuntime();
  const events = [];
  runtime.mount('chat').observeChannel('chat:lobby', (event) => events.push(event));
  const first = await accept();
  first.reply('subscribe', { channel: 'chat:lobby', epoch: 'E', offset: 4 });
  first.receive({ push: 'publication', channel: 'chat:lobby', offset: 5, data: 'a' });
  first.serverClose(1006);
  assert.equal(runtime.status.state, 'reconnecting');

  // random() = 0.5, first attempt: a delay in [0, 500 ms) → 250 ms.
  await timers.advance(249);
  assert.equal(FakeSocket.all.length, 1);
  await timers.advance(1);
  const second = await accept();
  assert.equal(second.sent[0].token, 'token-2', 'a fresh token for every attempt');
  const resubscribe = second.commands('subscribe')[0];
  assert.deepEqual(resubscribe.since, { epoch: 'E', offset: 5 });
  second.reply('subscribe', { channel: 'chat:lobby', epoch: 'E', offset: 7, recovered: true });
  second.receive(
    { push: 'publication', channel: 'chat:lobby', offset: 6, data: 'b' },
    { push: 'publication', channel: 'chat:lobby', offset: 7, data: 'c' },
  );
  assert.deepEqual(events.map((e) => e.data), ['a', 'b', 'c']);
  assert.ok(events.every((e) => e.type === 'publication'));
});

test('the backoff doubles per failed attempt up to its ceiling and resets after a connect', async () => {
  makeRuntime({ random: () => 0.999 }).mount('a').observeChannel('chat:lobby', () => {});
  const delays = [];
  for (let attempt = 0; attempt < 8; attempt++) {
    await settle();
    FakeSocket.last.serverClose(1006);
    delays.push(await nextSocket());
  }
  // ceilings 500, 1000, 2000 … capped at 20000, times 0.999
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 15990, 19980, 19980]);
});

test('recovered:false replaces the state and signals the gap before the next publication', async () => {
  const runtime = makeRuntime();
  const values = [];
  const events = [];
  const app = runtime.mount('profile');
  app.observe(stateKey(BANS, '42'), (value) => values.push(value));
  app.observeChannel(BANS, (event) => events.push(event));
  const first = await accept();
  first.reply('subscribe', { channel: BANS, epoch: 'E1', offset: 2, state: { 42: { value: banned('a'), version: 2 } } });
  first.serverClose(4000);
  await timers.advance(1000);
  const second = await accept();
  second.reply('subscribe', { channel: BANS, epoch: 'E2', offset: 1, recovered: false, state: {} });
  second.receive({ push: 'publication', channel: BANS, offset: 2, key: '9', data: banned('b') });
  assert.deepEqual(values, [banned('a'), null]);
  assert.deepEqual(events[0], { type: 'resynced', channel: BANS, from: { epoch: 'E1', offset: 2 }, to: { epoch: 'E2', offset: 1 } });
  assert.equal(events[1].offset, 2);
});

test('a gap on a live stream resubscribes from the position held; duplicates are dropped', async () => {
  const runtime = makeRuntime();
  const seen = [];
  runtime.mount('chat').observeChannel('chat:lobby', (event) => seen.push(event.offset));
  const socket = await accept();
  socket.reply('subscribe', { channel: 'chat:lobby', epoch: 'E', offset: 1 });
  socket.receive({ push: 'publication', channel: 'chat:lobby', offset: 1, data: 0 });
  socket.receive({ push: 'publication', channel: 'chat:lobby', offset: 2, data: 0 });
  socket.receive({ push: 'publication', channel: 'chat:lobby', offset: 4, data: 0 });
  assert.deepEqual(seen, [2]);
  assert.equal(socket.commands('unsubscribe').length, 1);
  assert.deepEqual(socket.commands('subscribe').at(-1).since, { epoch: 'E', offset: 2 });
});

test('ping pushes are answered; silence for ping + pong seconds drops the socket and reconnects', async () => {
  const runtime = makeRuntime();
  runtime.mount('a').observeChannel('chat:lobby', () => {});
  const socket = await accept({ ping: 2, pong: 1 });
  socket.receive({ push: 'ping' });
  assert.equal(socket.commands('ping').length, 1);
  await timers.advance(2999);
  assert.equal(socket.closedWith, null);
  await timers.advance(1);
  assert.equal(socket.closedWith?.code, 4000);
  assert.equal(runtime.status.state, 'reconnecting');
  await timers.advance(500);
  assert.equal(FakeSocket.all.length, 2);
});

test('a ban stops the runtime: banned status, observers ended, no reconnect', async () => {
  const runtime = makeRuntime();
  const statuses = [];
  const app = runtime.mount('chat');
  app.onStatus((status) => statuses.push(status.state));
  let ended;
  app.observeChannel('chat:lobby', () => {}, (error) => { ended = error; });
  const socket = await accept();
  socket.receive({ push: 'banned', reason: 'spam', until: null }, { push: 'disconnect', code: 4501, reason: 'banned', reconnect: false });
  socket.serverClose(4501);
  assert.equal(runtime.status.state, 'closed');
  assert.ok(runtime.status.error instanceof HybridSyncError);
  assert.equal(runtime.status.error.code, ErrorCode.banned);
  assert.deepEqual(runtime.status.error.ban, { reason: 'spam', until: null });
  assert.equal(runtime.status.error.closeCode, 4501);
  assert.equal(ended.code, ErrorCode.banned);
  assert.deepEqual(statuses, ['connecting', 'connected', 'closed']);
  await timers.advance(60000);
  assert.equal(FakeSocket.all.length, 1, 'never reconnects');
  await assert.rejects(runtime.publish('chat:lobby', 'x'), { code: ErrorCode.banned });
});

test('terminal codes: 4500 unauthorized, 4504 disconnected', async () => {
  for (const [code, expected] of [[4500, ErrorCode.unauthorized], [4504, ErrorCode.disconnected]]) {
    FakeSocket.reset();
    const runtime = makeRuntime();
    runtime.mount('a').observeChannel('chat:lobby', () => {});
    (await accept()).serverClose(code);
    assert.equal(runtime.status.error.code, expected);
    assert.equal(runtime.status.error.closeCode, code);
  }
});

test('4002 on a live connection reconnects at once with a fresh token; three while connecting stop it', async () => {
  const runtime = makeRuntime();
  runtime.mount('a').observeChannel('chat:lobby', () => {});
  (await accept()).serverClose(4002);
  await settle();
  assert.equal(FakeSocket.all.length, 2, 'no backoff');
  for (let i = 0; i < 3; i++) {
    await settle();
    const socket = FakeSocket.last;
    socket.open();
    socket.refuse('connect', { code: 109, message: 'token expired', temporary: true });
    socket.serverClose(4002);
    if (i < 2) await nextSocket();
  }
  await timers.advance(60000);
  assert.equal(runtime.status.error.code, ErrorCode.unauthorized);
  assert.equal(FakeSocket.all.length, 4);
});

test('publish: queued while offline, answered with the offset; refusals are typed', async () => {
  const runtime = makeRuntime();
  const app = runtime.mount('chat');
  const published = app.publish('chat:lobby', { text: 'hi' });
  const socket = await accept();
  socket.reply('publish', { offset: 8 });
  assert.deepEqual(await published, { offset: 8 });

  const refused = app.publish('chat:lobby', 'x');
  socket.refuse('publish', { code: 103, message: 'permission denied', temporary: false });
  await assert.rejects(refused, (error) => error.code === ErrorCode.serverRefused && error.serverError.code === 103);

  await assert.rejects(app.publish('no colon', 'x'), { code: ErrorCode.invalidChannel });
  assert.equal(socket.commands('publish').length, 2, 'an invalid channel sends nothing');

  const lost = app.publish('chat:lobby', 'y');
  socket.serverClose(1006);
  await assert.rejects(lost, { code: ErrorCode.connectionLost });
});

test('publish times out after commandTimeout, offline time included, and is never sent after', async () => {
  const runtime = makeRuntime({ commandTimeout: 1000 });
  runtime.mount('a').observeChannel('chat:lobby', () => {});
  await settle();
  FakeSocket.last.serverClose(1006); // offline
  const waiting = runtime.publish('chat:lobby', 'late');
  const outcome = waiting.catch((error) => error);
  await timers.advance(1000);
  assert.equal((await outcome).code, ErrorCode.timeout);
  const socket = await accept();
  assert.equal(socket.commands('publish').length, 0);
});

test('more than offlineQueueLimit offline publishes are refused with offlineQueueFull', async () => {
  const runtime = makeRuntime({ offlineQueueLimit: 2 });
  runtime.publish('chat:lobby', 1);
  runtime.publish('chat:lobby', 2);
  await assert.rejects(runtime.publish('chat:lobby', 3), { code: ErrorCode.offlineQueueFull });
});

test('a throwing callback is reported with its app; other observers still get the value', async () => {
  const runtime = makeRuntime();
  const good = [];
  runtime.mount('broken').observe({ channel: BANS }, () => { throw new Error('boom'); });
  runtime.mount('fine').observe({ channel: BANS }, (value) => good.push(value));
  const socket = await accept();
  socket.reply('subscribe', { channel: BANS, epoch: 'E', offset: 0, state: {} });
  assert.deepEqual(good, [{}]);
  assert.equal(reports[0].app, 'broken');
  assert.equal(reports[0].error.message, 'boom');
});

test('unmount ends what the app observes; an unmounted app refuses new work', async () => {
  const runtime = makeRuntime();
  const app = runtime.mount('chat');
  const seen = [];
  app.observeChannel('chat:lobby', (event) => seen.push(event));
  const socket = await accept();
  socket.reply('subscribe', { channel: 'chat:lobby', epoch: 'E', offset: 0 });
  app.unmount();
  socket.receive({ push: 'publication', channel: 'chat:lobby', offset: 1, data: 'x' });
  assert.deepEqual(seen, []);
  assert.throws(() => app.observeChannel('chat:lobby', () => {}), { code: ErrorCode.unmounted });
  await assert.rejects(app.publish('chat:lobby', 1), { code: ErrorCode.unmounted });
});

test('close() closes the socket and refuses new work; a bad URL or channel fails at once with a typed error', async () => {
  const runtime = makeRuntime();
  let ended = null;
  runtime.mount('a').observeChannel('chat:lobby', () => {}, (error) => { ended = error; });
  await accept();
  runtime.close();
  assert.equal(ended, null, 'unmounted observations are cancelled, not failed');
  assert.equal(FakeSocket.last.closedWith.code, 1000);
  assert.equal(runtime.status.error.code, ErrorCode.closed);
  await assert.rejects(runtime.publish('chat:lobby', 1), { code: ErrorCode.closed });

  const bad = makeRuntime({ url: 'http://example.com/' });
  assert.equal(bad.status.error.code, ErrorCode.invalidURL);
  let invalid;
  makeRuntime().mount('a').observeChannel('Chat', () => {}, (error) => { invalid = error; });
  assert.equal(invalid.code, ErrorCode.invalidChannel);
});

test('shared mode falls back to one connection per tab where SharedWorker is missing', async () => {
  assert.equal(typeof SharedWorker, 'undefined');
  const runtime = makeRuntime({ shared: true });
  assert.equal(runtime.mode, 'local');
  runtime.mount('a').observeChannel('chat:lobby', () => {});
  await accept();
  assert.equal(runtime.status.state, 'connected');
});

test('a line that is not JSON is reported to onError as protocolViolation and skipped; the next line applies', async () => {
  const runtime = makeRuntime();
  const seen = [];
  runtime.mount('chat').observeChannel('chat:lobby', (event) => seen.push(event.data));
  const socket = await accept();
  socket.reply('subscribe', { channel: 'chat:lobby', epoch: 'E', offset: 0 });
  socket.onmessage({ data: 'not json\n' + JSON.stringify({ push: 'publication', channel: 'chat:lobby', offset: 1, data: 'ok' }) });
  assert.equal(reports[0].error.code, ErrorCode.protocolViolation);
  assert.deepEqual(seen, ['ok']);
  assert.equal(runtime.status.state, 'connected');
  runtime.close();
});

test('frames with several newline-separated messages are all applied in order', async () => {
  const runtime = makeRuntime();
  const seen = [];
  runtime.mount('a').observeChannel('chat:lobby', (event) => seen.push(event.data));
  const socket = await accept();
  socket.onmessage({ data: `${JSON.stringify({ id: socket.commands('subscribe')[0].id, result: { channel: 'chat:lobby', epoch: 'E', offset: 0 } })}\n`
    + `${JSON.stringify({ push: 'publication', channel: 'chat:lobby', offset: 1, data: 'x', extra: true })}\n\n`
    + 'not json\n'
    + `${JSON.stringify({ push: 'publication', channel: 'chat:lobby', offset: 2, data: 'y' })}` });
  assert.deepEqual(seen, ['x', 'y']);
  assert.equal(reports.length, 1, 'the unreadable line is reported');
});

test('runtimeFor gives every caller on the page the same runtime for a URL: one socket', async () => {
  const options = { url: 'ws://127.0.0.1:9/shared-test', getToken: async () => 't', WebSocket: FakeSocket, timers: timers.clock() };
  const first = runtimeFor(options);
  const second = runtimeFor({ ...options, name: 'ignored' });
  assert.equal(first, second);
  first.mount('chat').observeChannel('chat:lobby', () => {});
  second.mount('profile').observeChannel('chat:lobby', () => {});
  await accept();
  assert.equal(FakeSocket.all.length, 1);
  assert.equal(FakeSocket.last.commands('subscribe').length, 1);
  first.close();
  assert.notEqual(runtimeFor(options), first, 'a closed runtime is replaced');
});

/** A SharedWorker whose port the test plays the worker's side of. */
class FakeSharedWorker {
  static last = null;

  constructor(url, options) {
    this.url = String(url);
    this.options = options;
    this.posted = [];
    this.port = { postMessage: (message) => this.posted.push(message), start: () => {}, onmessage: null };
    FakeSharedWorker.last = this;
  }

  /** A message from the worker to the tab. */
  deliver(message) { this.port.onmessage({ data: message }); }

  sent(t) { return this.posted.filter((m) => m.t === t); }
}

test('shared mode: the tab speaks to the worker; values, status and token requests cross the port', async () => {
  globalThis.SharedWorker = FakeSharedWorker;
  try {
    const runtime = makeRuntime({ shared: true, sharedName: 'u42' });
    assert.equal(runtime.mode, 'shared-worker');
    const worker = FakeSharedWorker.last;
    assert.equal(worker.options.type, 'module');
    assert.equal(worker.options.name, 'hybridsync:u42:ws://127.0.0.1:9/');
    assert.ok(worker.url.endsWith('/hybridsync.js'), 'the worker runs this same module');
    const hello = worker.sent('hello')[0];
    assert.equal(hello.options.url, 'ws://127.0.0.1:9/');
    assert.equal(hello.options.getToken, undefined, 'functions stay in the tab');

    const values = [];
    const observation = runtime.mount('profile').observe(stateKey(BANS, '42'), (value) => values.push(value));
    const observe = worker.sent('observe')[0];
    assert.deepEqual({ kind: observe.kind, channel: observe.channel, key: observe.key }, { kind: 'state', channel: BANS, key: '42' });
    worker.deliver({ t: 'value', id: observe.id, value: banned('spam') });
    assert.deepEqual(values, [banned('spam')]);

    worker.deliver({ t: 'status', generation: hello.generation, state: 'connected', error: null });
    assert.equal(runtime.status.state, 'connected');

    worker.deliver({ t: 'token?', id: 5 });
    await settle();
    assert.deepEqual(worker.sent('token')[0], { t: 'token', id: 5, token: 'token-1' });

    observation.cancel();
    assert.deepEqual(worker.sent('cancel').map((m) => m.id), [observe.id]);
    runtime.close();
    assert.equal(worker.sent('bye').length, 1);
  } finally {
    delete globalThis.SharedWorker;
  }
});

test('shared mode: a worker that fails hands its observations to a connection of the tab', async () => {
  globalThis.SharedWorker = FakeSharedWorker;
  try {
    const runtime = makeRuntime({ shared: true });
    const seen = [];
    const statuses = [];
    runtime.onStatus((status) => statuses.push(status.state));
    runtime.mount('chat').observeChannel('chat:lobby', (event) => seen.push(event.data));
    FakeSharedWorker.last.onerror({ message: 'script failed to load' });
    assert.equal(runtime.mode, 'local');
    assert.match(String(reports[0].error), /script failed to load/);
    const socket = await accept();
    socket.reply('subscribe', { channel: 'chat:lobby', epoch: 'E', offset: 0 });
    socket.receive({ push: 'publication', channel: 'chat:lobby', offset: 1, data: 'still here' });
    assert.deepEqual(seen, ['still here']);
    assert.equal(statuses.at(-1), 'connected', 'status listeners moved over too');
    runtime.close();
  } finally {
    delete globalThis.SharedWorker;
  }
});

test('a publish over the advertised maxMessageBytes is refused locally with messageTooBig; the connection stays', async () => {
  const runtime = makeRuntime();
  const app = runtime.mount('chat');
  app.observeChannel('chat:room', () => {});
  const socket = await accept({ limits: { maxMessageBytes: 200, commandsPerSecond: 50, commandBurst: 100 } });
  const sentBefore = socket.sent.length;
  await assert.rejects(app.publish('chat:room', 'x'.repeat(300)), (error) => error.code === ErrorCode.messageTooBig);
  assert.equal(socket.sent.length, sentBefore, 'nothing was sent');
  assert.equal(socket.closedWith, null, 'the shared connection is still open');
  const small = app.publish('chat:room', 'hi');
  await settle();
  assert.equal(socket.commands('publish').length, 1);
  socket.reply('publish', { offset: 1 });
  assert.deepEqual(await small, { offset: 1 });
});

test('runtimeFor: one runtime for every spelling of a URL; two loopback names for one server are reported', async () => {
  globalThis[Symbol.for('hybridsync.runtimes')]?.clear();
  const getToken = async () => 't';
  const clock = timers.clock();
  const options = (url) => ({ url, getToken, WebSocket: FakeSocket, timers: clock, onError: (r) => reports.push(r) });
  const first = runtimeFor(options('ws://127.0.0.1:9/'));
  assert.equal(runtimeFor(options('ws://127.0.0.1:9')), first);
  assert.equal(runtimeFor(options('WS://127.0.0.1:9/')), first);
  assert.equal(runtimeFor(options('ws://127.0.0.1:80/x')), runtimeFor(options('ws://127.0.0.1/x')), 'the default port is dropped');
  assert.equal(reports.length, 0);
  const other = runtimeFor(options('ws://localhost:9/'));
  assert.notEqual(other, first);
  assert.match(reports[0].error.message, /two runtimes target one server: ws:\/\/127\.0\.0\.1:9\/ and ws:\/\/localhost:9\//);
  first.mount('a').observeChannel('chat:lobby', () => {});
  await settle();
  assert.equal(FakeSocket.last.url, 'ws://127.0.0.1:9/', 'the socket opens the normal form');
  for (const runtime of [first, other]) runtime.close();
});

test('a second copy of the module: the same version, errors recognised by instanceof across copies, another major reported', async () => {
  globalThis[Symbol.for('hybridsync.runtimes')]?.clear();
  const copy = await import('../hybridsync.js?copy=2');
  const { version } = await import('../hybridsync.js');
  assert.match(version, /^\d+\.\d+\.\d+$/);
  assert.equal(copy.version, version);
  assert.notEqual(copy.HybridSyncError, HybridSyncError, 'two copies, two classes');
  assert.ok(new copy.HybridSyncError(ErrorCode.banned, 'x') instanceof HybridSyncError);
  assert.ok(new HybridSyncError(ErrorCode.banned, 'x') instanceof copy.HybridSyncError);
  assert.ok(!(new Error('x') instanceof HybridSyncError));

  const options = { url: 'ws://127.0.0.1:9/', getToken: async () => 't', WebSocket: FakeSocket, timers: timers.clock(), onError: (r) => reports.push(r) };
  const mine = runtimeFor(options);
  assert.equal(copy.runtimeFor(options), mine, 'copies share the page runtime');
  assert.equal(reports.length, 0);
  // A copy of another major version finds it: shared, and reported.
  [...globalThis[Symbol.for('hybridsync.runtimes')].values()][0].version = '9.0.0';
  assert.equal(copy.runtimeFor(options), mine);
  assert.match(reports[0].error.message, /is \d+\.\d+\.\d+, the page's runtime for ws:\/\/127\.0\.0\.1:9\/ comes from 9\.0\.0/);
  mine.close();
});

test('backfill loads what history holds after a position; complete only when nothing is missing; notConnected offline', async () => {
  const runtime = makeRuntime();
  const app = runtime.mount('chat');
  app.observeChannel('chat:room', () => {});
  await assert.rejects(app.backfill('chat:room', { epoch: 'E', offset: 3 }), (error) => error.code === ErrorCode.notConnected);
  const socket = await accept();
  const loading = app.backfill('chat:room', { epoch: 'E', offset: 3 });
  await settle();
  const command = socket.commands('history')[0];
  assert.deepEqual(command.since, { epoch: 'E', offset: 3 });
  socket.receive({ id: command.id, result: { channel: 'chat:room', epoch: 'E', offset: 5, publications: [
    { channel: 'chat:room', offset: 3, data: 'old' }, { channel: 'chat:room', offset: 4, data: 'a' }, { channel: 'chat:room', offset: 5, data: 'b' }] } });
  const backfill = await loading;
  assert.deepEqual(backfill.publications.map((p) => p.data), ['a', 'b']);
  assert.equal(backfill.complete, true);
  assert.deepEqual(backfill.position, { epoch: 'E', offset: 5 });

  const partial = app.backfill('chat:room', { epoch: 'E', offset: 1 });
  await settle();
  socket.receive({ id: socket.commands('history')[1].id, result: { channel: 'chat:room', epoch: 'E', offset: 5, publications: [
    { channel: 'chat:room', offset: 4, data: 'a' }, { channel: 'chat:room', offset: 5, data: 'b' }] } });
  assert.equal((await partial).complete, false, 'offsets 2 and 3 are gone from history');
  runtime.close();
});

test('runtimeFor: the first caller configures; a later caller\'s other options are reported to it; each micro-app has its own error channel', async () => {
  globalThis[Symbol.for('hybridsync.runtimes')]?.clear();
  const shellToken = async () => 'shell-token';
  const shell = runtimeFor({ url: 'ws://127.0.0.1:9/', getToken: shellToken, name: 'shell', WebSocket: FakeSocket, timers: timers.clock(), random: () => 0.5 });
  const cartReports = [];
  const cart = runtimeFor({ url: 'ws://127.0.0.1:9/', onError: (r) => cartReports.push(r) });
  assert.equal(cart, shell);
  assert.equal(cartReports.length, 0, 'url and onError alone: nothing ignored');
  const searchReports = [];
  runtimeFor({ url: 'ws://127.0.0.1:9/', getToken: async () => 'other', name: 'search', linger: 5, onError: (r) => searchReports.push(r) });
  assert.equal(searchReports.length, 1);
  assert.match(searchReports[0].error.message, /configured by its first caller \(shell\); these options are ignored: getToken, name, linger/);

  // Errors inside one micro-app's callbacks go to its own channel, not another's.
  const cartErrors = [];
  const app = shell.mount('cart', { onError: (r) => cartErrors.push(r) });
  app.observeChannel('chat:lobby', () => { throw new Error('cart bug'); });
  const socket = await accept();
  assert.equal(socket.sent[0].token, 'shell-token', 'the shell\'s getToken is used');
  socket.reply('subscribe', { channel: 'chat:lobby', epoch: 'E', offset: 0 });
  socket.receive({ push: 'publication', channel: 'chat:lobby', offset: 1, data: 'x' });
  assert.deepEqual(cartErrors.map((r) => [r.app, String(r.error.message)]), [['cart', 'cart bug']]);
  shell.close();
});

test('diagnostics: apps with their channels, channels with holders, status, position and linger, queues', async () => {
  const runtime = makeRuntime();
  const chat = runtime.mount('chat');
  chat.observeChannel('chat:lobby', () => {});
  chat.observe(stateKey(BANS, '42'), () => {});
  const profile = runtime.mount('profile');
  const watch = profile.observe(stateKey(BANS, '7'), () => {});
  const offline = await runtime.diagnostics();
  assert.equal(offline.mode, 'local');
  assert.deepEqual(offline.channels.map((c) => [c.name, c.holders, c.status]), [['chat:lobby', 1, 'offline'], [BANS, 2, 'offline']]);
  const socket = await accept();
  socket.reply('subscribe', { channel: BANS, epoch: 'E', offset: 4, state: {} });
  const publishing = runtime.mount('cart').publish('chat:lobby', 'hi').catch((error) => error.code);
  watch.cancel();
  const now = await runtime.diagnostics();
  assert.equal(now.connection, 'connected');
  assert.equal(now.reconnects, 0);
  assert.deepEqual(now.apps.map((a) => [a.name, a.channels, a.observers]),
    [['cart', [], 0], ['chat', ['chat:lobby', BANS], 2], ['profile', [], 0]]);
  const bans = now.channels.find((c) => c.name === BANS);
  assert.deepEqual([bans.holders, bans.status, bans.position, bans.lingering], [1, 'active', { epoch: 'E', offset: 4 }, false]);
  assert.equal(now.channels.find((c) => c.name === 'chat:lobby').status, 'pending');
  assert.ok(now.inFlight >= 2, 'the chat subscribe and the publish await replies');
  socket.serverClose(1006);
  await timers.advance(1);
  const dropped = await runtime.diagnostics();
  assert.equal(dropped.connection, 'reconnecting');
  assert.equal(dropped.lastError, 'the connection closed with 1006');
  assert.equal(await publishing, ErrorCode.connectionLost);
  runtime.close();
});

test('subscription tokens: the micro-app provider is asked before the subscribe and before expiry (sub_refresh, no reconnect); a failing provider ends only that observation', async () => {
  const runtime = makeRuntime();
  const asked = [];
  const billing = runtime.mount('billing', { subscriptionToken: async (channel) => { asked.push(channel); return `sub-${asked.length}`; } });
  const events = [];
  billing.observeChannel('billing:invoices', (event) => events.push(event));
  runtime.mount('chat').observeChannel('chat:lobby', () => {});
  const socket = await accept();
  await settle();
  const subscribe = socket.commands('subscribe').find((c) => c.channel === 'billing:invoices');
  assert.equal(subscribe.token, 'sub-1');
  assert.equal(socket.commands('subscribe').find((c) => c.channel === 'chat:lobby').token, undefined, 'no provider, no token');
  socket.receive({ id: subscribe.id, result: { channel: 'billing:invoices', epoch: 'E', offset: 0, ttl: 20 } });

  await timers.advance(14_000);
  assert.equal(socket.commands('sub_refresh').length, 0, 'not before 5 s before expiry (90 % of 20 s would be later)');
  await timers.advance(1_000);
  await settle();
  const refresh = socket.commands('sub_refresh')[0];
  assert.deepEqual(refresh, { id: refresh.id, op: 'sub_refresh', channel: 'billing:invoices', token: 'sub-2' });
  socket.receive({ id: refresh.id, result: { channel: 'billing:invoices', ttl: 60 } });
  socket.receive({ push: 'publication', channel: 'billing:invoices', offset: 1, data: 'invoice 1' });
  assert.equal(events.length, 1, 'the subscription lives on');
  assert.equal(FakeSocket.all.length, 1, 'no reconnect');

  let ended;
  runtime.mount('broken', { subscriptionToken: () => { throw new Error('backend down'); } })
    .observeChannel('billing:reports', () => assert.fail('no events'), (error) => { ended = error; });
  await settle();
  assert.equal(ended.code, ErrorCode.subscriptionToken);
  assert.equal(socket.commands('subscribe').filter((c) => c.channel === 'billing:reports').length, 0, 'nothing was sent');
  assert.equal(runtime.status.state, 'connected');
});

test('an unsubscribed push (the token expired) ends that channel\'s observers with serverRefused 117; the connection stays', async () => {
  const runtime = makeRuntime();
  let ended;
  runtime.mount('billing', { subscriptionToken: (channel) => `sub-for-${channel}` })
    .observeChannel('billing:invoices', () => {}, (error) => { ended = error; });
  const socket = await accept();
  await settle();
  socket.reply('subscribe', { channel: 'billing:invoices', epoch: 'E', offset: 0, ttl: 1 });
  socket.receive({ push: 'unsubscribed', channel: 'billing:invoices', code: 117, message: 'the subscription token expired', temporary: true });
  assert.equal(ended.code, ErrorCode.serverRefused);
  assert.equal(ended.serverError.code, 117);
  assert.equal(runtime.status.state, 'connected');
  await timers.advance(5_000);
  assert.equal(socket.commands('sub_refresh').length, 0, 'no refresh for a subscription that ended');
});

test('presence: a micro-app asks who is present on a channel it observes, and how many', async () => {
  const runtime = makeRuntime();
  const room = runtime.mount('room');
  room.observeChannel('room:1', () => {});
  const socket = await accept();
  socket.reply('subscribe', { channel: 'room:1', epoch: 'E', offset: 0 });
  const members = room.presence('room:1');
  await settle();
  socket.reply('presence', { channel: 'room:1', members: [{ user: '1', contexts: 2, info: null }] });
  assert.deepEqual(await members, [{ user: '1', contexts: 2, info: null }]);
  const stats = room.presence('room:1', { stats: true });
  await settle();
  assert.deepEqual(socket.commands('presence_stats').at(-1).channel, 'room:1');
  socket.reply('presence_stats', { channel: 'room:1', users: 1, contexts: 2 });
  assert.deepEqual(await stats, { users: 1, contexts: 2 });
});

test('observePresence: the read is the list, pushes that came while it was out apply on top; joins, leaves and info changes follow', async () => {
  const runtime = makeRuntime();
  const room = runtime.mount('room');
  const lists = [];
  room.observePresence('room:1', (users) => lists.push(users));
  const socket = await accept();
  socket.reply('subscribe', { channel: 'room:1', epoch: 'E', offset: 0 });
  await settle();
  assert.equal(socket.commands('presence').length, 1, 'one read once subscribed');
  socket.receive({ push: 'leave', channel: 'room:1', user: '2' }, { push: 'join', channel: 'room:1', user: '3', info: { name: 'C' } });
  assert.deepEqual(lists, [], 'nothing before the read answers');
  socket.reply('presence', { channel: 'room:1', members: [{ user: '1', contexts: 1, info: null }, { user: '2', contexts: 1, info: null }] });
  await settle();
  assert.deepEqual(lists, [[{ user: '1', info: null }, { user: '3', info: { name: 'C' } }]], 'the held leave and join applied on top');

  socket.receive({ push: 'join', channel: 'room:1', user: '3', info: { name: 'C' } });
  socket.receive({ push: 'leave', channel: 'room:1', user: '9' });
  assert.equal(lists.length, 1, 'a join of a present user with the same info, a leave of an absent one: no list');
  socket.receive({ push: 'presence_update', channel: 'room:1', user: '3', info: { name: 'Cee' } });
  socket.receive({ push: 'leave', channel: 'room:1', user: '1' });
  assert.deepEqual(lists.slice(1), [[{ user: '1', info: null }, { user: '3', info: { name: 'Cee' } }], [{ user: '3', info: { name: 'Cee' } }]]);

  const late = [];
  room.observePresence('room:1', (users) => late.push(users));
  assert.deepEqual(late, [[{ user: '3', info: { name: 'Cee' } }]], 'a second follower gets the current list at once');
  assert.equal(socket.commands('presence').length, 1, 'and no second read');
});

test('observePresence: after a reconnect the list is read again; where the namespace keeps no presence it ends with 114; the last follower gone, the channel is left', async () => {
  const runtime = makeRuntime();
  const room = runtime.mount('room');
  const lists = [];
  const observation = room.observePresence('room:1', (users) => lists.push(users));
  let ended;
  room.observePresence('chat:lobby', () => assert.fail('no list'), (error) => { ended = error; });
  const first = await accept();
  first.receive(...first.commands('subscribe').map((c) => ({ id: c.id, result: { channel: c.channel, epoch: 'E', offset: 0 } })));
  await settle();
  first.refuse('presence', { code: 114, message: 'namespace chat keeps no presence', temporary: false });
  const read = first.commands('presence').find((c) => c.channel === 'room:1');
  first.receive({ id: read.id, result: { channel: 'room:1', members: [{ user: '1', contexts: 1, info: null }] } });
  await settle();
  assert.equal(ended?.code, ErrorCode.serverRefused);
  assert.equal(ended.serverError.code, 114);
  assert.deepEqual(lists, [[{ user: '1', info: null }]]);

  first.serverClose(1006);
  await nextSocket();
  const second = await accept();
  const resubscribe = second.commands('subscribe').find((c) => c.channel === 'room:1');
  second.receive({ id: resubscribe.id, result: { channel: 'room:1', epoch: 'E', offset: 0, recovered: true } });
  await settle();
  second.reply('presence', { channel: 'room:1', members: [{ user: '1', contexts: 1, info: null }, { user: '2', contexts: 1, info: 'x' }] });
  await settle();
  assert.deepEqual(lists.at(-1), [{ user: '1', info: null }, { user: '2', info: 'x' }], 'the user who joined while offline');

  observation.cancel();
  await timers.advance(60_000);
  assert.deepEqual(second.commands('unsubscribe').map((c) => c.channel), ['room:1'], 'left after the linger');
  assert.deepEqual((await runtime.diagnostics()).channels, [], 'chat:lobby too, its follower ended');
});
