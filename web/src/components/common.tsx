// Small building blocks shared by the pages: refusals shown, scrollable tables, paging, dialogs, durations.
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useId, useRef } from 'preact/hooks';
import { clockOffsetMs } from '../api';
import { formatDuration, secondsSince } from '../format';
import { t } from '../i18n';
import { refusal } from '../refusals';
import { useNow } from '../store';

/** A refused request or a failure, in the user's language (the API's English detail, if any, small below). */
export function ErrorBox({ error, id }: { error: unknown; id?: string }): JSX.Element | null {
  if (!error) return null;
  const { text, detail } = refusal(error);
  return (
    <p class="error" role="alert" id={id}>
      {text}
      {detail && (
        <small class="error-detail" lang="en">
          {detail}
        </small>
      )}
    </p>
  );
}

/** A table that scrolls sideways on narrow screens (focusable, so keyboard users can scroll it too). */
export function TableWrap({ label, children }: { label: string; children: ComponentChildren }): JSX.Element {
  return (
    <div class="table-wrap" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}

export function Pager({ page, pageSize, total, onPage }: { page: number; pageSize: number; total: number; onPage: (p: number) => void }): JSX.Element | null {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return (
    <nav class="pager" aria-label={t('pager.label')}>
      <button type="button" class="btn" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        {t('pager.previous')}
      </button>
      <span aria-live="polite">{t('pager.status', { page, pages, total })}</span>
      <button type="button" class="btn" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        {t('pager.next')}
      </button>
    </nav>
  );
}

/** A running timer from an instant (server clock corrected), re-rendered every second. */
export function Since({ at, label }: { at: string | null | undefined; label?: string }): JSX.Element {
  const now = useNow() + clockOffsetMs;
  const text = formatDuration(secondsSince(at, now));
  return (
    <span class="timer" role="timer" aria-label={label} aria-live="off">
      {text}
    </span>
  );
}

/**
 * A dialog (native <dialog>). Modal by default (focus trap, Escape, backdrop); a non-modal one is a panel that
 * leaves the rest of the page usable (the phone during a call), closes on Escape, and takes the focus only when
 * `focus` is set (opened by the user, not by an event).
 */
export function Dialog(props: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  wide?: boolean;
  modal?: boolean;
  focus?: boolean;
}): JSX.Element {
  const { title, onClose, children, wide, modal = true, focus = true } = props;
  const ref = useRef<HTMLDialogElement>(null);
  const closeButton = useRef<HTMLButtonElement>(null);
  const titleId = useId(); // two panels may be open at once (the CRM and a call's detail)
  // Closed because it is unmounted (e.g. after a logout): not the user closing it.
  const unmounted = useRef(false);
  const closed = (): void => {
    if (!unmounted.current) onClose();
  };
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog || dialog.open) return;
    unmounted.current = false;
    if (modal) {
      dialog.showModal();
      return () => {
        unmounted.current = true;
        dialog.close();
      };
    }
    const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    dialog.setAttribute('open', ''); // open without the dialog focusing steps: focus moves only when asked
    if (focus) closeButton.current?.focus();
    return () => {
      const inside = dialog.contains(document.activeElement);
      unmounted.current = true;
      dialog.close();
      if (inside && before?.isConnected) before.focus();
    };
  }, []);
  const onKeyDown = (event: KeyboardEvent): void => {
    if (!modal && event.key === 'Escape') {
      event.preventDefault();
      onClose();
    }
  };
  const classes = ['dialog', wide ? 'wide' : '', modal ? '' : 'panel'].filter(Boolean).join(' ');
  return (
    <dialog ref={ref} class={classes} aria-labelledby={titleId} onClose={closed} onKeyDown={onKeyDown}>
      <header class="dialog-head">
        <h2 id={titleId}>{title}</h2>
        <button ref={closeButton} type="button" class="btn ghost" onClick={onClose}>
          {t('common.close')}
        </button>
      </header>
      {children}
    </dialog>
  );
}

/** Loading / empty markers for lists. */
export function Loading(): JSX.Element {
  return (
    <p class="muted" role="status">
      {t('common.loading')}
    </p>
  );
}
