// A call's details and its timeline of events (GET /api/v1/calls/{id}); the CRM button (and auto-CRM when a call
// connects) opens this until the CRM lands.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { formatDateTime, formatDuration, formatTime } from '../format';
import { hasKey, t, tv } from '../i18n';
import { onNotice } from '../live';
import { displayNumber } from '../phone/number';
import type { CallDetail as Detail, TimelineEvent } from '../types';
import { Dialog, ErrorBox, Loading } from './common';

// Fields of a timeline event people read, each with its label (`fact.<name>`) and how its value is shown;
// identifiers and plumbing are left out.
const FACTS: Record<string, (value: unknown) => string> = {
  caller: (v) => displayNumber(String(v)),
  callee: (v) => displayNumber(String(v)),
  did: (v) => displayNumber(String(v)),
  agent: String,
  queue: String,
  direction: (v) => tv('direction', String(v)),
  digits: String,
  exit: String,
  priority: String,
  reason: (v) => tv('cause', String(v)),
  cause: (v) => tv('cause', String(v)),
  cause_txt: String,
  q850: String,
  by: (v) => tv('party', String(v)),
  hangup_by: (v) => tv('party', String(v)),
  duration_s: (v) => formatDuration(Number(v)),
  result: (v) => tv('result', String(v)),
};

function facts(event: TimelineEvent): string {
  return Object.entries(event)
    .filter(([key, value]) => key in FACTS && value !== null && value !== undefined && value !== '')
    .map(([key, value]) => {
      const label = `fact.${key}`;
      return `${hasKey(label) ? t(label) : key}: ${FACTS[key]?.(value) ?? String(value)}`;
    })
    .join(' · ');
}

/** The call's details as a panel beside the phone (the phone stays usable), kept fresh by the call's notices. */
export function CallDetailDialog({ callId, onClose, focus }: { callId: string; onClose: () => void; focus: boolean }): JSX.Element {
  const [detail, setDetail] = useState<Detail | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let live = true;
    const load = (): void => {
      api
        .get<Detail>(`/calls/${callId}`)
        .then((d) => {
          if (!live) return;
          setDetail(d);
          setError(null);
        })
        .catch((e: unknown) => live && setError(e));
    };
    load();
    // Pushed, not polled: each change of this call (held, ended...) adds to its timeline.
    const off = onNotice((n) => {
      if (n.kind === 'call' && n.call_id === callId) load();
    });
    return () => {
      live = false;
      off();
    };
  }, [callId]);
  return (
    <Dialog title={t('detail.title')} onClose={onClose} wide modal={false} focus={focus}>
      <ErrorBox error={error} />
      {!detail && !error && <Loading />}
      {detail && (
        <div class="call-detail" data-testid="call-detail">
          <dl class="facts">
            <dt>{t('calls.direction')}</dt>
            <dd>{tv('direction', detail.direction)}</dd>
            <dt>{t('calls.number')}</dt>
            <dd>{displayNumber(detail.number)}</dd>
            <dt>{t('calls.startedAt')}</dt>
            <dd>{formatDateTime(detail.started_at)}</dd>
            <dt>{t('calls.result')}</dt>
            <dd>{tv('result', detail.result)}</dd>
          </dl>
          <h3>{t('detail.timeline')}</h3>
          <ol class="timeline">
            {detail.events.map((event, i) => (
              <li key={i}>
                <time dateTime={event.at}>{formatTime(event.at)}</time>
                <strong>{tv('event', event.type)}</strong>
                <span class="muted">{facts(event)}</span>
              </li>
            ))}
          </ol>
        </div>
      )}
    </Dialog>
  );
}
