// Canlı İzleme: agents and queues live (a snapshot from /api/v1/live/*, then WebSocket notices only).
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorBox, Loading, Since, TableWrap } from '../components/common';
import { t, tv, type Key } from '../i18n';
import { onLiveOpen, onNotice } from '../live';
import { displayNumber } from '../phone/number';
import type { AgentState, AgentStatus, QueueStatus } from '../types';

type Category = 'waiting' | 'ringing' | 'in_call' | 'break' | 'other' | 'offline';
const CATEGORY_OF: Record<AgentState, Category> = {
  inbound: 'waiting', outbound: 'waiting', ringing: 'ringing', on_call: 'in_call', wrap_up: 'in_call',
  break: 'break', meeting: 'break', lunch: 'break', health: 'break', missed: 'other', offline: 'offline',
};
const CATEGORIES: Category[] = ['waiting', 'ringing', 'in_call', 'break', 'other', 'offline'];

export function Live(): JSX.Element {
  const [agents, setAgents] = useState<AgentStatus[] | null>(null);
  const [queues, setQueues] = useState<QueueStatus[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const current = useRef<AgentStatus[] | null>(null);
  current.current = agents;

  useEffect(() => {
    let live = true;
    const load = (): void => {
      Promise.all([api.get<AgentStatus[]>('/live/agents'), api.get<QueueStatus[]>('/live/queues')])
        .then(([a, q]) => {
          if (!live) return;
          setAgents(a);
          setQueues(q);
          setError(null);
        })
        .catch((e: unknown) => live && setError(e));
    };
    load();
    const offOpen = onLiveOpen(load);
    const offNotice = onNotice((n, subject) => {
      if (n.kind === 'queues') setQueues(n.queues);
      if (n.kind === 'state' && subject.endsWith('.agents')) {
        const list = current.current;
        if (!list) return;
        // An agent not in the snapshot (just created): take a new snapshot once.
        if (!list.some((a) => a.agent_id === n.agent_id)) load();
        else setAgents((prev) => prev && prev.map((a) => (a.agent_id === n.agent_id ? { ...a, state: n.state, since: n.since, call_id: n.call_id } : a)));
      }
    });
    return () => {
      live = false;
      offOpen();
      offNotice();
    };
  }, []);

  if (error && !agents) return <ErrorBox error={error} />;
  if (!agents || !queues) return <Loading />;
  const counts: Record<Category, number> = { waiting: 0, ringing: 0, in_call: 0, break: 0, other: 0, offline: 0 };
  for (const a of agents) counts[CATEGORY_OF[a.state] ?? 'other'] += 1;
  const online = agents.length - counts.offline;
  const percent = (n: number): string => (online > 0 ? `${Math.round((100 * n) / online)}%` : '–');
  const sorted = [...agents].sort((a, b) => CATEGORIES.indexOf(CATEGORY_OF[a.state]) - CATEGORIES.indexOf(CATEGORY_OF[b.state]) || a.username.localeCompare(b.username));

  return (
    <div class="page live">
      <h1>{t('nav.live')}</h1>
      <ErrorBox error={error} />
      <section aria-labelledby="summary-heading">
        <h2 id="summary-heading">{t('live.summary')}</h2>
        <ul class="tiles" data-testid="live-summary">
          {CATEGORIES.map((c) => (
            <li key={c} class={`tile c-${c}`}>
              <span class="tile-label">{t(`live.category.${c}` as Key)}</span>
              <span class="tile-value" data-testid={`count-${c}`}>{counts[c]}</span>
              {c !== 'offline' && <span class="tile-sub">{percent(counts[c])}</span>}
            </li>
          ))}
        </ul>
      </section>
      <section aria-labelledby="queues-heading">
        <h2 id="queues-heading">{t('live.queues')}</h2>
        {queues.length === 0 && <p class="muted">{t('live.noQueues')}</p>}
        <div class="queue-cards">
          {queues.map((q) => (
            <article key={q.queue_id} class="card queue-card" aria-labelledby={`q-${q.queue_id}`} data-testid={`queue-${q.name}`}>
              <h3 id={`q-${q.queue_id}`}>{q.name}</h3>
              <dl class="facts">
                <dt>{t('live.waiting')}</dt>
                <dd data-testid="waiting">{q.waiting.length}</dd>
                <dt>{t('live.longestWait')}</dt>
                <dd>{q.waiting.length > 0 ? <Since at={oldest(q)} label={t('live.longestWait')} /> : '–'}</dd>
                <dt>{t('live.members')}</dt>
                <dd>{q.members}</dd>
              </dl>
              {Object.keys(q.agents_by_state).length > 0 && (
                <ul class="chips">
                  {Object.entries(q.agents_by_state).map(([state, n]) => (
                    <li key={state}>
                      {tv('state', state)}: {n}
                    </li>
                  ))}
                </ul>
              )}
              {q.waiting.length > 0 && (
                <ul class="waiting-list">
                  {q.waiting.map((w) => (
                    <li key={w.call_id}>
                      {displayNumber(w.caller)} <Since at={w.queued_at} label={t('live.waiting')} />
                    </li>
                  ))}
                </ul>
              )}
            </article>
          ))}
        </div>
      </section>
      <section aria-labelledby="agents-heading">
        <h2 id="agents-heading">{t('live.agents')}</h2>
        <TableWrap label={t('live.agents')}>
          <table class="table" data-testid="live-agents">
            <thead>
              <tr>
                <th scope="col">{t('live.agent')}</th>
                <th scope="col">{t('live.state')}</th>
                <th scope="col">{t('live.since')}</th>
                <th scope="col">{t('live.agentQueues')}</th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((a) => (
                <tr key={a.agent_id} data-agent={a.username}>
                  <td>
                    {a.display_name || a.username} <span class="muted">({a.username})</span>
                  </td>
                  <td>
                    <span class={`state-badge s-${a.state}`} data-testid="agent-state">
                      {tv('state', a.state)}
                    </span>
                  </td>
                  <td>{a.state === 'offline' ? '' : <Since at={a.since} label={t('live.since')} />}</td>
                  <td>{a.queues.map((q) => q.name).join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      </section>
    </div>
  );
}

function oldest(q: QueueStatus): string | null {
  return q.waiting.reduce<string | null>((min, w) => (min === null || w.queued_at < min ? w.queued_at : min), null);
}
