// Kara Liste and Kara Liste Onay: the shapes of /api/v1/blacklist, and expiry times in the tenant's zone.
import { useEffect } from 'preact/hooks';
import { timeZone } from './format';
import { onLiveOpen, onNotice } from './live';

export type Direction = 'inbound' | 'outbound' | 'both';
export const DIRECTIONS: Direction[] = ['both', 'inbound', 'outbound'];
export type RequestStatus = 'pending' | 'approved' | 'rejected';

export interface BlacklistEntry {
  entry_id: string;
  number: string;
  direction: Direction;
  reason: string;
  expires_at: string | null;
  status: 'active' | 'expired';
  request_id: string | null;
  created_by: string | null;
  created_at: string;
  updated_by: string | null;
  updated_at: string;
}

export interface BlockRequest {
  request_id: string;
  number: string;
  direction: Direction;
  reason: string;
  customer_id: string | null;
  call_id: string | null;
  status: RequestStatus;
  requested_by: string | null;
  requested_by_name: string | null;
  requested_at: string;
  decided_by: string | null;
  decided_by_name: string | null;
  decided_at: string | null;
  comment: string | null;
  entry_id: string | null;
}

/** The wall-clock parts of an instant in a time zone, as "YYYY-MM-DDTHH:MM" (a datetime-local value). */
function wallClock(at: number, zone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date(at));
  const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')}T${get('hour')}:${get('minute')}`;
}

/** An instant as a datetime-local value in the tenant's zone (what the expiry field shows). */
export function toLocalInput(iso: string | null): string {
  if (!iso) return '';
  const at = Date.parse(iso);
  return Number.isNaN(at) ? '' : wallClock(at, timeZone.get());
}

/** A datetime-local value read in the tenant's zone, as an ISO instant (null when empty or not a time). */
export function fromLocalInput(value: string): string | null {
  const naive = Date.parse(`${value}:00Z`); // the wall clock as if it were UTC
  if (!value || Number.isNaN(naive)) return null;
  // The zone's offset at that moment: how far its wall clock is from UTC (twice, to settle around DST changes).
  let at = naive;
  for (let i = 0; i < 2; i++) at = naive - (Date.parse(`${wallClock(at, timeZone.get())}:00Z`) - at);
  return new Date(at).toISOString();
}

/** Reload on the live notices about `what` and after every (re)connect of the live socket: no polling. */
export function useBlacklistLive(what: 'request' | 'entry', reload: () => void): void {
  useEffect(() => {
    const offNotice = onNotice((n) => {
      if (n.kind === 'blacklist' && n.what === what) reload();
    });
    const offOpen = onLiveOpen(reload);
    return () => {
      offNotice();
      offOpen();
    };
  }, [what, reload]);
}
