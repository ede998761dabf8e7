import { useQuery } from '@tanstack/react-query';
// Types only: zod stays out of the first-load bundle.
import type { CampaignPage } from '../../../core/campaigns/schema.js';
import { api } from '../lib/api.js';

/**
 * Under the access-review queries' key (features/campaigns/api.ts), so a decision made in the
 * portal refreshes it at once.
 */
export const reviewsBadgeKey = ['portal', 'campaigns', 'badge'] as const;

/**
 * The nav's badge for access reviews: items waiting for my decision in open campaigns (the first
 * page of open campaigns: few run at once). Polled every minute; renders nothing at zero.
 */
export function ReviewsBadge() {
  const open = useQuery({
    queryKey: reviewsBadgeKey,
    queryFn: ({ signal }) => api.get<CampaignPage>('/campaigns', { state: 'open', limit: 100 }, { signal }),
    refetchInterval: 60_000,
    staleTime: 30_000,
    retry: false,
  });
  const waiting = open.data?.data.reduce((sum, c) => sum + c.mine, 0) ?? 0;
  if (waiting === 0) return null;
  return (
    <span className="nav-badge" data-testid="reviews-badge">
      {waiting > 99 ? '99+' : waiting}
      <span className="visually-hidden"> access reviews waiting for you</span>
    </span>
  );
}
