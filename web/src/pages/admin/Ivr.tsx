// Ayarlar › IVR Menüleri: a prompt, one digit per queue, and the queue for callers who press nothing.
import type { JSX } from 'preact';
import { api } from '../../api';
import { EditDelete, Fields, FormDialog, ListPage, ListView, useCrud, useForm, useList } from '../../components/listing';
import { t } from '../../i18n';
import type { IvrMenu, Queue } from '../../types';

const DIGITS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '*', '#'];

interface IvrForm {
  name: string;
  prompt: string;
  timeout_s: number;
  default_queue_id: string;
  options: { digit: string; queue: string }[];
}

export function IvrMenus(): JSX.Element {
  const { list, editing, row } = useCrud<IvrMenu>('/ivr-menus', { page_size: 500 });
  const queues = useList<Queue>('/queues', { page_size: 500 });
  const queueName = new Map((queues.data?.items ?? []).map((q) => [q.queue_id, q.name]));

  return (
    <ListPage class="admin" title={t('nav.ivr')} add={{ label: t('ivr.new'), onClick: editing.create, disabled: (queues.data?.items.length ?? 0) === 0 }}>
      {queues.data && queues.data.items.length === 0 && <p class="muted">{t('ivr.needQueue')}</p>}
      <ListView<IvrMenu>
        list={list}
        rowError={row.error}
        label={t('nav.ivr')}
        testId="ivr-menus"
        rowKey={(m) => m.ivr_id}
        columns={[
          { head: t('ivr.name'), cell: (m) => m.name },
          { head: t('ivr.prompt'), cell: (m) => <code>{m.prompt}</code> },
          { head: t('ivr.timeout'), cell: (m) => m.timeout_s, numeric: true },
          {
            head: t('ivr.options'),
            cell: (m) =>
              Object.entries(m.options)
                .map(([digit, q]) => `${digit} → ${queueName.get(q) ?? ''}`)
                .join(', '),
          },
          { head: t('ivr.defaultQueue'), cell: (m) => queueName.get(m.default_queue_id) ?? '' },
        ]}
        actions={(m) => (
          <EditDelete
            onEdit={() => editing.edit(m)}
            editOf={t('ivr.editOf', { name: m.name })}
            onDelete={() => row.act(t('ivr.confirmDelete', { name: m.name }), () => api.del(`/ivr-menus/${m.ivr_id}`))}
            deleteOf={t('ivr.deleteOf', { name: m.name })}
          />
        )}
      />
      {editing.open && <IvrDialog menu={editing.row} queues={queues.data?.items ?? []} onClose={editing.close} onSaved={editing.saved} />}
    </ListPage>
  );
}

function IvrDialog({ menu, queues, onClose, onSaved }: { menu: IvrMenu | null; queues: Queue[]; onClose: () => void; onSaved: () => void }): JSX.Element {
  const first = queues[0]?.queue_id ?? '';
  const [form, set] = useForm<IvrForm>({
    name: menu?.name ?? '',
    prompt: menu?.prompt ?? 'sound:nebula-welcome',
    timeout_s: menu?.timeout_s ?? 5,
    default_queue_id: menu?.default_queue_id ?? first,
    options: Object.entries(menu?.options ?? {}).map(([digit, queue]) => ({ digit, queue })),
  });
  const used = new Set(form.options.map((o) => o.digit));
  const setOption = (i: number, change: Partial<{ digit: string; queue: string }>): void =>
    set({ options: form.options.map((o, j) => (j === i ? { ...o, ...change } : o)) });
  const queueOptions = queues.map((q) => [q.queue_id, q.name] as const);

  const submit = async (): Promise<void> => {
    const body = {
      name: form.name,
      prompt: form.prompt,
      timeout_s: form.timeout_s,
      default_queue_id: form.default_queue_id,
      options: Object.fromEntries(form.options.map((o) => [o.digit, o.queue])),
    };
    if (menu) await api.patch(`/ivr-menus/${menu.ivr_id}`, body);
    else await api.post('/ivr-menus', body);
    onSaved();
  };

  return (
    <FormDialog title={menu ? t('ivr.editTitle', { name: menu.name }) : t('ivr.new')} onClose={onClose} wide submit={submit}>
      <Fields<IvrForm>
        form={form}
        set={set}
        specs={[
          { name: 'name', label: t('ivr.name'), attrs: { required: true } },
          { name: 'prompt', label: t('ivr.prompt') },
          { name: 'timeout_s', label: t('ivr.timeout'), kind: 'number', fallback: 5, attrs: { min: 1, max: 60 } },
          { name: 'default_queue_id', label: t('ivr.defaultQueue'), kind: 'select', options: queueOptions },
        ]}
      />
      <fieldset class="options">
        <legend>{t('ivr.options')}</legend>
        {form.options.map((o, i) => (
          <div key={i} class="option-row">
            <select value={o.digit} onChange={(e) => setOption(i, { digit: e.currentTarget.value })} aria-label={t('ivr.digit')}>
              {DIGITS.filter((d) => d === o.digit || !used.has(d)).map((d) => (
                <option key={d} value={d}>
                  {d}
                </option>
              ))}
            </select>
            <select value={o.queue} onChange={(e) => setOption(i, { queue: e.currentTarget.value })} aria-label={t('ivr.optionQueue', { digit: o.digit })}>
              {queueOptions.map(([id, name]) => (
                <option key={id} value={id}>
                  {name}
                </option>
              ))}
            </select>
            <button type="button" class="btn small" onClick={() => set({ options: form.options.filter((_, j) => j !== i) })}>
              {t('ivr.removeOption')}
            </button>
          </div>
        ))}
        <button
          type="button"
          class="btn small"
          disabled={used.size >= DIGITS.length}
          onClick={() => set({ options: [...form.options, { digit: DIGITS.find((d) => !used.has(d)) ?? '1', queue: first }] })}
        >
          {t('ivr.addOption')}
        </button>
      </fieldset>
    </FormDialog>
  );
}
