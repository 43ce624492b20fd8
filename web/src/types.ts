// Shapes of the gateway API (docs/openapi.json) and of its live WebSocket messages, as the client reads them.

export type Role = 'admin' | 'supervisor' | 'agent';
export type ChosenState = 'offline' | 'outbound' | 'inbound' | 'break' | 'meeting' | 'lunch' | 'health';
export type AgentState = ChosenState | 'ringing' | 'on_call' | 'wrap_up' | 'missed';
export const CHOSEN_STATES: ChosenState[] = ['inbound', 'outbound', 'break', 'meeting', 'lunch', 'health', 'offline'];
export const DEFAULT_STATES: Exclude<ChosenState, 'offline'>[] = ['outbound', 'inbound', 'break', 'meeting', 'lunch', 'health'];
export const REASON_STATES: AgentState[] = ['break', 'meeting', 'lunch', 'health'];

export interface Me {
  tenant_id: string;
  user_id: string;
  username: string;
  role: Role;
}

export interface Tenant {
  tenant_id: string;
  name: string;
  time_zone: string;
  default_region: string;
}

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
}

export interface AgentQueue {
  queue_id: string;
  name: string;
  priority: number;
}

export interface AgentStatus {
  agent_id: string;
  username: string;
  display_name: string;
  state: AgentState;
  since: string | null;
  call_id: string | null;
  queues: AgentQueue[];
}

export interface WaitingCall {
  call_id: string;
  caller: string;
  did: string | null;
  priority: number;
  queued_at: string;
  wait_s: number;
  offered_to: string | null;
}

export interface QueueStatus {
  queue_id: string;
  name: string;
  priority: number;
  waiting: WaitingCall[];
  longest_wait_s: number;
  members: number;
  agents_by_state: Record<string, number>;
}

export interface PhonePosition {
  x: number;
  y: number;
}

export interface AgentSettings {
  default_state: Exclude<ChosenState, 'offline'>;
  default_caller_id: string | null;
  dial_pad: boolean;
  auto_crm: boolean;
  phone_position: PhonePosition | null;
}

export interface PhoneConfig {
  mode: 'sandbox' | 'webrtc' | 'none';
  endpoint: string;
  caller_ids: string[];
  ws_url?: string;
  sip_uri?: string;
  username?: string;
  password?: string;
  display_name?: string;
  ice_servers?: RTCIceServer[];
}

export type CallPhase = 'dialling' | 'ringing' | 'connected' | 'ended';
export type Direction = 'inbound' | 'outbound';

// Live notices (data of a WebSocket message; `kind` tells which).
export interface StateNotice {
  kind: 'state';
  agent_id: string;
  state: AgentState;
  previous: AgentState;
  since: string;
  call_id: string | null;
}

export interface OfferNotice {
  kind: 'offer';
  offer_id: string;
  call_id: string;
  agent_id: string;
  caller: string;
  did: string | null;
  queue_id: string;
  queue_name: string;
  ring_timeout_s: number;
  made_at: string;
}

export interface OfferEndedNotice {
  kind: 'offer_ended';
  offer_id: string;
  call_id: string;
  agent_id: string;
  outcome: string;
}

export interface CallNotice {
  kind: 'call';
  call_id: string;
  agent_id: string;
  direction: Direction;
  phase: CallPhase;
  number: string;
  caller_id: string | null;
  did: string | null;
  queue_id: string | null;
  queue_name: string | null;
  held: boolean;
  muted: boolean;
  connected_at: string | null;
  result: string | null;
  cause: string | null;
  at: string;
}

export interface QueuesNotice {
  kind: 'queues';
  at: string;
  queues: QueueStatus[];
}

export interface AnnouncementNotice {
  kind: 'announcement';
  announcement_id: string;
  action: 'published' | 'updated' | 'withdrawn';
  at: string;
}

/** live.<tenant>.blacklist: a block request or blacklist entry changed; reload (the API filters what each may see). */
export interface BlacklistNotice {
  kind: 'blacklist';
  what: 'request' | 'entry';
  id: string;
  at: string;
}

export type LiveNotice = StateNotice | OfferNotice | OfferEndedNotice | CallNotice | QueuesNotice | AnnouncementNotice | BlacklistNotice;

export interface LiveMessage {
  subject: string;
  data: LiveNotice | { user_id: string; role: Role };
}

export interface Page<T> {
  items: T[];
  total: number;
  page?: number;
  page_size?: number;
}

export interface User {
  user_id: string;
  username: string;
  display_name: string;
  role: Role;
  sip_endpoint: string | null;
  created_at: string;
  updated_at: string;
}

export interface SipCredentials {
  endpoint: string;
  username: string;
  password: string;
}

export interface UserCreated extends User {
  sip: SipCredentials | null;
}

export interface QueueMember {
  user_id: string;
  priority: number;
}

export interface Queue {
  queue_id: string;
  name: string;
  priority: number;
  strategy: string;
  ring_timeout_s: number;
  wrap_up_s: number;
  members: QueueMember[];
}

export interface PbxNumber {
  number_id: string;
  e164: string;
  kind: 'did' | 'caller_id';
  target: 'queue' | 'ivr' | null;
  queue_id: string | null;
  ivr_id: string | null;
  label: string;
}

export interface IvrMenu {
  ivr_id: string;
  name: string;
  prompt: string;
  timeout_s: number;
  options: Record<string, string>;
  default_queue_id: string;
}

export interface InboundRow {
  call_id: string;
  started_at: string;
  ended_at: string | null;
  caller: string;
  did: string | null;
  queue: string | null;
  agent: string | null;
  agent_name: string | null;
  ivr_seconds: number;
  queue_seconds: number;
  ringing_seconds: number;
  talk_seconds: number;
  hold_seconds: number;
  result: string;
  hangup_by: string | null;
}

export interface OutboundRow {
  call_id: string;
  started_at: string;
  agent_id: string | null;
  agent: string | null;
  caller_id: string | null;
  number: string;
  ringing_s: number;
  talk_s: number;
  hold_s: number;
  result: string;
  hangup_by: string | null;
}

export interface MyCall {
  call_id: string;
  direction: Direction;
  number: string;
  started_at: string;
  talk_s: number;
  result: string;
  queue: string | null;
}

export interface TimelineEvent {
  type: string;
  at: string;
  [field: string]: unknown;
}

export interface CallDetail {
  call_id: string;
  direction: Direction;
  number: string;
  started_at: string;
  result: string;
  events: TimelineEvent[];
}

// Announcements (Duyurular) and the Dashboard (Pano).
export type AnnouncementState = 'scheduled' | 'active' | 'expired';

export interface Audience {
  everyone: boolean;
  roles: Role[];
  queue_ids: string[];
}

export interface AnnouncementInput {
  title: string;
  body: string;
  audience: Audience;
  starts_at: string | null;
  ends_at: string | null;
  pinned: boolean;
}

export interface Announcement extends AnnouncementInput {
  announcement_id: string;
  starts_at: string;
  created_at: string;
  updated_at: string;
}

export interface DashboardItem extends Announcement {
  read: boolean;
}

export interface AdminAnnouncement extends Announcement {
  state: AnnouncementState;
  reads: number;
}

export interface ActiveAnnouncements {
  items: DashboardItem[];
  next_starts_at: string | null;
}
