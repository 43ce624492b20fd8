// The phone widget: ringing, dialling, in-call controls and the dialler. Floating and draggable on every page
// (its place kept in the agent's settings), or laid out in the page on the phone screen.
import type { JSX, TargetedKeyboardEvent, TargetedPointerEvent } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { agent, goOnline, savePhonePosition, settings } from '../agent';
import { Since } from '../components/common';
import { errorText } from '../refusals';
import { RiskNotice } from '../components/CrmPanel';
import { openCrm } from '../crm';
import { hasKey, t, tv, type Key } from '../i18n';
import { useStore } from '../store';
import type { PhonePosition } from '../types';
import { call, driverStatus, lastOffer, openCallDetail, pageCalls, phone, phoneConfig, phoneFocus, type CallView } from './phone';
import { checkNumber, displayNumber } from './number';

const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];
const STEP = 16;
// From this width a panel (the CRM, a call's detail) sits beside the floating phone (styles.css, `.dialog.panel`);
// below it, the phone docks to a strip while a panel is open and the panel ends above the phone.
const SIDE_BY_SIDE = '(min-width: 1100px)';

/** Tell the panels how much of the screen's bottom the floating phone takes (`--phone-room`), when it is docked. */
function measureRoom(node: HTMLElement): void {
  const docked = !node.classList.contains('placed') && !window.matchMedia(SIDE_BY_SIDE).matches;
  const room = docked ? Math.max(0, Math.ceil(window.innerHeight - node.getBoundingClientRect().top)) : 0;
  document.documentElement.style.setProperty('--phone-room', `${room}px`);
}

function clamp(pos: PhonePosition, box: HTMLElement | null): PhonePosition {
  const width = box?.offsetWidth ?? 320;
  const height = box?.offsetHeight ?? 200;
  const maxX = Math.max(0, window.innerWidth - width);
  const maxY = Math.max(0, window.innerHeight - Math.min(height, window.innerHeight));
  return { x: Math.round(Math.min(Math.max(0, pos.x), maxX)), y: Math.round(Math.min(Math.max(0, pos.y), maxY)) };
}

