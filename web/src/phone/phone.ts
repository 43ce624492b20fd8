// The phone's model: the agent's current call as the platform reports it (live offer/call/state notices and
// the answers of the API), never an optimistic guess; and the driver chosen by GET /api/v1/phone.
import { agent, settings } from '../agent';
import { api, ApiError, request } from '../api';
import { openCrm } from '../crm';
import { onLiveOpen, onNotice } from '../live';
import { onSession } from '../session';
import { createStore } from '../store';
import type { AgentStatus, CallDetail, CallNotice, CallPhase, Direction, PhoneConfig } from '../types';
import type { DriverStatus, PhoneDriver } from './driver';
import { ExternalDriver } from './external';
import { SandboxDriver } from './sandbox';

export interface CallView {
  callId: string;
  direction: Direction;
  phase: CallPhase;
  number: string;
  callerId: string | null;
  did: string | null;
  queueName: string | null;
  held: boolean;
  muted: boolean;
  connectedAt: string | null;
  result: string | null;
  cause: string | null;
  offerId: string | null;
}

export const call = createStore<CallView | null>(null);
export const phoneConfig = createStore<PhoneConfig | null>(null);
export const driverStatus = createStore<{ status: DriverStatus | 'unavailable'; detail?: string }>({ status: 'stopped' });
/** How the last offer ended without being answered (missed, rejected...), shown until the next call. */
export const lastOffer = createStore<string | null>(null);
/** The call whose details (timeline) are open, if any; `auto` when opened by an event (focus stays put). */
export const openCallDetail = createStore<{ callId: string; auto: boolean } | null>(null);
/** Asked to take the keyboard focus to the phone (the "Telefona geç" link): a counter, each ask a new value. */
export const phoneFocus = createStore<number>(0);

let driver: PhoneDriver | null = null;

function fromNotice(n: CallNotice, previous: CallView | null): CallView {
  const same = previous?.callId === n.call_id ? previous : null;
  return {
    callId: n.call_id,
    direction: n.direction,
    phase: n.phase,
    number: n.number,
    callerId: n.caller_id,
    did: n.did ?? same?.did ?? null,
    queueName: n.queue_name ?? same?.queueName ?? null,
    held: n.held,
    muted: n.muted,
    connectedAt: n.connected_at,
    result: n.result,
    cause: n.cause,
    offerId: same?.offerId ?? null,
  };
}

/** Whether notices about calls (the adapter's CallNotice) have been seen: then they alone drive the phase. */
let callNotices = false;

onNotice((notice) => {
  const current = call.get();
  switch (notice.kind) {
    case 'offer':
      lastOffer.set(null);
      call.set({
        callId: notice.call_id, direction: 'inbound', phase: 'ringing', number: notice.caller, callerId: null,
        did: notice.did, queueName: notice.queue_name, held: false, muted: false, connectedAt: null,
        result: null, cause: null, offerId: notice.offer_id,
      });
      return;
    case 'offer_ended':
      if (current?.offerId === notice.offer_id && current.phase === 'ringing' && notice.outcome !== 'accepted') {
        call.set(null);
        lastOffer.set(notice.outcome);
      }
      return;
    case 'call': {
      callNotices = true;
      const next = fromNotice(notice, current);
      call.set(next);
      if (next.phase === 'connected' && current?.phase !== 'connected' && settings.get()?.auto_crm) {
        openCrm.set({ number: next.number, callId: next.callId, auto: true });
      }
      return;
    }
    case 'state':
      if (agent.get()?.agent_id === notice.agent_id) followAgentState(notice.state, notice.since, notice.call_id);
      return;
    default:
      return;
  }
});

/** Before the adapter's call notices arrive, the router's agent state tells when a call connected and ended. */
function followAgentState(state: AgentStatus['state'], since: string | null, callId: string | null): void {
  if (callNotices) return;
  const current = call.get();
  if (state === 'on_call' && callId && current?.callId === callId && current.phase === 'ringing') {
    call.set({ ...current, phase: 'connected', connectedAt: since });
    if (settings.get()?.auto_crm) openCrm.set({ number: current.number, callId, auto: true });
  } else if (state !== 'on_call' && state !== 'ringing' && current && current.phase === 'connected') {
    call.set({ ...current, phase: 'ended', result: current.result ?? 'answered' });
  }
}

