// A tiny observable store and its Preact hook: the whole client's shared state without a state library.
import { useEffect, useState } from 'preact/hooks';

export interface Store<T> {
  get(): T;
  set(next: T | ((current: T) => T)): void;
  subscribe(listener: (value: T) => void): () => void;
}

export function createStore<T>(initial: T): Store<T> {
  let value = initial;
  const listeners = new Set<(value: T) => void>();
  return {
    get: () => value,
    set(next) {
      const resolved = typeof next === 'function' ? (next as (current: T) => T)(value) : next;
      if (Object.is(resolved, value)) return;
      value = resolved;
      for (const listener of [...listeners]) listener(value);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** Re-render the component whenever the store changes. */
export function useStore<T>(store: Store<T>): T {
  const [value, setValue] = useState(store.get());
  useEffect(() => {
    setValue(store.get());
    return store.subscribe(setValue);
  }, [store]);
  return value;
}

// One shared one-second tick for every running timer on the page (a UI tick; no network), on only while used.
const clock = createStore<number>(Date.now());
let ticking: ReturnType<typeof setInterval> | undefined;
let users = 0;

/** The current time (ms), re-rendering every second. */
export function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    users += 1;
    if (users === 1) ticking = setInterval(() => clock.set(Date.now()), 1000);
    const off = clock.subscribe(setNow);
    return () => {
      off();
      users -= 1;
      if (users === 0) clearInterval(ticking);
    };
  }, []);
  return now;
}
