// Operasyon › Kara Liste: the tenant's blocked numbers. Admins add, edit (direction, reason, expiry) and remove
// entries; supervisors read them. Every change is an event in the crm's log (who, when): the audit trail.
import type { JSX } from 'preact';
import { api } from '../api';
import { DIRECTIONS, fromLocalInput, toLocalInput, useBlacklistLive, type BlacklistEntry, type Direction } from '../blacklist';
import { anyOf, EditDelete, Fields, FilterForm, FormDialog, ListPage, ListView, useCrud, useFilters, useForm } from '../components/listing';
import { formatDateTime, timeZone } from '../format';
import { t, tv } from '../i18n';
import { displayNumber } from '../phone/number';
import { session } from '../session';
import { useStore } from '../store';

const PAGE_SIZE = 50;

interface Filters {
  number: string;
  direction: Direction | '';
  status: 'active' | 'expired' | '';
}

interface EntryForm {
  number: string;
  direction: Direction;
  reason: string;
  expires: string;
}

export function Blacklist(): JSX.Element {
  const admin = useStore(session)?.me.role === 'admin';
  const filter = useFilters<Filters>({ number: '', direction: '', status: 'active' }, (f) => ({ ...f, number: f.number.replace(/\D/g, '') }));
  const { list, editing, row } = useCrud<BlacklistEntry>('/blacklist', { ...filter.filters, page: filter.page, page_size: PAGE_SIZE });
  useBlacklistLive('entry', list.reload); // another admin's change or an approval shows up at once

  return (
    <ListPage class="blacklist" title={t('nav.blacklist')} add={admin && { label: t('blacklist.new'), onClick: editing.create, testId: 'blacklist-add' }}>
      {!admin && <p class="muted">{t('blacklist.readOnly')}</p>}
      <FilterForm<Filters>
        label={t('report.filters')}
        state={filter}
        specs={[
          { name: 'number', label: t('blacklist.number'), kind: 'tel' },
          { name: 'direction', label: t('blacklist.direction'), kind: 'select', options: anyOf(DIRECTIONS.map((d) => [d, tv('blockDirection', d)])) },
          {
            name: 'status',
            label: t('blacklist.status'),
            kind: 'select',
            options: anyOf([
              ['active', tv('entryStatus', 'active')],
              ['expired', tv('entryStatus', 'expired')],
            ]),
          },
        ]}
      />
      <ListView<BlacklistEntry>
        list={list}
        rowError={row.error}
        paging={{ page: filter.page, pageSize: PAGE_SIZE, onPage: filter.setPage }}
        label={t('nav.blacklist')}
        testId="blacklist"
        empty={t('blacklist.none')}
        rowKey={(e) => e.entry_id}
        columns={[
          { head: t('blacklist.number'), cell: (e) => displayNumber(e.number) },
          { head: t('blacklist.direction'), cell: (e) => tv('blockDirection', e.direction), wrap: true },
          {
            head: t('blacklist.reason'),
            wrap: true,
            cell: (e) => (
              <>
                {e.reason}
                {e.request_id && <p class="muted">{t('blacklist.fromRequest')}</p>}
              </>
            ),
          },
          { head: t('blacklist.expiresAt'), cell: (e) => (e.expires_at ? formatDateTime(e.expires_at) : t('blacklist.forever')) },
          { head: t('blacklist.status'), cell: (e) => tv('entryStatus', e.status) },
          { head: t('blacklist.changed'), wrap: true, cell: (e) => t('blacklist.changedBy', { who: e.updated_by ?? e.created_by ?? '', at: formatDateTime(e.updated_at) }) },
        ]}
        actions={
          admin &&
          ((e) => (
            <EditDelete
              onEdit={() => editing.edit(e)}
              editOf={t('blacklist.editOf', { number: e.number })}
              onDelete={() => row.act(t('blacklist.confirmDelete', { number: displayNumber(e.number) }), () => api.del(`/blacklist/${e.entry_id}`))}
              deleteOf={t('blacklist.deleteOf', { number: e.number })}
            />
          ))
        }
      />
      {editing.open && <EntryDialog entry={editing.row} onClose={editing.close} onSaved={editing.saved} />}
    </ListPage>
  );
}

function EntryDialog({ entry, onClose, onSaved }: { entry: BlacklistEntry | null; onClose: () => void; onSaved: () => void }): JSX.Element {
  const [form, set] = useForm<EntryForm>({
    number: entry?.number ?? '',
    direction: entry?.direction ?? 'both',
    reason: entry?.reason ?? '',
    expires: toLocalInput(entry?.expires_at ?? null),
  });
  const submit = async (): Promise<void> => {
    const expires_at = fromLocalInput(form.expires);
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
  };
  return (
    <FormDialog title={entry ? t('blacklist.editTitle', { number: displayNumber(entry.number) }) : t('blacklist.new')} onClose={onClose} submit={submit} submitTestId="entry-save">
      <Fields<EntryForm>
        form={form}
        set={set}
        specs={[
          { name: 'number', label: t('blacklist.number'), kind: 'tel', attrs: { required: true, disabled: !!entry, placeholder: t('numbers.placeholder'), 'data-testid': 'entry-number' } },
          { name: 'direction', label: t('blacklist.direction'), kind: 'select', options: DIRECTIONS.map((d) => [d, tv('blockDirection', d)]), attrs: { 'data-testid': 'entry-direction' } },
          { name: 'reason', label: t('blacklist.reason'), kind: 'textarea', attrs: { rows: 2, 'data-testid': 'entry-reason' } },
          { name: 'expires', label: t('blacklist.expiresOptional'), kind: 'datetime-local', attrs: { 'data-testid': 'entry-expires', 'aria-describedby': 'entry-zone' } },
        ]}
      />
      <p class="muted small" id="entry-zone">
        {t('announcements.zone', { zone: timeZone.get() })}
      </p>
    </FormDialog>
  );
}
