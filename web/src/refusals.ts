// A refused request in the user's language. The gateway's problem+json says the status, the field at fault and
// the error's code (the last part of `type`); its `detail` is English for developers. Every refusal the UI can
// name gets its own sentence from the locale files; any other gets a generic one naming the field, and only then
// is the API's detail kept, as secondary text.
import { ApiError } from './api';
import { hasKey, t, type Key } from './i18n';

/** "{status} {field}" → the sentence for that refusal. */
const BY_STATUS_FIELD: Record<string, Key> = {
  '409 state': 'problem.busyState',
  '503 state': 'problem.dialUnavailable',
  '503 endpoint': 'problem.phoneUnreachable',
  '409 status': 'problem.decided',
  '409 numbers': 'problem.numberTaken',
  '409 number': 'problem.numberInUse',
  '409 username': 'problem.usernameTaken',
  '409 name': 'problem.nameTaken',
  '409 role': 'problem.ownAdminRole',
  '409 queue_id': 'problem.queueInUse',
  '409 recording': 'problem.noRecording',
  '409 call_id': 'problem.callState',
  '409 offer_id': 'problem.offerGone',
  '404 offer_id': 'problem.offerGone',
  '404 call_id': 'error.call-ended',
  '404 request_id': 'problem.requestGone',
  '404 entry_id': 'problem.entryGone',
  '404 customer_id': 'problem.customerGone',
  '404 e164': 'problem.customerGone',
  '404 announcement_id': 'problem.announcementGone',
  '403 to': 'problem.blacklisted',
  '403 role': 'problem.role',
  '429 username': 'problem.tooManyLogins',
};

/** A field refused as invalid (422) → what to write there instead. */
const INVALID: Record<string, Key> = {
  number: 'problem.number',
  numbers: 'problem.number',
  e164: 'problem.number',
  to: 'problem.to',
  caller_id: 'problem.callerId',
  default_caller_id: 'problem.callerId',
  username: 'problem.username',
  password: 'problem.password',
  reason: 'problem.reason',
  comment: 'problem.comment',
  text: 'problem.text',
  email: 'problem.email',
  expires_at: 'problem.expiresAt',
  ends_at: 'problem.endsAt',
};

/** Without a field of its own: the sentence for a status. */
const BY_STATUS: Record<number, Key> = {
  0: 'error.network',
  403: 'error.403',
  429: 'error.429',
  503: 'error.503',
};

/** The field a problem names, as the form calls it: "entry.number" → number, "numbers.0" → numbers. */
export function fieldOf(error: ApiError): string | null {
  const parts = (error.field ?? '').split('.').filter((p) => p && !/^\d+$/.test(p));
  const name = parts[parts.length - 1] ?? null;
  return name === 'body' && parts.length === 1 ? null : name; // "body": the request as a whole
}

/** The field's name in the user's language (its own name when the UI has none for it). */
function fieldLabel(name: string): string {
  const key = `field.${name}`;
  return hasKey(key) ? t(key) : name;
}

export interface Refusal {
  /** The sentence to show. */
  text: string;
  /** The API's own (English) detail, kept only when the sentence is a generic one. */
  detail: string | null;
}

/** What to tell the user about a failed request or action. */
export function refusal(error: unknown): Refusal {
  if (error instanceof ApiError) {
    const field = fieldOf(error);
    const known = (field && (BY_STATUS_FIELD[`${error.status} ${field}`] ?? (error.status === 422 ? INVALID[field] : undefined))) || BY_STATUS[error.status];
    if (known) return { text: t(known), detail: null };
    const detail = error.detail && error.detail !== 'network' ? error.detail : null;
    if (field && (error.status === 422 || error.status === 409 || error.status === 404)) {
      const key: Key = error.status === 422 ? 'problem.invalidField' : error.status === 409 ? 'problem.conflictField' : 'problem.notFoundField';
      return { text: t(key, { field: fieldLabel(field) }), detail };
    }
    const title = `error.${error.status}`;
    return { text: hasKey(title) ? t(title) : t('error.other', { status: error.status }), detail };
  }
  if (error instanceof Error) {
    const key = `error.${error.message}`;
    return { text: hasKey(key) ? t(key) : t('error.unexpected'), detail: null };
  }
  return { text: t('error.unexpected'), detail: null };
}

/** The sentence alone (where there is no room for the detail: the phone, the login form). */
export function errorText(error: unknown): string {
  return refusal(error).text;
}
