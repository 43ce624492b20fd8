// Ayarlar › Numaralar: DIDs routed to a queue or an IVR menu, and the outbound caller IDs agents may show.
import type { JSX } from 'preact';
import { api } from '../../api';
import { EditDelete, Fields, FormDialog, ListPage, ListView, useCrud, useForm, useList } from '../../components/listing';
import { t, tv } from '../../i18n';
import { displayNumber } from '../../phone/number';
import type { IvrMenu, PbxNumber, Queue } from '../../types';

interface NumberForm {
  number: string;
  kind: 'did' | 'caller_id';
  target: 'queue' | 'ivr';
  queue_id: string;
  ivr_id: string;
  label: string;
}

export function Numbers(): JSX.Element {
  const { list, editing, row } = useCrud<PbxNumber>('/numbers', { page_size: 500 });
  const queues = useList<Queue>('/queues', { page_size: 500 });
  const ivrs = useList<IvrMenu>('/ivr-menus', { page_size: 500 });
  const queueName = new Map((queues.data?.items ?? []).map((q) => [q.queue_id, q.name]));
  const ivrName = new Map((ivrs.data?.items ?? []).map((m) => [m.ivr_id, m.name]));

  const routeOf = (n: PbxNumber): string => {
    if (n.kind !== 'did') return '';
    if (n.target === 'queue') return `${t('numbers.toQueue')}: ${queueName.get(n.queue_id ?? '') ?? ''}`;
    return `${t('numbers.toIvr')}: ${ivrName.get(n.ivr_id ?? '') ?? ''}`;
  };

  return (
    <ListPage class="admin" title={t('nav.numbers')} add={{ label: t('numbers.new'), onClick: editing.create }}>
      <ListView<PbxNumber>
        list={list}
        rowError={row.error}
        label={t('nav.numbers')}
        testId="numbers"
        rowKey={(n) => n.number_id}
        columns={[
          { head: t('numbers.number'), cell: (n) => displayNumber(n.e164) },
          { head: t('numbers.kind'), cell: (n) => tv('numberKind', n.kind) },
          { head: t('numbers.route'), cell: routeOf },
          { head: t('numbers.label'), cell: (n) => n.label },
        ]}
        actions={(n) => (
          <EditDelete
            onEdit={() => editing.edit(n)}
            editOf={t('numbers.editOf', { number: n.e164 })}
            onDelete={() => row.act(t('numbers.confirmDelete', { number: n.e164 }), () => api.del(`/numbers/${n.number_id}`))}
            deleteOf={t('numbers.deleteOf', { number: n.e164 })}
          />
        )}
      />
      {editing.open && (
        <NumberDialog number={editing.row} queues={queues.data?.items ?? []} ivrs={ivrs.data?.items ?? []} onClose={editing.close} onSaved={editing.saved} />
      )}
    </ListPage>
  );
}

function NumberDialog(props: { number: PbxNumber | null; queues: Queue[]; ivrs: IvrMenu[]; onClose: () => void; onSaved: () => void }): JSX.Element {
  const { number, queues, ivrs, onClose, onSaved } = props;
  const [form, set] = useForm<NumberForm>({
    number: number?.e164 ?? '',
    kind: number?.kind ?? 'did',
    target: number?.target ?? 'queue',
    queue_id: number?.queue_id ?? queues[0]?.queue_id ?? '',
    ivr_id: number?.ivr_id ?? ivrs[0]?.ivr_id ?? '',
    label: number?.label ?? '',
  });
  const did = form.kind === 'did';

  const submit = async (): Promise<void> => {
    const routing = did
      ? { target: form.target, queue_id: form.target === 'queue' ? form.queue_id || null : null, ivr_id: form.target === 'ivr' ? form.ivr_id || null : null }
      : {};
    if (number) await api.patch(`/numbers/${number.number_id}`, { ...routing, label: form.label });
    else await api.post('/numbers', { number: form.number, kind: form.kind, label: form.label, ...routing });
    onSaved();
  };

  return (
    <FormDialog title={number ? t('numbers.editTitle', { number: number.e164 }) : t('numbers.new')} onClose={onClose} submit={submit}>
      <Fields<NumberForm>
        form={form}
        set={set}
        specs={[
          { name: 'number', label: t('numbers.number'), kind: 'tel', attrs: { required: true, disabled: !!number, placeholder: t('numbers.placeholder') } },
          {
            name: 'kind',
            label: t('numbers.kind'),
            kind: 'select',
            options: [
              ['did', tv('numberKind', 'did')],
              ['caller_id', tv('numberKind', 'caller_id')],
            ],
            attrs: { disabled: !!number },
          },
          did && {
            name: 'target',
            label: t('numbers.target'),
            kind: 'select',
            options: [
              ['queue', t('numbers.toQueue')],
              ['ivr', t('numbers.toIvr')],
            ],
          },
          did && form.target === 'queue' && { name: 'queue_id', label: t('numbers.queue'), kind: 'select', options: queues.map((q) => [q.queue_id, q.name]) },
          did && form.target === 'ivr' && { name: 'ivr_id', label: t('numbers.ivr'), kind: 'select', options: ivrs.map((m) => [m.ivr_id, m.name]) },
          { name: 'label', label: t('numbers.label') },
        ]}
      />
    </FormDialog>
  );
}
