// Dates and durations as people read them: the tenant's time zone (default Europe/Istanbul), the UI's language.
import { localeTag } from './i18n';
import { createStore } from './store';

export const DEFAULT_TIME_ZONE = 'Europe/Istanbul';
export const timeZone = createStore<string>(DEFAULT_TIME_ZONE);

const cache = new Map<string, Intl.DateTimeFormat>();

function formatter(options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const zone = timeZone.get();
  const key = `${localeTag()}|${zone}|${JSON.stringify(options)}`;
  let f = cache.get(key);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat(localeTag(), { ...options, timeZone: zone });
    } catch {
      f = new Intl.DateTimeFormat(localeTag(), { ...options, timeZone: DEFAULT_TIME_ZONE });
    }
    cache.set(key, f);
  }
  return f;
}

/** Date and time in the tenant's zone. */
export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return formatter({ dateStyle: 'short', timeStyle: 'medium' }).format(date);
}

/** Time of day in the tenant's zone. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return formatter({ timeStyle: 'medium' }).format(date);
}

/** Seconds as m:ss or h:mm:ss (a running timer, a talk time). */
export function formatDuration(totalSeconds: number | null | undefined): string {
  if (totalSeconds === null || totalSeconds === undefined || !Number.isFinite(totalSeconds)) return '';
  const s = Math.max(0, Math.floor(totalSeconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** Seconds elapsed since an ISO instant, at `now` (ms). */
export function secondsSince(iso: string | null | undefined, now: number): number {
  if (!iso) return 0;
  const at = Date.parse(iso);
  return Number.isNaN(at) ? 0 : Math.max(0, (now - at) / 1000);
}

/** Today's date (YYYY-MM-DD) in the tenant's zone, for date filters. */
export function todayInZone(): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: timeZone.get(), year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(new Date());
  const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')}`;
}
