import { createContext, useContext } from 'react';
import type { OperatorSessionResponse } from '../../../core/portal-auth/schema.js';
import { consoleApi } from '../lib/api.js';

/** GET /console/api/session (core/portal-auth/schema.ts OperatorSessionResponse). */
export type OperatorSession = OperatorSessionResponse;
export type Operator = OperatorSession['operator'];

export const operatorSessionKey = ['console', 'session'] as const;

/** GET /console/api/session; keeps the console's own CSRF token (never the portal's). */
export async function fetchOperatorSession(): Promise<OperatorSession> {
  const session = await consoleApi.get<OperatorSession>('/session');
  consoleApi.setCsrfToken(session.csrfToken);
  return session;
}

export const OperatorContext = createContext<OperatorSession | null>(null);

/** The signed-in operator (below the console's session guard). */
export function useOperator(): OperatorSession {
  const session = useContext(OperatorContext);
  if (!session) throw new Error('useOperator() used outside the signed-in console');
  return session;
}
