// Operasyon › Kara Liste Onay: block requests waiting for a decision. Supervisors and admins approve or reject
// them with a comment (approval blacklists the number at once); agents see their own requests and their state.
// The list reloads on the gateway's live blacklist notices.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { useBlacklistLive, type BlockRequest, type RequestStatus } from '../blacklist';
import { anyOf, Fields, FilterForm, FormDialog, ListView, useFilters, useForm, useList } from '../components/listing';
import { formatDateTime } from '../format';
import { t, tv } from '../i18n';
import { displayNumber } from '../phone/number';
import { session } from '../session';
import { useStore } from '../store';

const PAGE_SIZE = 50;
const STATUSES: RequestStatus[] = ['pending', 'approved', 'rejected'];

interface Filters {
  status: RequestStatus | '';
  number: string;
}

export function BlacklistRequests(): JSX.Element {
  const manager = useStore(session)?.me.role !== 'agent';
  const filter = useFilters<Filters>({ status: manager ? 'pending' : '', number: '' }, (f) => ({ ...f, number: f.number.replace(/\D/g, '') }));
  const list = useList<BlockRequest>('/blacklist/requests', { ...filter.filters, page: filter.page, page_size: PAGE_SIZE });
  const [deciding, setDeciding] = useState<{ request: BlockRequest; approve: boolean } | null>(null);
  // New requests and other supervisors' decisions arrive as live notices (the socket, never a timer).
  useBlacklistLive('request', list.reload);

  return (
    <div class="page blacklist-requests">
      <h1>{manager ? t('nav.blacklistRequests') : t('nav.myBlockRequests')}</h1>
      <p class="muted">{manager ? t('blockRequests.introManager') : t('blockRequests.introAgent')}</p>
      <FilterForm<Filters>
        label={t('report.filters')}
        state={filter}
        specs={[
          {
            name: 'status',
            label: t('blockRequests.status'),
            kind: 'select',
            options: anyOf(STATUSES.map((s) => [s, tv('requestStatus', s)])),
            attrs: { 'data-testid': 'requests-status' },
          },
          { name: 'number', label: t('blacklist.number'), kind: 'tel' },
        ]}
      />
      <ListView<BlockRequest>
        list={list}
        paging={{ page: filter.page, pageSize: PAGE_SIZE, onPage: filter.setPage }}
        label={t('nav.blacklistRequests')}
        testId="block-requests"
        empty={t('blockRequests.none')}
        rowKey={(r) => r.request_id}
        rowAttrs={(r) => ({ 'data-request': r.request_id })}
        columns={[
          { head: t('blockRequests.requestedAt'), cell: (r) => formatDateTime(r.requested_at) },
          { head: t('blacklist.number'), cell: (r) => displayNumber(r.number) },
          { head: t('blacklist.direction'), cell: (r) => tv('blockDirection', r.direction), wrap: true },
          { head: t('blacklist.reason'), cell: (r) => r.reason, wrap: true },
          manager && { head: t('blockRequests.requestedBy'), cell: (r) => r.requested_by_name ?? '' },
          { head: t('blockRequests.status'), cell: (r) => <span class={`badge ${r.status}`}>{tv('requestStatus', r.status)}</span> },
          {
            head: t('blockRequests.decision'),
            wrap: true,
            cell: (r) => (
              <>
                {r.decided_at && t('blockRequests.decidedBy', { who: r.decided_by_name ?? '', at: formatDateTime(r.decided_at) })}
                {r.comment && <p class="muted">{r.comment}</p>}
              </>
            ),
          },
        ]}
        actions={
          manager &&
          ((r) =>
            r.status === 'pending' && (
              <>
                <button type="button" class="btn small primary" aria-label={t('blockRequests.approveOf', { number: r.number })} onClick={() => setDeciding({ request: r, approve: true })}>
                  {t('blockRequests.approve')}
                </button>
                <button type="button" class="btn small danger" aria-label={t('blockRequests.rejectOf', { number: r.number })} onClick={() => setDeciding({ request: r, approve: false })}>
                  {t('blockRequests.reject')}
                </button>
              </>
            ))
        }
      />
      {deciding && (
        <DecisionDialog
          request={deciding.request}
          approve={deciding.approve}
          onClose={() => setDeciding(null)}
          onStale={list.reload}
          onDone={() => {
            setDeciding(null);
            list.reload();
          }}
        />
      )}
    </div>
  );
}

function DecisionDialog(props: { request: BlockRequest; approve: boolean; onClose: () => void; onDone: () => void; onStale: () => void }): JSX.Element {
  const { request, approve, onClose, onDone, onStale } = props;
  const [form, set] = useForm({ comment: '' });
  const submit = async (): Promise<void> => {
    try {
      await api.post(`/blacklist/requests/${request.request_id}/${approve ? 'approve' : 'reject'}`, form);
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) onStale(); // decided meanwhile: the list catches up
      throw error;
    }
    onDone();
  };
  const number = displayNumber(request.number);
  return (
    <FormDialog
      title={approve ? t('blockRequests.approveTitle', { number }) : t('blockRequests.rejectTitle', { number })}
      onClose={onClose}
      submit={submit}
      submitLabel={approve ? t('blockRequests.approve') : t('blockRequests.reject')}
      submitClass={approve ? 'primary' : 'danger'}
      submitTestId="decision-submit"
    >
      <p>
        {tv('blockDirection', request.direction)} · {request.reason}
      </p>
      <Fields<{ comment: string }>
        form={form}
        set={set}
        specs={[
          {
            name: 'comment',
            label: approve ? t('blockRequests.commentOptional') : t('blockRequests.commentRequired'),
            kind: 'textarea',
            attrs: { rows: 3, 'data-testid': 'decision-comment' },
          },
        ]}
      />
    </FormDialog>
  );
}
