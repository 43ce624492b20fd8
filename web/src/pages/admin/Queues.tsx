// Ayarlar › Kuyruklar: priority, strategy, ring timeout, wrap-up, and members with their priority.
import type { JSX } from 'preact';
import { api } from '../../api';
import { EditDelete, Fields, FormDialog, intOr, ListPage, ListView, useCrud, useForm, useList } from '../../components/listing';
import { t, tv } from '../../i18n';
import type { Queue, QueueMember, User } from '../../types';

type QueueForm = Omit<Queue, 'queue_id'>;
const NEW_QUEUE: QueueForm = { name: '', priority: 1, strategy: 'longest_idle', ring_timeout_s: 20, wrap_up_s: 5, members: [] };

export function Queues(): JSX.Element {
  const { list, editing, row } = useCrud<Queue>('/queues', { page_size: 500 });
  const agents = useList<User>('/users', { role: 'agent', page_size: 500 });
  const names = new Map((agents.data?.items ?? []).map((u) => [u.user_id, u.username]));

  return (
    <ListPage class="admin" title={t('nav.queues')} add={{ label: t('queues.new'), onClick: editing.create }}>
      <ListView<Queue>
        list={list}
        rowError={row.error}
        label={t('nav.queues')}
        testId="queues"
        rowKey={(q) => q.queue_id}
        columns={[
          { head: t('queues.name'), cell: (q) => q.name },
          { head: t('queues.priority'), cell: (q) => q.priority, numeric: true },
          { head: t('queues.strategy'), cell: (q) => tv('strategy', q.strategy) },
          { head: t('queues.ringTimeout'), cell: (q) => q.ring_timeout_s, numeric: true },
          { head: t('queues.wrapUp'), cell: (q) => q.wrap_up_s, numeric: true },
          { head: t('queues.members'), cell: (q) => q.members.map((m) => `${names.get(m.user_id) ?? m.user_id.slice(0, 8)} (${m.priority})`).join(', ') },
        ]}
        actions={(q) => (
          <EditDelete
            onEdit={() => editing.edit(q)}
            editOf={t('queues.editOf', { name: q.name })}
            onDelete={() => row.act(t('queues.confirmDelete', { name: q.name }), () => api.del(`/queues/${q.queue_id}`))}
            deleteOf={t('queues.deleteOf', { name: q.name })}
          />
        )}
      />
      {editing.open && <QueueDialog queue={editing.row} agents={agents.data?.items ?? []} onClose={editing.close} onSaved={editing.saved} />}
    </ListPage>
  );
}

function QueueDialog({ queue, agents, onClose, onSaved }: { queue: Queue | null; agents: User[]; onClose: () => void; onSaved: () => void }): JSX.Element {
  const [form, set] = useForm<QueueForm>(queue ? { ...queue } : NEW_QUEUE);
  const member = (userId: string): QueueMember | undefined => form.members.find((m) => m.user_id === userId);
  const toggle = (userId: string, on: boolean): void =>
    set({ members: on ? [...form.members, { user_id: userId, priority: 1 }] : form.members.filter((m) => m.user_id !== userId) });
  const setPriority = (userId: string, priority: number): void => set({ members: form.members.map((m) => (m.user_id === userId ? { ...m, priority } : m)) });

  const submit = async (): Promise<void> => {
    const body = { name: form.name, priority: form.priority, strategy: form.strategy, ring_timeout_s: form.ring_timeout_s, wrap_up_s: form.wrap_up_s, members: form.members };
    if (queue) await api.patch(`/queues/${queue.queue_id}`, body);
    else await api.post('/queues', body);
    onSaved();
  };

  return (
    <FormDialog title={queue ? t('queues.editTitle', { name: queue.name }) : t('queues.new')} onClose={onClose} wide class="form grid-form" submit={submit}>
      <Fields<QueueForm>
        form={form}
        set={set}
        specs={[
          { name: 'name', label: t('queues.name'), attrs: { required: true } },
          { name: 'priority', label: t('queues.priority'), kind: 'number', fallback: 1, attrs: { min: 1, max: 100 } },
          { name: 'strategy', label: t('queues.strategy'), kind: 'select', options: [['longest_idle', tv('strategy', 'longest_idle')]] },
          { name: 'ring_timeout_s', label: t('queues.ringTimeout'), kind: 'number', fallback: 20, attrs: { min: 5, max: 300 } },
          { name: 'wrap_up_s', label: t('queues.wrapUp'), kind: 'number', fallback: 5, attrs: { min: 0, max: 3600 } },
        ]}
      />
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
    </FormDialog>
  );
}
