// Ayarlar › Duyurular: every announcement with its state; publish or edit (audience, start, end or none, pinned);
// withdraw. Times are entered in the browser's clock and sent with their offset.
import type { JSX } from 'preact';
import { useEffect } from 'preact/hooks';
import { api, clockOffsetMs } from '../../api';
import { EditDelete, Fields, FormDialog, ListPage, ListView, useCrud, useForm, useList } from '../../components/listing';
import { formatDateTime, timeZone } from '../../format';
import { t, tv } from '../../i18n';
import { onNotice } from '../../live';
import { useStore } from '../../store';
import { Markup } from '../../markup';
import type { AdminAnnouncement, AnnouncementInput, Queue, Role } from '../../types';

const ROLES: Role[] = ['agent', 'supervisor', 'admin'];

const WALL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;

/** The wall-clock parts of an instant in a time zone, as a UTC timestamp (so: the zone's offset added). */
function wallOf(instant: number, zone: string): number {
  const f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const p = Object.fromEntries(f.formatToParts(new Date(instant)).map((x) => [x.type, x.value]));
  return Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour) % 24, Number(p.minute), Number(p.second));
}

/** An instant as a datetime-local value in the tenant's time zone (the zone every time is shown in). */
export function toLocalInput(iso: string | null, zone: string): string {
  if (!iso) return '';
  const instant = Date.parse(iso);
  if (Number.isNaN(instant)) return '';
  return new Date(wallOf(instant, zone)).toISOString().slice(0, 19);
}

/** A datetime-local value, read in the tenant's time zone, as an ISO instant (null when empty or unreadable). */
export function fromLocalInput(value: string, zone: string): string | null {
  const m = WALL.exec(value);
  if (!m) return null;
  const wall = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  let instant = wall - (wallOf(wall, zone) - wall);
  instant = wall - (wallOf(instant, zone) - instant); // once more across a daylight-saving change
  return new Date(instant).toISOString();
}

interface Form {
  title: string;
  body: string;
  everyone: boolean;
  roles: Role[];
  queue_ids: string[];
  starts_at: string;
  indefinite: boolean;
  ends_at: string;
  pinned: boolean;
}

function formOf(a: AdminAnnouncement | null, zone: string): Form {
  if (!a) {
    return { title: '', body: '', everyone: true, roles: [], queue_ids: [], starts_at: toLocalInput(new Date().toISOString(), zone), indefinite: true, ends_at: '', pinned: false };
  }
  return {
    title: a.title,
    body: a.body,
    everyone: a.audience.everyone,
    roles: [...a.audience.roles],
    queue_ids: [...a.audience.queue_ids],
    starts_at: toLocalInput(a.starts_at, zone),
    indefinite: !a.ends_at,
    ends_at: toLocalInput(a.ends_at, zone),
    pinned: a.pinned,
  };
}

function bodyOf(f: Form, zone: string): AnnouncementInput {
  return {
    title: f.title,
    body: f.body,
    audience: f.everyone ? { everyone: true, roles: [], queue_ids: [] } : { everyone: false, roles: f.roles, queue_ids: f.queue_ids },
    starts_at: fromLocalInput(f.starts_at, zone),
    ends_at: f.indefinite ? null : fromLocalInput(f.ends_at, zone),
    pinned: f.pinned,
  };
}

function toggled<T>(list: T[], value: T, on: boolean): T[] {
  return on ? [...list.filter((v) => v !== value), value] : list.filter((v) => v !== value);
}

export function Announcements(): JSX.Element {
  const { list, editing, row } = useCrud<AdminAnnouncement>('/announcements');
  const { data, reload } = list;
  const queues = useList<Queue>('/queues', { page_size: 500 });
  const queueNames = new Map((queues.data?.items ?? []).map((q) => [q.queue_id, q.name]));

  useEffect(
    () =>
      onNotice((n) => {
        if (n.kind === 'announcement') reload();
      }),
    [reload],
  );

  // A state changes at a start or an end: reload then (one timer for the next change, no polling).
  useEffect(() => {
    const now = Date.now() + clockOffsetMs;
    const next = Math.min(
      ...(data?.items ?? []).flatMap((a) => [a.starts_at, a.ends_at]).map((iso) => (iso ? Date.parse(iso) : Infinity)).filter((at) => at > now),
    );
    if (!Number.isFinite(next) || next - now > 2 ** 31 - 1) return;
    const timer = setTimeout(reload, next - now + 100);
    return () => clearTimeout(timer);
  }, [data, reload]);

  const audienceText = (a: AdminAnnouncement): string =>
    a.audience.everyone
      ? t('announcements.everyone')
      : [...a.audience.roles.map((r) => tv('role', r)), ...a.audience.queue_ids.map((q) => queueNames.get(q) ?? q.slice(0, 8))].join(', ');

  return (
    <ListPage class="admin" title={t('nav.announcements')} add={{ label: t('announcements.new'), onClick: editing.create }}>
      <ListView<AdminAnnouncement>
        list={list}
        rowError={row.error}
        none={t('announcements.none')}
        label={t('nav.announcements')}
        testId="announcements-admin"
        rowKey={(a) => a.announcement_id}
        rowAttrs={(a) => ({ 'data-state': a.state })}
        columns={[
          { head: t('announcements.titleField'), cell: (a) => a.title, wrap: true },
          { head: t('announcements.state'), cell: (a) => <span class={`badge ann-${a.state}`}>{tv('announcementState', a.state)}</span> },
          { head: t('announcements.audience'), cell: audienceText, wrap: true },
          { head: t('announcements.startsAt'), cell: (a) => formatDateTime(a.starts_at) },
          { head: t('announcements.endsAt'), cell: (a) => (a.ends_at ? formatDateTime(a.ends_at) : t('announcements.indefinite')) },
          { head: t('announcements.pinned'), cell: (a) => (a.pinned ? t('announcements.yes') : t('announcements.no')) },
          { head: t('announcements.reads'), cell: (a) => a.reads, numeric: true },
        ]}
        actions={(a) => (
          <EditDelete
            onEdit={() => editing.edit(a)}
            editOf={t('announcements.editOf', { title: a.title })}
            onDelete={() => row.act(t('announcements.confirmWithdraw', { title: a.title }), () => api.del(`/announcements/${a.announcement_id}`))}
            deleteOf={t('announcements.withdrawOf', { title: a.title })}
            deleteText={t('announcements.withdraw')}
          />
        )}
      />
      {editing.open && <AnnouncementDialog announcement={editing.row} queues={queues.data?.items ?? []} onClose={editing.close} onSaved={editing.saved} />}
    </ListPage>
  );
}

