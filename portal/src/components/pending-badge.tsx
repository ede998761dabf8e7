import { useQuery } from '@tanstack/react-query';
// Types only: zod stays out of the first-load bundle.
import type { PendingCounts } from '../../../core/approvals/schema.js';
import { api } from '../lib/api.js';

/** Same key as lib/approvals.ts `approvalKeys.counts` (kept here so the nav pulls no zod schema into the first load). */
export const pendingCountsKey = ['portal', 'approvals', 'counts'] as const;

/**
 * The nav's badge: how many requests wait for my decision. Polled every minute; a decision in the
 * portal refreshes it at once (it invalidates the approvals queries).
 */
export function PendingBadge() {
  const counts = useQuery({
    queryKey: pendingCountsKey,
    queryFn: ({ signal }) => api.get<PendingCounts>('/approvals/counts', undefined, { signal }),
    refetchInterval: 60_000,
    staleTime: 30_000,
    retry: false,
  });
  const waiting = counts.data?.waiting ?? 0;
  if (waiting === 0) return null;
  return (
    <span className="nav-badge" data-testid="pending-badge">
      {waiting > 99 ? '99+' : waiting}
      <span className="visually-hidden"> waiting for your decision</span>
    </span>
  );
}
