// The agent's own line: state and since (GET /agents/me, live "state" notices), personal settings, going on line.
import { api } from './api';
import { onLiveOpen, onNotice } from './live';
import { onSession } from './session';
import { createStore } from './store';
import type { AgentSettings, AgentStatus, ChosenState, PhonePosition } from './types';

export const agent = createStore<AgentStatus | null>(null);
export const settings = createStore<AgentSettings | null>(null);

export const DEFAULT_SETTINGS: AgentSettings = {
  default_state: 'outbound',
  default_caller_id: null,
  dial_pad: false,
  auto_crm: false,
  phone_position: null,
};

let active = false;

export async function refreshAgent(): Promise<void> {
  if (!active) return;
  agent.set(await api.get<AgentStatus>('/agents/me'));
}

export async function loadSettings(): Promise<AgentSettings> {
  const loaded = { ...DEFAULT_SETTINGS, ...(await api.get<Partial<AgentSettings>>('/agents/me/settings')) };
  settings.set(loaded);
  return loaded;
}

/** Save personal settings (the whole object: the API replaces them); the store takes the API's answer. */
export async function saveSettings(change: Partial<AgentSettings>): Promise<AgentSettings> {
  // Never write defaults over settings that were not read: read them first.
  const base = settings.get() ?? (await loadSettings());
  const next = { ...base, ...change };
  const saved = { ...DEFAULT_SETTINGS, ...(await api.put<Partial<AgentSettings>>('/agents/me/settings', next)) };
  settings.set(saved);
  return saved;
}

/** "Hatta gir": the API puts the agent into their default state. */
export async function goOnline(): Promise<void> {
  agent.set(await api.post<AgentStatus>('/agents/me/online'));
}

/** Choose a line state (going off line puts the phone back in its place: see below). */
export async function chooseState(state: ChosenState): Promise<void> {
  agent.set(await api.put<AgentStatus>('/agents/me/state', { state }));
}

export function savePhonePosition(position: PhonePosition | null): Promise<AgentSettings> {
  return saveSettings({ phone_position: position });
}

onNotice((notice) => {
  if (notice.kind !== 'state') return;
  const current = agent.get();
  if (!current || current.agent_id !== notice.agent_id) return;
  agent.set({ ...current, state: notice.state, since: notice.since, call_id: notice.call_id });
});

// Going off line, from this page or from anywhere else (another tab, a supervisor), puts the phone back in its
// place. Only a change seen here counts: an agent who was already off line when the page loaded keeps it.
let lastState: AgentStatus['state'] | null = null;
agent.subscribe((now) => {
  const before = lastState;
  lastState = now?.state ?? null;
  if (before && before !== 'offline' && now?.state === 'offline' && settings.get()?.phone_position) {
    void saveSettings({ phone_position: null }).catch(() => undefined);
  }
});

onLiveOpen(() => {
  void refreshAgent().catch(() => undefined);
});

onSession(
  (s) => {
    active = s.me.role === 'agent';
    if (!active) return;
    void refreshAgent().catch(() => undefined);
    void loadSettings().catch(() => undefined); // the phone works with the defaults until they load
  },
  () => {
    active = false;
    agent.set(null);
    settings.set(null);
  },
);
