// Raporlar: Gelen Aramalar (inbound) and Giden Aramalar (outbound), with filters and paging.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, type Query } from '../api';
import { ErrorBox, Loading, Pager, TableWrap } from '../components/common';
import { formatDateTime, formatDuration } from '../format';
import { t, tv, type Key } from '../i18n';
import { displayNumber } from '../phone/number';
import type { InboundRow, OutboundRow, Page } from '../types';

const PAGE_SIZE = 25;

interface Column<T> {
  key: Key;
  cell: (row: T) => string;
  numeric?: boolean;
}

interface Filters {
  from: string;
  to: string;
  number: string;
  queue: string;
  agent: string;
  result: string;
}

const EMPTY: Filters = { from: '', to: '', number: '', queue: '', agent: '', result: '' };

function Report<T extends { call_id: string }>(props: {
  title: Key;
  path: string;
  columns: Column<T>[];
  results: string[];
  withQueue: boolean;
  testId: string;
}): JSX.Element {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [page, setPage] = useState(1);
  const [data, setData] = useState<Page<T> | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let live = true;
    const query: Query = { ...filters, page, page_size: PAGE_SIZE };
    if (!props.withQueue) delete query.queue;
    setError(null);
    api
      .get<Page<T>>(props.path, query)
      .then((d) => live && setData(d))
      .catch((e: unknown) => live && setError(e));
    return () => {
      live = false;
    };
  }, [filters, page, props.path]);

  const apply = (event: Event): void => {
    event.preventDefault();
    setPage(1);
    setFilters({ ...draft });
  };
  const field = (name: keyof Filters, label: Key, type: 'text' | 'date' = 'text'): JSX.Element => (
    <label class="field">
      <span>{t(label)}</span>
      {type === 'date' ? (
        <input type="date" value={draft[name]} onInput={(e) => setDraft({ ...draft, [name]: e.currentTarget.value })} />
      ) : (
        <input type="text" value={draft[name]} onInput={(e) => setDraft({ ...draft, [name]: e.currentTarget.value })} />
      )}
    </label>
  );

  return (
    <div class="page report">
      <h1>{t(props.title)}</h1>
      <form class="filters card" onSubmit={apply} aria-label={t('report.filters')}>
        {field('from', 'report.from', 'date')}
        {field('to', 'report.to', 'date')}
        {field('number', 'report.number')}
        {props.withQueue && field('queue', 'report.queue')}
        {field('agent', 'report.agent')}
        <label class="field">
          <span>{t('report.result')}</span>
          <select value={draft.result} onChange={(e) => setDraft({ ...draft, result: e.currentTarget.value })}>
            <option value="">{t('report.any')}</option>
            {props.results.map((r) => (
              <option key={r} value={r}>
                {tv('result', r)}
              </option>
            ))}
          </select>
        </label>
        <div class="filter-actions">
          <button type="submit" class="btn primary">
            {t('report.apply')}
          </button>
          <button
            type="button"
            class="btn"
            onClick={() => {
              setDraft(EMPTY);
              setPage(1);
              setFilters(EMPTY);
            }}
          >
            {t('report.reset')}
          </button>
        </div>
      </form>
      <ErrorBox error={error} />
      {!data && !error && <Loading />}
      {data && (
        <>
          <TableWrap label={t(props.title)}>
            <table class="table" data-testid={props.testId}>
              <thead>
                <tr>
                  {props.columns.map((c) => (
                    <th key={c.key} scope="col" class={c.numeric ? 'num' : undefined}>
                      {t(c.key)}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {data.items.length === 0 && (
                  <tr>
                    <td colSpan={props.columns.length} class="muted">
                      {t('report.empty')}
                    </td>
                  </tr>
                )}
                {data.items.map((row) => (
                  <tr key={row.call_id}>
                    {props.columns.map((c) => (
                      <td key={c.key} class={c.numeric ? 'num' : undefined}>
                        {c.cell(row)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <Pager page={page} pageSize={PAGE_SIZE} total={data.total} onPage={setPage} />
        </>
      )}
    </div>
  );
}

const INBOUND: Column<InboundRow>[] = [
  { key: 'report.startedAt', cell: (r) => formatDateTime(r.started_at) },
  { key: 'report.caller', cell: (r) => displayNumber(r.caller) },
  { key: 'report.did', cell: (r) => displayNumber(r.did) },
  { key: 'report.queue', cell: (r) => r.queue ?? '' },
  { key: 'report.agent', cell: (r) => r.agent_name || r.agent || '' },
  { key: 'report.ivr', cell: (r) => formatDuration(r.ivr_seconds), numeric: true },
  { key: 'report.waiting', cell: (r) => formatDuration(r.queue_seconds), numeric: true },
  { key: 'report.ringing', cell: (r) => formatDuration(r.ringing_seconds), numeric: true },
  { key: 'report.talk', cell: (r) => formatDuration(r.talk_seconds), numeric: true },
  { key: 'report.hold', cell: (r) => formatDuration(r.hold_seconds), numeric: true },
  { key: 'report.result', cell: (r) => tv('result', r.result) },
  { key: 'report.hangupBy', cell: (r) => tv('party', r.hangup_by) },
];

const OUTBOUND: Column<OutboundRow>[] = [
  { key: 'report.startedAt', cell: (r) => formatDateTime(r.started_at) },
  { key: 'report.agent', cell: (r) => r.agent ?? '' },
  { key: 'report.callerId', cell: (r) => displayNumber(r.caller_id) },
  { key: 'report.dialled', cell: (r) => displayNumber(r.number) },
  { key: 'report.ringing', cell: (r) => formatDuration(r.ringing_s), numeric: true },
  { key: 'report.talk', cell: (r) => formatDuration(r.talk_s), numeric: true },
  { key: 'report.hold', cell: (r) => formatDuration(r.hold_s), numeric: true },
  { key: 'report.result', cell: (r) => tv('result', r.result) },
  { key: 'report.hangupBy', cell: (r) => tv('party', r.hangup_by) },
];

export function InboundReport(): JSX.Element {
  return (
    <Report<InboundRow>
      title="nav.inboundReport"
      path="/reports/inbound-calls"
      columns={INBOUND}
      results={['answered', 'abandoned', 'rejected', 'failed', 'in_progress']}
      withQueue
      testId="inbound-report"
    />
  );
}

export function OutboundReport(): JSX.Element {
  return (
    <Report<OutboundRow>
      title="nav.outboundReport"
      path="/reports/outbound-calls"
      columns={OUTBOUND}
      results={['answered', 'busy', 'no_answer', 'failed', 'blocked', 'in_progress']}
      withQueue={false}
      testId="outbound-report"
    />
  );
}
