// Ayarlar › Kuyruklar: priority, strategy, ring timeout, wrap-up, and members with their priority.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { Dialog, ErrorBox, Loading, TableWrap } from '../../components/common';
import { t, tv } from '../../i18n';
import type { Queue, QueueMember, User } from '../../types';
import { intOr, useList, useSubmit } from './shared';

type QueueForm = Omit<Queue, 'queue_id'>;
const NEW_QUEUE: QueueForm = { name: '', priority: 1, strategy: 'longest_idle', ring_timeout_s: 20, wrap_up_s: 5, members: [] };

export function Queues(): JSX.Element {
  const { data, error, reload } = useList<Queue>('/queues', { page_size: 500 });
  const agents = useList<User>('/users', { role: 'agent', page_size: 500 });
  const [editing, setEditing] = useState<Queue | 'new' | null>(null);
  const [rowError, setRowError] = useState<unknown>(null);
  const names = new Map((agents.data?.items ?? []).map((u) => [u.user_id, u.username]));

  const remove = (q: Queue): void => {
    if (!confirm(t('queues.confirmDelete', { name: q.name }))) return;
    setRowError(null);
    api
      .del(`/queues/${q.queue_id}`)
      .then(reload)
      .catch((e: unknown) => setRowError(e));
  };

  return (
    <div class="page admin">
      <h1>{t('nav.queues')}</h1>
      <p>
        <button type="button" class="btn primary" onClick={() => setEditing('new')}>
          {t('queues.new')}
        </button>
      </p>
      <ErrorBox error={error ?? rowError} />
      {!data && !error && <Loading />}
      {data && (
        <TableWrap label={t('nav.queues')}>
          <table class="table" data-testid="queues">
            <thead>
              <tr>
                <th scope="col">{t('queues.name')}</th>
                <th scope="col" class="num">{t('queues.priority')}</th>
                <th scope="col">{t('queues.strategy')}</th>
                <th scope="col" class="num">{t('queues.ringTimeout')}</th>
                <th scope="col" class="num">{t('queues.wrapUp')}</th>
                <th scope="col">{t('queues.members')}</th>
                <th scope="col">
                  <span class="sr-only">{t('common.actions')}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((q) => (
                <tr key={q.queue_id}>
                  <td>{q.name}</td>
                  <td class="num">{q.priority}</td>
                  <td>{tv('strategy', q.strategy)}</td>
                  <td class="num">{q.ring_timeout_s}</td>
                  <td class="num">{q.wrap_up_s}</td>
                  <td>{q.members.map((m) => `${names.get(m.user_id) ?? m.user_id.slice(0, 8)} (${m.priority})`).join(', ')}</td>
                  <td class="row-actions">
                    <button type="button" class="btn small" onClick={() => setEditing(q)} aria-label={t('queues.editOf', { name: q.name })}>
                      {t('common.edit')}
                    </button>
                    <button type="button" class="btn small danger" onClick={() => remove(q)} aria-label={t('queues.deleteOf', { name: q.name })}>
                      {t('common.delete')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      {editing && (
        <QueueDialog
          queue={editing === 'new' ? null : editing}
          agents={agents.data?.items ?? []}
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

function QueueDialog({ queue, agents, onClose, onSaved }: { queue: Queue | null; agents: User[]; onClose: () => void; onSaved: () => void }): JSX.Element {
  const [form, setForm] = useState<QueueForm>(queue ? { ...queue } : NEW_QUEUE);
  const { busy, error, run } = useSubmit();
  const member = (userId: string): QueueMember | undefined => form.members.find((m) => m.user_id === userId);
  const toggle = (userId: string, on: boolean): void =>
    setForm({ ...form, members: on ? [...form.members, { user_id: userId, priority: 1 }] : form.members.filter((m) => m.user_id !== userId) });
  const setPriority = (userId: string, priority: number): void =>
    setForm({ ...form, members: form.members.map((m) => (m.user_id === userId ? { ...m, priority } : m)) });

  const submit = (event: Event): void => {
    event.preventDefault();
    run(async () => {
      const body = { name: form.name, priority: form.priority, strategy: form.strategy, ring_timeout_s: form.ring_timeout_s, wrap_up_s: form.wrap_up_s, members: form.members };
      if (queue) await api.patch(`/queues/${queue.queue_id}`, body);
      else await api.post('/queues', body);
      onSaved();
    });
  };

  return (
    <Dialog title={queue ? t('queues.editTitle', { name: queue.name }) : t('queues.new')} onClose={onClose} wide>
      <form class="form grid-form" onSubmit={submit} noValidate>
        <label class="field">
          <span>{t('queues.name')}</span>
          <input required value={form.name} onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} />
        </label>
        <label class="field">
          <span>{t('queues.priority')}</span>
          <input type="number" min={1} max={100} value={form.priority} onInput={(e) => setForm({ ...form, priority: intOr(e.currentTarget.value, 1) })} />
        </label>
        <label class="field">
          <span>{t('queues.strategy')}</span>
          <select value={form.strategy} onChange={(e) => setForm({ ...form, strategy: e.currentTarget.value })}>
            <option value="longest_idle">{tv('strategy', 'longest_idle')}</option>
          </select>
        </label>
        <label class="field">
          <span>{t('queues.ringTimeout')}</span>
          <input type="number" min={5} max={300} value={form.ring_timeout_s} onInput={(e) => setForm({ ...form, ring_timeout_s: intOr(e.currentTarget.value, 20) })} />
        </label>
        <label class="field">
          <span>{t('queues.wrapUp')}</span>
          <input type="number" min={0} max={3600} value={form.wrap_up_s} onInput={(e) => setForm({ ...form, wrap_up_s: intOr(e.currentTarget.value, 5) })} />
        </label>
        <fieldset class="members">
          <legend>{t('queues.members')}</legend>
          {agents.length === 0 && <p class="muted">{t('queues.noAgents')}</p>}
          {agents.map((u) => {
            const m = member(u.user_id);
            return (
              <div key={u.user_id} class="member-row">
                <label class="check">
                  <input type="checkbox" checked={!!m} onChange={(e) => toggle(u.user_id, e.currentTarget.checked)} />
                  <span>
                    {u.display_name} ({u.username})
                  </span>
                </label>
                {m && (
                  <label class="field compact">
                    <span>{t('queues.memberPriority')}</span>
                    <input type="number" min={1} max={100} value={m.priority} onInput={(e) => setPriority(u.user_id, intOr(e.currentTarget.value, 1))} />
                  </label>
                )}
              </div>
            );
          })}
        </fieldset>
        <ErrorBox error={error} />
        <button type="submit" class="btn primary" disabled={busy}>
          {t('common.save')}
        </button>
      </form>
    </Dialog>
  );
}
