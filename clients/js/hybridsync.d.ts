// Type declarations for hybridsync.js (docs/BROWSER.md). Checked by `make test` with tsc: a usage
// file must pass and a file of wrong calls must fail with the expected errors (clients/js/test/types/).

/** This module's version (semver). */
export declare const version: string;

/** The stable codes of `HybridSyncError.code`. */
export type ErrorCodeName =
  | 'closed'
  | 'banned'
  | 'unauthorized'
  | 'disconnected'
  | 'invalidURL'
  | 'invalidChannel'
  | 'serverRefused'
  | 'stateNotRetained'
  | 'subscriptionToken'
  | 'connectionLost'
  | 'offlineQueueFull'
  | 'notConnected'
  | 'messageTooBig'
  | 'timeout'
  | 'unmounted'
  | 'protocolViolation';

/** The values of `HybridSyncError.code`, by name. */
export declare const ErrorCode: { readonly [Name in ErrorCodeName]: Name };

/** The server's refusal of a command (docs/PROTOCOL.md, error codes). */
export interface ServerError {
  code: number;
  message: string;
  temporary?: boolean;
}

/** Why the user is banned. */
export interface Ban {
  reason: string;
  /** Seconds since 1970, or null for a ban without end. */
  until: number | null;
}

/** Every failure the runtime reports; recognised by `instanceof` across copies of the module. */
export declare class HybridSyncError extends Error {
  constructor(code: ErrorCodeName, message: string, details?: { closeCode?: number | null; serverError?: ServerError | null; ban?: Ban | null });
  readonly name: 'HybridSyncError';
  readonly code: ErrorCodeName;
  /** The WebSocket close code that stopped the runtime, if one did. */
  readonly closeCode: number | null;
  /** For `serverRefused`. */
  readonly serverError: ServerError | null;
  /** For `banned`. */
  readonly ban: Ban | null;
  toJSON(): { code: ErrorCodeName; message: string; closeCode: number | null; serverError: ServerError | null; ban: Ban | null };
}

/** Any JSON value. */
export type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue };

/** A stream position (docs/PROTOCOL.md). */
export interface Position {
  epoch: string;
  offset: number;
}

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface Status {
  state: ConnectionState;
  /** Why the runtime stopped, when `state` is `closed`. */
  error: HybridSyncError | null;
}

/** One publication on a channel. */
export interface PublicationEvent<Data = JSONValue> {
  type: 'publication';
  channel: string;
  offset: number;
  data: Data;
  /** The retained-state key it set or removed, for keyed publications. */
  key?: string;
  removed?: boolean;
}

/** The runtime could not prove what it missed: publications after `from` up to `to` may be missing. */
export interface ResyncedEvent {
  type: 'resynced';
  channel: string;
  from: Position;
  to: Position;
}

export type ChannelEvent<Data = JSONValue> = PublicationEvent<Data> | ResyncedEvent;

/** One key of a channel's retained state, typed by what the app stores there. */
export interface StateKey<T> {
  readonly channel: string;
  readonly key: string;
  readonly default: T | undefined;
  /** Types only: never set. */
  readonly __value?: T;
}

/** A whole channel's retained state, `{key: value}`. */
export interface ChannelState<T = JSONValue> {
  readonly channel: string;
  readonly key?: undefined;
  readonly __value?: T;
}

/** `stateKey<Ban>('moderation:users', '42', null)`: the value is `Ban | null`. */
export declare function stateKey<T>(channel: string, key: string, defaultValue: T): StateKey<T>;
export declare function stateKey<T>(channel: string, key: string): StateKey<T | null>;

/** What `backfill` resolves to. */
export interface Backfill<Data = JSONValue> {
  publications: PublicationEvent<Data>[];
  /** True exactly when no publication after `after` is missing. */
  complete: boolean;
  position: Position;
}

export interface Observation {
  cancel(): void;
}

/** A failure inside a callback, or a `runtimeFor` warning. */
export interface ErrorReport {
  app: string;
  context: string;
  error: unknown;
}

export interface RuntimeOptions {
  /** `ws://` or `wss://`. */
  url: string;
  /** Called for every connection attempt. */
  getToken: () => string | Promise<string>;
  /** The client name in the server's logs. */
  name?: string;
  /** One connection per browser: a SharedWorker, or the leader tab (Web Locks) without one. */
  shared?: boolean;
  sharedName?: string;
  onError?: (report: ErrorReport) => void;
  backoffBase?: number;
  backoffMax?: number;
  connectTimeout?: number;
  commandTimeout?: number;
  linger?: number;
  offlineQueueLimit?: number;
}

