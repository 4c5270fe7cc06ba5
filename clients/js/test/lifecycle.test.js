// The page lifecycle in hybridsync.js: offline/online (per-tab connection), and in shared-worker
// mode a tab joining the worker again after a freeze, the back/forward cache or a worker that forgot it.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, stateKey } from '../hybridsync.js';
import { FakeSocket, FakeTimers, settle, accept } from './fakes.js';

let timers;
let tokens;

beforeEach(() => {
  FakeSocket.reset();
  timers = new FakeTimers();
  tokens = 0;
});

/** The browser's network as the runtime sees it: `onLine` and the 'online'/'offline' events. */
class FakeNetwork extends EventTarget {
  onLine = true;
  set(online) {
    this.onLine = online;
    this.dispatchEvent(new Event(online ? 'online' : 'offline'));
  }
}

function makeRuntime(options = {}) {
  return createRuntime({
    url: 'ws://127.0.0.1:9/', getToken: async () => `token-${++tokens}`, WebSocket: FakeSocket,
    timers: timers.clock(), random: () => 0.99, onError: () => {}, ...options,
  });
}

test('offline drops the socket and reports reconnecting at once; online connects at once, not after a backoff', async () => {
  const network = new FakeNetwork();
  const runtime = makeRuntime({ network });
  const values = [];
  runtime.mount('profile').observe(stateKey('moderation:users', '42'), (value) => values.push(value));
  const first = await accept();
  first.reply('subscribe', { channel: 'moderation:users', epoch: 'E', offset: 3, state: {} });
  assert.equal(runtime.status.state, 'connected');

  network.set(false);
  assert.equal(runtime.status.state, 'reconnecting', 'no network: not connected, whatever TCP says');
  assert.ok(first.closedWith, 'the socket is closed');
  await timers.advance(60_000);
  assert.equal(FakeSocket.all.length, 1, 'no attempt while offline');

  network.set(true);
  await settle();
  assert.equal(FakeSocket.all.length, 2, 'an attempt the moment the network is back');
  const second = await accept();
  assert.deepEqual(second.commands('subscribe')[0].since, { epoch: 'E', offset: 3 });
  second.reply('subscribe', { channel: 'moderation:users', epoch: 'E', offset: 4, recovered: false,
    state: { 42: { value: { banned: true }, version: 4 } } });
  assert.deepEqual(values, [null, { banned: true }]);
  runtime.close();
});

test('a runtime started offline waits for the network instead of burning attempts', async () => {
  const network = new FakeNetwork();
  network.onLine = false;
  const runtime = makeRuntime({ network });
  runtime.mount('chat').observeChannel('chat:lobby', () => {});
  await timers.advance(30_000);
  assert.equal(FakeSocket.all.length, 0);
  assert.equal(runtime.status.state, 'reconnecting');
  network.set(true);
  await accept();
  assert.equal(runtime.status.state, 'connected');
  runtime.close();
});

/** A SharedWorker whose port the test plays the worker's side of. */
class FakeSharedWorker {
  static all = [];
  constructor(url, options) {
    this.url = String(url);
    this.options = options;
    this.posted = [];
    this.port = { postMessage: (message) => this.posted.push(message), start: () => {}, onmessage: null };
    FakeSharedWorker.all.push(this);
  }
  static get last() { return FakeSharedWorker.all.at(-1); }
  deliver(message) { this.port.onmessage({ data: message }); }
  sent(t) { return this.posted.filter((m) => m.t === t); }
}

/** A page: the window and its document, with the events the runtime listens to. */
function fakePage() {
  const page = new EventTarget();
  page.document = new EventTarget();
  page.document.visibilityState = 'visible';
  page.document.hasFocus = () => true;
  return page;
}

async function inSharedMode(body) {
  globalThis.SharedWorker = FakeSharedWorker;
  FakeSharedWorker.all = [];
  try { await body(); } finally { delete globalThis.SharedWorker; }
}

test('shared mode: told to rejoin, the tab joins again with every observation and shows reconnecting until each is current', () => inSharedMode(async () => {
  const page = fakePage();
  const runtime = makeRuntime({ shared: true, page });
  const worker = FakeSharedWorker.last;
  const app = runtime.mount('profile');
  const values = [];
  const events = [];
  app.observe(stateKey('moderation:users', '42'), (value) => values.push(value));
  app.observeChannel('chat:lobby', (event) => events.push(event));
  const hello = worker.sent('hello')[0];
  const [state, channel] = worker.sent('observe');
  worker.deliver({ t: 'status', generation: hello.generation, state: 'connected', error: null });
  worker.deliver({ t: 'value', id: state.id, value: null });
  worker.deliver({ t: 'ready', id: channel.id, position: { epoch: 'E', offset: 7 } });
  assert.equal(runtime.status.state, 'connected');

  // The worker released the tab while it was frozen: its next heartbeat is answered with rejoin.
  const statuses = [];
  runtime.onStatus((status) => statuses.push(status.state));
  worker.deliver({ t: 'rejoin' });
  assert.equal(runtime.status.state, 'reconnecting', 'nothing from before is shown as current');
  const again = worker.sent('hello')[1];
  assert.equal(again.generation, hello.generation + 1);
  const [state2, channel2] = worker.sent('observe').slice(2);
  assert.notEqual(state2.id, state.id, 'observations rejoin under new ids');
  assert.deepEqual(channel2.since, { epoch: 'E', offset: 7 }, 'the channel says where it was');

  // A status queued by the worker before it released the tab is not taken for the new one.
  worker.deliver({ t: 'status', generation: hello.generation, state: 'connected', error: null });
  assert.equal(runtime.status.state, 'reconnecting');
  worker.deliver({ t: 'status', generation: again.generation, state: 'connected', error: null });
  assert.equal(runtime.status.state, 'reconnecting', 'the observations are not current yet');
  worker.deliver({ t: 'value', id: state.id, value: { banned: true } });
  assert.deepEqual(values, [null], 'a value for an id from before the rejoin is dropped');
  worker.deliver({ t: 'value', id: state2.id, value: { banned: true } });
  worker.deliver({ t: 'value', id: channel2.id, value: { type: 'resynced', channel: 'chat:lobby', from: channel2.since, to: { epoch: 'E', offset: 9 } },
    position: { epoch: 'E', offset: 9 } });
  assert.equal(runtime.status.state, 'reconnecting');
  worker.deliver({ t: 'ready', id: channel2.id, position: { epoch: 'E', offset: 9 } });
  assert.equal(runtime.status.state, 'connected');
  assert.deepEqual(values, [null, { banned: true }]);
  assert.equal(events.at(-1).type, 'resynced', 'what the tab missed is signalled');
  assert.deepEqual(statuses, ['connected', 'reconnecting', 'connected']);
  runtime.close();
}));

