// The SharedWorker's side of hybridsync.js, run in node: the module hosts the worker when it finds
// itself in a SharedWorkerGlobalScope, which this file makes globalThis look like before importing it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeSocket, FakeTimers, settle } from './fakes.js';

globalThis.SharedWorkerGlobalScope = class { static [Symbol.hasInstance](value) { return value === globalThis; } };
await import('../hybridsync.js?worker');
const connect = globalThis.onconnect;
delete globalThis.SharedWorkerGlobalScope;

/** One tab's port into the worker. */
class TabPort {
  received = [];
  constructor() { connect({ ports: [this] }); }
  start() {}
  postMessage(message) { this.received.push(message); }
  send(message) { this.onmessage({ data: message }); }
  got(t) { return this.received.filter((m) => m.t === t); }
}

const timers = new FakeTimers();
const options = { url: 'ws://127.0.0.1:9/', WebSocket: FakeSocket, timers: timers.clock(), random: () => 0.5, linger: 1000, onError: () => {} };

test('the worker: a tab it does not know is told to rejoin; since on a rejoined channel gives resynced, then ready', async () => {
  const stranger = new TabPort();
  stranger.send({ t: 'beat', visible: true, focused: false });
  stranger.send({ t: 'observe', id: 1, kind: 'state', channel: 'moderation:users', key: '42' });
  assert.equal(stranger.got('rejoin').length, 2, 'anything but hello from an unknown tab is answered with rejoin');

  const tab = new TabPort();
  tab.send({ t: 'hello', generation: 1, options, visible: true, focused: true });
  assert.deepEqual(tab.got('status')[0], { t: 'status', generation: 1, state: 'connecting', error: null });
  tab.send({ t: 'observe', id: 1, kind: 'channel', channel: 'chat:lobby' });
  await settle();
  const token = tab.got('token?')[0];
  tab.send({ t: 'token', id: token.id, token: 't1' });
  await settle();
  const socket = FakeSocket.last;
  socket.open();
  socket.reply('connect', { client: 'c1', version: '0.2.0', ping: 25, pong: 10 });
  socket.reply('subscribe', { channel: 'chat:lobby', epoch: 'E', offset: 7 });
  assert.deepEqual(tab.got('ready')[0], { t: 'ready', id: 1, position: { epoch: 'E', offset: 7 } });
  socket.receive({ push: 'publication', channel: 'chat:lobby', offset: 8, data: 'hi' });
  assert.deepEqual(tab.got('value')[0].position, { epoch: 'E', offset: 8 }, 'events carry the position they bring the channel to');

  // The same tab joins again (after a freeze) having last seen offset 7: it is told what it missed.
  tab.send({ t: 'bye' });
  tab.send({ t: 'hello', generation: 2, options, visible: true, focused: true });
  assert.equal(tab.got('status').at(-1).generation, 2);
  tab.send({ t: 'observe', id: 2, kind: 'channel', channel: 'chat:lobby', since: { epoch: 'E', offset: 7 } });
  const [resynced] = tab.got('value').filter((m) => m.id === 2);
  assert.deepEqual(resynced.value, { type: 'resynced', channel: 'chat:lobby', from: { epoch: 'E', offset: 7 }, to: { epoch: 'E', offset: 8 } });
  assert.deepEqual(tab.got('ready').at(-1), { t: 'ready', id: 2, position: { epoch: 'E', offset: 8 } });

  // Diagnostics are the worker's connection and channels (every tab's holders).
  tab.send({ t: 'diagnostics', id: 3 });
  const diagnostics = tab.got('settled').find((m) => m.id === 3).result;
  assert.equal(diagnostics.connection, 'connected');
  assert.deepEqual(diagnostics.channels.map((c) => [c.name, c.holders, c.status]), [['chat:lobby', 1, 'active']]);

  // Tokens come from the focused tab first, whichever beat last.
  const background = new TabPort();
  background.send({ t: 'hello', generation: 1, options, visible: false, focused: false });
  background.send({ t: 'beat', visible: false, focused: false });
  socket.serverClose(1006);
  await timers.advance(20_000);
  assert.equal(background.got('token?').length, 0, 'the background tab is not asked');
  assert.ok(tab.got('token?').length >= 2, 'the focused tab is');
  for (const port of [tab, background]) port.send({ t: 'bye' });
  await timers.advance(2000);
});

