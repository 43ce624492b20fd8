// Raporlar: Gelen Aramalar (inbound) and Giden Aramalar (outbound), with filters and paging.
import type { JSX } from 'preact';
import type { Query } from '../api';
import { anyOf, FilterForm, ListView, useFilters, useList, type FieldSpec } from '../components/listing';
import { formatDateTime, formatDuration } from '../format';
import { t, tv, type Key } from '../i18n';
import { displayNumber } from '../phone/number';
import type { InboundRow, OutboundRow } from '../types';

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
  const filter = useFilters<Filters>(EMPTY);
  const query: Query = { ...filter.filters, page: filter.page, page_size: PAGE_SIZE };
  if (!props.withQueue) delete query.queue;
  const list = useList<T>(props.path, query);
  const text = (name: keyof Filters, label: Key, kind: 'text' | 'date' = 'text'): FieldSpec<Filters> => ({ name, label: t(label), kind });

  return (
    <div class="page report">
      <h1>{t(props.title)}</h1>
      <FilterForm<Filters>
        label={t('report.filters')}
        state={filter}
        specs={[
          text('from', 'report.from', 'date'),
          text('to', 'report.to', 'date'),
          text('number', 'report.number'),
          props.withQueue && text('queue', 'report.queue'),
          text('agent', 'report.agent'),
          { name: 'result', label: t('report.result'), kind: 'select', options: anyOf(props.results.map((r) => [r, tv('result', r)])) },
        ]}
      >
        <button type="button" class="btn" onClick={filter.reset}>
          {t('report.reset')}
        </button>
      </FilterForm>
      <ListView<T>
        list={list}
        paging={{ page: filter.page, pageSize: PAGE_SIZE, onPage: filter.setPage }}
        label={t(props.title)}
        testId={props.testId}
        empty={t('report.empty')}
        rowKey={(row) => row.call_id}
        columns={props.columns.map((c) => ({ head: t(c.key), cell: c.cell, numeric: c.numeric }))}
      />
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
