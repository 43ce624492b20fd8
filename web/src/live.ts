// The gateway's live WebSocket (/api/v1/live): the only source of pushed updates. Reconnects with backoff;
// after every (re)connect listeners are told to reload their snapshot once (a reconnect replays nothing).
import { getToken, sessionExpired } from './api';
import { createStore } from './store';
import type { LiveMessage, LiveNotice } from './types';

export type LiveStatus = 'idle' | 'connecting' | 'open' | 'retrying';
export const liveStatus = createStore<LiveStatus>('idle');

type NoticeListener = (notice: LiveNotice, subject: string) => void;
type OpenListener = () => void;

const noticeListeners = new Set<NoticeListener>();
const openListeners = new Set<OpenListener>();
const POLICY_VIOLATION = 1008;
const MAX_DELAY_MS = 15000;

let socket: WebSocket | null = null;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let attempts = 0;
let wanted = false;

/** Be told of every live notice the user may see. */
export function onNotice(listener: NoticeListener): () => void {
  noticeListeners.add(listener);
  return () => noticeListeners.delete(listener);
}

/** Be told when the socket (re)opens: reload the snapshot the notices update. */
export function onLiveOpen(listener: OpenListener): () => void {
  openListeners.add(listener);
  return () => openListeners.delete(listener);
}

function address(token: string): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/api/v1/live?token=${encodeURIComponent(token)}`;
}

function schedule(): void {
  if (!wanted) return;
  // 0.5 s, 1 s, 2 s, ... up to 15 s, with jitter so a restarted gateway is not hit by every tab at once.
  const base = Math.min(MAX_DELAY_MS, 500 * 2 ** attempts);
  const delay = base / 2 + Math.random() * (base / 2);
  attempts += 1;
  liveStatus.set('retrying');
  clearTimeout(retryTimer);
  retryTimer = setTimeout(open, delay);
}

function open(): void {
  const token = getToken();
  if (!wanted || !token) return;
  liveStatus.set(attempts === 0 ? 'connecting' : 'retrying');
  const ws = new WebSocket(address(token));
  socket = ws;
  ws.onmessage = (event: MessageEvent<string>) => {
    let message: LiveMessage;
    try {
      message = JSON.parse(event.data) as LiveMessage;
    } catch {
      return;
    }
    if (message.subject === 'hello') {
      attempts = 0;
      liveStatus.set('open');
      for (const listener of [...openListeners]) listener();
      return;
    }
    const data = message.data;
    if (data && typeof data === 'object' && 'kind' in data) {
      for (const listener of [...noticeListeners]) listener(data, message.subject);
    }
  };
  ws.onclose = (event: CloseEvent) => {
    if (socket !== ws) return;
    socket = null;
    if (event.code === POLICY_VIOLATION) {
      // The gateway refused the token (expired): back to the login page.
      wanted = false;
      liveStatus.set('idle');
      sessionExpired.set((n) => n + 1);
      return;
    }
    schedule();
  };
}

/** Start the live connection for the logged-in user. */
export function connectLive(): void {
  if (wanted) return;
  wanted = true;
  attempts = 0;
  open();
}

/** Close it (logout). */
export function disconnectLive(): void {
  wanted = false;
  clearTimeout(retryTimer);
  const ws = socket;
  socket = null;
  ws?.close();
  liveStatus.set('idle');
}