/** One micro-frontend's scope: what it observes ends with `unmount()`. */
export interface MicroApp {
  readonly name: string;
  /** The key's current value first (once the server's snapshot arrived), then every change. */
  observe<T>(key: StateKey<T>, callback: (value: T) => void, onError?: (error: HybridSyncError) => void): Observation;
  observe<T = JSONValue>(state: ChannelState<T>, callback: (value: { [key: string]: T }) => void, onError?: (error: HybridSyncError) => void): Observation;
  observeChannel<Data = JSONValue>(channel: string, callback: (event: ChannelEvent<Data>) => void, onError?: (error: HybridSyncError) => void): Observation;
  /** `callback(status)` now and at every change, until unmount; returns a function that stops it. */
  onStatus(callback: (status: Status) => void): () => void;
  publish(channel: string, data: JSONValue): Promise<{ offset: number }>;
  backfill<Data = JSONValue>(channel: string, after: Position): Promise<Backfill<Data>>;
  /** Who is present on an observed channel of a presence namespace, sorted by user. */
  presence(channel: string, options?: { stats?: false }): Promise<PresenceMember[]>;
  /** How many users, and connections of theirs, are present. */
  presence(channel: string, options: { stats: true }): Promise<{ users: number; contexts: number }>;
  /**
   * Who is present on `channel`, live: the current users sorted by user first, then the whole list
   * after every join, leave and info change (read again after every reconnect).
   */
  observePresence(channel: string, callback: (users: PresentUser[]) => void, onError?: (error: HybridSyncError) => void): Observation;
  unmount(): void;
}

/** A user present on a channel, as `observePresence` follows it. */
export interface PresentUser {
  /** The user (the token's `sub`). */
  user: string;
  /** The info of their most recently subscribed connection, or null. */
  info: JSONValue;
}

/** A user present on a channel (docs/PROTOCOL.md "Presence"). */
export interface PresenceMember {
  /** The user (the token's `sub`). */
  user: string;
  /** Their connections subscribed to the channel, on every node. */
  contexts: number;
  /** The info of their most recently joined connection, or null. */
  info: JSONValue;
}

/** `runtime.diagnostics()`: what the runtime holds (the Swift SDK's shape). */
export interface Diagnostics {
  mode: RuntimeMode;
  /** Leader-tab mode: whether this tab holds the connection. */
  leader?: boolean;
  connection: ConnectionState;
  reconnects: number;
  lastError: string | null;
  /** Publishes waiting for a connection. */
  offlineQueue: number;
  /** Commands sent whose reply has not arrived. */
  inFlight: number;
  apps: { name: string; channels: string[]; observers: number }[];
  channels: { name: string; holders: number; status: 'active' | 'pending' | 'offline'; position: Position | null; lingering: boolean }[];
}

/**
 * A micro-app's backend's subscription tokens: a JWT for this user and `channel` (claims `sub`,
 * `channel`, `exp`), or null where the channel needs none (docs/PROTOCOL.md "Subscription tokens").
 */
export type SubscriptionTokenProvider = (channel: string) => string | null | Promise<string | null>;

/** What micro-apps mount into. */
/** Where the connection lives: this tab's own, a SharedWorker's, or the leader tab's. */
export type RuntimeMode = 'local' | 'shared-worker' | 'leader-tab';

export interface Runtime {
  readonly mode: RuntimeMode;
  readonly status: Status;
  /**
   * `onError`: this micro-app's own error channel. `subscriptionToken`: asked before each subscribe
   * of a channel this micro-app observes and before its token expires (`sub_refresh`).
   */
  mount(name: string, options?: { onError?: (report: ErrorReport) => void; subscriptionToken?: SubscriptionTokenProvider }): MicroApp;
  diagnostics(): Promise<Diagnostics>;
  onStatus(callback: (status: Status) => void): () => void;
  publish(channel: string, data: JSONValue): Promise<{ offset: number }>;
  close(): void;
}

export declare function createRuntime(options: RuntimeOptions): Runtime;

/** The page's runtime for `options.url`, shared by every caller (and every copy of the module). */
export declare function runtimeFor(options: RuntimeOptions): Runtime;
