// The frame around every page: header (state and its timer for agents, live link, language, theme, logout),
// the menu by role, the page, and the floating phone for agents.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { agent } from '../agent';
import { LANGUAGES, setLanguage, t, tv, useLanguage } from '../i18n';
import { liveStatus } from '../live';
import { openCallDetail, phoneFocus } from '../phone/phone';
import { Phone } from '../phone/Phone';
import { Link, navigate, path } from '../router';
import { findRoute, homeOf, menuFor } from '../routes';
import { logout, type Session } from '../session';
import { useStore } from '../store';
import { setTheme, theme, type ThemeChoice } from '../theme';
import { CallDetailDialog } from './CallDetail';
import { CrmPanel } from './CrmPanel';
import { openCrm } from '../crm';
import { Since } from './common';

const NEXT_THEME: Record<ThemeChoice, ThemeChoice> = { system: 'light', light: 'dark', dark: 'system' };

export function ThemeSwitch(): JSX.Element {
  const choice = useStore(theme);
  return (
    <button type="button" class="btn ghost small" onClick={() => setTheme(NEXT_THEME[choice])} aria-label={t('theme.switch', { theme: t(`theme.${choice}`) })} data-testid="theme-switch">
      <span aria-hidden="true">{choice === 'dark' ? '☾' : choice === 'light' ? '☀' : '◐'}</span> {t(`theme.${choice}`)}
    </button>
  );
}

function LanguageSwitch(): JSX.Element {
  const lang = useLanguage();
  return (
    <label class="inline-select">
      <span class="sr-only">{t('settings.language')}</span>
      <select value={lang} onChange={(e) => setLanguage(e.currentTarget.value)} data-testid="language">
        {LANGUAGES.map((l) => (
          <option key={l.code} value={l.code}>
            {l.name}
          </option>
        ))}
      </select>
    </label>
  );
}

function StatePill(): JSX.Element | null {
  const me = useStore(agent);
  if (!me) return null;
  return (
    <Link href="/start" class={`state-pill s-${me.state}`} data-testid="state-pill" title={t('header.stateLink', { state: tv('state', me.state) })}>
      <span class="state-dot" aria-hidden="true" />
      <span class="sr-only">{t('header.state')}</span>
      <span>{tv('state', me.state)}</span>
      <Since at={me.since} label={t('start.timeInState')} />
    </Link>
  );
}

function LiveIndicator(): JSX.Element {
  const status = useStore(liveStatus);
  return (
    <span class={`live-indicator ${status}`} role="status" title={t(`live.status.${status}`)}>
      <span class="live-dot" aria-hidden="true" />
      <span class="sr-only">{t(`live.status.${status}`)}</span>
    </span>
  );
}

/** Language, theme, who is logged in, logout: in the header on wide screens, in the menu on narrow ones. */
function UserTools({ session }: { session: Session }): JSX.Element {
  return (
    <>
      <LanguageSwitch />
      <ThemeSwitch />
      <span class="who" title={session.tenant?.name ?? session.me.tenant_id}>
        {session.me.username} <span class="muted">· {tv('role', session.me.role)}</span>
      </span>
      <button type="button" class="btn ghost small" onClick={logout}>
        {t('header.logout')}
      </button>
    </>
  );
}

export function Shell({ session }: { session: Session }): JSX.Element {
  const current = useStore(path);
  const detail = useStore(openCallDetail);
  const crm = useStore(openCrm);
  const [menuOpen, setMenuOpen] = useState(false);
  const lang = useLanguage();
  const role = session.me.role;
  const route = findRoute(role, current);

  useEffect(() => {
    if (!route) navigate(homeOf(role), true);
  }, [route, role]);
  useEffect(() => setMenuOpen(false), [current]);
  useEffect(() => {
    document.title = route ? `${t(route.label)} · ${t('app.name')}` : t('app.name');
  }, [route, lang]);

  const Page = route?.component;
  return (
    <div class={`shell ${menuOpen ? 'menu-open' : ''}`}>
      <a class="skip" href="#main">
        {t('common.skip')}
      </a>
      {role === 'agent' && (
        <a
          class="skip"
          href="#phone"
          onClick={(event) => {
            event.preventDefault();
            phoneFocus.set((n) => n + 1);
          }}
        >
          {t('common.skipToPhone')}
        </a>
      )}
      <header class="topbar">
        <button type="button" class="btn ghost menu-toggle" aria-expanded={menuOpen} aria-controls="nav" onClick={() => setMenuOpen(!menuOpen)}>
          <span aria-hidden="true">☰</span>
          <span class="sr-only">{t('header.menu')}</span>
        </button>
        <Link href={homeOf(role)} class="brand">
          <span class="logo" aria-hidden="true" />
          <span class="brand-name">{t('app.name')}</span>
        </Link>
        <div class="topbar-tools">
          <StatePill />
          <LiveIndicator />
          <div class="wide-only">
            <UserTools session={session} />
          </div>
        </div>
      </header>
      <nav id="nav" class="sidenav" aria-label={t('header.menu')}>
        <div class="narrow-only nav-tools">
          <UserTools session={session} />
        </div>
        {menuFor(role).map((group) => (
          <div key={group.label} class="nav-group">
            <p class="nav-group-label">{t(group.label)}</p>
            <ul>
              {group.routes.map((r) => (
                <li key={r.path}>
                  <Link href={r.path} aria-current={r.path === current ? 'page' : undefined}>
                    {t(r.label)}
                  </Link>
                </li>
              ))}
            </ul>
          </div>
        ))}
      </nav>
      <main id="main" class="content" tabIndex={-1}>
        {Page && <Page />}
      </main>
      {role === 'agent' && current !== '/phone' && <Phone floating />}
      {/* the CRM first: a call's detail opened from it lies on top */}
      {crm && <CrmPanel key={`${crm.number}-${crm.callId ?? ''}`} number={crm.number} callId={crm.callId} focus={!crm.auto} onClose={() => openCrm.set(null)} />}
      {detail && <CallDetailDialog key={detail.callId} callId={detail.callId} focus={!detail.auto} onClose={() => openCallDetail.set(null)} />}
    </div>
  );
}
