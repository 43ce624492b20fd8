// The CRM panel (Müşteri Yönetimi) beside the phone: the caller's card (editable; a new card for an unknown number,
// created on first save), their previous calls, comments (Görüş bildir), the risk flag and a block request.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, request } from '../api';
import { customerByNumber, type Customer, type CustomerCall, type CustomerComment } from '../crm';
import { formatDateTime, formatDuration } from '../format';
import { freshLoader, maybeLate } from '../fresh';
import { t, tv, type Key } from '../i18n';
import { onNotice } from '../live';
import { displayNumber } from '../phone/number';
import { openCallDetail } from '../phone/phone';
import { session } from '../session';
import { useStore } from '../store';
import { Dialog, ErrorBox, Loading } from './common';

type Direction = 'inbound' | 'outbound' | 'both';

/** "Riskli Müşteri" and the risk comment for a number, when its customer is marked risky (nothing otherwise). */
export function RiskNotice({ number }: { number: string }): JSX.Element | null {
  const [customer, setCustomer] = useState<Customer | null>(null);
  useEffect(() => {
    let live = true;
    setCustomer(null);
    if (number) {
      customerByNumber(number)
        .then((c) => live && setCustomer(c))
        .catch(() => undefined); // the pop still rings without the CRM
    }
    return () => {
      live = false;
    };
  }, [number]);
  if (!customer?.risk.risky) return null;
  return <RiskBanner customer={customer} />;
}

function RiskBanner({ customer }: { customer: Customer }): JSX.Element {
  return (
    <div class="risk-banner" role="alert" data-testid="risk-banner">
      <strong>{t('crm.risky')}</strong>
      {customer.risk.comment && <p data-testid="risk-comment">{customer.risk.comment}</p>}
      {customer.risk.marked_by && (
        <p class="muted">
          {t('crm.markedBy', { who: customer.risk.marked_by, at: formatDateTime(customer.risk.marked_at ?? '') })}
        </p>
      )}
    </div>
  );
}

interface Card {
  numbers: string;
  name: string;
  company: string;
  email: string;
  notes: string;
}

function cardOf(customer: Customer | null, number: string): Card {
  return {
    numbers: customer ? customer.numbers.join(', ') : number,
    name: customer?.name ?? '',
    company: customer?.company ?? '',
    email: customer?.email ?? '',
    notes: customer?.notes ?? '',
  };
}

export function CrmPanel({ number, callId, focus, onClose }: { number: string; callId: string | null; focus: boolean; onClose: () => void }): JSX.Element {
  const [customer, setCustomer] = useState<Customer | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let live = true;
    customerByNumber(number)
      .then((c) => live && setCustomer(c))
      .catch((e: unknown) => live && setError(e));
    return () => {
      live = false;
    };
  }, [number]);

  return (
    <Dialog title={t('crm.title')} onClose={onClose} wide modal={false} focus={focus}>
      <div class="crm" data-testid="crm-panel">
        {callId && (
          <button type="button" class="btn small" data-testid="crm-call-detail" onClick={() => openCallDetail.set({ callId, auto: false })}>
            {t('detail.title')}
          </button>
        )}
        <ErrorBox error={error} />
        {customer === undefined && !error && <Loading />}
        {customer !== undefined && (
          <>
            {customer?.risk.risky && <RiskBanner customer={customer} />}
            {customer && <RiskClearing customer={customer} onChanged={setCustomer} />}
            <Details key={customer?.customer_id ?? 'new'} customer={customer} number={number} onSaved={setCustomer} />
            {customer && <Risk customer={customer} onChanged={setCustomer} />}
            {customer && <Comments customer={customer} callId={callId} />}
            {customer && <Calls customer={customer} />}
          </>
        )}
        <BlockRequest number={number} customerId={customer?.customer_id ?? null} callId={callId} />
      </div>
    </Dialog>
  );
}

