// React bindings for hybridsync.js (React 18: useSyncExternalStore). docs/BROWSER.md, "React".
// `import { HybridSyncProvider, useHybridState, useChannel, usePresence, useHybridStatus } from 'hybridsync/react'`.
import { createContext, createElement, useContext, useEffect, useMemo, useState, useSyncExternalStore } from 'react';

const MicroAppContext = createContext(null);

/**
 * Mounts the micro-app `name` into `runtime` for its subtree and unmounts it when the provider
 * unmounts (or `runtime`/`name` change). The children render once the micro-app exists.
 */
export function HybridSyncProvider({ runtime, name, children }) {
  const [app, setApp] = useState(null);
  useEffect(() => {
    const mounted = runtime.mount(name);
    setApp(mounted);
    return () => {
      mounted.unmount();
      setApp((current) => (current === mounted ? null : current));
    };
  }, [runtime, name]);
  return createElement(MicroAppContext.Provider, { value: app }, app ? children : null);
}

/** The micro-app of the nearest `HybridSyncProvider`. */
export function useMicroApp() {
  const app = useContext(MicroAppContext);
  if (!app) throw new Error('useMicroApp: no HybridSyncProvider above this component');
  return app;
}

/**
 * `{ready, value, error}` of a state key (`stateKey(channel, key, default)`) or a whole channel's
 * state (`{channel}`): `ready` is false until the server's current value arrived (never a default
 * guessed before it); then every change re-renders. The observation ends on unmount.
 */
export function useHybridState(key) {
  const app = useMicroApp();
  const store = useMemo(
    () => observedStore((callback, onError) => app.observe(key, callback, onError)),
    // A key made in render (`stateKey(...)`) is a new object each time: compare what it names.
    [app, key.channel, key.key, JSON.stringify(key.default ?? null)],
  );
  return useSyncExternalStore(store.subscribe, store.snapshot);
}

/**
 * `{events, last, error}` of a channel: its latest `limit` events (publications and `resynced`),
 * oldest first, from when the component mounted. The observation ends on unmount.
 */
export function useChannel(channel, { limit = 50 } = {}) {
  const app = useMicroApp();
  const store = useMemo(() => {
    let events = [];
    return observedStore((callback, onError) => app.observeChannel(channel, (event) => {
      events = [...events.slice(Math.max(0, events.length - limit + 1)), event];
      callback(events);
    }, onError), { events: [], last: null }, (list) => ({ events: list, last: list[list.length - 1] }));
  }, [app, channel, limit]);
  const { ready: _ready, value, error } = useSyncExternalStore(store.subscribe, store.snapshot);
  return { events: value?.events ?? [], last: value?.last ?? null, error };
}

/**
 * `{ready, value, error}` of who is present on `channel` (a namespace with presence): `value` is
 * `[{user, info}]` sorted by user once the runtime has read it, then after every join, leave and
 * info change. The observation ends on unmount.
 */
export function usePresence(channel) {
  const app = useMicroApp();
  const store = useMemo(() => observedStore((callback, onError) => app.observePresence(channel, callback, onError)), [app, channel]);
  return useSyncExternalStore(store.subscribe, store.snapshot);
}

/** The connection's `{state, error}`, re-rendered at every change. */
export function useHybridStatus() {
  const app = useMicroApp();
  const store = useMemo(() => {
    let snapshot = { state: 'connecting', error: null };
    return {
      subscribe: (onChange) => app.onStatus((status) => { snapshot = status; onChange(); }),
      snapshot: () => snapshot,
    };
  }, [app]);
  return useSyncExternalStore(store.subscribe, store.snapshot);
}

/** A store for useSyncExternalStore over one observation; snapshots change only with the value. */
function observedStore(observe, initial = undefined, shape = (value) => value) {
  let snapshot = { ready: false, value: initial, error: null };
  return {
    subscribe(onChange) {
      const observation = observe(
        (value) => { snapshot = { ready: true, value: shape(value), error: null }; onChange(); },
        (error) => { snapshot = { ...snapshot, error }; onChange(); },
      );
      return () => observation?.cancel();
    },
    snapshot: () => snapshot,
  };
}
