// Başlangıç: go on line ("Hatta gir") into the default state, switch states, see the time in the current state.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { agent, chooseState, goOnline, settings } from '../agent';
import { ErrorBox, Loading, Since } from '../components/common';
import { t, tv } from '../i18n';
import { useStore } from '../store';
import { CHOSEN_STATES, type ChosenState } from '../types';

export function Start(): JSX.Element {
  const me = useStore(agent);
  const prefs = useStore(settings);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const act = async (action: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  if (!me) return <Loading />;
  const offline = me.state === 'offline';
  return (
    <div class="page start">
      <h1>{t('start.title')}</h1>
      <section class="card status-card" aria-labelledby="status-heading">
        <h2 id="status-heading">{t('start.currentState')}</h2>
        <p class="big-state" data-testid="agent-state" data-state={me.state}>
          <span class={`state-badge s-${me.state}`}>{tv('state', me.state)}</span>
          <Since at={me.since} label={t('start.timeInState')} />
        </p>
        <p class="muted">{t('start.hello', { name: me.display_name || me.username })}</p>
        {offline && (
          <div class="go-online">
            <button type="button" class="btn primary large" disabled={busy} onClick={() => void act(goOnline)}>
              {t('start.goOnline')}
            </button>
            <p class="muted">{t('start.goOnlineHint', { state: tv('state', prefs?.default_state ?? 'outbound') })}</p>
          </div>
        )}
        <ErrorBox error={error} />
      </section>
      <section class="card" aria-labelledby="switch-heading">
        <h2 id="switch-heading">{t('start.switch')}</h2>
        <div class="state-switcher" role="group" aria-labelledby="switch-heading">
          {CHOSEN_STATES.map((state: ChosenState) => (
            <button
              key={state}
              type="button"
              class={`btn state-btn s-${state}`}
              aria-pressed={me.state === state}
              disabled={busy}
              onClick={() => void act(() => chooseState(state))}
            >
              {t(`stateAction.${state}`)}
            </button>
          ))}
        </div>
        <p class="muted">{t('start.reasonHint')}</p>
      </section>
      {me.queues.length > 0 && (
        <section class="card" aria-labelledby="queues-heading">
          <h2 id="queues-heading">{t('start.myQueues')}</h2>
          <ul class="chips">
            {me.queues.map((q) => (
              <li key={q.queue_id}>
                {q.name} <span class="muted">({t('start.priority', { priority: q.priority })})</span>
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}