test('the worker asks the observing tab for subscription tokens (subToken?), for the subscribe and the refresh', async () => {
  const tab = new TabPort();
  tab.send({ t: 'hello', generation: 1, options, visible: true, focused: true });
  tab.send({ t: 'observe', id: 1, kind: 'channel', channel: 'billing:invoices', token: true });
  // The worker's connection (left reconnecting by the test before) asks this, the only tab, for a token.
  for (let waited = 0; tab.got('token?').length === 0 && waited < 60_000; waited += 500) await timers.advance(500);
  tab.send({ t: 'token', id: tab.got('token?').at(-1).id, token: 't1' });
  await settle();
  const socket = FakeSocket.last;
  socket.open();
  socket.reply('connect', { client: 'c1', version: '0.3.0', ping: 25, pong: 10 });
  await settle();
  const ask = tab.got('subToken?')[0];
  assert.deepEqual({ ...ask, id: 0 }, { t: 'subToken?', id: 0, observation: 1, channel: 'billing:invoices' });
  tab.send({ t: 'subToken', id: ask.id, token: 'sub-1' });
  await settle();
  assert.equal(socket.commands('subscribe').at(-1).token, 'sub-1');
  socket.reply('subscribe', { channel: 'billing:invoices', epoch: 'E', offset: 0, ttl: 10 });
  await timers.advance(5_000);
  await settle();
  const again = tab.got('subToken?')[1];
  tab.send({ t: 'subToken', id: again.id, token: 'sub-2' });
  await settle();
  assert.equal(socket.commands('sub_refresh').at(-1).token, 'sub-2');

  // A tab's presence question goes through the worker's connection.
  tab.send({ t: 'presence', id: 7, channel: 'billing:invoices', stats: true });
  await settle();
  socket.reply('presence_stats', { channel: 'billing:invoices', users: 1, contexts: 1 });
  await settle();
  assert.deepEqual(tab.got('settled').find((m) => m.id === 7).result, { users: 1, contexts: 1 });
  tab.send({ t: 'bye' });
});

test('the worker follows presence once for every tab that observes it: one read, each tab gets every list', async () => {
  const [first, second] = [new TabPort(), new TabPort()];
  for (const tab of [first, second]) tab.send({ t: 'hello', generation: 1, options, visible: true, focused: false });
  first.send({ t: 'observe', id: 1, kind: 'presence', channel: 'room:1' });
  await settle();
  const socket = FakeSocket.last; // connected since the test before
  socket.reply('subscribe', { channel: 'room:1', epoch: 'E', offset: 0 });
  await settle();
  second.send({ t: 'observe', id: 1, kind: 'presence', channel: 'room:1' });
  socket.reply('presence', { channel: 'room:1', members: [{ user: '1', contexts: 2, info: null }] });
  await settle();
  socket.receive({ push: 'join', channel: 'room:1', user: '2', info: 'x' });
  const lists = (tab) => tab.got('value').filter((m) => m.id === 1).map((m) => m.value);
  const both = [[{ user: '1', info: null }], [{ user: '1', info: null }, { user: '2', info: 'x' }]];
  assert.deepEqual(lists(first), both);
  assert.deepEqual(lists(second), both);
  assert.equal(socket.commands('presence').filter((c) => c.channel === 'room:1').length, 1, 'one read for both tabs');
  for (const tab of [first, second]) tab.send({ t: 'bye' });
  await timers.advance(2000);
  assert.equal(socket.commands('unsubscribe').filter((c) => c.channel === 'room:1').length, 1, 'left when both tabs went');
});
