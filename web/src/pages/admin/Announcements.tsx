// Ayarlar › Duyurular: every announcement with its state; publish or edit (audience, start, end or none, pinned);
// withdraw. Times are entered in the browser's clock and sent with their offset.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, clockOffsetMs } from '../../api';
import { Dialog, ErrorBox, Loading, TableWrap } from '../../components/common';
import { formatDateTime, timeZone } from '../../format';
import { t, tv } from '../../i18n';
import { onNotice } from '../../live';
import { useStore } from '../../store';
import { Markup } from '../../markup';
import type { AdminAnnouncement, AnnouncementInput, Queue, Role } from '../../types';
import { useList, useSubmit } from './shared';

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
  const { data, error, reload } = useList<AdminAnnouncement>('/announcements');
  const queues = useList<Queue>('/queues', { page_size: 500 });
  const [editing, setEditing] = useState<AdminAnnouncement | 'new' | null>(null);
  const [rowError, setRowError] = useState<unknown>(null);
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

  const withdraw = (a: AdminAnnouncement): void => {
    if (!confirm(t('announcements.confirmWithdraw', { title: a.title }))) return;
    setRowError(null);
    api
      .del(`/announcements/${a.announcement_id}`)
      .then(reload)
      .catch((e: unknown) => setRowError(e));
  };

  return (
    <div class="page admin">
      <h1>{t('nav.announcements')}</h1>
      <p>
        <button type="button" class="btn primary" onClick={() => setEditing('new')}>
          {t('announcements.new')}
        </button>
      </p>
      <ErrorBox error={error ?? rowError} />
      {!data && !error && <Loading />}
      {data && data.items.length === 0 && <p class="muted">{t('announcements.none')}</p>}
      {data && data.items.length > 0 && (
        <TableWrap label={t('nav.announcements')}>
          <table class="table" data-testid="announcements-admin">
            <thead>
              <tr>
                <th scope="col">{t('announcements.titleField')}</th>
                <th scope="col">{t('announcements.state')}</th>
                <th scope="col">{t('announcements.audience')}</th>
                <th scope="col">{t('announcements.startsAt')}</th>
                <th scope="col">{t('announcements.endsAt')}</th>
                <th scope="col">{t('announcements.pinned')}</th>
                <th scope="col" class="num">{t('announcements.reads')}</th>
                <th scope="col">
                  <span class="sr-only">{t('common.actions')}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((a) => (
                <tr key={a.announcement_id} data-state={a.state}>
                  <td>{a.title}</td>
                  <td>
                    <span class={`badge ann-${a.state}`}>{tv('announcementState', a.state)}</span>
                  </td>
                  <td>{audienceText(a)}</td>
                  <td>{formatDateTime(a.starts_at)}</td>
                  <td>{a.ends_at ? formatDateTime(a.ends_at) : t('announcements.indefinite')}</td>
                  <td>{a.pinned ? t('announcements.yes') : t('announcements.no')}</td>
                  <td class="num">{a.reads}</td>
                  <td class="row-actions">
                    <button type="button" class="btn small" onClick={() => setEditing(a)} aria-label={t('announcements.editOf', { title: a.title })}>
                      {t('common.edit')}
                    </button>
                    <button type="button" class="btn small danger" onClick={() => withdraw(a)} aria-label={t('announcements.withdrawOf', { title: a.title })}>
                      {t('announcements.withdraw')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      {editing && (
        <AnnouncementDialog
          announcement={editing === 'new' ? null : editing}
          queues={queues.data?.items ?? []}
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

function AnnouncementDialog(props: { announcement: AdminAnnouncement | null; queues: Queue[]; onClose: () => void; onSaved: () => void }): JSX.Element {
  const { announcement, queues, onClose, onSaved } = props;
  const zone = useStore(timeZone);
  const [form, setForm] = useState<Form>(formOf(announcement, zone));
  const { busy, error, run } = useSubmit();
  const set = (patch: Partial<Form>): void => setForm({ ...form, ...patch });

  const submit = (event: Event): void => {
    event.preventDefault();
    run(async () => {
      if (announcement) await api.put(`/announcements/${announcement.announcement_id}`, bodyOf(form, zone));
      else await api.post('/announcements', bodyOf(form, zone));
      onSaved();
    });
  };

  return (
    <Dialog title={announcement ? t('announcements.editTitle', { title: announcement.title }) : t('announcements.new')} onClose={onClose} wide>
      <form class="form grid-form" onSubmit={submit} noValidate data-testid="announcement-form">
        <label class="field">
          <span>{t('announcements.titleField')}</span>
          <input required maxLength={200} value={form.title} onInput={(e) => set({ title: e.currentTarget.value })} name="title" />
        </label>
        <label class="field wide">
          <span>{t('announcements.body')}</span>
          <textarea rows={6} maxLength={10000} value={form.body} onInput={(e) => set({ body: e.currentTarget.value })} name="body" aria-describedby="ann-format-hint" />
        </label>
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
        <label class="field">
          <span>{t('announcements.startsAt')}</span>
          <input type="datetime-local" step={1} value={form.starts_at} onInput={(e) => set({ starts_at: e.currentTarget.value })} name="starts_at" />
        </label>
        <label class="check">
          <input type="checkbox" checked={form.indefinite} onChange={(e) => set({ indefinite: e.currentTarget.checked })} name="indefinite" />
          <span>{t('announcements.indefinite')}</span>
        </label>
        {!form.indefinite && (
          <label class="field">
            <span>{t('announcements.endsAt')}</span>
            <input type="datetime-local" step={1} value={form.ends_at} onInput={(e) => set({ ends_at: e.currentTarget.value })} name="ends_at" />
          </label>
        )}
        <label class="check">
          <input type="checkbox" checked={form.pinned} onChange={(e) => set({ pinned: e.currentTarget.checked })} name="pinned" />
          <span>{t('announcements.pinnedHint')}</span>
        </label>
        <ErrorBox error={error} />
        <button type="submit" class="btn primary" disabled={busy}>
          {announcement ? t('common.save') : t('announcements.publish')}
        </button>
      </form>
    </Dialog>
  );
}
