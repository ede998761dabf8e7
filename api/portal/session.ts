import { parse as parseCookies, serialize, type SerializeOptions } from 'cookie';
import type { Request, RequestHandler, Response } from 'express';
import { resolvePortalSession, type PortalPrincipal } from '../../core/portal-auth/service.js';
import { csrfTokenFor } from '../../core/portal-auth/tokens.js';
import type { PortalDeps } from './deps.js';

export const PORTAL_COOKIE = 'roster_portal';
export const CONSOLE_COOKIE = 'roster_console';

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Secure, except for plain http on the loopback interface (development and tests). */
export function cookieIsSecure(publicUrl: string): boolean {
  const url = new URL(publicUrl);
  return !(url.protocol === 'http:' && LOCAL_HOSTS.has(url.hostname));
}

export function sessionCookie(name: string, path: string, publicUrl: string, token: string, maxAgeSeconds: number): string {
  const options: SerializeOptions = { httpOnly: true, sameSite: 'lax', path, secure: cookieIsSecure(publicUrl), maxAge: maxAgeSeconds };
  return serialize(name, token, options);
}

export function clearedCookie(name: string, path: string, publicUrl: string): string {
  return serialize(name, '', { httpOnly: true, sameSite: 'lax', path, secure: cookieIsSecure(publicUrl), maxAge: 0, expires: new Date(0) });
}

export function cookieValue(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  const value = parseCookies(header)[name];
  return value && value.length <= 200 ? value : undefined;
}

/**
 * Same-origin check for requests that carry no CSRF token (sign-in, setup completion): an Origin
 * header, when the browser sends one, must be our public origin or the origin the request was
 * addressed to.
 */
export function isSameOrigin(req: Request, publicUrl: string): boolean {
  const origin = req.get('origin');
  if (origin === undefined) return true;
  if (origin === new URL(publicUrl).origin) return true;
  const host = req.get('host');
  return host !== undefined && origin === `${req.protocol}://${host}`;
}

export interface PortalSession {
  principal: PortalPrincipal;
  token: string;
  csrfToken: string;
  /** Served from this process's cache: re-checked by the route before it acts (api/portal/route.ts). */
  fromCache: boolean;
}

export function portalSessionOf(res: Response): PortalSession | undefined {
  return res.locals.portalSession as PortalSession | undefined;
}

async function uncached(deps: PortalDeps, token: string) {
  const principal = await resolvePortalSession(deps.db, deps.config, token);
  return principal ? { principal, fromCache: false } : null;
}

/** Resolves the `roster_portal` cookie (if any) into the request's principal. */
export function portalSessionMiddleware(deps: PortalDeps): RequestHandler {
  return async (req, res, next) => {
    const token = cookieValue(req, PORTAL_COOKIE);
    if (token) {
      const resolved = deps.sessions ? await deps.sessions.resolve(token) : await uncached(deps, token);
      if (resolved) res.locals.portalSession = { ...resolved, token, csrfToken: csrfTokenFor(deps.secretKey, 'portal', token) } satisfies PortalSession;
    }
    next();
  };
}
