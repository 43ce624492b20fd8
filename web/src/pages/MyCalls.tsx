// Son Çağrılarım: the agent's latest calls, newest first; open the customer's CRM, the call's details, or call back.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorBox, Loading } from '../components/common';
import { DataTable } from '../components/listing';
import { formatDateTime, formatDuration } from '../format';
import { freshLoader, maybeLate } from '../fresh';
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
  const [called, setCalled] = useState<string | null>(null); // the number called back, for the notice
  const prefs = useStore(settings);
  const config = useStore(phoneConfig);

  useEffect(() => {
    // A call of mine that ends changes this list: reload then (pushed, not polled), and again while the
    // report, which may not have seen the end yet, still shows a call in progress.
    const loader = freshLoader(
      () => api.get<{ items: MyCall[] }>('/agents/me/calls', { limit: 50 }),
      (page) => page.items.some(maybeLate),
      (page) => {
        setCalls(page.items);
        setError(null);
      },
      setError,
    );
    loader.load();
    const off = onNotice((n) => {
      if (n.kind === 'call' && n.phase === 'ended') loader.load();
      if (n.kind === 'state' && (n.previous === 'on_call' || n.previous === 'wrap_up')) loader.load();
    });
    return () => {
      off();
      loader.stop();
    };
  }, []);

  const callBack = (number: string): void => {
    setCalled(null);
    setError(null);
    const callerId = prefs?.default_caller_id ?? config?.caller_ids[0] ?? null;
    callFromPage(number, callerId)
      .then(() => setCalled(number))
      .catch((e: unknown) => setError(e));
  };

  return (
    <div class="page">
      <h1>{t('nav.myCalls')}</h1>
      <ErrorBox error={error} />
      {called && (
        <p class="note" role="status">
          {t('calls.callStarted', { number: displayNumber(called) })}
        </p>
      )}
      {!calls && !error && <Loading />}
      {calls && calls.length === 0 && <p class="muted">{t('calls.empty')}</p>}
      {calls && calls.length > 0 && (
        <DataTable<MyCall>
          rows={calls}
          label={t('nav.myCalls')}
          testId="my-calls"
          rowKey={(c) => c.call_id}
          columns={[
            {
              head: t('calls.direction'),
              cell: (c) => (
                <>
                  <span class={`dir ${c.direction}`} aria-hidden="true">
                    {c.direction === 'inbound' ? '↙' : '↗'}
                  </span>{' '}
                  {tv('direction', c.direction)}
                </>
              ),
            },
            { head: t('calls.number'), cell: (c) => displayNumber(c.number) },
            { head: t('calls.startedAt'), cell: (c) => formatDateTime(c.started_at) },
            { head: t('calls.duration'), cell: (c) => formatDuration(c.talk_s) },
            { head: t('calls.result'), cell: (c) => tv('result', c.result) },
            { head: t('calls.queue'), cell: (c) => c.queue ?? '' },
          ]}
          actions={(c) => (
            <>
              <button type="button" class="btn small" onClick={() => openCrm.set({ number: c.number, callId: c.call_id, auto: false })}>
                {t('calls.crm')}
              </button>
              <button type="button" class="btn small" onClick={() => openCallDetail.set({ callId: c.call_id, auto: false })}>
                {t('calls.detail')}
              </button>
              <button type="button" class="btn small" onClick={() => callBack(c.number)}>
                {t('calls.callBack')}
              </button>
            </>
          )}
        />
      )}
    </div>
  );
}