/** Who cleared the risk flag and when; supervisors and admins clear it here (agents only see the banner). */
function RiskClearing({ customer, onChanged }: { customer: Customer; onChanged: (c: Customer) => void }): JSX.Element | null {
  const manager = useStore(session)?.me.role !== 'agent';
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const { risk } = customer;
  if (!risk.risky) {
    if (!risk.cleared_at) return null;
    return (
      <p class="muted" data-testid="risk-cleared">
        {t('customers.riskClearedBy', { who: risk.cleared_by ?? '', at: formatDateTime(risk.cleared_at) })}
      </p>
    );
  }
  if (!manager) return null;
  const clear = (): void => {
    setBusy(true);
    setError(null);
    request<Customer>('DELETE', `/customers/${customer.customer_id}/risk`)
      .then(onChanged)
      .catch((e: unknown) => setError(e))
      .finally(() => setBusy(false));
  };
  return (
    <div class="crm-risk-clear">
      <ErrorBox error={error} />
      <button type="button" class="btn" disabled={busy} data-testid="crm-clear-risk" onClick={clear}>
        {t('customers.clearRisk')}
      </button>
    </div>
  );
}

function Details({ customer, number, onSaved }: { customer: Customer | null; number: string; onSaved: (c: Customer) => void }): JSX.Element {
  const [form, setForm] = useState<Card>(cardOf(customer, number));
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<Card>): void => {
    setForm({ ...form, ...patch });
    setSaved(false);
  };
  const submit = (event: Event): void => {
    event.preventDefault();
    const body = { ...form, numbers: form.numbers.split(',').map((n) => n.trim()).filter(Boolean) };
    setBusy(true);
    setError(null);
    (customer ? api.patch<Customer>(`/customers/${customer.customer_id}`, body) : api.post<Customer>('/customers', body))
      .then((c) => {
        setSaved(true);
        onSaved(c);
      })
      .catch((e: unknown) => setError(e))
      .finally(() => setBusy(false));
  };
  const field = (name: keyof Card, label: Key): JSX.Element => (
    <label class="field">
      <span>{t(label)}</span>
      <input type="text" value={form[name]} data-testid={`crm-${name}`} onInput={(e) => set({ [name]: e.currentTarget.value })} />
    </label>
  );
  return (
    <form class="crm-details" onSubmit={submit} noValidate>
      <h3>{customer ? t('crm.details') : t('crm.newCard')}</h3>
      {!customer && <p class="muted">{t('crm.unknownNumber', { number: displayNumber(number) })}</p>}
      {field('name', 'crm.name')}
      {field('company', 'crm.company')}
      {field('numbers', 'crm.numbers')}
      {field('email', 'crm.email')}
      <label class="field">
        <span>{t('crm.notes')}</span>
        <textarea rows={2} value={form.notes} onInput={(e) => set({ notes: e.currentTarget.value })} />
      </label>
      <ErrorBox error={error} />
      {saved && (
        <p class="note" role="status">
          {t('crm.saved')}
        </p>
      )}
      <button type="submit" class="btn primary" disabled={busy} data-testid="crm-save">
        {customer ? t('common.save') : t('crm.create')}
      </button>
    </form>
  );
}

function Risk({ customer, onChanged }: { customer: Customer; onChanged: (c: Customer) => void }): JSX.Element | null {
  const [comment, setComment] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  if (customer.risk.risky) return null;
  const submit = (event: Event): void => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    api
      .put<Customer>(`/customers/${customer.customer_id}/risk`, { comment })
      .then((c) => {
        setComment('');
        onChanged(c);
      })
      .catch((e: unknown) => setError(e))
      .finally(() => setBusy(false));
  };
  return (
    <form class="crm-risk" onSubmit={submit} noValidate>
      <h3>{t('crm.markRisky')}</h3>
      <label class="field">
        <span>{t('crm.riskComment')}</span>
        <textarea rows={2} value={comment} data-testid="crm-risk-comment" onInput={(e) => setComment(e.currentTarget.value)} />
      </label>
      <ErrorBox error={error} />
      <button type="submit" class="btn danger" disabled={busy} data-testid="crm-mark-risky">
        {t('crm.markRisky')}
      </button>
    </form>
  );
}