/** After a reload or a reconnect: a call already in progress is shown from the agent's state and its record. */
async function recover(): Promise<void> {
  const me = agent.get();
  if (!me?.call_id || !['ringing', 'on_call'].includes(me.state)) return;
  if (call.get()?.callId === me.call_id) return;
  const base: CallView = {
    callId: me.call_id, direction: 'inbound', phase: me.state === 'on_call' ? 'connected' : 'ringing', number: '',
    callerId: null, did: null, queueName: null, held: false, muted: false,
    connectedAt: me.state === 'on_call' ? me.since : null, result: null, cause: null, offerId: null,
  };
  call.set(base);
  try {
    const detail = await api.get<CallDetail>(`/calls/${me.call_id}`);
    const now = call.get();
    if (now?.callId === me.call_id) call.set({ ...now, number: detail.number, direction: detail.direction });
  } catch {
    // the call's record is not readable (yet): the phone shows what the state told
  }
}

agent.subscribe(() => void recover());

function makeDriver(config: PhoneConfig): Promise<PhoneDriver> {
  if (config.mode === 'webrtc') return import('./jssip').then(({ JsSipDriver }) => new JsSipDriver(config));
  if (config.mode === 'none') return Promise.resolve(new ExternalDriver());
  return Promise.resolve(new SandboxDriver());
}

async function startPhone(): Promise<void> {
  let config: PhoneConfig;
  try {
    config = await api.get<PhoneConfig>('/phone');
  } catch {
    driverStatus.set({ status: 'unavailable' });
    return;
  }
  phoneConfig.set(config);
  driver = await makeDriver(config);
  await driver.start((status, detail) => driverStatus.set(detail === undefined ? { status } : { status, detail }));
}

onLiveOpen(() => {
  if (driverStatus.get().status === 'unavailable') void startPhone();
});

onSession(
  (s) => {
    if (s.me.role === 'agent') void startPhone();
  },
  () => {
    driver?.stop();
    driver = null;
    callNotices = false;
    call.set(null);
    lastOffer.set(null);
    pageCalls.set(new Set());
    phoneConfig.set(null);
    driverStatus.set({ status: 'stopped' });
    openCallDetail.set(null);
  },
);

function needDriver(): PhoneDriver {
  if (!driver) throw new Error('phone-unavailable');
  return driver;
}

export const phone = {
  answer: (): Promise<void> => needDriver().answer(),
  reject: (): Promise<void> => needDriver().reject(),
  dial: (to: string, callerId: string | null): Promise<void> => needDriver().dial(to, callerId),

  /** Hold, unhold, mute, unmute or hang up through the gateway; the phone shows what the adapter answered. */
  async act(action: 'hold' | 'unhold' | 'mute' | 'unmute' | 'hangup'): Promise<void> {
    const current = call.get();
    if (!current) return;
    if (action === 'hangup' && current.phase !== 'connected') {
      await needDriver().hangup();
      return;
    }
    let answer: { held?: boolean; muted?: boolean };
    try {
      answer = await api.post<{ held?: boolean; muted?: boolean }>(`/calls/${current.callId}/${action}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404 && error.field === 'call_id') {
        // The call ended before the action arrived (the customer hung up): show its recorded end and say so.
        await showRecordedEnd(current.callId);
        throw new Error('call-ended');
      }
      throw error;
    }
    const now = call.get();
    if (now?.callId !== current.callId) return;
    const next = { ...now };
    if (typeof answer?.held === 'boolean') next.held = answer.held;
    if (typeof answer?.muted === 'boolean') next.muted = answer.muted;
    call.set(next);
  },

  /** Clear a finished call from the phone. */
  dismiss(): void {
    if (call.get()?.phase === 'ended') call.set(null);
    lastOffer.set(null);
  },
};

/** The API says the call is over: the phone shows how it ended from the call's record (not a guess). */
async function showRecordedEnd(callId: string): Promise<void> {
  let result: string | null = null;
  try {
    result = (await api.get<CallDetail>(`/calls/${callId}`)).result;
  } catch {
    // the record is not readable: the phone still ends the call, with no result to show
  }
  const now = call.get();
  if (now?.callId === callId && now.phase !== 'ended') {
    call.set({ ...now, phase: 'ended', result: result === 'in_progress' ? null : result });
  }
}

/** Calls started from a page: the agent's own phone rings first, so the phone offers to answer it. */
export const pageCalls = createStore<ReadonlySet<string>>(new Set());

/** Start a call from a page (e.g. a call list): the agent's phone rings first (POST /api/v1/calls). */
export async function callFromPage(to: string, callerId: string | null): Promise<void> {
  const started = await request<{ call_id: string }>('POST', '/calls', {
    body: { to, caller_id: callerId },
    headers: { 'idempotency-key': crypto.randomUUID() },
  });
  pageCalls.set((ids) => new Set([...ids, started.call_id]));
}
