import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, type ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router';
import { ErrorBanner, Spinner } from '../components/index.js';
import { api, isApiError } from '../lib/api.js';
import { fetchSession, SessionContext, sessionQueryKey } from './session.js';

/**
 * Everything below needs a portal session: GET /portal/api/session, and on 401 the sign-in page
 * (which returns here afterwards through ?next=). Any later 401 from any call drops the cached
 * session, which brings the person back to sign-in the same way.
 */
export function RequireSession({ children }: { children: ReactNode }) {
  const location = useLocation();
  const queryClient = useQueryClient();
  const session = useQuery({ queryKey: sessionQueryKey, queryFn: fetchSession, staleTime: 60_000, retry: false });

  useEffect(
    () =>
      api.onUnauthenticated((path) => {
        // Another call found the session gone: check the session once (its own 401 is the answer,
        // never a reason to ask again), and the guard then sends the person to sign-in.
        if (path === '/session' || queryClient.isFetching({ queryKey: sessionQueryKey }) > 0) return;
        void queryClient.invalidateQueries({ queryKey: sessionQueryKey });
      }),
    [queryClient],
  );

  if (session.isPending) {
    return (
      <div className="fullpage-center">
        <Spinner label="Opening the portal…" />
      </div>
    );
  }
  if (session.isError) {
    if (isApiError(session.error) && session.error.status === 401) {
      const next = `${location.pathname}${location.search}`;
      // A session that was there a moment ago has ended (idle timeout, revoked elsewhere): say so.
      const expired = session.data !== undefined;
      return <Navigate to={next === '/' ? '/sign-in' : `/sign-in?next=${encodeURIComponent(next)}`} replace state={expired ? { expired: true } : undefined} />;
    }
    return (
      <main className="fullpage-center" id="main">
        <h1 className="visually-hidden">Roster</h1>
        <ErrorBanner error={session.error} title="The portal could not load your session" onRetry={() => void session.refetch()} />
      </main>
    );
  }
  return <SessionContext.Provider value={session.data}>{children}</SessionContext.Provider>;
}

/** A `next` target that stays inside the portal (never an absolute or protocol-relative URL). */
export function safeNext(next: string | null, fallback = '/'): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return fallback;
  return next;
}
