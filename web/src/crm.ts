// The CRM (Müşteri Yönetimi) model: which customer panel is open, and the shapes of /api/v1/customers.
import { api, ApiError } from './api';
import { onSession } from './session';
import { createStore } from './store';

export interface Risk {
  risky: boolean;
  comment: string | null;
  marked_by: string | null;
  marked_at: string | null;
  cleared_by: string | null;
  cleared_at: string | null;
}

export interface Customer {
  customer_id: string;
  numbers: string[];
  name: string;
  company: string;
  email: string;
  notes: string;
  created_at: string;
  updated_at: string;
  risk: Risk;
}

export interface CustomerComment {
  comment_id: string;
  text: string;
  author_id: string | null;
  author: string | null;
  at: string;
  call_id: string | null;
}

export interface CustomerCall {
  call_id: string;
  direction: 'inbound' | 'outbound';
  number: string;
  started_at: string;
  ended_at: string | null;
  agent: string | null;
  queue: string | null;
  duration_s: number;
  talk_s: number;
  result: string;
  recording: string | null;
}

/** The open CRM panel: the customer's number, the call it was opened for, `auto` when auto-CRM opened it. */
export const openCrm = createStore<{ number: string; callId: string | null; auto: boolean } | null>(null);

onSession(
  () => undefined,
  () => openCrm.set(null),
);

/** The customer a number belongs to, or null when it belongs to nobody (404). */
export async function customerByNumber(number: string): Promise<Customer | null> {
  try {
    return await api.get<Customer>(`/customers/by-number/${encodeURIComponent(number)}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}
