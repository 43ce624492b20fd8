// Translations: one flat JSON file per language in ./locales (adding a language is adding one file).
// Turkish is the reference: its keys are the type every other file must match (checked by `npm test`).
// A switch changes `language`; the app's root re-renders the tree in place (nothing is remounted, so open
// panels and typed text stay) and each t() reads the new language. Hence: keep translation keys, not translated
// texts, in state and stores, and never memoize a t() result.
import tr from './locales/tr.json';
import { createStore, useStore } from './store';

export type Key = keyof typeof tr;
type Dictionary = Record<Key, string>;

const files = import.meta.glob<Dictionary>('./locales/*.json', { eager: true, import: 'default' });
const dictionaries: Record<string, Dictionary> = {};
for (const [path, dictionary] of Object.entries(files)) {
  const code = /\/([a-z]{2,3}(?:-[A-Z]{2})?)\.json$/.exec(path)?.[1];
  if (code) dictionaries[code] = dictionary;
}

export const DEFAULT_LANGUAGE = 'tr';
const STORAGE_KEY = 'nebula.lang';

/** Languages available, each named in its own language. */
export const LANGUAGES = Object.keys(dictionaries)
  .sort((a, b) => (a === DEFAULT_LANGUAGE ? -1 : b === DEFAULT_LANGUAGE ? 1 : a.localeCompare(b)))
  .map((code) => ({ code, name: dictionaries[code]?.['language.name'] ?? code }));

function initialLanguage(): string {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved && saved in dictionaries) return saved;
  } catch {
    // storage unavailable (private mode): the default applies
  }
  return DEFAULT_LANGUAGE;
}

export const language = createStore<string>(initialLanguage());

function apply(code: string): void {
  document.documentElement.lang = code;
}
apply(language.get());
language.subscribe(apply);

/** Choose and remember the UI language. */
export function setLanguage(code: string): void {
  if (!(code in dictionaries)) return;
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    // not remembered, still applied
  }
  language.set(code);
}

/** The BCP 47 tag for Intl formatting of the current language (dates, numbers). */
export function localeTag(): string {
  return t('language.tag');
}

/** The text for `key` in the current language, `{name}` placeholders filled from `vars`. */
export function t(key: Key, vars?: Record<string, string | number>): string {
  const text = dictionaries[language.get()]?.[key] ?? tr[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
}

/** Whether a key exists (for texts chosen by a value from the API, e.g. a call result). */
export function hasKey(key: string): key is Key {
  return key in tr;
}

/** Translate a value from the API by prefix (`result.busy`), falling back to the raw value. */
export function tv(prefix: string, value: string | null | undefined): string {
  if (value === null || value === undefined || value === '') return '';
  const key = `${prefix}.${value}`;
  return hasKey(key) ? t(key) : value;
}

/** The current language; the component re-renders when it changes (the app's root uses it for the tree). */
export function useLanguage(): string {
  return useStore(language);
}
