// Type declarations for react.js, the React 18 bindings of hybridsync.js (docs/BROWSER.md, "React").
import type { ReactNode, ReactElement } from 'react';
import type { Runtime, MicroApp, StateKey, ChannelState, ChannelEvent, HybridSyncError, JSONValue, PresentUser, Status } from './hybridsync.js';

/** Mounts the micro-app `name` for its subtree; unmounts it when the provider unmounts. */
export declare function HybridSyncProvider(props: { runtime: Runtime; name: string; children?: ReactNode }): ReactElement;

/** The micro-app of the nearest provider. */
export declare function useMicroApp(): MicroApp;

export interface HybridState<T> {
  /** False until the server's current value arrived. */
  ready: boolean;
  /** The current value once `ready`, else undefined. */
  value: T | undefined;
  error: HybridSyncError | null;
}

export declare function useHybridState<T>(key: StateKey<T>): HybridState<T>;
export declare function useHybridState<T = JSONValue>(state: ChannelState<T>): HybridState<{ [key: string]: T }>;

export declare function useChannel<Data = JSONValue>(channel: string, options?: { limit?: number }): {
  events: ChannelEvent<Data>[];
  last: ChannelEvent<Data> | null;
  error: HybridSyncError | null;
};

/** Who is present on `channel`, live (`MicroApp.observePresence`). */
export declare function usePresence(channel: string): HybridState<PresentUser[]>;

export declare function useHybridStatus(): Status;
