// Operasyon › Müşteriler: find a customer by number or name and open their CRM panel outside a call;
// supervisors and admins clear the risk flag here (the card keeps who cleared it and when).
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api';
import { Loading, Pager, TableWrap } from '../components/common';
import { ProblemBox } from '../components/Problem';
import { openCrm, type Customer } from '../crm';
import { formatDateTime } from '../format';
import { t } from '../i18n';
import { displayNumber } from '../phone/number';
import { session } from '../session';
import { useStore } from '../store';
import { useList } from './admin/shared';

const PAGE_SIZE = 25;

export function Customers(): JSX.Element {
  const manager = useStore(session)?.me.role !== 'agent';
  const [draft, setDraft] = useState('');
  const [q, setQ] = useState('');
  const [page, setPage] = useState(1);
  const { data, error, reload } = useList<Customer>('/customers', { q, page, page_size: PAGE_SIZE });
  const [rowError, setRowError] = useState<unknown>(null);
  // The list shows what the CRM panel changed (name, risk) once the panel is closed.
  const crmOpen = useStore(openCrm) !== null;
  const opened = useRef(false);
  useEffect(() => {
    if (crmOpen) opened.current = true;
    else if (opened.current) reload();
  }, [crmOpen]);

  const search = (event: Event): void => {
    event.preventDefault();
    setPage(1);
    setQ(draft.trim());
  };
  const clearRisk = (c: Customer): void => {
    if (!confirm(t('customers.confirmClearRisk', { name: c.name || displayNumber(c.numbers[0] ?? '') }))) return;
    setRowError(null);
    api
      .del(`/customers/${c.customer_id}/risk`)
      .then(reload)
      .catch((e: unknown) => setRowError(e));
  };
  const open = (c: Customer): void => {
    const number = c.numbers[0];
    if (number) openCrm.set({ number, callId: null, auto: false });
  };

  return (
    <div class="page customers">
      <h1>{t('nav.customers')}</h1>
      <form class="filters card" role="search" onSubmit={search} aria-label={t('customers.search')}>
        <label class="field">
          <span>{t('customers.query')}</span>
          <input type="search" value={draft} data-testid="customer-query" onInput={(e) => setDraft(e.currentTarget.value)} />
        </label>
        <div class="filter-actions">
          <button type="submit" class="btn primary" data-testid="customer-search">
            {t('customers.search')}
          </button>
        </div>
      </form>
      <ProblemBox error={error ?? rowError} />
      {!data && !error && <Loading />}
      {data && (
        <>
          <TableWrap label={t('nav.customers')}>
            <table class="table" data-testid="customers">
              <thead>
                <tr>
                  <th scope="col">{t('crm.name')}</th>
                  <th scope="col">{t('crm.company')}</th>
                  <th scope="col">{t('customers.numbers')}</th>
                  <th scope="col">{t('customers.risk')}</th>
                  <th scope="col">{t('customers.updatedAt')}</th>
                  <th scope="col">
                    <span class="sr-only">{t('common.actions')}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.items.length === 0 && (
                  <tr>
                    <td colSpan={6} class="muted">
                      {q ? t('customers.noMatch') : t('customers.none')}
                    </td>
                  </tr>
                )}
                {data.items.map((c) => (
                  <tr key={c.customer_id} data-customer={c.customer_id}>
                    <td>{c.name}</td>
                    <td>{c.company}</td>
                    <td>{c.numbers.map((n) => displayNumber(n)).join(', ')}</td>
                    <td data-testid="customer-risk">
                      {c.risk.risky ? (
                        <>
                          <strong class="risky">{t('crm.risky')}</strong>
                          {c.risk.comment && <p>{c.risk.comment}</p>}
                          <p class="muted">{t('crm.markedBy', { who: c.risk.marked_by ?? '', at: formatDateTime(c.risk.marked_at ?? '') })}</p>
                        </>
                      ) : c.risk.cleared_at ? (
                        <span class="muted">{t('customers.riskClearedBy', { who: c.risk.cleared_by ?? '', at: formatDateTime(c.risk.cleared_at) })}</span>
                      ) : (
                        <span class="muted">{t('customers.notRisky')}</span>
                      )}
                    </td>
                    <td>{formatDateTime(c.updated_at)}</td>
                    <td class="row-actions">
                      <button type="button" class="btn small" aria-label={t('customers.openOf', { name: c.name || displayNumber(c.numbers[0] ?? '') })} onClick={() => open(c)}>
                        {t('crm.open')}
                      </button>
                      {manager && c.risk.risky && (
                        <button type="button" class="btn small danger" data-testid="clear-risk" onClick={() => clearRisk(c)}>
                          {t('customers.clearRisk')}
                        </button>
                      )}
                    </td>
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
