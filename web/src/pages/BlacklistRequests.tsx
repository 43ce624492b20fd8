// Operasyon › Kara Liste Onay: block requests waiting for a decision. Supervisors and admins approve or reject
// them with a comment (approval blacklists the number at once); agents see their own requests and their state.
// The list reloads on the gateway's live blacklist notices.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { useBlacklistLive, type BlockRequest, type RequestStatus } from '../blacklist';
import { Dialog, Loading, Pager, TableWrap } from '../components/common';
import { ProblemBox } from '../components/Problem';
import { formatDateTime } from '../format';
import { t, tv } from '../i18n';
import { displayNumber } from '../phone/number';
import { session } from '../session';
import { useStore } from '../store';
import { useList, useSubmit } from './admin/shared';

const PAGE_SIZE = 50;
const STATUSES: RequestStatus[] = ['pending', 'approved', 'rejected'];

export function BlacklistRequests(): JSX.Element {
  const manager = useStore(session)?.me.role !== 'agent';
  const [status, setStatus] = useState<RequestStatus | ''>(manager ? 'pending' : '');
  const [number, setNumber] = useState('');
  const [filters, setFilters] = useState({ status: manager ? 'pending' : '', number: '' });
  const [page, setPage] = useState(1);
  const { data, error, reload } = useList<BlockRequest>('/blacklist/requests', { ...filters, page, page_size: PAGE_SIZE });
  const [deciding, setDeciding] = useState<{ request: BlockRequest; approve: boolean } | null>(null);
  // New requests and other supervisors' decisions arrive as live notices (the socket, never a timer).
  useBlacklistLive('request', reload);

  const apply = (event: Event): void => {
    event.preventDefault();
    setPage(1);
    setFilters({ status, number: number.replace(/\D/g, '') });
  };

  return (
    <div class="page blacklist-requests">
      <h1>{manager ? t('nav.blacklistRequests') : t('nav.myBlockRequests')}</h1>
      <p class="muted">{manager ? t('blockRequests.introManager') : t('blockRequests.introAgent')}</p>
      <form class="filters card" onSubmit={apply} aria-label={t('report.filters')}>
        <label class="field">
          <span>{t('blockRequests.status')}</span>
          <select value={status} data-testid="requests-status" onChange={(e) => setStatus(e.currentTarget.value as RequestStatus | '')}>
            <option value="">{t('report.any')}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {tv('requestStatus', s)}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>{t('blacklist.number')}</span>
          <input type="tel" value={number} onInput={(e) => setNumber(e.currentTarget.value)} />
        </label>
        <div class="filter-actions">
          <button type="submit" class="btn primary">
            {t('report.apply')}
          </button>
        </div>
      </form>
      <ProblemBox error={error} />
      {!data && !error && <Loading />}
      {data && (
        <>
          <TableWrap label={t('nav.blacklistRequests')}>
            <table class="table" data-testid="block-requests">
              <thead>
                <tr>
                  <th scope="col">{t('blockRequests.requestedAt')}</th>
                  <th scope="col">{t('blacklist.number')}</th>
                  <th scope="col">{t('blacklist.direction')}</th>
                  <th scope="col">{t('blacklist.reason')}</th>
                  {manager && <th scope="col">{t('blockRequests.requestedBy')}</th>}
                  <th scope="col">{t('blockRequests.status')}</th>
                  <th scope="col">{t('blockRequests.decision')}</th>
                  {manager && (
                    <th scope="col">
                      <span class="sr-only">{t('common.actions')}</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {data.items.length === 0 && (
                  <tr>
                    <td colSpan={manager ? 8 : 6} class="muted">
                      {t('blockRequests.none')}
                    </td>
                  </tr>
                )}
                {data.items.map((r) => (
                  <tr key={r.request_id} data-request={r.request_id}>
                    <td>{formatDateTime(r.requested_at)}</td>
                    <td>{displayNumber(r.number)}</td>
                    <td>{tv('blockDirection', r.direction)}</td>
                    <td>{r.reason}</td>
                    {manager && <td>{r.requested_by_name ?? ''}</td>}
                    <td>
                      <span class={`badge ${r.status}`}>{tv('requestStatus', r.status)}</span>
                    </td>
                    <td>
                      {r.decided_at && t('blockRequests.decidedBy', { who: r.decided_by_name ?? '', at: formatDateTime(r.decided_at) })}
                      {r.comment && <p class="muted">{r.comment}</p>}
                    </td>
                    {manager && (
                      <td class="row-actions">
                        {r.status === 'pending' && (
                          <>
                            <button type="button" class="btn small primary" aria-label={t('blockRequests.approveOf', { number: r.number })} onClick={() => setDeciding({ request: r, approve: true })}>
                              {t('blockRequests.approve')}
                            </button>
                            <button type="button" class="btn small danger" aria-label={t('blockRequests.rejectOf', { number: r.number })} onClick={() => setDeciding({ request: r, approve: false })}>
                              {t('blockRequests.reject')}
                            </button>
                          </>
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <Pager page={page} pageSize={PAGE_SIZE} total={data.total} onPage={setPage} />
        </>
      )}
      {deciding && (
        <DecisionDialog
          request={deciding.request}
          approve={deciding.approve}
          onClose={() => setDeciding(null)}
          onStale={reload}
          onDone={() => {
            setDeciding(null);
            reload();
          }}
        />
      )}
    </div>
  );
}

function DecisionDialog(props: { request: BlockRequest; approve: boolean; onClose: () => void; onDone: () => void; onStale: () => void }): JSX.Element {
  const { request, approve, onClose, onDone, onStale } = props;
  const [comment, setComment] = useState('');
  const { busy, error, run } = useSubmit();
  const submit = (event: Event): void => {
    event.preventDefault();
    run(async () => {
      try {
        await api.post(`/blacklist/requests/${request.request_id}/${approve ? 'approve' : 'reject'}`, { comment });
      } catch (error) {
        if (error instanceof ApiError && error.status === 409) onStale(); // decided meanwhile: the list catches up
        throw error;
      }
      onDone();
    });
  };
  const number = displayNumber(request.number);
  return (
    <Dialog title={approve ? t('blockRequests.approveTitle', { number }) : t('blockRequests.rejectTitle', { number })} onClose={onClose}>
      <form class="form" onSubmit={submit} noValidate>
        <p>
          {tv('blockDirection', request.direction)} · {request.reason}
        </p>
        <label class="field">
          <span>{approve ? t('blockRequests.commentOptional') : t('blockRequests.commentRequired')}</span>
          <textarea rows={3} value={comment} data-testid="decision-comment" onInput={(e) => setComment(e.currentTarget.value)} />
        </label>
        <ProblemBox error={error} />
        <button type="submit" class={`btn ${approve ? 'primary' : 'danger'}`} disabled={busy} data-testid="decision-submit">
          {approve ? t('blockRequests.approve') : t('blockRequests.reject')}
        </button>
      </form>
    </Dialog>
  );
}
