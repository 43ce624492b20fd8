// Operasyon › Müşteriler: find a customer by number or name and open their CRM panel outside a call;
// supervisors and admins clear the risk flag here (the card keeps who cleared it and when).
import type { JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { api } from '../api';
import { FilterForm, ListView, useFilters, useList, useRowAction } from '../components/listing';
import { openCrm, type Customer } from '../crm';
import { formatDateTime } from '../format';
import { t } from '../i18n';
import { displayNumber } from '../phone/number';
import { session } from '../session';
import { useStore } from '../store';

const PAGE_SIZE = 25;

export function Customers(): JSX.Element {
  const manager = useStore(session)?.me.role !== 'agent';
  const filter = useFilters({ q: '' }, (f) => ({ q: f.q.trim() }));
  const { q } = filter.filters;
  const list = useList<Customer>('/customers', { q, page: filter.page, page_size: PAGE_SIZE });
  const row = useRowAction(list.reload);
  // The list shows what the CRM panel changed (name, risk) once the panel is closed.
  const crmOpen = useStore(openCrm) !== null;
  const opened = useRef(false);
  useEffect(() => {
    if (crmOpen) opened.current = true;
    else if (opened.current) list.reload();
  }, [crmOpen]);

  const nameOf = (c: Customer): string => c.name || displayNumber(c.numbers[0] ?? '');
  const open = (c: Customer): void => {
    const number = c.numbers[0];
    if (number) openCrm.set({ number, callId: null, auto: false });
  };

  return (
    <div class="page customers">
      <h1>{t('nav.customers')}</h1>
      <FilterForm<{ q: string }>
        label={t('customers.search')}
        search
        state={filter}
        specs={[{ name: 'q', label: t('customers.query'), kind: 'search', attrs: { 'data-testid': 'customer-query' } }]}
        applyLabel={t('customers.search')}
        applyTestId="customer-search"
      />
      <ListView<Customer>
        list={list}
        rowError={row.error}
        paging={{ page: filter.page, pageSize: PAGE_SIZE, onPage: filter.setPage }}
        label={t('nav.customers')}
        testId="customers"
        empty={q ? t('customers.noMatch') : t('customers.none')}
        rowKey={(c) => c.customer_id}
        rowAttrs={(c) => ({ 'data-customer': c.customer_id })}
        columns={[
          { head: t('crm.name'), cell: (c) => c.name },
          { head: t('crm.company'), cell: (c) => c.company },
          { head: t('customers.numbers'), cell: (c) => c.numbers.map((n) => displayNumber(n)).join(', ') },
          { head: t('customers.risk'), cell: riskOf, testId: 'customer-risk', wrap: true },
          { head: t('customers.updatedAt'), cell: (c) => formatDateTime(c.updated_at) },
        ]}
        actions={(c) => (
          <>
            <button type="button" class="btn small" aria-label={t('customers.openOf', { name: nameOf(c) })} onClick={() => open(c)}>
              {t('crm.open')}
            </button>
            {manager && c.risk.risky && (
              <button
                type="button"
                class="btn small danger"
                data-testid="clear-risk"
                onClick={() => row.act(t('customers.confirmClearRisk', { name: nameOf(c) }), () => api.del(`/customers/${c.customer_id}/risk`))}
              >
                {t('customers.clearRisk')}
              </button>
            )}
          </>
        )}
      />
    </div>
  );
}

function riskOf(c: Customer): JSX.Element {
  if (c.risk.risky) {
    return (
      <>
        <strong class="risky">{t('crm.risky')}</strong>
        {c.risk.comment && <p>{c.risk.comment}</p>}
        <p class="muted">{t('crm.markedBy', { who: c.risk.marked_by ?? '', at: formatDateTime(c.risk.marked_at ?? '') })}</p>
      </>
    );
  }
  if (c.risk.cleared_at) return <span class="muted">{t('customers.riskClearedBy', { who: c.risk.cleared_by ?? '', at: formatDateTime(c.risk.cleared_at) })}</span>;
  return <span class="muted">{t('customers.notRisky')}</span>;
}
