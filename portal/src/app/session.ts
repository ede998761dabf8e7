import { createContext, useContext } from 'react';
import { api } from '../lib/api.js';

/** The portal roles (same names as core/portal-auth/schema.ts PortalRole). */
export type PortalRole = 'admin' | 'approver' | 'reviewer' | 'auditor';
export const portalRoles: readonly PortalRole[] = ['admin', 'approver', 'reviewer', 'auditor'];

export const roleLabels: Record<PortalRole, { label: string; description: string }> = {
  admin: { label: 'Admin', description: 'Manages connections, settings, role mappings and members.' },
  approver: { label: 'Approver', description: 'Decides access requests.' },
  reviewer: { label: 'Reviewer', description: 'Reviews access in recertification campaigns.' },
  auditor: { label: 'Auditor', description: 'Reads everything, changes nothing.' },
};

export interface SessionUser {
  id: string;
  email: string;
  displayName?: string | null;
  roles: PortalRole[];
  tenant: { slug: string; name: string };
}

export interface Session {
  user: SessionUser;
  csrfToken: string;
}

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
