import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { SubmittedChange } from '../../../../core/approvals/schema.js';
import type { DomainView, RequestClaimBody } from '../../../../core/domains/schema.js';
import { api } from '../../lib/api.js';

export function useDomains() {
  return useQuery({
    queryKey: ['domains'],
    queryFn: ({ signal }) => api.get<{ domains: DomainView[] }>('/domains', undefined, { signal }),
    // A pending claim verifies in the background: keep its state fresh while one is shown.
    refetchInterval: (query) => (query.state.data?.domains.some((d) => d.state === 'pending') ? 15_000 : false),
  });
}

/** Claiming is a change request: the answer is the request (pending approval, or applied at once). */
export function useRequestClaim() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: RequestClaimBody) => api.post<SubmittedChange>('/domains', body),
    onSuccess: () => Promise.all([client.invalidateQueries({ queryKey: ['domains'] }), client.invalidateQueries({ queryKey: ['approvals'] })]),
  });
}

export function useRequestRemoval() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: { id: string; reason?: string }) => api.del<SubmittedChange>(`/domains/${encodeURIComponent(input.id)}`, input.reason ? { reason: input.reason } : {}),
    onSuccess: () => Promise.all([client.invalidateQueries({ queryKey: ['domains'] }), client.invalidateQueries({ queryKey: ['approvals'] })]),
  });
}
