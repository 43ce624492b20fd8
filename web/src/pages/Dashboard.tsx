// Pano: the announcements meant for me now, pinned first then newest; live (a notice reloads the list), each one
// removed at its end time and the next one fetched at its start time by a timer of its own (no polling).
import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, clockOffsetMs } from '../api';
import { ErrorBox, Loading } from '../components/common';
import { formatDateTime } from '../format';
import { t } from '../i18n';
import { onLiveOpen, onNotice } from '../live';
import { Markup } from '../markup';
import type { ActiveAnnouncements, DashboardItem } from '../types';

const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout's limit (~24 days): a later change is caught on a later load

function serverNow(): number {
  return Date.now() + clockOffsetMs;
}

/** Run `action` at the server-clock instant `iso` (now if it has passed); returns the timer to clear. */
function at(iso: string, action: () => void): ReturnType<typeof setTimeout> | undefined {
  const delay = Date.parse(iso) - serverNow();
  if (Number.isNaN(delay) || delay > MAX_TIMER_MS) return undefined;
  return setTimeout(action, Math.max(0, delay));
}

export function Dashboard(): JSX.Element {
  const [board, setBoard] = useState<ActiveAnnouncements | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [rowError, setRowError] = useState<unknown>(null);

  const load = useCallback(() => {
    api
      .get<ActiveAnnouncements>('/announcements/active')
      .then((b) => {
        setBoard(b);
        setError(null);
      })
      .catch((e: unknown) => setError(e));
  }, []);

  useEffect(() => {
    load();
    const offNotice = onNotice((n) => {
      if (n.kind === 'announcement') load();
    });
    const offOpen = onLiveOpen(load);
    return () => {
      offNotice();
      offOpen();
    };
  }, [load]);

  useEffect(() => {
    if (!board) return;
    const timers = board.items
      .filter((a) => a.ends_at)
      .map((a) =>
        at(a.ends_at as string, () =>
          setBoard((b) => (b ? { ...b, items: b.items.filter((i) => i.announcement_id !== a.announcement_id) } : b)),
        ),
      );
    if (board.next_starts_at) timers.push(at(board.next_starts_at, load));
    return () => timers.forEach((timer) => clearTimeout(timer));
  }, [board, load]);

  const markRead = (item: DashboardItem): void => {
    setRowError(null);
    api
      .post<DashboardItem>(`/announcements/${item.announcement_id}/read`, {})
      .then((saved) =>
        setBoard((b) => (b ? { ...b, items: b.items.map((i) => (i.announcement_id === saved.announcement_id ? { ...i, read: true } : i)) } : b)),
      )
      .catch((e: unknown) => setRowError(e));
  };

  const unread = board?.items.filter((a) => !a.read).length ?? 0;
  return (
    <div class="page dashboard">
      <h1>{t('dashboard.title')}</h1>
      <ErrorBox error={error ?? rowError} />
      {!board && !error && <Loading />}
      {board && (
        <>
          <p class="muted" aria-live="polite" data-testid="unread-count">
            {board.items.length === 0 ? t('dashboard.empty') : t('dashboard.unread', { count: unread })}
          </p>
          <ul class="announcements" data-testid="announcements">
            {board.items.map((a) => (
              <li key={a.announcement_id}>
                <article
                  class={`card announcement ${a.pinned ? 'pinned' : ''} ${a.read ? 'read' : 'unread'}`}
                  data-testid="announcement"
                  data-id={a.announcement_id}
                  data-pinned={String(a.pinned)}
                  data-read={String(a.read)}
                  aria-labelledby={`ann-${a.announcement_id}`}
                >
                  <header class="announcement-head">
                    <h2 id={`ann-${a.announcement_id}`}>{a.title}</h2>
                    {a.pinned && <span class="badge pin">{t('dashboard.pinned')}</span>}
                    {!a.read && <span class="badge new">{t('dashboard.new')}</span>}
                  </header>
                  <p class="muted small">
                    {a.ends_at ? t('dashboard.window', { from: formatDateTime(a.starts_at), to: formatDateTime(a.ends_at) }) : t('dashboard.since', { from: formatDateTime(a.starts_at) })}
                  </p>
                  <Markup text={a.body} />
                  {a.read ? (
                    <p class="muted small">{t('dashboard.isRead')}</p>
                  ) : (
                    <button type="button" class="btn small" onClick={() => markRead(a)} aria-label={t('dashboard.markReadOf', { title: a.title })}>
                      {t('dashboard.markRead')}
                    </button>
                  )}
                </article>
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
