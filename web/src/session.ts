// Who is logged in: token, identity, tenant (time zone). Login and logout wire the live socket and the stores.
import { api, clearToken, getToken, request, sessionExpired, setToken } from './api';
import { timeZone } from './format';
import { connectLive, disconnectLive } from './live';
import { createStore } from './store';
import type { Me, Tenant, TokenResponse } from './types';

export interface Session {
  me: Me;
  tenant: Tenant | null;
}

/** null: logged out; undefined: still finding out (a token is being checked). */
export const session = createStore<Session | null | undefined>(getToken() ? undefined : null);

/** Why the user is on the login page (a lost session tells them so). */
export const loginReason = createStore<'expired' | null>(null);

const hooks: { start: ((s: Session) => void)[]; stop: (() => void)[] } = { start: [], stop: [] };

/** Run `start` when a session begins (login or reload) and `stop` when it ends. */
export function onSession(start: (s: Session) => void, stop: () => void): void {
  hooks.start.push(start);
  hooks.stop.push(stop);
}

async function begin(): Promise<void> {
  // The tenant only brings the time zone: a failure there falls back to the default, nothing else needs it.
  const [me, tenant] = await Promise.all([
    api.get<Me>('/auth/me'),
    api.get<Tenant>('/tenant').catch(() => null),
  ]);
  if (tenant?.time_zone) timeZone.set(tenant.time_zone);
  const current = { me, tenant };
  session.set(current);
  connectLive();
  for (const start of hooks.start) start(current);
}

/** Log in; throws ApiError with the API's problem (wrong password, rate limit, invalid tenant). */
export async function login(tenant: string, username: string, password: string, remember: boolean): Promise<void> {
  const token = await request<TokenResponse>('POST', '/auth/login', {
    body: { tenant: tenant.trim().toLowerCase(), username: username.trim(), password },
    auth: false,
  });
  setToken(token.access_token, remember);
  loginReason.set(null);
  await begin();
}

function end(): void {
  disconnectLive();
  for (const stop of hooks.stop) stop();
  clearToken();
  session.set(null);
}

export function logout(): void {
  end();
}

/** Why a kept session could not be resumed (the gateway unreachable...): the app offers to try again. */
export const resumeError = createStore<unknown>(null);

/** On start: resume the session of a kept token (or show the login page). */
export async function resume(): Promise<void> {
  if (!getToken()) {
    session.set(null);
    return;
  }
  resumeError.set(null);
  try {
    await begin();
  } catch (error) {
    // A refused token has already ended the session (401); anything else keeps it for another try.
    if (session.get() === undefined && getToken()) resumeError.set(error);
  }
}

sessionExpired.subscribe(() => {
  // A session in use, or a kept token being resumed (undefined), was refused: say so on the login page.
  if (session.get() !== null) loginReason.set('expired');
  end();
});
