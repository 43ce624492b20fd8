// Giriş: tenant, username, password; the API's refusal shown as it says it (wrong password, rate limit...).
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError } from '../api';
import { errorText } from '../refusals';
import { LANGUAGES, setLanguage, t, useLanguage } from '../i18n';
import { login, loginReason } from '../session';
import { useStore } from '../store';
import { ThemeSwitch } from '../components/Shell';

const TENANT_KEY = 'nebula.tenant';

function lastTenant(): string {
  try {
    return localStorage.getItem(TENANT_KEY) ?? '';
  } catch {
    return '';
  }
}

export function Login(): JSX.Element {
  const lang = useLanguage();
  const reason = useStore(loginReason);
  const [tenant, setTenant] = useState(lastTenant());
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [remember, setRemember] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = (event: Event): void => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    login(tenant, username, password, remember)
      .then(() => {
        try {
          localStorage.setItem(TENANT_KEY, tenant.trim().toLowerCase());
        } catch {
          // not remembered
        }
      })
      .catch((e: unknown) => setError(e))
      .finally(() => setBusy(false));
  };

  const message = error instanceof ApiError && error.status === 401 ? t('login.wrong') : error ? errorText(error) : null;

  return (
    <main class="login-page" id="main">
      <div class="login-tools">
        <label class="inline-select">
          <span>{t('settings.language')}</span>
          <select value={lang} onChange={(e) => setLanguage(e.currentTarget.value)}>
            {LANGUAGES.map((l) => (
              <option key={l.code} value={l.code}>
                {l.name}
              </option>
            ))}
          </select>
        </label>
        <ThemeSwitch />
      </div>
      <form class="card login-card" onSubmit={submit} aria-labelledby="login-title" noValidate>
        <p class="brand" aria-hidden="true">
          <span class="logo" /> {t('app.name')}
        </p>
        <h1 id="login-title">{t('login.title')}</h1>
        {reason === 'expired' && !error && (
          <p class="note" role="status">
            {t('login.expired')}
          </p>
        )}
        <label class="field">
          <span>{t('login.tenant')}</span>
          <input name="tenant" autoComplete="organization" required value={tenant} onInput={(e) => setTenant(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>{t('login.username')}</span>
          <input name="username" autoComplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>{t('login.password')}</span>
          <input name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <label class="check">
          <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.currentTarget.checked)} />
          <span>{t('login.remember')}</span>
        </label>
        {message && (
          <p class="error" role="alert">
            {message}
          </p>
        )}
        <button type="submit" class="btn primary wide" disabled={busy}>
          {busy ? t('login.busy') : t('login.submit')}
        </button>
      </form>
    </main>
  );
}