function Comments({ customer, callId }: { customer: Customer; callId: string | null }): JSX.Element {
  const [items, setItems] = useState<CustomerComment[] | null>(null);
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const load = (): void => {
    api
      .get<{ items: CustomerComment[] }>(`/customers/${customer.customer_id}/comments`)
      .then((page) => setItems(page.items))
      .catch((e: unknown) => setError(e));
  };
  useEffect(load, [customer.customer_id]);
  const submit = (event: Event): void => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    api
      .post<CustomerComment>(`/customers/${customer.customer_id}/comments`, { text, call_id: callId })
      .then(() => {
        setText('');
        load();
      })
      .catch((e: unknown) => setError(e))
      .finally(() => setBusy(false));
  };
  return (
    <section class="crm-comments" aria-label={t('crm.comments')}>
      <h3>{t('crm.comments')}</h3>
      <form onSubmit={submit} noValidate>
        <label class="field">
          <span>{t('crm.comment')}</span>
          <textarea rows={2} value={text} data-testid="crm-comment" onInput={(e) => setText(e.currentTarget.value)} />
        </label>
        <ErrorBox error={error} />
        <button type="submit" class="btn" disabled={busy} data-testid="crm-add-comment">
          {t('crm.addComment')}
        </button>
      </form>
      {items && items.length === 0 && <p class="muted">{t('crm.noComments')}</p>}
      {items && items.length > 0 && (
        <ol class="comments" data-testid="crm-comment-list">
          {items.map((c) => (
            <li key={c.comment_id}>
              <p>{c.text}</p>
              <p class="muted">
                {c.author ?? ''} · <time dateTime={c.at}>{formatDateTime(c.at)}</time>
              </p>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function Calls({ customer }: { customer: Customer }): JSX.Element {
  const [items, setItems] = useState<CustomerCall[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    // The history is the crm's read model, which may not have seen a call's end yet when the card opens or
    // when the end is announced: fetched again while it shows a call in progress.
    const loader = freshLoader(
      () => api.get<{ items: CustomerCall[] }>(`/customers/${customer.customer_id}/calls`, { limit: 20 }),
      (page) => page.items.some(maybeLate),
      (page) => {
        setItems(page.items);
        setError(null);
      },
      setError,
    );
    loader.load();
    const off = onNotice((n) => {
      if (n.kind === 'call' && n.phase === 'ended') loader.load();
    });
    return () => {
      off();
      loader.stop();
    };
  }, [customer.customer_id]);
  return (
    <section class="crm-calls" aria-label={t('crm.calls')}>
      <h3>{t('crm.calls')}</h3>
      <ErrorBox error={error} />
      {items && items.length === 0 && <p class="muted">{t('crm.noCalls')}</p>}
      {items && items.length > 0 && (
        <ul class="crm-call-list" data-testid="crm-calls">
          {items.map((c) => (
            <li key={c.call_id}>
              <span class={`dir ${c.direction}`} aria-hidden="true">
                {c.direction === 'inbound' ? '↙' : '↗'}
              </span>{' '}
              {formatDateTime(c.started_at)} · {tv('direction', c.direction)} · {tv('result', c.result)} · {formatDuration(c.talk_s)}
              {c.agent ? ` · ${c.agent}` : ''}
              {c.queue ? ` · ${c.queue}` : ''}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function BlockRequest({ number, customerId, callId }: { number: string; customerId: string | null; callId: string | null }): JSX.Element {
  const [reason, setReason] = useState('');
  const [direction, setDirection] = useState<Direction>('both');
  const [error, setError] = useState<unknown>(null);
  const [sent, setSent] = useState(false);
  const [busy, setBusy] = useState(false);
  const submit = (event: Event): void => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setSent(false);
    api
      .post('/blacklist/requests', { number, direction, reason, customer_id: customerId, call_id: callId })
      .then(() => {
        setSent(true);
        setReason('');
      })
      .catch((e: unknown) => setError(e))
      .finally(() => setBusy(false));
  };
  return (
    <form class="crm-block" onSubmit={submit} noValidate>
      <h3>{t('crm.requestBlock')}</h3>
      <label class="field">
        <span>{t('crm.blockDirection')}</span>
        <select value={direction} onChange={(e) => setDirection(e.currentTarget.value as Direction)}>
          {(['both', 'inbound', 'outbound'] as const).map((d) => (
            <option key={d} value={d}>
              {t(`crm.block.${d}`)}
            </option>
          ))}
        </select>
      </label>
      <label class="field">
        <span>{t('crm.blockReason')}</span>
        <textarea rows={2} value={reason} data-testid="crm-block-reason" onInput={(e) => setReason(e.currentTarget.value)} />
      </label>
      <ErrorBox error={error} />
      {sent && (
        <p class="note" role="status">
          {t('crm.blockRequested')}
        </p>
      )}
      <button type="submit" class="btn" disabled={busy} data-testid="crm-request-block">
        {t('crm.requestBlock')}
      </button>
    </form>
  );
}
