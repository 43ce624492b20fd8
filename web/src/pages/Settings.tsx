// Kişiselleştirilebilir Ayarlar: default state and caller ID for going on line, dial pad, auto-CRM, the phone's
// place; and this browser's language and theme.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { DEFAULT_SETTINGS, loadSettings, saveSettings } from '../agent';
import { ErrorBox, Loading } from '../components/common';
import { LANGUAGES, setLanguage, t, tv, useLanguage } from '../i18n';
import { displayNumber } from '../phone/number';
import { phoneConfig } from '../phone/phone';
import { useStore } from '../store';
import { setTheme, theme, type ThemeChoice } from '../theme';
import { DEFAULT_STATES, type AgentSettings } from '../types';

export function Settings(): JSX.Element {
  const config = useStore(phoneConfig);
  const [form, setForm] = useState<AgentSettings | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);

  // The form starts from what the API has now (never from defaults standing in for a failed load).
  const load = (): void => {
    setError(null);
    loadSettings()
      .then(setForm)
      .catch((e: unknown) => setError(e));
  };
  useEffect(load, []);

  if (!form) {
    if (!error) return <Loading />;
    return (
      <div class="page settings">
        <h1>{t('nav.settings')}</h1>
        <ErrorBox error={error} />
        <button type="button" class="btn" onClick={load}>
          {t('common.retry')}
        </button>
      </div>
    );
  }
  const callerIds = config?.caller_ids ?? [];
  const set = (change: Partial<AgentSettings>): void => {
    setDone(false);
    setForm({ ...(form ?? DEFAULT_SETTINGS), ...change });
  };

  const submit = (event: Event): void => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setDone(false);
    saveSettings(form)
      .then((s) => {
        setForm(s);
        setDone(true);
      })
      .catch((e: unknown) => setError(e))
      .finally(() => setBusy(false));
  };

  return (
    <div class="page settings">
      <h1>{t('nav.settings')}</h1>
      <form class="card form" onSubmit={submit}>
        <h2>{t('settings.line')}</h2>
        <label class="field">
          <span>{t('settings.defaultState')}</span>
          <select value={form.default_state} onChange={(e) => set({ default_state: e.currentTarget.value as AgentSettings['default_state'] })}>
            {DEFAULT_STATES.map((s) => (
              <option key={s} value={s}>
                {tv('state', s)}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>{t('settings.defaultCallerId')}</span>
          <select value={form.default_caller_id ?? ''} onChange={(e) => set({ default_caller_id: e.currentTarget.value || null })}>
            <option value="">{t('settings.firstCallerId')}</option>
            {callerIds.map((id) => (
              <option key={id} value={id}>
                {displayNumber(id)}
              </option>
            ))}
          </select>
        </label>
        <label class="check">
          <input type="checkbox" checked={form.dial_pad} onChange={(e) => set({ dial_pad: e.currentTarget.checked })} />
          <span>{t('settings.dialPad')}</span>
        </label>
        <label class="check">
          <input type="checkbox" checked={form.auto_crm} onChange={(e) => set({ auto_crm: e.currentTarget.checked })} />
          <span>{t('settings.autoCrm')}</span>
        </label>
        <div class="field">
          <span>{t('settings.phonePosition')}</span>
          <p class="muted" data-testid="phone-position">
            {form.phone_position ? t('settings.phoneMoved', { x: form.phone_position.x, y: form.phone_position.y }) : t('settings.phoneDocked')}
          </p>
          {form.phone_position && (
            <button type="button" class="btn small" onClick={() => set({ phone_position: null })}>
              {t('phone.putBack')}
            </button>
          )}
        </div>
        <ErrorBox error={error} />
        {done && (
          <p class="note" role="status">
            {t('settings.saved')}
          </p>
        )}
        <button type="submit" class="btn primary" disabled={busy}>
          {t('common.save')}
        </button>
      </form>
      <Appearance />
    </div>
  );
}

/** Language and theme: kept in this browser. */
export function Appearance(): JSX.Element {
  const lang = useLanguage();
  const choice = useStore(theme);
  return (
    <section class="card form" aria-labelledby="appearance-heading">
      <h2 id="appearance-heading">{t('settings.appearance')}</h2>
      <label class="field">
        <span>{t('settings.language')}</span>
        <select value={lang} onChange={(e) => setLanguage(e.currentTarget.value)}>
          {LANGUAGES.map((l) => (
            <option key={l.code} value={l.code}>
              {l.name}
            </option>
          ))}
        </select>
      </label>
      <label class="field">
        <span>{t('settings.theme')}</span>
        <select value={choice} onChange={(e) => setTheme(e.currentTarget.value as ThemeChoice)}>
          <option value="system">{t('theme.system')}</option>
          <option value="light">{t('theme.light')}</option>
          <option value="dark">{t('theme.dark')}</option>
        </select>
      </label>
    </section>
  );
}
