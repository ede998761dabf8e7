import { createContext, useContext } from 'react';
import { consoleApi } from '../lib/api.js';

export interface Operator {
  id: string;
  email: string;
}
export interface OperatorSession {
  operator: Operator;
  csrfToken: string;
}

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