function AnnouncementDialog(props: { announcement: AdminAnnouncement | null; queues: Queue[]; onClose: () => void; onSaved: () => void }): JSX.Element {
  const { announcement, queues, onClose, onSaved } = props;
  const zone = useStore(timeZone);
  const [form, set] = useForm<Form>(() => formOf(announcement, zone));

  const submit = async (): Promise<void> => {
    if (announcement) await api.put(`/announcements/${announcement.announcement_id}`, bodyOf(form, zone));
    else await api.post('/announcements', bodyOf(form, zone));
    onSaved();
  };

  return (
    <FormDialog
      title={announcement ? t('announcements.editTitle', { title: announcement.title }) : t('announcements.new')}
      onClose={onClose}
      wide
      class="form grid-form"
      testId="announcement-form"
      submit={submit}
      submitLabel={announcement ? t('common.save') : t('announcements.publish')}
    >
      <Fields<Form>
        form={form}
        set={set}
        specs={[
          { name: 'title', label: t('announcements.titleField'), attrs: { required: true, maxLength: 200, name: 'title' } },
          { name: 'body', label: t('announcements.body'), kind: 'textarea', wide: true, attrs: { rows: 6, maxLength: 10000, name: 'body', 'aria-describedby': 'ann-format-hint' } },
        ]}
      />
      <p class="muted small" id="ann-format-hint">
        {t('announcements.formatHint')}
      </p>
      {form.body.trim() !== '' && (
        <section class="preview" aria-label={t('announcements.preview')}>
          <Markup text={form.body} />
        </section>
      )}
      <fieldset class="members">
        <legend>{t('announcements.audience')}</legend>
        <label class="check">
          <input type="radio" name="audience" checked={form.everyone} onChange={() => set({ everyone: true })} />
          <span>{t('announcements.everyone')}</span>
        </label>
        <label class="check">
          <input type="radio" name="audience" checked={!form.everyone} onChange={() => set({ everyone: false })} />
          <span>{t('announcements.chosen')}</span>
        </label>
        {!form.everyone && (
          <>
            <p class="muted small">{t('announcements.rolesOrQueues')}</p>
            {ROLES.map((r) => (
              <label class="check" key={r}>
                <input type="checkbox" checked={form.roles.includes(r)} onChange={(e) => set({ roles: toggled(form.roles, r, e.currentTarget.checked) })} />
                <span>{tv('role', r)}</span>
              </label>
            ))}
            {queues.map((q) => (
              <label class="check" key={q.queue_id}>
                <input type="checkbox" checked={form.queue_ids.includes(q.queue_id)} onChange={(e) => set({ queue_ids: toggled(form.queue_ids, q.queue_id, e.currentTarget.checked) })} />
                <span>{t('announcements.queue', { name: q.name })}</span>
              </label>
            ))}
          </>
        )}
      </fieldset>
      <p class="muted small">{t('announcements.zone', { zone })}</p>
      <Fields<Form>
        form={form}
        set={set}
        specs={[
          { name: 'starts_at', label: t('announcements.startsAt'), kind: 'datetime-local', attrs: { step: 1, name: 'starts_at' } },
          { name: 'indefinite', label: t('announcements.indefinite'), kind: 'check', attrs: { name: 'indefinite' } },
          !form.indefinite && { name: 'ends_at', label: t('announcements.endsAt'), kind: 'datetime-local', attrs: { step: 1, name: 'ends_at' } },
          { name: 'pinned', label: t('announcements.pinnedHint'), kind: 'check', attrs: { name: 'pinned' } },
        ]}
      />
    </FormDialog>
  );
}
