// A refused request in the user's language: when the API names the field (or the conflict) we know, our own
// sentence for it; otherwise the generic text with the API's detail (common.errorText).
import type { JSX } from 'preact';
import { ApiError } from '../api';
import { t, type Key } from '../i18n';
import { errorText } from './common';

/** Field of a problem+json → the sentence that explains it ("numbers.0" is a "numbers" problem). */
const BY_FIELD: Record<string, Key> = {
  number: 'problem.number',
  numbers: 'problem.number',
  e164: 'problem.number',
  reason: 'problem.reason',
  comment: 'problem.comment',
  text: 'problem.text',
  email: 'problem.email',
  expires_at: 'problem.expiresAt',
  role: 'problem.role',
};
const BY_STATUS_FIELD: Record<string, Key> = {
  '409 status': 'problem.decided',
  '409 numbers': 'problem.numberTaken',
  '404 request_id': 'problem.requestGone',
  '404 entry_id': 'problem.entryGone',
  '404 customer_id': 'problem.customerGone',
};

export function problemText(error: unknown): string {
  if (error instanceof ApiError && error.field) {
    const field = error.field.replace(/^(entry|request|customer|patch)\./, '').split('.')[0] ?? '';
    const key = BY_STATUS_FIELD[`${error.status} ${field}`] ?? (error.status === 422 || error.status === 403 ? BY_FIELD[field] : undefined);
    if (key) return t(key);
  }
  return errorText(error);
}

export function ProblemBox({ error }: { error: unknown }): JSX.Element | null {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {problemText(error)}
    </p>
  );
}
