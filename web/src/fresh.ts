// A read model answers a little behind the live notices: its projection looks for new events a few times a
// second and may fall further behind under load (or while the disk stalls an fsync). A list fetched right after
// a call ended can still show that call in progress, and no later notice comes to fix it. A fresh loader fetches
// again, with growing pauses, while what came back still looks stale, then stops.

import { call } from './phone/phone';

/** The pauses between the fetches of one round (ms): about 16 s in all, then the answer is taken as it is. */
export const PAUSES_MS = [250, 500, 1000, 2000, 4000, 8000];

export interface FreshLoader {
  /** Start a new round (a newer notice came, or the view opened); a round still going is dropped. */
  load: () => void;
  /** Stop for good (the view closed): no fetch starts and no answer is applied after this. */
  stop: () => void;
}

/** Fetches with `fetch`, hands each answer to `apply` (errors to `fail`), and fetches again while `stale`. */
export function freshLoader<T>(
  fetch: () => Promise<T>,
  stale: (value: T) => boolean,
  apply: (value: T) => void,
  fail: (error: unknown) => void,
): FreshLoader {
  let round = 0; // answers of an older round (or after stop) are dropped: they may be older than the newest
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const attempt = (mine: number, tries: number): void => {
    fetch()
      .then((value) => {
        if (stopped || mine !== round) return;
        apply(value);
        if (tries < PAUSES_MS.length && stale(value)) {
          timer = setTimeout(() => attempt(mine, tries + 1), PAUSES_MS[tries]);
        }
      })
      .catch((error: unknown) => {
        if (!stopped && mine === round) fail(error);
      });
  };

  return {
    load: () => {
      if (stopped) return;
      clearTimeout(timer);
      round += 1;
      attempt(round, 0);
    },
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * A call the read model shows in progress that this phone is not on: its end may not have reached the read model
 * yet. (It may also be somebody else's call still going on; then the fresh loader stops after its last pause.)
 */
export function maybeLate(c: { call_id: string; result: string }): boolean {
  const mine = call.get();
  return c.result === 'in_progress' && !(mine && mine.callId === c.call_id && mine.phase !== 'ended');
}
