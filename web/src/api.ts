// The gateway's HTTP API: bearer token, JSON in and out, errors from problem+json (RFC 9457) as ApiError.
import { createStore } from './store';

export interface FieldError {
  field: string;
  message: string;
}

/** A refused request: HTTP status, the API's detail and the field at fault. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly field: string | null = null,
    readonly errors: FieldError[] = [],
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}

const TOKEN_KEY = 'nebula.token';

function storages(): Storage[] {
  const found: Storage[] = [];
  try {
    found.push(sessionStorage, localStorage);
  } catch {
    // storage blocked: the token lives in memory only
  }
  return found;
}

let memoryToken: string | null = null;

/** The access token: this tab's (sessionStorage), else a remembered one (localStorage). */
export function getToken(): string | null {
  if (memoryToken) return memoryToken;
  for (const storage of storages()) {
    const value = storage.getItem(TOKEN_KEY);
    if (value) {
      memoryToken = value;
      return value;
    }
  }
  return null;
}

/** Keep the token for this tab, or across browser restarts when `remember` is set. */
export function setToken(token: string, remember: boolean): void {
  clearToken();
  memoryToken = token;
  const [session, local] = storages();
  (remember ? local : session)?.setItem(TOKEN_KEY, token);
}

export function clearToken(): void {
  memoryToken = null;
  for (const storage of storages()) storage.removeItem(TOKEN_KEY);
}

/** Raised once per lost session (401 or a refused live socket): the app goes back to the login page. */
export const sessionExpired = createStore<number>(0);

/** Milliseconds to add to the browser's clock to get the server's (only when they differ noticeably). */
export let clockOffsetMs = 0;

function learnClock(response: Response): void {
  const header = response.headers.get('date');
  if (!header) return;
  const server = Date.parse(header);
  if (Number.isNaN(server)) return;
  const offset = server - Date.now();
  // The Date header has one-second resolution: only a real skew is worth correcting.
  clockOffsetMs = Math.abs(offset) > 2000 ? offset : 0;
}

export type Query = Record<string, string | number | boolean | null | undefined>;

function url(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== null && value !== undefined && value !== '') params.set(key, String(value));
  }
  const qs = params.toString();
  return `/api/v1${path}${qs ? `?${qs}` : ''}`;
}

async function problem(response: Response): Promise<ApiError> {
  let body: Record<string, unknown> = {};
  try {
    body = (await response.json()) as Record<string, unknown>;
  } catch {
    // not JSON (a proxy's error page): the status alone speaks
  }
  const detail = typeof body.detail === 'string' ? body.detail : response.statusText;
  const field = typeof body.field === 'string' ? body.field : null;
  const errors = Array.isArray(body.errors) ? (body.errors as FieldError[]) : [];
  return new ApiError(response.status, detail, field, errors);
}

/** One API call; resolves to the parsed JSON body (undefined for 204). */
export async function request<T>(
  method: string,
  path: string,
  options: { body?: unknown; query?: Query; auth?: boolean; headers?: Record<string, string> } = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  const token = getToken();
  if (options.auth !== false && token) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(url(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? null : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiError(0, 'network');
  }
  learnClock(response);
  if (!response.ok) {
    const error = await problem(response);
    if (response.status === 401 && options.auth !== false) {
      clearToken();
      sessionExpired.set((n) => n + 1);
    }
    throw error;
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const api = {
  get: <T>(path: string, query?: Query) => request<T>('GET', path, { query }),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, { body: body ?? {} }),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, { body }),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, { body }),
  del: (path: string) => request<void>('DELETE', path),
};