export function Phone({ floating }: { floating: boolean }): JSX.Element {
  const current = useStore(call);
  const me = useStore(agent);
  const prefs = useStore(settings);
  const config = useStore(phoneConfig);
  const status = useStore(driverStatus);
  const missed = useStore(lastOffer);
  const crmPanel = useStore(openCrm);
  const detailPanel = useStore(openCallDetail);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  // On a phone-sized screen the idle phone starts small; a call opens it.
  const [collapsed, setCollapsed] = useState(floating && window.innerWidth < 520);
  const [dragPos, setDragPos] = useState<PhonePosition | null>(null);
  const box = useRef<HTMLElement>(null);
  const drag = useRef<{ dx: number; dy: number } | null>(null);
  const saveTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const [, setViewport] = useState(0);
  // Expanded by the agent while docked under a panel (asked again for each panel opened).
  const [undocked, setUndocked] = useState(false);

  useEffect(() => {
    const resize = (): void => setViewport((n) => n + 1);
    window.addEventListener('resize', resize);
    return () => window.removeEventListener('resize', resize);
  }, []);

  useEffect(() => setUndocked(false), [crmPanel, detailPanel]);
  useEffect(() => {
    if (floating && box.current) measureRoom(box.current); // after every render: docked, placed, collapsed...
  });
  useEffect(() => {
    const node = box.current;
    if (!floating || !node) return;
    const measure = (): void => measureRoom(node);
    const observer = new ResizeObserver(measure); // ...and whenever its content grows or shrinks
    observer.observe(node);
    window.addEventListener('resize', measure);
    return () => {
      observer.disconnect();
      window.removeEventListener('resize', measure);
      document.documentElement.style.removeProperty('--phone-room');
    };
  }, [floating]);

  useEffect(() => {
    // A new phase clears old errors, except "the call had already ended", which explains the ended call shown.
    setError((e: unknown) => (current?.phase === 'ended' && e instanceof Error && e.message === 'call-ended' ? e : null));
    if (current && current.phase !== 'ended') setCollapsed(false);
  }, [current?.callId, current?.phase]);

  // A new phase replaces the phone's buttons (Answer gives way to Hold and Hang up): a keyboard user whose focus
  // was on one of them would be left on the page's body. Keep the focus in the phone, on its first control.
  const focusInside = useRef(false);
  useEffect(() => {
    const node = box.current;
    if (!node) return;
    const into = (): void => {
      focusInside.current = true;
    };
    const out = (e: FocusEvent): void => {
      const next = e.relatedTarget as Node | null;
      if (next !== null && !node.contains(next)) focusInside.current = false; // moved elsewhere on purpose
    };
    node.addEventListener('focusin', into);
    node.addEventListener('focusout', out);
    return () => {
      node.removeEventListener('focusin', into);
      node.removeEventListener('focusout', out);
    };
  }, []);
  useEffect(() => {
    if (!focusInside.current) return;
    requestAnimationFrame(() => {
      const active = document.activeElement;
      if (active !== null && active !== document.body && active.isConnected) return;
      box.current?.querySelector<HTMLElement>('.phone-body button:not([disabled]), .phone-body input')?.focus();
    });
  }, [current?.callId, current?.phase]);

  // "Telefona geç": open the phone and put the keyboard on its first control (Answer when it rings).
  const focusAsked = useRef(phoneFocus.get());
  useEffect(
    () =>
      phoneFocus.subscribe((n) => {
        if (n === focusAsked.current) return;
        focusAsked.current = n;
        setCollapsed(false);
        setUndocked(true);
        requestAnimationFrame(() => {
          const target = box.current?.querySelector<HTMLElement>('.phone-body button:not([disabled]), .phone-body input, .phone-body select');
          (target ?? box.current)?.focus();
        });
      }),
    [],
  );

  const saved = prefs?.phone_position ?? null;
  const position = floating ? (dragPos ?? (saved ? clamp(saved, box.current) : null)) : null;

  const run = async (action: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const persist = (pos: PhonePosition | null): void => {
    clearTimeout(saveTimer.current);
    saveTimer.current = setTimeout(() => {
      void savePhonePosition(pos)
        .then(() => setDragPos(null))
        .catch((e: unknown) => setError(e));
    }, 300);
  };

  const startPos = (): PhonePosition => {
    const rect = box.current?.getBoundingClientRect();
    return { x: rect?.left ?? 0, y: rect?.top ?? 0 };
  };

  const onPointerDown = (event: TargetedPointerEvent<HTMLButtonElement>): void => {
    if (!floating || event.button !== 0) return;
    const from = startPos();
    drag.current = { dx: event.clientX - from.x, dy: event.clientY - from.y };
    event.currentTarget.setPointerCapture(event.pointerId);
    event.preventDefault();
  };
  const onPointerMove = (event: TargetedPointerEvent<HTMLButtonElement>): void => {
    if (!drag.current) return;
    setDragPos(clamp({ x: event.clientX - drag.current.dx, y: event.clientY - drag.current.dy }, box.current));
  };
  const onPointerUp = (event: TargetedPointerEvent<HTMLButtonElement>): void => {
    if (!drag.current) return;
    drag.current = null;
    event.currentTarget.releasePointerCapture(event.pointerId);
    persist(clamp(dragPos ?? startPos(), box.current));
  };
  const onHandleKey = (event: TargetedKeyboardEvent<HTMLButtonElement>): void => {
    const moves: Record<string, [number, number]> = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const move = moves[event.key];
    if (!move || !floating) return;
    event.preventDefault();
    const step = event.shiftKey ? STEP * 4 : STEP;
    const from = position ?? startPos();
    const next = clamp({ x: from.x + move[0] * step, y: from.y + move[1] * step }, box.current);
    setDragPos(next);
    persist(next);
  };
  const putBack = (): void => {
    setDragPos(null);
    void run(() => savePhonePosition(null).then(() => undefined));
  };

  const style = position ? { left: `${position.x}px`, top: `${position.y}px`, right: 'auto', bottom: 'auto' } : undefined;
  const offline = !me || me.state === 'offline';
  // Docked: a panel is open where it cannot sit beside the phone; the phone shrinks to its head and a call strip
  // (hang up, timer) so the panel stays usable. Never while the agent's phone rings: Answer stays in reach.
  const ringsForAgent = current?.phase === 'dialling' || (current?.phase === 'ringing' && current.direction === 'inbound');
  const docked = floating && (crmPanel !== null || detailPanel !== null) && !ringsForAgent && !window.matchMedia(SIDE_BY_SIDE).matches;
  const small = docked ? !undocked : collapsed;
  const toggle = (): void => (docked ? setUndocked(!undocked) : setCollapsed(!collapsed));

  return (
    <section
      ref={box}
      id="phone"
      tabIndex={-1}
      class={`phone ${floating ? 'floating' : 'inline'} ${position ? 'placed' : ''} ${small ? 'collapsed' : ''} ${docked ? 'docked' : ''}`}
      style={style}
      aria-label={t('phone.title')}
      data-testid="phone"
      data-phase={current?.phase ?? 'idle'}
    >
      <header class="phone-head">
        {floating && (
          <button
            type="button"
            class="drag-handle"
            aria-label={t('phone.move')}
            title={t('phone.moveHint')}
            onPointerDown={onPointerDown}
            onPointerMove={onPointerMove}
            onPointerUp={onPointerUp}
            onKeyDown={onHandleKey}
          >
            <span aria-hidden="true">⠿</span>
          </button>
        )}
        <h2 class="phone-title">{t('phone.title')}</h2>
        <span class={`dot ${status.status}`} title={t(`phone.driver.${status.status}`)}>
          <span class="sr-only">{t(`phone.driver.${status.status}`)}</span>
        </span>
        {floating && (saved || dragPos) && (
          <button type="button" class="btn ghost small" onClick={putBack}>
            {t('phone.putBack')}
          </button>
        )}
        {floating && (
          <button type="button" class="btn ghost small" aria-expanded={!small} onClick={toggle}>
            {small ? t('phone.expand') : t('phone.collapse')}
          </button>
        )}
      </header>
      {small && current && <CallStrip view={current} busy={busy} run={run} />}
      {small && error ? (
        <p class="error phone-strip-error" role="alert">
          {errorText(error)}
        </p>
      ) : null}
      {!small && (
        <div class="phone-body">
          <LineState />
          {current ? (
            <CallPanel view={current} busy={busy} run={run} />
          ) : offline ? (
            <div class="phone-offline">
              <p>{t('phone.offline')}</p>
              <button type="button" class="btn primary" disabled={busy} onClick={() => void run(goOnline)}>
                {t('start.goOnline')}
              </button>
            </div>
          ) : (
            <Dialler
              callerIds={config?.caller_ids ?? []}
              defaultCallerId={prefs?.default_caller_id ?? null}
              pad={prefs?.dial_pad ?? false}
              canDial={me?.state === 'outbound'}
              busy={busy}
              run={run}
            />
          )}
          {!current && missed && (
            <p class="note" role="status">
              {t('phone.offerEnded', { outcome: tv('offer', missed) })}
            </p>
          )}
          {error ? (
            <p class="error" role="alert">
              {errorText(error)}
            </p>
          ) : null}
        </div>
      )}
    </section>
  );
}

function LineState(): JSX.Element | null {
  const me = useStore(agent);
  if (!me) return null;
  return (
    <p class="line-state">
      <span class={`state-badge s-${me.state}`}>{tv('state', me.state)}</span>
      <Since at={me.since} label={t('start.timeInState')} />
    </p>
  );
}

/** The call in one line under a small phone: the number, the timer or phase, and the one action it needs. */
function CallStrip({ view, busy, run }: { view: CallView; busy: boolean; run: (a: () => Promise<void>) => Promise<void> }): JSX.Element {
  const ringsForAgent = view.phase === 'dialling' || (view.phase === 'ringing' && view.direction === 'inbound');
  return (
    <div class={`phone-strip ${view.phase}`} data-testid="phone-strip">
      <span class="strip-number">{displayNumber(view.number) || t('phone.unknownNumber')}</span>
      {view.phase === 'connected' ? (
        <>
          {view.held && <span class="flag">{t('phone.onHold')}</span>}
          <Since at={view.connectedAt} label={t('phone.duration')} />
        </>
      ) : view.phase === 'ended' ? (
        <span data-testid="call-result">{tv('result', view.result ?? view.cause ?? 'ended')}</span>
      ) : (
        <span class="muted">{view.phase === 'ringing' && view.direction === 'inbound' ? t('phone.incoming') : t(`phone.phase.${view.phase}`)}</span>
      )}
      {view.phase === 'ended' ? (
        <button type="button" class="btn small" onClick={() => phone.dismiss()}>
          {t('common.ok')}
        </button>
      ) : ringsForAgent ? null : (
        <button type="button" class="btn danger small" disabled={busy} onClick={() => void run(() => phone.act('hangup'))}>
          {t('phone.hangup')}
        </button>
      )}
    </div>
  );
}

function CallPanel({ view, busy, run }: { view: CallView; busy: boolean; run: (a: () => Promise<void>) => Promise<void> }): JSX.Element {
  const number = displayNumber(view.number) || t('phone.unknownNumber');
  const ownRing = useStore(pageCalls).has(view.callId);
  // The agent's own phone rings for a call they started from a page: answer it and the customer is dialled.
  if (view.phase === 'dialling' && view.direction === 'outbound' && ownRing) {
    return (
      <div class="call ringing" role="alert" aria-live="assertive">
        <p class="call-kind">{t('phone.ownRing')}</p>
        <p class="call-number" data-testid="call-number">{number}</p>
        <div class="actions">
          <button type="button" class="btn answer" disabled={busy} onClick={() => void run(phone.answer)}>
            {t('phone.answer')}
          </button>
          <button type="button" class="btn danger" disabled={busy} onClick={() => void run(phone.reject)}>
            {t('phone.reject')}
          </button>
        </div>
      </div>
    );
  }
  if (view.phase === 'ringing' && view.direction === 'inbound') {
    return (
      <div class="call ringing" role="alert" aria-live="assertive">
        <p class="call-kind">{t('phone.incoming')}</p>
        <p class="call-number" data-testid="call-number">{number}</p>
        <RiskNotice number={view.number} />
        <dl class="call-facts">
          {view.queueName && (
            <>
              <dt>{t('phone.queue')}</dt>
              <dd data-testid="call-queue">{view.queueName}</dd>
            </>
          )}
          {view.did && (
            <>
              <dt>{t('phone.did')}</dt>
              <dd data-testid="call-did">{displayNumber(view.did)}</dd>
            </>
          )}
        </dl>
        <div class="actions">
          <button type="button" class="btn answer" disabled={busy} onClick={() => void run(phone.answer)}>
            {t('phone.answer')}
          </button>
          <button type="button" class="btn danger" disabled={busy} onClick={() => void run(phone.reject)}>
            {t('phone.reject')}
          </button>
        </div>
      </div>
    );
  }
  if (view.phase === 'ended') {
    return (
      <div class="call ended" role="status">
        <p class="call-kind">{t('phone.ended')}</p>
        <p class="call-number">{number}</p>
        <p data-testid="call-result">{tv('result', view.result ?? view.cause ?? 'ended')}</p>
        {view.cause && hasKey(`cause.${view.cause}`) && <p data-testid="call-cause">{tv('cause', view.cause)}</p>}
        <button type="button" class="btn" onClick={() => phone.dismiss()}>
          {t('common.ok')}
        </button>
      </div>
    );
  }
  const connected = view.phase === 'connected';
  return (
    <div class={`call ${view.phase}`}>
      <p class="call-kind" role="status">
        {connected ? (view.direction === 'inbound' ? t('phone.inCallInbound') : t('phone.inCallOutbound')) : t(`phone.phase.${view.phase}`)}
      </p>
      <p class="call-number" data-testid="call-number">{number}</p>
      <RiskNotice number={view.number} />
      <dl class="call-facts">
        {view.queueName && (
          <>
            <dt>{t('phone.queue')}</dt>
            <dd data-testid="call-queue">{view.queueName}</dd>
          </>
        )}
        {view.callerId && (
          <>
            <dt>{t('phone.callerId')}</dt>
            <dd>{displayNumber(view.callerId)}</dd>
          </>
        )}
        {connected && (
          <>
            <dt>{t('phone.duration')}</dt>
            <dd data-testid="call-timer">
              <Since at={view.connectedAt} label={t('phone.duration')} />
            </dd>
          </>
        )}
      </dl>
      {connected && (view.held || view.muted) && (
        <p class="call-flags" role="status">
          {view.held && <span class="flag">{t('phone.onHold')}</span>}
          {view.muted && <span class="flag">{t('phone.muted')}</span>}
        </p>
      )}
      <div class="actions">
        {connected && (
          <>
            <button type="button" class="btn" aria-pressed={view.muted} disabled={busy} onClick={() => void run(() => phone.act(view.muted ? 'unmute' : 'mute'))}>
              {view.muted ? t('phone.unmute') : t('phone.mute')}
            </button>
            <button type="button" class="btn" aria-pressed={view.held} disabled={busy} onClick={() => void run(() => phone.act(view.held ? 'unhold' : 'hold'))}>
              {view.held ? t('phone.unhold') : t('phone.hold')}
            </button>
          </>
        )}
        {view.number && (
          <button type="button" class="btn" data-testid="phone-crm" onClick={() => openCrm.set({ number: view.number, callId: view.callId, auto: false })}>
            {t('crm.open')}
          </button>
        )}
        <button type="button" class="btn danger" disabled={busy} onClick={() => void run(() => phone.act('hangup'))}>
          {t('phone.hangup')}
        </button>
      </div>
    </div>
  );
}

function Dialler(props: {
  callerIds: string[];
  defaultCallerId: string | null;
  pad: boolean;
  canDial: boolean;
  busy: boolean;
  run: (a: () => Promise<void>) => Promise<void>;
}): JSX.Element {
  const { callerIds, defaultCallerId, pad, canDial, busy, run } = props;
  const [number, setNumber] = useState('');
  const [callerId, setCallerId] = useState<string>('');
  const [problem, setProblem] = useState<Key | null>(null); // a key: shown in the language of the moment
  const chosen = callerId || (defaultCallerId && callerIds.includes(defaultCallerId) ? defaultCallerId : callerIds[0] ?? '');

  const submit = (event: Event): void => {
    event.preventDefault();
    const check = checkNumber(number);
    if (!check.ok) {
      setProblem(`phone.invalid.${check.reason}`);
      return;
    }
    setProblem(null);
    void run(() => phone.dial(check.e164, chosen || null));
  };

  return (
    <form class="dialler" onSubmit={submit} noValidate>
      {!canDial && <p class="note">{t('phone.needOutbound')}</p>}
      <label class="field">
        <span>{t('phone.callerId')}</span>
        <select value={chosen} onChange={(e) => setCallerId(e.currentTarget.value)} disabled={callerIds.length === 0}>
          {callerIds.length === 0 && <option value="">{t('phone.noCallerIds')}</option>}
          {callerIds.map((id) => (
            <option key={id} value={id}>
              {displayNumber(id)}
            </option>
          ))}
        </select>
      </label>
      <label class="field">
        <span>{t('phone.number')}</span>
        <input
          type="tel"
          inputMode="tel"
          autoComplete="off"
          value={number}
          readOnly={pad}
          placeholder={t('phone.numberPlaceholder')}
          aria-invalid={problem ? true : undefined}
          aria-describedby={problem ? 'dial-problem' : undefined}
          onInput={(e) => {
            setNumber(e.currentTarget.value);
            setProblem(null);
          }}
        />
      </label>
      {pad && (
        <div class="dialpad" role="group" aria-label={t('phone.dialpad')}>
          {KEYS.map((key) => (
            <button key={key} type="button" class="btn key" onClick={() => setNumber((n) => n + key)}>
              {key}
            </button>
          ))}
          <button type="button" class="btn key" onClick={() => setNumber((n) => (n ? n + ' ' : n))} aria-label={t('phone.space')}>
            ␣
          </button>
          <button type="button" class="btn key" onClick={() => setNumber((n) => `+${n.replace(/^\+/, '')}`)} aria-label={t('phone.plus')}>
            +
          </button>
          <button type="button" class="btn key" onClick={() => setNumber((n) => n.slice(0, -1))} aria-label={t('phone.backspace')}>
            ⌫
          </button>
        </div>
      )}
      {problem && (
        <p class="error" role="alert" id="dial-problem">
          {t(problem)}
        </p>
      )}
      <button type="submit" class="btn answer wide" disabled={busy}>
        {t('phone.call')}
      </button>
    </form>
  );
}
