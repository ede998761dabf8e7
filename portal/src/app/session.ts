import { createContext, useContext } from 'react';
// Types only: zod itself stays out of the first-load bundle.
import type { PortalRole, SessionResponse, SessionUser } from '../../../core/portal-auth/schema.js';
import { api } from '../lib/api.js';

export type { PortalRole, SessionUser };
/** The portal roles, in the order pages list them (core/portal-auth/schema.ts PortalRole). */
export const portalRoles: readonly PortalRole[] = ['admin', 'approver', 'reviewer', 'auditor'];

export const roleLabels: Record<PortalRole, { label: string; description: string }> = {
  admin: { label: 'Admin', description: 'Manages connections, settings, role mappings and members.' },
  approver: { label: 'Approver', description: 'Decides access requests.' },
  reviewer: { label: 'Reviewer', description: 'Reviews access in recertification campaigns.' },
  auditor: { label: 'Auditor', description: 'Reads everything, changes nothing.' },
};

/** GET /portal/api/session: the signed-in user and the CSRF token for state-changing requests. */
export type Session = SessionResponse;

export const sessionQueryKey = ['portal', 'session'] as const;

/** GET /portal/api/session; remembers the CSRF token for every later state-changing request. */
export async function fetchSession(): Promise<Session> {
  const session = await api.get<Session>('/session');
  api.setCsrfToken(session.csrfToken);
  return session;
}

export const SessionContext = createContext<Session | null>(null);

/** The signed-in user. Only valid below the session guard (every page of the portal layout). */
export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession() used outside the signed-in portal');
  return session;
}

/** True when the user holds any of `roles` (UI only: the API checks every request itself). */
export function hasAnyRole(user: Pick<SessionUser, 'roles'>, roles: readonly PortalRole[]): boolean {
  return roles.some((role) => user.roles.includes(role));
}

/** Remembered tenant slug for the sign-in form (set after setup and after each sign-in). */
export const TENANT_STORAGE_KEY = 'roster.tenant';
export function rememberTenant(slug: string): void {
  try {
    localStorage.setItem(TENANT_STORAGE_KEY, slug);
  } catch {
    // Private windows may refuse storage; the form then just starts empty.
  }
}
export function rememberedTenant(): string {
  try {
    return localStorage.getItem(TENANT_STORAGE_KEY) ?? '';
  } catch {
    return '';
  }
}
