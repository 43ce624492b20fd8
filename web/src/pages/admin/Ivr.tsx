// Ayarlar › IVR Menüleri: a prompt, one digit per queue, and the queue for callers who press nothing.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { Dialog, ErrorBox, Loading, TableWrap } from '../../components/common';
import { t } from '../../i18n';
import type { IvrMenu, Queue } from '../../types';
import { intOr, useList, useSubmit } from './shared';

const DIGITS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '*', '#'];

export function IvrMenus(): JSX.Element {
  const { data, error, reload } = useList<IvrMenu>('/ivr-menus', { page_size: 500 });
  const queues = useList<Queue>('/queues', { page_size: 500 });
  const [editing, setEditing] = useState<IvrMenu | 'new' | null>(null);
  const [rowError, setRowError] = useState<unknown>(null);
  const queueName = new Map((queues.data?.items ?? []).map((q) => [q.queue_id, q.name]));

  const remove = (m: IvrMenu): void => {
    if (!confirm(t('ivr.confirmDelete', { name: m.name }))) return;
    setRowError(null);
    api
      .del(`/ivr-menus/${m.ivr_id}`)
      .then(reload)
      .catch((e: unknown) => setRowError(e));
  };

  return (
    <div class="page admin">
      <h1>{t('nav.ivr')}</h1>
      <p>
        <button type="button" class="btn primary" onClick={() => setEditing('new')} disabled={(queues.data?.items.length ?? 0) === 0}>
          {t('ivr.new')}
        </button>
      </p>
      {queues.data && queues.data.items.length === 0 && <p class="muted">{t('ivr.needQueue')}</p>}
      <ErrorBox error={error ?? rowError} />
      {!data && !error && <Loading />}
      {data && (
        <TableWrap label={t('nav.ivr')}>
          <table class="table" data-testid="ivr-menus">
            <thead>
              <tr>
                <th scope="col">{t('ivr.name')}</th>
                <th scope="col">{t('ivr.prompt')}</th>
                <th scope="col" class="num">{t('ivr.timeout')}</th>
                <th scope="col">{t('ivr.options')}</th>
                <th scope="col">{t('ivr.defaultQueue')}</th>
                <th scope="col">
                  <span class="sr-only">{t('common.actions')}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((m) => (
                <tr key={m.ivr_id}>
                  <td>{m.name}</td>
                  <td>
                    <code>{m.prompt}</code>
                  </td>
                  <td class="num">{m.timeout_s}</td>
                  <td>
                    {Object.entries(m.options)
                      .map(([digit, q]) => `${digit} → ${queueName.get(q) ?? ''}`)
                      .join(', ')}
                  </td>
                  <td>{queueName.get(m.default_queue_id) ?? ''}</td>
                  <td class="row-actions">
                    <button type="button" class="btn small" onClick={() => setEditing(m)} aria-label={t('ivr.editOf', { name: m.name })}>
                      {t('common.edit')}
                    </button>
                    <button type="button" class="btn small danger" onClick={() => remove(m)} aria-label={t('ivr.deleteOf', { name: m.name })}>
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
        <IvrDialog
          menu={editing === 'new' ? null : editing}
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

function IvrDialog({ menu, queues, onClose, onSaved }: { menu: IvrMenu | null; queues: Queue[]; onClose: () => void; onSaved: () => void }): JSX.Element {
  const first = queues[0]?.queue_id ?? '';
  const [form, setForm] = useState({
    name: menu?.name ?? '',
    prompt: menu?.prompt ?? 'sound:nebula-welcome',
    timeout_s: menu?.timeout_s ?? 5,
    default_queue_id: menu?.default_queue_id ?? first,
    options: Object.entries(menu?.options ?? {}).map(([digit, queue]) => ({ digit, queue })),
  });
  const { busy, error, run } = useSubmit();
  const used = new Set(form.options.map((o) => o.digit));
  const setOption = (i: number, change: Partial<{ digit: string; queue: string }>): void =>
    setForm({ ...form, options: form.options.map((o, j) => (j === i ? { ...o, ...change } : o)) });

  const submit = (event: Event): void => {
    event.preventDefault();
    run(async () => {
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
    });
  };

  const queueSelect = (value: string, onChange: (v: string) => void, label: string): JSX.Element => (
    <select value={value} onChange={(e) => onChange(e.currentTarget.value)} aria-label={label}>
      {queues.map((q) => (
        <option key={q.queue_id} value={q.queue_id}>
          {q.name}
        </option>
      ))}
    </select>
  );

  return (
    <Dialog title={menu ? t('ivr.editTitle', { name: menu.name }) : t('ivr.new')} onClose={onClose} wide>
      <form class="form" onSubmit={submit} noValidate>
        <label class="field">
          <span>{t('ivr.name')}</span>
          <input required value={form.name} onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} />
        </label>
        <label class="field">
          <span>{t('ivr.prompt')}</span>
          <input value={form.prompt} onInput={(e) => setForm({ ...form, prompt: e.currentTarget.value })} />
        </label>
        <label class="field">
          <span>{t('ivr.timeout')}</span>
          <input type="number" min={1} max={60} value={form.timeout_s} onInput={(e) => setForm({ ...form, timeout_s: intOr(e.currentTarget.value, 5) })} />
        </label>
        <div class="field">
          <span id="default-queue-label">{t('ivr.defaultQueue')}</span>
          {queueSelect(form.default_queue_id, (v) => setForm({ ...form, default_queue_id: v }), t('ivr.defaultQueue'))}
        </div>
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
              {queueSelect(o.queue, (v) => setOption(i, { queue: v }), t('ivr.optionQueue', { digit: o.digit }))}
              <button type="button" class="btn small" onClick={() => setForm({ ...form, options: form.options.filter((_, j) => j !== i) })}>
                {t('ivr.removeOption')}
              </button>
            </div>
          ))}
          <button
            type="button"
            class="btn small"
            disabled={used.size >= DIGITS.length}
            onClick={() => setForm({ ...form, options: [...form.options, { digit: DIGITS.find((d) => !used.has(d)) ?? '1', queue: first }] })}
          >
            {t('ivr.addOption')}
          </button>
        </fieldset>
        <ErrorBox error={error} />
        <button type="submit" class="btn primary" disabled={busy}>
          {t('common.save')}
        </button>
      </form>
    </Dialog>
  );
}
