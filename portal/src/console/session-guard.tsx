import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, type ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router';
import { ErrorBanner, Spinner } from '../components/index.js';
import { consoleApi, isApiError } from '../lib/api.js';
import { fetchOperatorSession, OperatorContext, operatorSessionKey } from './session.js';

/** Everything below needs an operator session; 401 → /console/sign-in (and back via ?next=). */
export function RequireOperator({ children }: { children: ReactNode }) {
  const location = useLocation();
  const queryClient = useQueryClient();
  const session = useQuery({ queryKey: operatorSessionKey, queryFn: fetchOperatorSession, staleTime: 60_000, retry: false });
  useEffect(
    () =>
      consoleApi.onUnauthenticated((path) => {
        // Another call found the session gone: check the session once (its own 401 is the answer,
        // never a reason to ask again), and the guard then sends the person to sign-in.
        if (path === '/session' || queryClient.isFetching({ queryKey: operatorSessionKey }) > 0) return;
        void queryClient.invalidateQueries({ queryKey: operatorSessionKey });
      }),
    [queryClient],
  );
  if (session.isPending) {
    return (
      <div className="fullpage-center">
        <Spinner label="Opening the console…" />
      </div>
    );
  }
  if (session.isError) {
    if (isApiError(session.error) && session.error.status === 401) {
      const next = `${location.pathname}${location.search}`;
      return <Navigate to={next === '/console' || next === '/console/' ? '/console/sign-in' : `/console/sign-in?next=${encodeURIComponent(next)}`} replace />;
    }
    return (
      <main className="fullpage-center" id="main">
        <h1 className="visually-hidden">Roster console</h1>
        <ErrorBanner error={session.error} title="The console could not load your session" onRetry={() => void session.refetch()} />
      </main>
    );
  }
  return <OperatorContext.Provider value={session.data}>{children}</OperatorContext.Provider>;
}
