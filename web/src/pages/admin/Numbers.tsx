// Ayarlar › Numaralar: DIDs routed to a queue or an IVR menu, and the outbound caller IDs agents may show.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { Dialog, ErrorBox, Loading, TableWrap } from '../../components/common';
import { t, tv } from '../../i18n';
import { displayNumber } from '../../phone/number';
import type { IvrMenu, PbxNumber, Queue } from '../../types';
import { useList, useSubmit } from './shared';

interface NumberForm {
  number: string;
  kind: 'did' | 'caller_id';
  target: 'queue' | 'ivr';
  queue_id: string;
  ivr_id: string;
  label: string;
}

export function Numbers(): JSX.Element {
  const { data, error, reload } = useList<PbxNumber>('/numbers', { page_size: 500 });
  const queues = useList<Queue>('/queues', { page_size: 500 });
  const ivrs = useList<IvrMenu>('/ivr-menus', { page_size: 500 });
  const [editing, setEditing] = useState<PbxNumber | 'new' | null>(null);
  const [rowError, setRowError] = useState<unknown>(null);
  const queueName = new Map((queues.data?.items ?? []).map((q) => [q.queue_id, q.name]));
  const ivrName = new Map((ivrs.data?.items ?? []).map((m) => [m.ivr_id, m.name]));

  const remove = (n: PbxNumber): void => {
    if (!confirm(t('numbers.confirmDelete', { number: n.e164 }))) return;
    setRowError(null);
    api
      .del(`/numbers/${n.number_id}`)
      .then(reload)
      .catch((e: unknown) => setRowError(e));
  };
  const routeOf = (n: PbxNumber): string => {
    if (n.kind !== 'did') return '';
    if (n.target === 'queue') return `${t('numbers.toQueue')}: ${queueName.get(n.queue_id ?? '') ?? ''}`;
    return `${t('numbers.toIvr')}: ${ivrName.get(n.ivr_id ?? '') ?? ''}`;
  };

  return (
    <div class="page admin">
      <h1>{t('nav.numbers')}</h1>
      <p>
        <button type="button" class="btn primary" onClick={() => setEditing('new')}>
          {t('numbers.new')}
        </button>
      </p>
      <ErrorBox error={error ?? rowError} />
      {!data && !error && <Loading />}
      {data && (
        <TableWrap label={t('nav.numbers')}>
          <table class="table" data-testid="numbers">
            <thead>
              <tr>
                <th scope="col">{t('numbers.number')}</th>
                <th scope="col">{t('numbers.kind')}</th>
                <th scope="col">{t('numbers.route')}</th>
                <th scope="col">{t('numbers.label')}</th>
                <th scope="col">
                  <span class="sr-only">{t('common.actions')}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((n) => (
                <tr key={n.number_id}>
                  <td>{displayNumber(n.e164)}</td>
                  <td>{tv('numberKind', n.kind)}</td>
                  <td>{routeOf(n)}</td>
                  <td>{n.label}</td>
                  <td class="row-actions">
                    <button type="button" class="btn small" onClick={() => setEditing(n)} aria-label={t('numbers.editOf', { number: n.e164 })}>
                      {t('common.edit')}
                    </button>
                    <button type="button" class="btn small danger" onClick={() => remove(n)} aria-label={t('numbers.deleteOf', { number: n.e164 })}>
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
        <NumberDialog
          number={editing === 'new' ? null : editing}
          queues={queues.data?.items ?? []}
          ivrs={ivrs.data?.items ?? []}
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

function NumberDialog(props: { number: PbxNumber | null; queues: Queue[]; ivrs: IvrMenu[]; onClose: () => void; onSaved: () => void }): JSX.Element {
  const { number, queues, ivrs, onClose, onSaved } = props;
  const [form, setForm] = useState<NumberForm>({
    number: number?.e164 ?? '',
    kind: number?.kind ?? 'did',
    target: number?.target ?? 'queue',
    queue_id: number?.queue_id ?? queues[0]?.queue_id ?? '',
    ivr_id: number?.ivr_id ?? ivrs[0]?.ivr_id ?? '',
    label: number?.label ?? '',
  });
  const { busy, error, run } = useSubmit();
  const did = form.kind === 'did';

  const submit = (event: Event): void => {
    event.preventDefault();
    run(async () => {
      const routing = did
        ? { target: form.target, queue_id: form.target === 'queue' ? form.queue_id || null : null, ivr_id: form.target === 'ivr' ? form.ivr_id || null : null }
        : {};
      if (number) await api.patch(`/numbers/${number.number_id}`, { ...routing, label: form.label });
      else await api.post('/numbers', { number: form.number, kind: form.kind, label: form.label, ...routing });
      onSaved();
    });
  };

  return (
    <Dialog title={number ? t('numbers.editTitle', { number: number.e164 }) : t('numbers.new')} onClose={onClose}>
      <form class="form" onSubmit={submit} noValidate>
        <label class="field">
          <span>{t('numbers.number')}</span>
          <input type="tel" required disabled={!!number} value={form.number} placeholder={t('numbers.placeholder')} onInput={(e) => setForm({ ...form, number: e.currentTarget.value })} />
        </label>
        <label class="field">
          <span>{t('numbers.kind')}</span>
          <select value={form.kind} disabled={!!number} onChange={(e) => setForm({ ...form, kind: e.currentTarget.value as NumberForm['kind'] })}>
            <option value="did">{tv('numberKind', 'did')}</option>
            <option value="caller_id">{tv('numberKind', 'caller_id')}</option>
          </select>
        </label>
        {did && (
          <label class="field">
            <span>{t('numbers.target')}</span>
            <select value={form.target} onChange={(e) => setForm({ ...form, target: e.currentTarget.value as NumberForm['target'] })}>
              <option value="queue">{t('numbers.toQueue')}</option>
              <option value="ivr">{t('numbers.toIvr')}</option>
            </select>
          </label>
        )}
        {did && form.target === 'queue' && (
          <label class="field">
            <span>{t('numbers.queue')}</span>
            <select value={form.queue_id} onChange={(e) => setForm({ ...form, queue_id: e.currentTarget.value })}>
              {queues.map((q) => (
                <option key={q.queue_id} value={q.queue_id}>
                  {q.name}
                </option>
              ))}
            </select>
          </label>
        )}
        {did && form.target === 'ivr' && (
          <label class="field">
            <span>{t('numbers.ivr')}</span>
            <select value={form.ivr_id} onChange={(e) => setForm({ ...form, ivr_id: e.currentTarget.value })}>
              {ivrs.map((m) => (
                <option key={m.ivr_id} value={m.ivr_id}>
                  {m.name}
                </option>
              ))}
            </select>
          </label>
        )}
        <label class="field">
          <span>{t('numbers.label')}</span>
          <input value={form.label} onInput={(e) => setForm({ ...form, label: e.currentTarget.value })} />
        </label>
        <ErrorBox error={error} />
        <button type="submit" class="btn primary" disabled={busy}>
          {t('common.save')}
        </button>
      </form>
    </Dialog>
  );
}
