// A call's details and its timeline of events (GET /api/v1/calls/{id}); the CRM button opens this until the
// CRM lands.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { formatDateTime, formatTime } from '../format';
import { t, tv } from '../i18n';
import { displayNumber } from '../phone/number';
import type { CallDetail as Detail, TimelineEvent } from '../types';
import { Dialog, ErrorBox, Loading } from './common';

const HIDDEN = new Set(['type', 'at', 'call_id', 'tenant_id', 'event_id', 'correlation_id', 'actor', 'channel_id', 'bridge_id']);

function facts(event: TimelineEvent): string {
  return Object.entries(event)
    .filter(([key, value]) => !HIDDEN.has(key) && value !== null && value !== '' && typeof value !== 'object')
    .map(([key, value]) => `${key}: ${String(value)}`)
    .join(' · ');
}

export function CallDetailDialog({ callId, onClose }: { callId: string; onClose: () => void }): JSX.Element {
  const [detail, setDetail] = useState<Detail | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let live = true;
    api
      .get<Detail>(`/calls/${callId}`)
      .then((d) => live && setDetail(d))
      .catch((e: unknown) => live && setError(e));
    return () => {
      live = false;
    };
  }, [callId]);
  return (
    <Dialog title={t('detail.title')} onClose={onClose} wide>
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