test('shared mode: an unchanged value after a rejoin is not repeated; resume and a cached page restored join again', () => inSharedMode(async () => {
  const page = fakePage();
  const runtime = makeRuntime({ shared: true, page });
  const worker = FakeSharedWorker.last;
  const values = [];
  runtime.mount('profile').observe(stateKey('moderation:users', '42'), (value) => values.push(value));
  const first = worker.sent('observe')[0];
  worker.deliver({ t: 'status', generation: 1, state: 'connected', error: null });
  worker.deliver({ t: 'value', id: first.id, value: null });

  page.document.dispatchEvent(new Event('resume'));
  assert.equal(worker.sent('bye').length, 1, 'the old registration is released');
  const second = worker.sent('observe')[1];
  worker.deliver({ t: 'status', generation: 2, state: 'connected', error: null });
  worker.deliver({ t: 'value', id: second.id, value: null });
  assert.deepEqual(values, [null], 'the same value is not a change');
  assert.equal(runtime.status.state, 'connected');

  // pagehide: the page may go to the back/forward cache. It leaves the worker, keeps its observations.
  page.dispatchEvent(new Event('pagehide'));
  assert.equal(worker.sent('bye').length, 2);
  const shown = new Event('pageshow');
  shown.persisted = true;
  page.dispatchEvent(shown);
  assert.equal(worker.sent('hello').length, 3);
  assert.equal(runtime.status.state, 'reconnecting');
  const third = worker.sent('observe')[2];
  worker.deliver({ t: 'status', generation: 3, state: 'connected', error: null });
  worker.deliver({ t: 'value', id: third.id, value: { banned: true } });
  assert.equal(runtime.status.state, 'connected');
  assert.deepEqual(values, [null, { banned: true }]);
  runtime.close();
}));

test('shared mode: a worker that does not answer a join is started again', () => inSharedMode(async () => {
  const runtime = makeRuntime({ shared: true, page: fakePage() });
  runtime.mount('chat').observeChannel('chat:lobby', () => {});
  assert.equal(FakeSharedWorker.all.length, 1);
  await timers.advance(3000);
  assert.equal(FakeSharedWorker.all.length, 2, 'a new worker after 3 s of silence');
  const worker = FakeSharedWorker.last;
  assert.equal(worker.sent('hello').length, 1);
  assert.equal(worker.sent('observe').length, 1, 'with every observation');
  worker.deliver({ t: 'status', generation: worker.sent('hello')[0].generation, state: 'connected', error: null });
  await timers.advance(10_000);
  assert.equal(FakeSharedWorker.all.length, 2, 'an answering worker is kept');
  runtime.close();
}));

test('leader-tab mode: when the leader says it is going the tab is not current until it joined the next leader', () => inSharedMode(async () => {
  const runtime = makeRuntime({ shared: true, page: fakePage() });
  const worker = FakeSharedWorker.last; // the port stands for the leader here: same messages
  const values = [];
  runtime.mount('profile').observe(stateKey('moderation:users', '42'), (value) => values.push(value));
  const first = worker.sent('observe')[0];
  worker.deliver({ t: 'status', generation: 1, state: 'connected', error: null });
  worker.deliver({ t: 'value', id: first.id, value: null });
  assert.equal(runtime.status.state, 'connected');

  worker.deliver({ t: 'leaderGone' });
  assert.equal(runtime.status.state, 'reconnecting');
  assert.equal(worker.sent('hello').length, 1, 'no join until a new leader announces itself');
  worker.deliver({ t: 'status', generation: 1, state: 'connected', error: null });
  assert.equal(runtime.status.state, 'reconnecting', 'what the going leader still says does not count');

  worker.deliver({ t: 'leader' });
  const hello = worker.sent('hello')[1];
  const again = worker.sent('observe')[1];
  worker.deliver({ t: 'status', generation: hello.generation, state: 'connected', error: null });
  assert.equal(runtime.status.state, 'reconnecting');
  worker.deliver({ t: 'value', id: again.id, value: { banned: true } });
  assert.equal(runtime.status.state, 'connected');
  assert.deepEqual(values, [null, { banned: true }]);
  runtime.close();
}));
