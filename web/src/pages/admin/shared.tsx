// Helpers for the admin pages: loading a list, a form's busy/error state.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, type Query } from '../../api';
import type { Page } from '../../types';

export function useList<T>(path: string, query: Query = {}): { data: Page<T> | null; error: unknown; reload: () => void } {
  const [data, setData] = useState<Page<T> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const key = JSON.stringify(query);
  const reload = useCallback(() => {
    api
      .get<Page<T>>(path, JSON.parse(key) as Query)
      .then((d) => {
        setData(d);
        setError(null);
      })
      .catch((e: unknown) => setError(e));
  }, [path, key]);
  useEffect(reload, [reload]);
  return { data, error, reload };
}

/** Run a submit: busy while it runs, its error kept for the form, `then` on success. */
export function useSubmit(): { busy: boolean; error: unknown; run: (action: () => Promise<void>) => void; clear: () => void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = (action: () => Promise<void>): void => {
    setBusy(true);
    setError(null);
    action()
      .catch((e: unknown) => setError(e))
      .finally(() => setBusy(false));
  };
  return { busy, error, run, clear: () => setError(null) };
}

export function intOr(value: string, fallback: number): number {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) ? n : fallback;
}
