// Phone numbers as agents type them: E.164 (+905321234567) or Turkish national forms (0532 123 45 67,
// 5321234567), checked against libphonenumber's rules before anything is dialled.
import { parsePhoneNumberFromString } from 'libphonenumber-js/min';

export type NumberCheck = { ok: true; e164: string } | { ok: false; reason: 'empty' | 'characters' | 'invalid' };

const ALLOWED = /^[+0-9\s().-]+$/;

/** The number in E.164, or why it cannot be dialled. */
export function checkNumber(text: string, region = 'TR'): NumberCheck {
  const trimmed = text.trim();
  if (!trimmed) return { ok: false, reason: 'empty' };
  if (!ALLOWED.test(trimmed) || trimmed.indexOf('+') > 0) return { ok: false, reason: 'characters' };
  const parsed = parsePhoneNumberFromString(trimmed, region as Parameters<typeof parsePhoneNumberFromString>[1]);
  if (!parsed || !parsed.isValid()) return { ok: false, reason: 'invalid' };
  return { ok: true, e164: parsed.number };
}

/** A number for reading: national grouping for the tenant's region, international otherwise. */
export function displayNumber(e164: string | null | undefined, region = 'TR'): string {
  if (!e164) return '';
  const parsed = parsePhoneNumberFromString(e164, region as Parameters<typeof parsePhoneNumberFromString>[1]);
  if (!parsed) return e164;
  return parsed.country === region ? parsed.formatNational() : parsed.formatInternational();
}
