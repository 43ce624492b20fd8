// Operasyon › Kara Liste: the tenant's blocked numbers. Admins add, edit (direction, reason, expiry) and remove
// entries; supervisors read them. Every change is an event in the crm's log (who, when): the audit trail.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../api';
import { DIRECTIONS, fromLocalInput, toLocalInput, useBlacklistLive, type BlacklistEntry, type Direction } from '../blacklist';
import { Dialog, Loading, Pager, TableWrap } from '../components/common';
import { ProblemBox } from '../components/Problem';
import { formatDateTime } from '../format';
import { t, tv } from '../i18n';
import { displayNumber } from '../phone/number';
import { session } from '../session';
import { useStore } from '../store';
import { useList, useSubmit } from './admin/shared';

const PAGE_SIZE = 50;

interface Filters {
  number: string;
  direction: Direction | '';
  status: 'active' | 'expired' | '';
}

export function Blacklist(): JSX.Element {
  const admin = useStore(session)?.me.role === 'admin';
  const [draft, setDraft] = useState<Filters>({ number: '', direction: '', status: 'active' });
  const [filters, setFilters] = useState<Filters>(draft);
  const [page, setPage] = useState(1);
  const { data, error, reload } = useList<BlacklistEntry>('/blacklist', { ...filters, page, page_size: PAGE_SIZE });
  useBlacklistLive('entry', reload); // another admin's change or an approval shows up at once
  const [editing, setEditing] = useState<BlacklistEntry | 'new' | null>(null);
  const [rowError, setRowError] = useState<unknown>(null);

  const apply = (event: Event): void => {
    event.preventDefault();
    setPage(1);
    setFilters({ ...draft, number: draft.number.replace(/\D/g, '') });
  };
  const remove = (entry: BlacklistEntry): void => {
    if (!confirm(t('blacklist.confirmDelete', { number: displayNumber(entry.number) }))) return;
    setRowError(null);
    api
      .del(`/blacklist/${entry.entry_id}`)
      .then(reload)
      .catch((e: unknown) => setRowError(e));
  };

  return (
    <div class="page blacklist">
      <h1>{t('nav.blacklist')}</h1>
      {admin ? (
        <p>
          <button type="button" class="btn primary" data-testid="blacklist-add" onClick={() => setEditing('new')}>
            {t('blacklist.new')}
          </button>
        </p>
      ) : (
        <p class="muted">{t('blacklist.readOnly')}</p>
      )}
      <form class="filters card" onSubmit={apply} aria-label={t('report.filters')}>
        <label class="field">
          <span>{t('blacklist.number')}</span>
          <input type="tel" value={draft.number} onInput={(e) => setDraft({ ...draft, number: e.currentTarget.value })} />
        </label>
        <label class="field">
          <span>{t('blacklist.direction')}</span>
          <select value={draft.direction} onChange={(e) => setDraft({ ...draft, direction: e.currentTarget.value as Filters['direction'] })}>
            <option value="">{t('report.any')}</option>
            {DIRECTIONS.map((d) => (
              <option key={d} value={d}>
                {tv('blockDirection', d)}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>{t('blacklist.status')}</span>
          <select value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.currentTarget.value as Filters['status'] })}>
            <option value="">{t('report.any')}</option>
            <option value="active">{tv('entryStatus', 'active')}</option>
            <option value="expired">{tv('entryStatus', 'expired')}</option>
          </select>
        </label>
        <div class="filter-actions">
          <button type="submit" class="btn primary">
            {t('report.apply')}
          </button>
        </div>
      </form>
      <ProblemBox error={error ?? rowError} />
      {!data && !error && <Loading />}
      {data && (
        <>
          <TableWrap label={t('nav.blacklist')}>
            <table class="table" data-testid="blacklist">
              <thead>
                <tr>
                  <th scope="col">{t('blacklist.number')}</th>
                  <th scope="col">{t('blacklist.direction')}</th>
                  <th scope="col">{t('blacklist.reason')}</th>
                  <th scope="col">{t('blacklist.expiresAt')}</th>
                  <th scope="col">{t('blacklist.status')}</th>
                  <th scope="col">{t('blacklist.changed')}</th>
                  {admin && (
                    <th scope="col">
                      <span class="sr-only">{t('common.actions')}</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {data.items.length === 0 && (
                  <tr>
                    <td colSpan={admin ? 7 : 6} class="muted">
                      {t('blacklist.none')}
                    </td>
                  </tr>
                )}
                {data.items.map((e) => (
                  <tr key={e.entry_id}>
                    <td>{displayNumber(e.number)}</td>
                    <td>{tv('blockDirection', e.direction)}</td>
                    <td>
                      {e.reason}
                      {e.request_id && <p class="muted">{t('blacklist.fromRequest')}</p>}
                    </td>
                    <td>{e.expires_at ? formatDateTime(e.expires_at) : t('blacklist.forever')}</td>
                    <td>{tv('entryStatus', e.status)}</td>
                    <td>{t('blacklist.changedBy', { who: e.updated_by ?? e.created_by ?? '', at: formatDateTime(e.updated_at) })}</td>
                    {admin && (
                      <td class="row-actions">
                        <button type="button" class="btn small" aria-label={t('blacklist.editOf', { number: e.number })} onClick={() => setEditing(e)}>
                          {t('common.edit')}
                        </button>
                        <button type="button" class="btn small danger" aria-label={t('blacklist.deleteOf', { number: e.number })} onClick={() => remove(e)}>
                          {t('common.delete')}
                        </button>
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
      {editing && (
        <EntryDialog
          entry={editing === 'new' ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            reload();
          }}
        />
      )}
    </div>
  );
}

function EntryDialog({ entry, onClose, onSaved }: { entry: BlacklistEntry | null; onClose: () => void; onSaved: () => void }): JSX.Element {
  const [form, setForm] = useState({
    number: entry?.number ?? '',
    direction: entry?.direction ?? ('both' as Direction),
    reason: entry?.reason ?? '',
    expires: toLocalInput(entry?.expires_at ?? null),
  });
  const { busy, error, run } = useSubmit();
  const submit = (event: Event): void => {
    event.preventDefault();
    const expires_at = fromLocalInput(form.expires);
    run(async () => {
      if (entry) {
        await api.patch(`/blacklist/${entry.entry_id}`, {
          direction: form.direction,
          reason: form.reason,
          ...(expires_at ? { expires_at } : { clear_expiry: true }),
        });
      } else {
        await api.post('/blacklist', { number: form.number, direction: form.direction, reason: form.reason, expires_at });
      }
      onSaved();
    });
  };
  return (
    <Dialog title={entry ? t('blacklist.editTitle', { number: displayNumber(entry.number) }) : t('blacklist.new')} onClose={onClose}>
      <form class="form" onSubmit={submit} noValidate>
        <label class="field">
          <span>{t('blacklist.number')}</span>
          <input type="tel" required disabled={!!entry} value={form.number} placeholder={t('numbers.placeholder')} data-testid="entry-number" onInput={(e) => setForm({ ...form, number: e.currentTarget.value })} />
        </label>
        <label class="field">
          <span>{t('blacklist.direction')}</span>
          <select value={form.direction} data-testid="entry-direction" onChange={(e) => setForm({ ...form, direction: e.currentTarget.value as Direction })}>
            {DIRECTIONS.map((d) => (
              <option key={d} value={d}>
                {tv('blockDirection', d)}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>{t('blacklist.reason')}</span>
          <textarea rows={2} value={form.reason} data-testid="entry-reason" onInput={(e) => setForm({ ...form, reason: e.currentTarget.value })} />
        </label>
        <label class="field">
          <span>{t('blacklist.expiresOptional')}</span>
          <input type="datetime-local" value={form.expires} data-testid="entry-expires" onInput={(e) => setForm({ ...form, expires: e.currentTarget.value })} />
        </label>
        <ProblemBox error={error} />
        <button type="submit" class="btn primary" disabled={busy} data-testid="entry-save">
          {t('common.save')}
        </button>
      </form>
    </Dialog>
  );
}
