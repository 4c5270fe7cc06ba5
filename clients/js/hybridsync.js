// hybridsync.js: the HybridSync browser runtime (protocol v1, docs/PROTOCOL.md; guide: docs/BROWSER.md).
// One connection per page (or per browser, with `shared: true`), shared by every micro-frontend
// mounted into it. Dependency-free ES module: `import { createRuntime } from '/client/hybridsync.js'`.

/**
 * This module's version (semver). Copies of the module on one page share runtimes (one connection
 * per server) when their major versions match; see docs/BROWSER.md, "Several copies on one page".
 */
export const version = '0.4.0';

const SUBPROTOCOL = 'hybridsync.v1';
/** Marks errors made by any copy of this module, so `instanceof` works across copies. */
const ERROR_BRAND = Symbol.for('hybridsync.error');
const CHANNEL = /^[a-z0-9_-]{1,64}:[A-Za-z0-9_\-.#@=/]{1,190}$/;

/** Every failure the runtime reports. `code` is stable; the other fields add details. */
export class HybridSyncError extends Error {
  /** True for errors from any copy of this module (each copy has its own class). */
  static [Symbol.hasInstance](value) { return value?.[ERROR_BRAND] === true; }

  constructor(code, message, details = {}) {
    super(message);
    Object.defineProperty(this, ERROR_BRAND, { value: true });
    this.name = 'HybridSyncError';
    /** One of `ErrorCode`. */
    this.code = code;
    /** The WebSocket close code that stopped the runtime, if one did. */
    this.closeCode = details.closeCode ?? null;
    /** The server's `{code, message, temporary}` for `serverRefused`. */
    this.serverError = details.serverError ?? null;
    /** `{reason, until}` for `banned`. */
    this.ban = details.ban ?? null;
  }

  toJSON() {
    return { code: this.code, message: this.message, closeCode: this.closeCode, serverError: this.serverError, ban: this.ban };
  }

  static from(plain) {
    return plain instanceof HybridSyncError ? plain : new HybridSyncError(plain?.code, plain?.message, plain ?? {});
  }
}

/** The values of `HybridSyncError.code`. */
export const ErrorCode = Object.freeze({
  closed: 'closed', // runtime.close() was called
  banned: 'banned', // the user is banned (close 4501); `ban` says why
  unauthorized: 'unauthorized', // the token was refused (4500), or three fresh tokens in a row were expired
  disconnected: 'disconnected', // the server ended the connection for good (4502-4504)
  invalidURL: 'invalidURL', // not a ws:// or wss:// URL
  invalidChannel: 'invalidChannel', // the channel name breaks the protocol's rules (nothing was sent)
  serverRefused: 'serverRefused', // the server answered with an error; see serverError.code
  stateNotRetained: 'stateNotRetained', // observe() on a namespace that keeps no state
  subscriptionToken: 'subscriptionToken', // the micro-app's subscriptionToken provider failed for the channel
  connectionLost: 'connectionLost', // the connection dropped before the reply: it may or may not have applied
  offlineQueueFull: 'offlineQueueFull', // more than offlineQueueLimit publishes wait for a connection
  notConnected: 'notConnected', // a backfill while there is no connection (it is not queued): try after reconnecting
  messageTooBig: 'messageTooBig', // the command is over the server's maxMessageBytes: not sent, the connection stays
  timeout: 'timeout', // no answer within commandTimeout
  unmounted: 'unmounted', // the micro-app was unmounted
  protocolViolation: 'protocolViolation', // the server sent something unreadable (reported to onError; the runtime goes on)
});

const DEFAULTS = Object.freeze({
  backoffBase: 500, // ms; full jitter: a random delay in [0, min(backoffMax, backoffBase * 2^attempt))
  backoffMax: 20000,
  connectTimeout: 10000, // ms for the token, the socket and the connect reply
  commandTimeout: 30000, // ms for a publish or a backfill, time in the offline queue included
  linger: 1000, // ms a channel stays subscribed after its last observer left
  offlineQueueLimit: 100,
});

/**
 * Creates the runtime for one server.
 * @param {object} options `url` (ws:// or wss://), `getToken` (async () => JWT, called for every
 *   connection attempt), optional `name`, `shared` (one connection per browser through a SharedWorker),
 *   `onError` ({app, context, error}) for failures inside callbacks, and the tunables of DEFAULTS.
 */
export function createRuntime(options) {
  if (!options || typeof options.getToken !== 'function') throw new TypeError('createRuntime needs {url, getToken}');
  if (options.shared) {
    const hub = sharedHub(options);
    if (hub) {
      try {
        return new Runtime(new SharedEngine(options, hub), options);
      } catch (error) {
        report(options, 'runtime', `${hub.mode} mode unavailable, one connection per tab`, error);
      }
    }
  }
  return new Runtime(new Engine(options), options);
}

/**
 * Where a shared runtime's connection lives: a SharedWorker, or else (Android Chrome before 148,
 * some embedded views) the one tab that holds a Web Lock, reached over a BroadcastChannel. Null
 * where neither exists: one connection per tab.
 */
function sharedHub(options) {
  const name = `hybridsync:${options.sharedName ?? ''}:${normalizedURL(options.url)}`;
  if (typeof SharedWorker === 'function') {
    return {
      mode: 'shared-worker',
      connect: (onError) => {
        const worker = new SharedWorker(new URL(import.meta.url), { type: 'module', name });
        worker.onerror = onError;
        return worker.port;
      },
    };
  }
  const locks = options.locks ?? globalThis.navigator?.locks;
  const Channel = options.BroadcastChannel ?? globalThis.BroadcastChannel;
  if (typeof locks?.request !== 'function' || typeof Channel !== 'function') return null;
  let leader = null;
  return {
    mode: 'leader-tab',
    connect: () => (leader ??= new LeaderTab(name, locks, Channel, options)).port,
    isLeader: () => leader?.isLeader ?? false,
  };
}

/**
 * The page's runtime for `options.url`, shared by every caller (and every copy of this module).
 * The first call configures it (`getToken`, `name`, the tunables): let the page's shell call it
 * first, and micro-frontends call `runtimeFor({url})`; options a later caller passes that differ
 * from the first caller's are ignored and reported to that caller's `onError`. Each micro-frontend
 * gets its own error channel with `runtime.mount(name, {onError})`. URLs are compared in their
 * normal form (`ws://H:P` and `WS://h:P/` are one server); a copy of another major version is
 * reported and still shared.
 */
export function runtimeFor(options) {
  const runtimes = (globalThis[Symbol.for('hybridsync.runtimes')] ??= new Map());
  const url = normalizedURL(options?.url);
  const key = `${url}|${options?.shared ? 'shared' : 'local'}`;
  let entry = runtimes.get(key);
  if (!entry || entry.runtime.status.state === 'closed') {
    for (const other of runtimes.values()) {
      if (other.runtime.status.state !== 'closed' && other.url !== url && sameServer(other.url, url)) {
        report(options, 'runtime', 'runtimeFor', new Error(`two runtimes target one server: ${other.url} and ${url} (one connection each); spell the URL one way`));
      }
    }
    entry = { runtime: createRuntime({ ...options, url }), url, version, options: options ?? {} };
    runtimes.set(key, entry);
    return entry.runtime;
  }
  if (major(entry.version) !== major(version)) {
    report(options, 'runtime', 'runtimeFor', new Error(`this copy of hybridsync.js is ${version}, the page's runtime for ${url} comes from `
      + `${entry.version}: they share it, but load one major version per page (docs/BROWSER.md)`));
  }
  const ignored = Object.keys(options ?? {})
    .filter((name) => !['url', 'onError', 'shared'].includes(name) && options[name] !== undefined && options[name] !== entry.options[name]);
  if (ignored.length > 0) {
    report(options, 'runtime', 'runtimeFor', new Error(`the page's runtime for ${url} was configured by its first caller`
      + `${entry.options.name ? ` (${entry.options.name})` : ''}; these options are ignored: ${ignored.join(', ')}. `
      + 'Configure it once (the shell), and call runtimeFor({url, onError}) in micro-frontends (docs/BROWSER.md)'));
  }
  return entry.runtime;
}

/** The state of `runtime.mount(name).observe(...)`: `stateKey('moderation:users', '42')`. */
export function stateKey(channel, key, defaultValue) {
  return { channel, key, default: defaultValue };
}

/** What micro-apps mount into. The same API whether the connection is this tab's or shared. */
class Runtime {
  #engine;
  #options;
  #apps = new Set();

  constructor(engine, options) {
    this.#engine = engine;
    this.#options = options;
  }

  /** `'local'` (this tab's own WebSocket), `'shared-worker'` or `'leader-tab'` (one for every tab of the origin). */
  get mode() { return this.#engine.mode; }

  /** `{state: 'connecting'|'connected'|'reconnecting'|'closed', error}` now. */
  get status() { return this.#engine.status; }

  /**
   * A micro-app scope: what it observes ends with `unmount()`. `onError` (optional) is this
   * micro-app's own error channel: failures inside its callbacks and observations that end
   * without an `onError` of their own go there instead of the runtime's `onError`.
   * `subscriptionToken` (optional): `async (channel) => token or null`, this micro-app's backend's
   * subscription tokens, asked before each subscribe of a channel it observes and before expiry.
   */
  mount(name, { onError, subscriptionToken } = {}) {
    if (subscriptionToken !== undefined && typeof subscriptionToken !== 'function') {
      throw new TypeError('subscriptionToken must be a function (channel) => token, or a promise of one');
    }
    const options = typeof onError === 'function' ? { ...this.#options, onError } : this.#options;
    const app = new MicroApp(this.#engine, String(name), options, () => this.#apps.delete(app), subscriptionToken ?? null);
    this.#apps.add(app);
    return app;
  }

  /**
   * What the runtime holds, for support screens and bug reports (the Swift SDK's shape): resolves
   * `{mode, connection, reconnects, lastError, offlineQueue, inFlight, apps: [{name, channels,
   * observers}], channels: [{name, holders, status, position, lingering}]}`. In shared-worker mode
   * the connection and channels are the worker's (every tab's), the apps this tab's.
   */
  async diagnostics() {
    const engine = await this.#engine.diagnostics();
    const apps = [...this.#apps].map((app) => app.diagnostics()).sort((a, b) => compare(a.name, b.name));
    return { mode: this.mode, ...engine, apps };
  }

  /** `callback(status)` now and at every change; returns a function that stops it. */
  onStatus(callback) { return this.#engine.onStatus(guard(this.#options, 'runtime', 'status', callback)); }

  /** Publishes on a channel whose namespace allows client publishes; resolves `{offset}`. */
  publish(channel, data) { return this.#engine.publish(channel, data); }

  /** Ends every app and the connection (in shared mode: this tab's part of it). */
  close() {
    for (const app of [...this.#apps]) app.unmount();
    this.#engine.close();
  }
}

/** One micro-frontend's view of the runtime. */
class MicroApp {
  #engine;
  #options;
  #cancels = new Map(); // cancel -> the channel it observes
  #removed;
  #mounted = true;

  #subscriptionToken;

  constructor(engine, name, options, removed, subscriptionToken) {
    this.#engine = engine;
    this.name = name;
    this.#options = options;
    this.#removed = removed;
    this.#subscriptionToken = subscriptionToken;
  }

  /**
   * Observes retained state: `stateKey(channel, key)` for one key (its value, or `default` when
   * unset) or `{channel}` for the whole map `{key: value}`. `callback(value)` first gets the current
   * value (once the server's snapshot arrived, never a guessed default) and then every change; an
   * equal value is not repeated. `onError(HybridSyncError)` ends it. Returns `{cancel()}`.
   */
  observe(key, callback, onError) {
    if (!key || typeof key.channel !== 'string') throw new TypeError('observe needs stateKey(channel, key) or {channel}');
    return this.#track(key.channel, onError, (end) => this.#engine.observeState(key.channel, key.key, key.default,
      guard(this.#options, this.name, `state of ${key.channel}`, callback), end, this.#subscriptionToken));
  }

  /**
   * Observes a channel's events: `{type: 'publication', channel, offset, data, key?, removed?}` in
   * order without duplicates, and `{type: 'resynced', channel, from, to}` when the server could not
   * replay what was missed (publications after `from` up to `to` may be missing; state is current).
   */
  observeChannel(channel, callback, onError) {
    return this.#track(channel, onError, (end) => this.#engine.observeChannel(channel,
      guard(this.#options, this.name, `events of ${channel}`, callback), end, { subscriptionToken: this.#subscriptionToken }));
  }

  /** `callback(status)` now and at every change, until unmount. */
  onStatus(callback) {
    return this.#track(null, undefined, () => this.#engine.onStatus(guard(this.#options, this.name, 'status', callback))).cancel;
  }

  publish(channel, data) {
    if (!this.#mounted) return Promise.reject(new HybridSyncError(ErrorCode.unmounted, `micro-app ${this.name} is unmounted`));
    return this.#engine.publish(channel, data);
  }

  /**
   * Loads what the server's history still holds after `after` (a `resynced` event's `from`):
   * resolves `{publications, complete, position}`, `complete` true when nothing is missing. Not
   * queued: without a connection it fails with `notConnected`.
   */
  backfill(channel, after) {
    if (!this.#mounted) return Promise.reject(new HybridSyncError(ErrorCode.unmounted, `micro-app ${this.name} is unmounted`));
    return this.#engine.backfill(channel, after);
  }

  /**
   * Who is present on `channel` (a namespace with presence, docs/PROTOCOL.md "Presence"), on every
   * node, sorted by user: resolves `[{user, contexts, info}]`; `presence(channel, {stats: true})`
   * resolves `{users, contexts}`. Observe the channel first (the server answers its subscribers
   * only: `serverRefused` 112; 114 where the namespace keeps no presence). Not queued: without a
   * connection it fails with `notConnected`.
   */
  presence(channel, { stats = false } = {}) {
    if (!this.#mounted) return Promise.reject(new HybridSyncError(ErrorCode.unmounted, `micro-app ${this.name} is unmounted`));
    return this.#engine.presence(channel, stats);
  }

  /**
   * Follows who is present on `channel` (a namespace with presence), live: `callback(users)` gets
   * `[{user, info}]` sorted by user once the runtime has it, then the whole list after every change
   * (a join, a leave, a new info). The runtime reads `presence` once subscribed and applies the
   * server's pushes on top; after every reconnect it reads again. Holds the channel like
   * `observeChannel`; where the namespace keeps no presence `onError` gets `serverRefused` 114.
   */
  observePresence(channel, callback, onError) {
    return this.#track(channel, onError, (end) => this.#engine.observePresence(channel,
      guard(this.#options, this.name, `presence of ${channel}`, callback), end, { subscriptionToken: this.#subscriptionToken }));
  }

  /** Ends everything this app observes; channels nobody else observes are left after the linger. */
  unmount() {
    if (!this.#mounted) return;
    this.#mounted = false;
    for (const cancel of [...this.#cancels.keys()]) cancel();
    this.#removed();
  }

  /** `{name, channels, observers}` for `runtime.diagnostics()`. */
  diagnostics() {
    const channels = [...new Set([...this.#cancels.values()].filter((channel) => channel !== null))].sort(compare);
    return { name: this.name, channels, observers: [...this.#cancels.values()].filter((channel) => channel !== null).length };
  }

  #track(channel, onError, start) {
    if (!this.#mounted) throw new HybridSyncError(ErrorCode.unmounted, `micro-app ${this.name} is unmounted`);
    let stop = null;
    const cancel = () => {
      if (!this.#cancels.delete(cancel)) return;
      stop?.();
    };
    this.#cancels.set(cancel, channel);
    const end = (error) => {
      if (!this.#cancels.delete(cancel)) return;
      guard(this.#options, this.name, 'onError', onError ?? (() => report(this.#options, this.name, 'observation ended', error)))(error);
    };
    stop = start(end);
    if (!this.#cancels.has(cancel)) stop?.(); // ended while starting
    return { cancel };
  }
}

// MARK: - The connection (one per tab, or one in the SharedWorker)

class Engine {
  mode = 'local';
  #options;
  #config;
  #timers;
  #random;
  #socket = null;
  #generation = 0;
  #connected = false;
  #attempt = 0;
  #expiredInARow = 0;
  #ban = null;
  #nextId = 1;
  #maxMessageBytes = null; // the server's limit, from the connect result (protocol 0.2.0)
  #pending = new Map(); // id -> {resolve, reject, lostOnClose}
  #outbox = []; // publishes waiting for a connection
  #channels = new Map(); // name -> ChannelState
  #statusListeners = new Set();
  #status = { state: 'connecting', error: null };
  #retryTimer = null;
  #liveness = { timer: null, heard: 0, limit: 0 };
  #started = false;
  #network; // fires 'online' / 'offline'; its onLine (or navigator.onLine) is the browser's belief
  #networkListeners = null;
  #url;
  #connects = 0;
  #lastError = null;

  constructor(options) {
    this.#options = options;
    this.#config = { ...DEFAULTS, ...options };
    this.#timers = options.timers ?? {
      setTimeout: (f, ms) => setTimeout(f, ms),
      clearTimeout: (t) => clearTimeout(t),
      now: () => Date.now(),
    };
    this.#random = options.random ?? Math.random;
    this.#network = options.network ?? globalThis;
    const url = normalizedURL(options.url);
    this.#url = url;
    if (!/^wss?:\/\/[^/?#]+/.test(url)) {
      this.#stop(new HybridSyncError(ErrorCode.invalidURL, `not a ws:// or wss:// URL with a host: ${url}`));
    }
  }

  get status() { return this.#status; }

  onStatus(callback) {
    this.#statusListeners.add(callback);
    callback(this.#status);
    this.#start();
    return () => this.#statusListeners.delete(callback);
  }

  observeState(name, key, defaultValue, callback, end, subscriptionToken = null) {
    const channel = this.#channel(name, end, subscriptionToken);
    if (!channel) return null;
    const observer = { key, defaultValue, callback, end, last: undefined };
    channel.stateObservers.add(observer);
    if (channel.ready) this.#deliverState(channel, observer);
    return () => this.#release(channel, () => channel.stateObservers.delete(observer));
  }

  /**
   * `since` (`{epoch, offset}`, optional): the position this observer last saw; once the channel
   * is current, a different position is signalled to it as `resynced` (what it missed is not
   * replayed). `onReady(position)` (optional) runs once the channel is current.
   * `subscriptionToken` (optional): the observing micro-app's provider (the first one serves the channel).
   */
  observeChannel(name, callback, end, { since = null, onReady = null, subscriptionToken = null } = {}) {
    const channel = this.#channel(name, end, subscriptionToken);
    if (!channel) return null;
    const observer = { callback, end, since, onReady };
    channel.eventObservers.add(observer);
    if (channel.ready) this.#channelReady(channel, observer);
    return () => this.#release(channel, () => channel.eventObservers.delete(observer));
  }

  /** The present users of `name` followed live (see `MicroApp.observePresence`). */
  observePresence(name, callback, end, { subscriptionToken = null } = {}) {
    const channel = this.#channel(name, end, subscriptionToken);
    if (!channel) return null;
    const observer = { callback, end };
    channel.presenceObservers.add(observer);
    channel.presence ??= new PresenceFollow();
    if (channel.presence.list) callback(channel.presence.list);
    else if (channel.subscribed) this.#readPresence(channel); // unless one is out
    return () => this.#release(channel, () => {
      channel.presenceObservers.delete(observer);
      if (channel.presenceObservers.size === 0) channel.presence = null;
    });
  }

  /** The `{epoch, offset}` the runtime holds for a channel it observes, or null. */
  position(name) { return this.#channels.get(name)?.position ?? null; }

  /** The connection's part of `runtime.diagnostics()`. */
  diagnostics() {
    const channels = [...this.#channels.values()].map((channel) => ({
      name: channel.name,
      holders: channel.stateObservers.size + channel.eventObservers.size + channel.presenceObservers.size,
      status: channel.subscribed ? 'active' : this.#connected ? 'pending' : 'offline',
      position: channel.position,
      lingering: channel.linger !== null,
    })).sort((a, b) => compare(a.name, b.name));
    return {
      connection: this.#status.state,
      reconnects: Math.max(0, this.#connects - 1),
      lastError: this.#status.error?.message ?? this.#lastError,
      offlineQueue: this.#outbox.length,
      inFlight: this.#pending.size,
      channels,
    };
  }

  publish(channel, data) {
    return this.#command({ op: 'publish', channel, data }, { queueable: true });
  }

  /**
   * What the channel's history still holds after `after` (`{epoch, offset}`, a `resynced` event's
   * `from`): `{publications, complete, position}`; `complete` says every missed publication is there.
   */
  backfill(channel, after) {
    const since = after ? { epoch: String(after.epoch), offset: Number(after.offset) } : null;
    return this.#command({ op: 'history', channel, ...(since ? { since } : {}) }, { queueable: false }).then((result) => {
      const position = { epoch: result.epoch, offset: result.offset };
      const sameEpoch = since !== null && position.epoch === since.epoch;
      const publications = (result.publications ?? []).filter((p) => !sameEpoch || p.offset > since.offset)
        .map((p) => ({ type: 'publication', ...p }));
      const complete = sameEpoch && position.offset - since.offset === publications.length;
      return { publications, complete, position };
    });
  }

  /** `presence` (or `presence_stats` with `stats`): the members, or `{users, contexts}`. */
  presence(channel, stats) {
    return this.#command({ op: stats ? 'presence_stats' : 'presence', channel }, { queueable: false })
      .then((result) => (stats ? { users: result.users, contexts: result.contexts } : result.members ?? []));
  }

  /** A command with a reply, bounded by commandTimeout; `queueable` ones wait for a connection. */
  #command(command, { queueable }) {
    const { channel, op } = command;
    if (!CHANNEL.test(channel)) return Promise.reject(invalidChannel(channel));
    if (this.#status.state === 'closed') return Promise.reject(this.#status.error);
    this.#start();
    if (!queueable && !this.#connected) {
      return Promise.reject(new HybridSyncError(ErrorCode.notConnected, `no connection for the ${op} of ${channel}: try again once connected`));
    }
    return new Promise((resolve, reject) => {
      const timer = this.#timers.setTimeout(() => {
        this.#outbox = this.#outbox.filter((item) => item.command !== command);
        for (const [id, entry] of this.#pending) if (entry.command === command) this.#pending.delete(id);
        reject(new HybridSyncError(ErrorCode.timeout, `no answer to ${op} on ${channel} within ${this.#config.commandTimeout} ms`));
      }, this.#config.commandTimeout);
      const settle = { command, resolve: (r) => { this.#timers.clearTimeout(timer); resolve(r); },
        reject: (e) => { this.#timers.clearTimeout(timer); reject(e); } };
      if (this.#connected) return this.#send(command, settle);
      if (this.#outbox.length >= this.#config.offlineQueueLimit) {
        return settle.reject(new HybridSyncError(ErrorCode.offlineQueueFull, `${this.#outbox.length} publishes already wait for a connection`));
      }
      this.#outbox.push(settle);
    });
  }

  close() {
    this.#stop(new HybridSyncError(ErrorCode.closed, 'the runtime was closed'));
  }

  // MARK: Channels

  #channel(name, end, subscriptionToken = null) {
    if (!CHANNEL.test(name)) {
      end(invalidChannel(name));
      return null;
    }
    if (this.#status.state === 'closed') {
      end(this.#status.error);
      return null;
    }
    let channel = this.#channels.get(name);
    if (!channel) {
      channel = { name, stateObservers: new Set(), eventObservers: new Set(), presenceObservers: new Set(), presence: null,
        position: null, state: null, ready: false, subscribed: false, linger: null, provider: subscriptionToken, refresh: null };
      this.#channels.set(name, channel);
      if (this.#connected) this.#subscribe(channel);
    }
    channel.provider ??= subscriptionToken;
    if (channel.linger) {
      this.#timers.clearTimeout(channel.linger);
      channel.linger = null;
    }
    this.#start();
    return channel;
  }

  #release(channel, remove) {
    remove();
    if (observed(channel) || channel.linger) return;
    channel.linger = this.#timers.setTimeout(() => {
      channel.linger = null;
      if (observed(channel)) return;
      this.#channels.delete(channel.name);
      this.#timers.clearTimeout(channel.refresh);
      if (this.#connected && channel.subscribed) this.#send({ op: 'unsubscribe', channel: channel.name });
    }, this.#config.linger);
  }

  #subscribe(channel) {
    const since = channel.position;
    const command = { op: 'subscribe', channel: channel.name };
    if (since) command.since = { epoch: since.epoch, offset: since.offset };
    channel.subscribed = false;
    this.#timers.clearTimeout(channel.refresh);
    const send = () => this.#send(command, {
      lostOnClose: false,
      resolve: (result) => this.#subscribed(channel, since, result),
      reject: (error) => this.#refused(channel, error),
    });
    if (!channel.provider) return send();
    const generation = this.#generation;
    this.#subscriptionToken(channel).then((token) => {
      if (generation !== this.#generation || this.#channels.get(channel.name) !== channel || !this.#connected) return;
      if (token) command.token = token;
      send();
    }, (error) => {
      if (generation !== this.#generation) return;
      this.#refused(channel, new HybridSyncError(ErrorCode.subscriptionToken,
        `the subscriptionToken provider failed for ${channel.name}: ${error?.message ?? error}`));
    });
  }

  /** A token from the channel's provider (a function returning a token, null, or a promise of one). */
  #subscriptionToken(channel) {
    return Promise.resolve().then(() => channel.provider(channel.name));
  }

  /**
   * A subscription that ends in `ttl` seconds (held with a subscription token): the token is
   * refreshed with `sub_refresh` at 90 % of its life, at least 5 s before; a failure is retried every 5 s.
   */
  #scheduleRefresh(channel, ttl) {
    this.#timers.clearTimeout(channel.refresh);
    const delay = Math.max(0, Math.min(ttl * 0.9, ttl - 5)) * 1000;
    channel.refresh = this.#timers.setTimeout(() => {
      channel.refresh = null;
      if (this.#channels.get(channel.name) !== channel || !channel.subscribed || !channel.provider) return;
      this.#subscriptionToken(channel)
        .then((token) => token && this.#command({ op: 'sub_refresh', channel: channel.name, token }, { queueable: false }))
        .then((result) => { if (typeof result?.ttl === 'number') this.#scheduleRefresh(channel, result.ttl); },
          (error) => {
            report(this.#options, 'runtime', `subscription token refresh for ${channel.name} failed; retrying in 5 s`, error);
            this.#scheduleRefresh(channel, 10);
          });
    }, delay);
  }

  #subscribed(channel, since, result) {
    if (this.#channels.get(channel.name) !== channel) return;
    channel.subscribed = true;
    if (typeof result.ttl === 'number') this.#scheduleRefresh(channel, result.ttl);
    const now = { epoch: result.epoch, offset: result.offset };
    if (since && result.recovered === true) {
      // The missed publications follow as pushes; the state held is the state at `since`.
    } else {
      if ('state' in result) {
        channel.state = new Map(Object.entries(result.state ?? {}));
      } else {
        channel.state = null;
      }
      channel.position = now;
      if (since) this.#emit(channel, { type: 'resynced', channel: channel.name, from: since, to: now });
    }
    channel.ready = true;
    for (const observer of [...channel.stateObservers]) this.#deliverState(channel, observer);
    for (const observer of [...channel.eventObservers]) this.#channelReady(channel, observer);
    if (channel.presence) this.#readPresence(channel);
  }

  /**
   * A `presence` read of a followed channel, unless one is out: the pushes are held from now until
   * it answers (PresenceFollow). A read lost with the connection is made again after the resubscribe.
   */
  #readPresence(channel) {
    const follow = channel.presence;
    if (follow.isReading) return;
    const ticket = follow.reading();
    this.presence(channel.name, false).then((members) => {
      if (channel.presence === follow && follow.answered(ticket, members)) this.#emitPresence(channel);
    }, (error) => {
      if (channel.presence !== follow) return;
      follow.failed(ticket);
      if (error.code === ErrorCode.serverRefused) {
        for (const observer of [...channel.presenceObservers]) observer.end(error);
        this.#release(channel, () => { channel.presenceObservers.clear(); channel.presence = null; });
      }
    });
  }

  #presencePushed(push) {
    const channel = this.#channels.get(push.channel);
    if (channel?.presence?.pushed(push)) this.#emitPresence(channel);
  }

  #emitPresence(channel) {
    const list = channel.presence.list;
    for (const observer of [...channel.presenceObservers]) observer.callback(list);
  }

  /** The first time `observer` sees `channel` current: a `resynced` if it last saw another position. */
  #channelReady(channel, observer) {
    const since = observer.since;
    const onReady = observer.onReady;
    observer.since = observer.onReady = null;
    const now = channel.position;
    if (since && now && (since.epoch !== now.epoch || since.offset !== now.offset)) {
      observer.callback({ type: 'resynced', channel: channel.name, from: since, to: now });
    }
    onReady?.(now);
  }

  #refused(channel, error) {
    if (this.#channels.get(channel.name) !== channel) return;
    this.#channels.delete(channel.name);
    this.#timers.clearTimeout(channel.refresh);
    for (const observer of [...channel.stateObservers, ...channel.eventObservers, ...channel.presenceObservers]) observer.end(error);
  }

  #publication(push) {
    const channel = this.#channels.get(push.channel);
    if (!channel || !channel.subscribed || !channel.position) return;
    const held = channel.position.offset;
    if (push.offset <= held) return; // already applied
    if (push.offset > held + 1) {
      // A gap on a live stream: recover from the position held.
      this.#send({ op: 'unsubscribe', channel: channel.name });
      this.#subscribe(channel);
      return;
    }
    channel.position = { epoch: channel.position.epoch, offset: push.offset };
    const event = { type: 'publication', channel: push.channel, offset: push.offset, data: push.data };
    if (typeof push.key === 'string') {
      event.key = push.key;
      if (push.removed) event.removed = true;
      if (channel.state) {
        if (push.removed) channel.state.delete(push.key);
        else channel.state.set(push.key, { value: push.data, version: push.offset });
      }
    }
    this.#emit(channel, event);
    if (event.key !== undefined) for (const observer of [...channel.stateObservers]) this.#deliverState(channel, observer);
  }

  #emit(channel, event) {
    for (const observer of [...channel.eventObservers]) observer.callback(event);
  }

  #deliverState(channel, observer) {
    if (!channel.state) {
      observer.end(new HybridSyncError(ErrorCode.stateNotRetained, `namespace of ${channel.name} does not retain state`));
      channel.stateObservers.delete(observer);
      return;
    }
    let value;
    if (observer.key === undefined) {
      value = {};
      for (const [key, entry] of [...channel.state].sort(([a], [b]) => compare(a, b))) value[key] = entry.value;
    } else {
      value = channel.state.has(observer.key) ? channel.state.get(observer.key).value : (observer.defaultValue ?? null);
    }
    const text = JSON.stringify(value);
    if (text === observer.last) return;
    observer.last = text;
    observer.callback(value);
  }

  // MARK: Connection

  #start() {
    if (this.#started || this.#status.state === 'closed') return;
    this.#started = true;
    this.#networkListeners = { offline: () => this.#wentOffline(), online: () => this.#cameOnline() };
    for (const [type, listener] of Object.entries(this.#networkListeners)) this.#network.addEventListener?.(type, listener);
    if (this.#isOnline()) this.#connect();
    else this.#setStatus('reconnecting');
  }

  #isOnline() {
    const onLine = this.#options.network ? this.#network.onLine : globalThis.navigator?.onLine;
    return onLine !== false;
  }

  /** The browser lost its network: the socket is dead whatever TCP says; wait for 'online'. */
  #wentOffline() {
    if (this.#status.state === 'closed') return;
    if (this.#socket) return this.#drop(this.#socket, 'the browser went offline');
    this.#generation++; // an attempt still waiting for its token is abandoned
    this.#retry();
  }

  /** The network is back: try at once, not when a backoff timer set while offline says. */
  #cameOnline() {
    if (this.#status.state === 'closed' || this.#socket || !this.#started) return;
    if (this.#status.state === 'connecting') return; // an attempt is already waiting for its token
    this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#attempt = 0;
    this.#connect();
  }

  async #connect() {
    const generation = ++this.#generation;
    this.#setStatus('connecting');
    let token;
    try {
      token = await this.#within(this.#config.connectTimeout, Promise.resolve().then(() => this.#options.getToken()));
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#lastError = `token provider failed: ${error?.message ?? error}`;
      report(this.#options, 'runtime', 'token provider failed', error);
      return this.#retry();
    }
    if (generation !== this.#generation) return;
    let socket;
    try {
      const WebSocketType = this.#options.WebSocket ?? globalThis.WebSocket;
      socket = new WebSocketType(this.#url, SUBPROTOCOL);
    } catch (error) {
      return this.#stop(new HybridSyncError(ErrorCode.invalidURL, `cannot open ${this.#url}: ${error.message}`));
    }
    this.#socket = socket;
    const attemptTimer = this.#timers.setTimeout(() => this.#drop(socket, 'connect timeout'), this.#config.connectTimeout);
    socket.onopen = () => {
      this.#send({ op: 'connect', token, name: this.#options.name ?? 'hybridsync.js' }, {
        resolve: (result) => {
          this.#timers.clearTimeout(attemptTimer);
          this.#opened(socket, result);
        },
        reject: () => {}, // the close that follows says what to do
      });
    };
    socket.onmessage = (message) => {
      if (socket === this.#socket) this.#frame(String(message.data));
    };
    socket.onclose = (event) => {
      this.#timers.clearTimeout(attemptTimer);
      this.#closed(socket, event.code);
    };
    socket.onerror = () => {}; // a close event follows
  }

  #opened(socket, result) {
    if (socket !== this.#socket) return;
    this.#connected = true;
    this.#connects += 1;
    this.#attempt = 0;
    this.#expiredInARow = 0;
    this.#liveness.limit = ((result.ping ?? 25) + (result.pong ?? 10)) * 1000;
    this.#maxMessageBytes = result.limits?.maxMessageBytes ?? null;
    this.#heard();
    this.#setStatus('connected');
    for (const channel of this.#channels.values()) this.#subscribe(channel);
    const waiting = this.#outbox;
    this.#outbox = [];
    for (const item of waiting) this.#send(item.command, item);
  }

  #frame(text) {
    this.#heard();
    for (const line of text.split('\n')) {
      if (!line) continue;
      let message;
      try {
        message = JSON.parse(line);
      } catch {
        report(this.#options, 'runtime', 'unreadable server message',
          new HybridSyncError(ErrorCode.protocolViolation, `the server sent a line that is not JSON: ${line.slice(0, 200)}`));
        continue;
      }
      if (typeof message.push === 'string') this.#push(message);
      else this.#reply(message);
    }
  }

  #push(message) {
    switch (message.push) {
      case 'publication': return this.#publication(message);
      case 'ping': return this.#connected && this.#send({ op: 'ping' });
      case 'banned': this.#ban = { reason: message.reason ?? '', until: message.until ?? null }; return;
      case 'join': case 'leave': case 'presence_update': return this.#presencePushed(message);
      case 'unsubscribed': { // the server ended one subscription (its subscription token expired)
        const channel = this.#channels.get(message.channel);
        const error = { code: message.code, message: message.message ?? '', temporary: message.temporary ?? false };
        if (channel) this.#refused(channel, new HybridSyncError(ErrorCode.serverRefused, `server ended the subscription: ${error.message} (${error.code})`, { serverError: error }));
        return;
      }
      default: return; // `disconnect`: the close that follows carries the same code
    }
  }

  #reply(message) {
    const entry = this.#pending.get(message.id);
    if (!entry) return;
    this.#pending.delete(message.id);
    if (message.error) {
      const error = message.error;
      entry.reject(new HybridSyncError(ErrorCode.serverRefused, `server refused: ${error.message} (${error.code})`, { serverError: error }));
    } else {
      entry.resolve(message.result ?? {});
    }
  }

  #send(command, entry) {
    const id = this.#nextId++;
    if (this.#nextId > 4294967295) this.#nextId = 1;
    const line = JSON.stringify({ id, ...command });
    // A message over the server's limit would close the shared connection with 1009: refuse it here.
    if (this.#maxMessageBytes !== null) {
      const size = new TextEncoder().encode(line).length;
      if (size > this.#maxMessageBytes) {
        entry?.reject(new HybridSyncError(ErrorCode.messageTooBig,
          `the ${command.op} is ${size} bytes, over the server's limit of ${this.#maxMessageBytes} (maxMessageBytes); it was not sent`));
        return;
      }
    }
    if (entry) this.#pending.set(id, { lostOnClose: true, ...entry });
    try {
      this.#socket.send(line);
    } catch {
      // The socket is closing; its close event settles what is pending.
    }
  }

  #closed(socket, code) {
    if (socket !== this.#socket) return;
    this.#socket = null;
    if (code !== null && code !== undefined) this.#lastError = `the connection closed with ${code}`;
    const wasConnected = this.#connected;
    this.#connected = false;
    this.#generation++;
    this.#timers.clearTimeout(this.#liveness.timer);
    this.#liveness.timer = null;
    for (const channel of this.#channels.values()) channel.subscribed = false;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const entry of pending) {
      if (entry.lostOnClose) entry.reject(new HybridSyncError(ErrorCode.connectionLost, 'the connection dropped before the reply; it may or may not have been applied'));
    }
    if (this.#status.state === 'closed') return;
    if (code === 4501) return this.#stop(new HybridSyncError(ErrorCode.banned, `banned: ${this.#ban?.reason ?? ''}`, { closeCode: code, ban: this.#ban }));
    if (code === 4500) return this.#stop(new HybridSyncError(ErrorCode.unauthorized, 'the token was refused (4500): fix the token provider', { closeCode: code }));
    if (code >= 4500 && code <= 4999) return this.#stop(new HybridSyncError(ErrorCode.disconnected, `the server ended the connection for good (${code})`, { closeCode: code }));
    if (code === 4002) {
      if (wasConnected) return this.#connect(); // the token expired on a live connection: a fresh one now
      if (++this.#expiredInARow >= 3) {
        return this.#stop(new HybridSyncError(ErrorCode.unauthorized, 'three fresh tokens in a row were already expired (4002)', { closeCode: code }));
      }
    }
    this.#retry();
  }

  /** Closes a socket the runtime gave up on, without waiting for its close event. */
  #drop(socket, why) {
    if (socket !== this.#socket) return;
    this.#lastError = why;
    socket.onclose = socket.onmessage = socket.onopen = null;
    try { socket.close(4000, why); } catch { /* already closing */ }
    this.#closed(socket, null);
  }

  #retry() {
    if (this.#status.state === 'closed') return;
    this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    if (!this.#isOnline()) return this.#setStatus('reconnecting'); // 'online' tries again
    const ceiling = Math.min(this.#config.backoffMax, this.#config.backoffBase * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    this.#setStatus('reconnecting');
    this.#retryTimer = this.#timers.setTimeout(() => {
      this.#retryTimer = null;
      this.#connect();
    }, Math.floor(this.#random() * ceiling));
  }

  #heard() {
    this.#liveness.heard = this.#timers.now();
    if (this.#liveness.timer === null && this.#connected) this.#watchLiveness();
  }

  #watchLiveness() {
    const { heard, limit } = this.#liveness;
    const wait = Math.max(0, heard + limit - this.#timers.now());
    this.#liveness.timer = this.#timers.setTimeout(() => {
      this.#liveness.timer = null;
      if (!this.#connected) return;
      if (this.#timers.now() - this.#liveness.heard >= limit) return this.#drop(this.#socket, 'no frame from the server');
      this.#watchLiveness();
    }, wait);
  }

  #stop(error) {
    if (this.#status.state === 'closed') return;
    this.#generation++;
    this.#timers.clearTimeout(this.#retryTimer);
    if (this.#networkListeners) {
      for (const [type, listener] of Object.entries(this.#networkListeners)) this.#network.removeEventListener?.(type, listener);
    }
    this.#setStatus('closed', error);
    const socket = this.#socket;
    if (socket) {
      this.#closed(socket, null);
      socket.onclose = socket.onmessage = null;
      try { socket.close(1000, 'closed'); } catch { /* already closing */ }
    }
    for (const item of this.#outbox) item.reject(error);
    this.#outbox = [];
    for (const channel of this.#channels.values()) {
      this.#timers.clearTimeout(channel.linger);
      for (const observer of [...channel.stateObservers, ...channel.eventObservers, ...channel.presenceObservers]) observer.end(error);
    }
    this.#channels.clear();
  }

  #setStatus(state, error = null) {
    if (this.#status.state === state && this.#status.error === error) return;
    this.#status = { state, error };
    for (const listener of [...this.#statusListeners]) listener(this.#status);
  }

  #within(ms, promise) {
    return new Promise((resolve, reject) => {
      const timer = this.#timers.setTimeout(() => reject(new HybridSyncError(ErrorCode.timeout, `no token within ${ms} ms`)), ms);
      promise.then((value) => { this.#timers.clearTimeout(timer); resolve(value); },
        (error) => { this.#timers.clearTimeout(timer); reject(error); });
    });
  }
}

// MARK: - Shared-worker mode: the tab's side

/**
 * The same calls as Engine, carried over a MessagePort to the connection in the SharedWorker. If
 * the worker fails (its script cannot load, say), it falls back to a connection of this tab's own.
 *
 * The tab joins the worker with `hello` and its observations. A frozen tab (a background tab) or
 * one in the back/forward cache sends no heartbeat, and the worker releases it after 15 s; so on
 * `resume` and on `pageshow` from the cache the tab joins again, and it does the same when the
 * worker says it does not know it (`rejoin`) or does not answer (a worker that ended: a new one is
 * started). Until each observation is current again the tab reports `reconnecting`, never a value
 * from before as current; a channel observer whose channel moved on meanwhile gets `resynced`.
 */
class SharedEngine {
  mode;
  #hub;
  #port = null;
  #options;
  #nextId = 1;
  #calls = new Map(); // id -> {request, callback, end, last?, position?} or {resolve, reject}
  #statusListeners = new Map(); // callback -> its stop function on the fallback engine, once there is one
  #status = { state: 'connecting', error: null };
  #workerStatus = { state: 'connecting', error: null };
  #join = { generation: 0, waiting: new Set(), rejoining: false, answered: false, everAnswered: false, timer: null };
  #beat = null;
  #fallback = null;
  #listeners = [];

  constructor(options, hub) {
    this.#options = options;
    this.#hub = hub;
    this.mode = hub.mode;
    this.#connectWorker();
    const on = (target, type, listener) => {
      target?.addEventListener?.(type, listener);
      this.#listeners.push(() => target?.removeEventListener?.(type, listener));
    };
    const page = options.page ?? globalThis;
    const document = options.page ? options.page.document : globalThis.document;
    on(page, 'pagehide', () => this.#suspend());
    // Join again when the page comes back from the back/forward cache or from a freeze.
    on(page, 'pageshow', (event) => { if (event.persisted) this.#rejoin(); });
    on(document, 'resume', () => this.#rejoin());
    // The worker asks the tab the user is looking at for tokens: tell it at once when that changes.
    on(document, 'visibilitychange', () => this.#sendBeat());
    on(page, 'focus', () => this.#sendBeat());
  }

  get status() { return this.#status; }

  onStatus(callback) {
    if (this.#fallback) return this.#fallback.onStatus(callback);
    this.#statusListeners.set(callback, null);
    callback(this.#status);
    return () => {
      const stop = this.#statusListeners.get(callback);
      this.#statusListeners.delete(callback);
      stop?.();
    };
  }

  observeState(channel, key, defaultValue, callback, end, subscriptionToken = null) {
    return this.#observe({ kind: 'state', channel, key, defaultValue }, callback, end, subscriptionToken);
  }

  observeChannel(channel, callback, end, { subscriptionToken = null } = {}) {
    return this.#observe({ kind: 'channel', channel }, callback, end, subscriptionToken);
  }

  observePresence(channel, callback, end, { subscriptionToken = null } = {}) {
    return this.#observe({ kind: 'presence', channel }, callback, end, subscriptionToken);
  }

  publish(channel, data) {
    if (this.#fallback) return this.#fallback.publish(channel, data);
    return this.#call({ t: 'publish', channel, data });
  }

  backfill(channel, after) {
    if (this.#fallback) return this.#fallback.backfill(channel, after);
    return this.#call({ t: 'backfill', channel, after: after ?? null });
  }

  /** Engine.presence, asked through the worker's connection. */
  presence(channel, stats) {
    if (this.#fallback) return this.#fallback.presence(channel, stats);
    return this.#call({ t: 'presence', channel, stats });
  }

  diagnostics() {
    if (this.#fallback) return this.#fallback.diagnostics();
    const leader = this.#hub.isLeader?.();
    return this.#call({ t: 'diagnostics' }).then((result) => (leader === undefined ? result : { ...result, leader }));
  }

  #call(message) {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      this.#calls.set(id, { resolve, reject });
      this.#post({ id, ...message });
    });
  }

  close() {
    this.#stopBeat();
    this.#timers().clearTimeout(this.#join.timer);
    for (const stop of this.#listeners.splice(0)) stop();
    if (this.#fallback) return this.#fallback.close();
    this.#post({ t: 'bye' });
    for (const call of this.#calls.values()) (call.end ?? call.reject)(new HybridSyncError(ErrorCode.closed, 'the runtime was closed'));
    this.#calls.clear();
  }

  /** Starts (or reaches) the worker and joins it. */
  #connectWorker() {
    this.#port = this.#hub.connect((event) => this.#fallBack(event));
    this.#port.onmessage = (event) => this.#received(event.data);
    this.#port.start();
    this.#sendJoin();
  }

  #timers() {
    return this.#options.timers ?? { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (t) => clearTimeout(t) };
  }

  #post(message) {
    try { this.#port.postMessage(message); } catch { /* a closed port: the join timer starts a new worker */ }
  }

  /** `hello` with a new generation and every observation under a new id. */
  #sendJoin() {
    const join = this.#join;
    join.generation += 1;
    join.answered = false;
    this.#post({ t: 'hello', generation: join.generation, options: shareable(this.#options), ...this.#presence() });
    const calls = [...this.#calls];
    this.#calls.clear();
    join.waiting.clear();
    for (const [oldId, call] of calls) {
      if (!call.request) {
        // A publish sent to a worker that forgot this tab may or may not have been applied.
        if (join.generation > 1) call.reject(new HybridSyncError(ErrorCode.connectionLost, 'the shared worker lost this tab before the reply; it may or may not have been applied'));
        else this.#calls.set(oldId, call);
        continue;
      }
      const id = this.#nextId++;
      this.#calls.set(id, call);
      if (join.rejoining) join.waiting.add(id);
      this.#post({ t: 'observe', id, ...call.request, since: call.position ?? null });
    }
    this.#startBeat();
    // A worker that does not answer within the bound ended (or never started): start a new one.
    this.#timers().clearTimeout(join.timer);
    join.timer = this.#timers().setTimeout(() => {
      if (join.answered || this.#fallback) return;
      report(this.#options, 'runtime', 'the shared worker did not answer; starting it again',
        new Error(`no answer to a join within ${WORKER_ANSWER_MS} ms`));
      this.#connectWorker();
    }, WORKER_ANSWER_MS);
  }

  /** Joins the worker again after a freeze, the back/forward cache or the worker forgetting us. */
  #rejoin() {
    if (this.#fallback || this.#status.state === 'closed') return;
    // Before any answer nothing was shown yet: joining again is still the first join.
    this.#join.rejoining = this.#join.rejoining || this.#join.everAnswered;
    this.#post({ t: 'bye' });
    this.#sendJoin();
    this.#publishStatus();
  }

  /** `pagehide`: the page may be cached, not gone. Leave the worker but keep every observation. */
  #suspend() {
    if (this.#fallback) return;
    this.#stopBeat();
    this.#post({ t: 'bye' });
  }

  #presence() {
    const document = this.#options.page ? this.#options.page.document : globalThis.document;
    return {
      visible: document ? document.visibilityState === 'visible' : true,
      focused: typeof document?.hasFocus === 'function' ? document.hasFocus() : false,
    };
  }

  #sendBeat() { if (this.#beat !== null) this.#post({ t: 'beat', ...this.#presence() }); }

  #startBeat() {
    this.#stopBeat();
    this.#beat = setInterval(() => this.#sendBeat(), WORKER_BEAT_MS);
  }

  #stopBeat() {
    if (this.#beat !== null) clearInterval(this.#beat);
    this.#beat = null;
  }

  /** `provider`: the micro-app's subscription tokens; the worker asks this tab for them (`subToken?`). */
  #observe(request, callback, end, provider) {
    if (this.#fallback) return observeOn(this.#fallback, request, callback, end, { subscriptionToken: provider });
    if (provider) request.token = true;
    const id = this.#nextId++;
    const call = { request, callback, end, last: undefined, position: null, provider };
    this.#calls.set(id, call);
    this.#post({ t: 'observe', id, ...request });
    return () => {
      const current = this.#idOf(call);
      if (current === null) return;
      this.#calls.delete(current);
      this.#ready(current);
      if (call.stop) call.stop();
      else this.#post({ t: 'cancel', id: current });
    };
  }

  #idOf(call) {
    for (const [id, candidate] of this.#calls) if (candidate === call) return id;
    return null;
  }

  /** The worker failed: this tab's own connection takes over every observation and listener. */
  #fallBack(event) {
    if (this.#fallback) return;
    report(this.#options, 'runtime', 'the shared worker failed; one connection for this tab from now on', event?.message ?? event);
    this.#stopBeat();
    this.#timers().clearTimeout(this.#join.timer);
    this.mode = 'local';
    const engine = new Engine(this.#options);
    this.#fallback = engine;
    for (const listener of this.#statusListeners.keys()) this.#statusListeners.set(listener, engine.onStatus(listener));
    for (const [id, call] of this.#calls) {
      if (call.request) {
        call.stop = observeOn(engine, call.request, call.callback, call.end, { subscriptionToken: call.provider });
      } else {
        this.#calls.delete(id);
        call.reject(new HybridSyncError(ErrorCode.connectionLost, 'the shared worker failed before the reply; it may or may not have been applied'));
      }
    }
  }

  /** The status listeners see: the worker's, but `reconnecting` while a rejoin is not yet current. */
  #publishStatus() {
    const join = this.#join;
    if (join.rejoining && join.answered && join.waiting.size === 0) join.rejoining = false;
    const worker = this.#workerStatus;
    const status = join.rejoining && worker.state !== 'closed' ? { state: 'reconnecting', error: null } : worker;
    if (status.state === this.#status.state && status.error === this.#status.error) return;
    this.#status = status;
    for (const listener of [...this.#statusListeners.keys()]) listener(this.#status);
  }

  /** An observation is current (or over). */
  #ready(id) {
    if (this.#join.waiting.delete(id)) this.#publishStatus();
  }

  async #received(message) {
    const call = this.#calls.get(message.id);
    switch (message.t) {
      case 'value': {
        if (!call?.callback) return;
        if (message.position) call.position = message.position;
        if (call.request.kind !== 'channel') { // state and presence lists: current values
          const text = JSON.stringify(message.value);
          const repeated = text === call.last;
          call.last = text;
          this.#ready(message.id);
          if (repeated) return; // the same value again after a rejoin: not a change
        }
        return call.callback(message.value);
      }
      case 'ready': // a channel observation is current, at `position`
        if (call?.request) call.position = message.position ?? call.position;
        return this.#ready(message.id);
      case 'end':
        this.#calls.delete(message.id);
        this.#ready(message.id);
        return call?.end?.(HybridSyncError.from(message.error));
      case 'settled':
        this.#calls.delete(message.id);
        return message.error ? call?.reject(HybridSyncError.from(message.error)) : call?.resolve(message.result);
      case 'status':
        if (message.generation !== this.#join.generation) return; // from before this tab joined again
        this.#join.answered = true;
        this.#join.everAnswered = true;
        this.#workerStatus = { state: message.state, error: message.error ? HybridSyncError.from(message.error) : null };
        return this.#publishStatus();
      case 'rejoin': // the worker released this tab (no heartbeat for a while) or started anew
        return this.#rejoin();
      case 'leaderGone': { // leader-tab mode: the tab with the connection is going; wait for the next
        const join = this.#join;
        join.rejoining = join.rejoining || join.everAnswered;
        join.answered = false;
        join.generation += 1; // what the old leader still sends is not taken for the new one's
        return this.#publishStatus();
      }
      case 'leader': // leader-tab mode: another tab took the connection over
        return this.#rejoin();
      case 'token?': {
        try {
          this.#post({ t: 'token', id: message.id, token: await this.#options.getToken() });
        } catch (error) {
          this.#post({ t: 'token', id: message.id, error: String(error?.message ?? error) });
        }
        return;
      }
      case 'subToken?': { // the worker asks for a subscription token from one of this tab's micro-apps
        const provider = this.#calls.get(message.observation)?.provider;
        try {
          if (!provider) throw new Error(`this tab no longer observes ${message.channel}`);
          this.#post({ t: 'subToken', id: message.id, token: (await provider(message.channel)) ?? null });
        } catch (error) {
          this.#post({ t: 'subToken', id: message.id, error: String(error?.message ?? error) });
        }
        return;
      }
    }
  }
}

/** Tabs send a heartbeat this often; the worker releases a tab silent for three of them. */
const WORKER_BEAT_MS = 5000;
/** A worker that does not answer a tab's `hello` within this is started again. */
const WORKER_ANSWER_MS = 3000;

function observeOn(engine, request, callback, end, channelOptions = {}) {
  switch (request.kind) {
    case 'state': return engine.observeState(request.channel, request.key, request.defaultValue, callback, end, channelOptions.subscriptionToken ?? null);
    case 'presence': return engine.observePresence(request.channel, callback, end, channelOptions);
    default: return engine.observeChannel(request.channel, callback, end, channelOptions);
  }
}

/** Whether any observer holds `channel`. */
function observed(channel) {
  return channel.stateObservers.size + channel.eventObservers.size + channel.presenceObservers.size > 0;
}

/**
 * One channel's present users as a runtime follows them (docs/PROTOCOL.md "Presence"): a `presence`
 * read with every push received since it was sent applied on top. A channel's pushes come in order
 * and each says a user's whole state (present with this info, or gone), so a push held from before
 * the read only restates what the read holds or is followed by a newer one of the same user:
 * holding from before the read is safe, from after it would not be.
 */
class PresenceFollow {
  #users = null; // user -> info; null until a read answered
  #held = [];
  #read = 0; // the read out, 0 when none
  #tickets = 0;

  /** `[{user, info}]` sorted by user, or null before the first answer. */
  get list() {
    return this.#users && [...this.#users].map(([user, info]) => ({ user, info })).sort((a, b) => compare(a.user, b.user));
  }

  get isReading() { return this.#read !== 0; }

  /** A read goes out: returns its ticket; pushes are held until it answers. */
  reading() {
    this.#read = ++this.#tickets;
    this.#held = [];
    return this.#read;
  }

  /** Read `ticket` answered `members`; false for an answer that is not the latest read's. */
  answered(ticket, members) {
    if (ticket !== this.#read) return false;
    this.#read = 0;
    this.#users = new Map(members.map((member) => [member.user, member.info ?? null]));
    for (const push of this.#held) this.#apply(push);
    this.#held = [];
    return true;
  }

  /** Read `ticket` failed: pushes apply to the list held until the next read. */
  failed(ticket) {
    if (ticket !== this.#read) return;
    this.#read = 0;
    this.#held = [];
  }

  /** A `join`, `leave` or `presence_update` push: held while a read is out; true when the list changed. */
  pushed(push) {
    if (this.#read !== 0) {
      this.#held.push(push);
      return false;
    }
    return this.#apply(push);
  }

  #apply(push) {
    if (!this.#users) return false;
    if (push.push === 'leave') return this.#users.delete(push.user);
    const info = push.info ?? null;
    const had = this.#users.has(push.user);
    const same = had && JSON.stringify(this.#users.get(push.user)) === JSON.stringify(info);
    this.#users.set(push.user, info);
    return !same;
  }
}

/** What of the options can cross into the worker (functions cannot). */
function shareable(options) {
  const plain = {};
  for (const [key, value] of Object.entries(options)) {
    if (typeof value !== 'function' && !['WebSocket', 'timers', 'shared', 'network', 'page'].includes(key)) plain[key] = value;
  }
  return plain;
}

// MARK: - Shared-worker mode: the worker's side

/** Runs inside the SharedWorker: one Engine for every tab connected to it. */
function hostSharedWorker(scope) {
  const host = createHost();
  scope.onconnect = (connection) => host.connect(connection.ports[0]);
}

/**
 * The connection every tab shares, and the tabs' ports into it (a SharedWorker's, or the leader
 * tab's over a BroadcastChannel). `engineOptions` are added to the first tab's (the leader tab's
 * own WebSocket and clock in tests).
 */
function createHost(engineOptions = {}) {
  let engine = null;
  const tabs = new Map(); // port -> {observations: Map(id -> stop), heard, visible, focused, generation}
  const tokenRequests = new Map();
  let nextToken = 1;

  // A channel's subscription tokens come from a tab that observes it with a provider (any live one:
  // the one that observed first may be gone), within WORKER_ANSWER_MS * 3.
  const subscriptionTokenFor = (channel) => () => new Promise((resolve, reject) => {
    const holder = [...tabs.entries()].map(([port, tab]) => [port, [...tab.tokenObservations].find(([, name]) => name === channel)])
      .find(([, found]) => found);
    if (!holder) return reject(new Error(`no tab observes ${channel} with a subscriptionToken provider any more`));
    const [port, [observation]] = holder;
    const id = nextToken++;
    const timer = setTimeout(() => {
      tokenRequests.delete(id);
      reject(new Error(`the tab did not answer for a subscription token for ${channel}`));
    }, WORKER_ANSWER_MS * 3);
    tokenRequests.set(id, (reply) => {
      clearTimeout(timer);
      return reply.error ? reject(new Error(reply.error)) : resolve(reply.token);
    });
    port.postMessage({ t: 'subToken?', id, observation, channel });
  });

  // The tab the user is most likely looking at: focused, then visible, then the latest heartbeat.
  const askToken = () => new Promise((resolve, reject) => {
    const rank = (tab) => [tab.focused ? 1 : 0, tab.visible ? 1 : 0, tab.heard];
    const ports = [...tabs.entries()].sort(([, a], [, b]) => {
      const [x, y] = [rank(a), rank(b)];
      return y[0] - x[0] || y[1] - x[1] || y[2] - x[2];
    }).map(([port]) => port);
    if (ports.length === 0) return reject(new Error('no tab to ask for a token'));
    const id = nextToken++;
    tokenRequests.set(id, (reply) => (reply.error ? reject(new Error(reply.error)) : resolve(reply.token)));
    ports[0].postMessage({ t: 'token?', id });
  });

  const leave = (port) => {
    const tab = tabs.get(port);
    if (!tab) return;
    tabs.delete(port);
    tab.stopStatus();
    for (const stop of tab.observations.values()) stop?.();
  };

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [port, tab] of tabs) if (now - tab.heard > 3 * WORKER_BEAT_MS) leave(port);
  }, WORKER_BEAT_MS);
  sweep.unref?.(); // node (the unit tests) only

  const connect = (port) => {
    port.onmessage = (event) => {
      const message = event.data;
      const tab = tabs.get(port);
      if (tab) {
        tab.heard = Date.now();
        if ('visible' in message) tab.visible = message.visible;
        if ('focused' in message) tab.focused = message.focused;
      }
      switch (message.t) {
        case 'hello': {
          if (tab) leave(port);
          engine ??= new Engine({ ...message.options, ...engineOptions, getToken: askToken });
          const generation = message.generation ?? 1;
          const joined = { observations: new Map(), tokenObservations: new Map(), heard: Date.now(), visible: message.visible ?? true,
            focused: message.focused ?? false, generation, stopStatus: () => {} };
          tabs.set(port, joined);
          joined.stopStatus = engine.onStatus((status) => port.postMessage({ t: 'status', generation, state: status.state,
            error: status.error?.toJSON() ?? null }));
          return;
        }
        case 'bye': return leave(port);
        case 'token':
        case 'subToken': {
          const settle = tokenRequests.get(message.id);
          tokenRequests.delete(message.id);
          return settle?.(message);
        }
      }
      // Anything else from a tab this worker does not know (it was released while frozen or
      // cached, or this is a new worker): tell it to join again.
      if (!tab) return port.postMessage({ t: 'rejoin' });
      switch (message.t) {
        case 'observe': {
          const id = message.id;
          const send = (value) => port.postMessage({ t: 'value', id, value,
            position: message.kind === 'channel' ? engine.position(message.channel) : undefined });
          const end = (error) => {
            tab.observations.delete(id);
            tab.tokenObservations.delete(id);
            port.postMessage({ t: 'end', id, error: HybridSyncError.from(error).toJSON() });
          };
          const onReady = (position) => port.postMessage({ t: 'ready', id, position });
          tab.observations.set(id, null);
          if (message.token) tab.tokenObservations.set(id, message.channel);
          const subscriptionToken = message.token ? subscriptionTokenFor(message.channel) : null;
          const stop = observeOn(engine, message, send, end, { since: message.since ?? null, onReady, subscriptionToken });
          if (tab.observations.has(id)) tab.observations.set(id, stop);
          return;
        }
        case 'cancel': {
          const stop = tab.observations.get(message.id);
          tab.observations.delete(message.id);
          tab.tokenObservations.delete(message.id);
          return stop?.();
        }
        case 'publish':
        case 'backfill':
          return (message.t === 'publish' ? engine.publish(message.channel, message.data) : engine.backfill(message.channel, message.after)).then(
            (result) => port.postMessage({ t: 'settled', id: message.id, result }),
            (error) => port.postMessage({ t: 'settled', id: message.id, error: HybridSyncError.from(error).toJSON() }));
        case 'presence':
          return engine.presence(message.channel, message.stats).then(
            (result) => port.postMessage({ t: 'settled', id: message.id, result }),
            (error) => port.postMessage({ t: 'settled', id: message.id, error: HybridSyncError.from(error).toJSON() }));
        case 'diagnostics':
          return port.postMessage({ t: 'settled', id: message.id, result: engine.diagnostics() });
        default: return; // 'beat'
      }
    };
    port.start();
  };
  return { connect };
}

// MARK: - Leader-tab mode: one tab holds the connection for the others

/**
 * Where SharedWorker is missing: every tab asks for one Web Lock; the tab that holds it hosts the
 * connection (the same host as the worker's), and every tab, itself included, speaks to it over a
 * BroadcastChannel as it would to a worker. When the leader's document goes, its lock passes to
 * another tab, which announces itself; the others join it again (`reconnecting` until current).
 */
class LeaderTab {
  #channel;
  #id = Math.random().toString(36).slice(2) + Date.now().toString(36);
  #host = null;
  #ports = new Map(); // tab id -> the host's port to that tab
  /** This tab's port to whichever tab leads. */
  port;

  constructor(name, locks, Channel, options) {
    this.#channel = new Channel(name);
    const tab = { onmessage: null, start() {}, postMessage: (message) => this.#toLeader(message) };
    this.port = tab;
    this.#channel.onmessage = ({ data }) => {
      if (data?.to === 'leader' && this.#host) return this.#fromTab(data.from, data.message);
      if (data?.to === this.#id) return tab.onmessage?.({ data: data.message });
      // The leader's page is going: not current until a new leader has taken over. A new
      // leader: join it (reconnecting until current).
      if (data?.t === 'leaving' && data.from !== this.#id) tab.onmessage?.({ data: { t: 'leaderGone' } });
      if (data?.t === 'leader' && data.from !== this.#id) tab.onmessage?.({ data: { t: 'leader' } });
    };
    (options.page ?? globalThis).addEventListener?.('pagehide', () => {
      if (this.#host) this.#channel.postMessage({ t: 'leaving', from: this.#id });
    });
    const engineOptions = {};
    for (const key of ['WebSocket', 'timers', 'random', 'network']) if (options[key]) engineOptions[key] = options[key];
    // Held until this document goes (the promise never settles).
    locks.request(`${name}:leader`, () => {
      this.#host = createHost(engineOptions);
      this.#channel.postMessage({ t: 'leader', from: this.#id });
      tab.onmessage?.({ data: { t: 'leader' } }); // this tab joins its own host too
      return new Promise(() => {});
    });
  }

  /** Whether this tab holds the connection. */
  get isLeader() { return this.#host !== null; }

  #toLeader(message) {
    if (this.#host) return queueMicrotask(() => this.#fromTab(this.#id, message));
    this.#channel.postMessage({ to: 'leader', from: this.#id, message });
  }

  #fromTab(from, message) {
    let port = this.#ports.get(from);
    if (!port) {
      const deliver = from === this.#id
        ? (reply) => queueMicrotask(() => this.port.onmessage?.({ data: reply }))
        : (reply) => this.#channel.postMessage({ to: from, message: reply });
      port = { onmessage: null, start() {}, postMessage: deliver };
      this.#ports.set(from, port);
      this.#host.connect(port);
    }
    port.onmessage({ data: message });
  }
}

// MARK: - Helpers

/** `url` in one spelling: scheme and host lower-cased, default port dropped, path at least `/`. */
function normalizedURL(url) {
  const text = String(url ?? '');
  try {
    const parsed = new URL(text);
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') return text;
    return parsed.href;
  } catch {
    return text;
  }
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether two normal URLs name one server in two spellings (loopback names, for now). */
function sameServer(a, b) {
  try {
    const [x, y] = [new URL(a), new URL(b)];
    return x.protocol === y.protocol && x.port === y.port && x.pathname === y.pathname
      && LOOPBACK.has(x.hostname) && LOOPBACK.has(y.hostname);
  } catch {
    return false;
  }
}

function major(semver) { return String(semver ?? '').split('.')[0]; }

function compare(a, b) { return a < b ? -1 : a > b ? 1 : 0; }

function invalidChannel(name) {
  return new HybridSyncError(ErrorCode.invalidChannel, `invalid channel name '${name}': namespace:name (docs/PROTOCOL.md, Channels)`);
}

/** A callback whose exception is reported instead of breaking the runtime. */
function guard(options, app, context, callback) {
  return (value) => {
    try {
      callback(value);
    } catch (error) {
      report(options, app, context, error);
    }
  };
}

/** `options.onError({app, context, error})`, or a console warning without one. */
function report(options, app, context, error) {
  if (typeof options?.onError === 'function') {
    try { options.onError({ app, context, error }); return; } catch { /* fall through */ }
  }
  console.warn(`hybridsync: ${app}: ${context}:`, error);
}

if (typeof SharedWorkerGlobalScope === 'function' && globalThis instanceof SharedWorkerGlobalScope) {
  hostSharedWorker(globalThis);
}
