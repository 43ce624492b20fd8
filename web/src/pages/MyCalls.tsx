// Son Çağrılarım: the agent's latest calls, newest first; open the customer's CRM, the call's details, or call back.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorBox, Loading, TableWrap } from '../components/common';
import { formatDateTime, formatDuration } from '../format';
import { t, tv } from '../i18n';
import { onNotice } from '../live';
import { displayNumber } from '../phone/number';
import { callFromPage, openCallDetail, phoneConfig } from '../phone/phone';
import { settings } from '../agent';
import { openCrm } from '../crm';
import { useStore } from '../store';
import type { MyCall } from '../types';

export function MyCalls(): JSX.Element {
  const [calls, setCalls] = useState<MyCall[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const prefs = useStore(settings);
  const config = useStore(phoneConfig);

  const load = (): void => {
    api
      .get<{ items: MyCall[] }>('/agents/me/calls', { limit: 50 })
      .then((page) => {
        setCalls(page.items);
        setError(null);
      })
      .catch((e: unknown) => setError(e));
  };

  useEffect(() => {
    load();
    // A call of mine that ends changes this list: reload then (pushed, not polled).
    return onNotice((n) => {
      if (n.kind === 'call' && n.phase === 'ended') load();
      if (n.kind === 'state' && (n.previous === 'on_call' || n.previous === 'wrap_up')) load();
    });
  }, []);

  const callBack = (number: string): void => {
    setNotice(null);
    setError(null);
    const callerId = prefs?.default_caller_id ?? config?.caller_ids[0] ?? null;
    callFromPage(number, callerId)
      .then(() => setNotice(t('calls.callStarted', { number: displayNumber(number) })))
      .catch((e: unknown) => setError(e));
  };

  return (
    <div class="page">
      <h1>{t('nav.myCalls')}</h1>
      <ErrorBox error={error} />
      {notice && (
        <p class="note" role="status">
          {notice}
        </p>
      )}
      {!calls && !error && <Loading />}
      {calls && calls.length === 0 && <p class="muted">{t('calls.empty')}</p>}
      {calls && calls.length > 0 && (
        <TableWrap label={t('nav.myCalls')}>
          <table class="table" data-testid="my-calls">
            <thead>
              <tr>
                <th scope="col">{t('calls.direction')}</th>
                <th scope="col">{t('calls.number')}</th>
                <th scope="col">{t('calls.startedAt')}</th>
                <th scope="col">{t('calls.duration')}</th>
                <th scope="col">{t('calls.result')}</th>
                <th scope="col">{t('calls.queue')}</th>
                <th scope="col">
                  <span class="sr-only">{t('common.actions')}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {calls.map((c) => (
                <tr key={c.call_id}>
                  <td>
                    <span class={`dir ${c.direction}`} aria-hidden="true">
                      {c.direction === 'inbound' ? '↙' : '↗'}
                    </span>{' '}
                    {tv('direction', c.direction)}
                  </td>
                  <td>{displayNumber(c.number)}</td>
                  <td>{formatDateTime(c.started_at)}</td>
                  <td>{formatDuration(c.talk_s)}</td>
                  <td>{tv('result', c.result)}</td>
                  <td>{c.queue ?? ''}</td>
                  <td class="row-actions">
                    <button type="button" class="btn small" onClick={() => openCrm.set({ number: c.number, callId: c.call_id, auto: false })}>
                      {t('calls.crm')}
                    </button>
                    <button type="button" class="btn small" onClick={() => openCallDetail.set({ callId: c.call_id, auto: false })}>
                      {t('calls.detail')}
                    </button>
                    <button type="button" class="btn small" onClick={() => callBack(c.number)}>
                      {t('calls.callBack')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </div>
  );
}
