import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { SubmittedChange } from '../../../../core/approvals/schema.js';
import type { DomainView } from '../../../../core/domains/schema.js';
import type { RequestSsoCreateBody, SsoConnectionView, UpdateSsoConnectionBody } from '../../../../core/sso/schema.js';
import { api } from '../../lib/api.js';

export function useSsoConnections() {
  return useQuery({
    queryKey: ['sso-connections'],
    queryFn: ({ signal }) => api.get<{ connections: SsoConnectionView[] }>('/sso-connections', undefined, { signal }),
  });
}

/** The tenant's verified domains: the ones a connection may allow. */
export function useVerifiedDomains() {
  return useQuery({
    queryKey: ['domains'],
    queryFn: ({ signal }) => api.get<{ domains: DomainView[] }>('/domains', undefined, { signal }),
    select: (data) => data.domains.filter((d) => d.state === 'verified').map((d) => d.name),
  });
}

function useChange<I>(send: (input: I) => Promise<SubmittedChange>) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: send,
    onSuccess: () => Promise.all([client.invalidateQueries({ queryKey: ['sso-connections'] }), client.invalidateQueries({ queryKey: ['approvals'] })]),
  });
}

/** Each change is a request for approval (privileged: two approvers by default). */
export const useRequestCreate = () => useChange((body: RequestSsoCreateBody) => api.post<SubmittedChange>('/sso-connections', body));
export const useRequestUpdate = () =>
  useChange((input: { id: string; changes: UpdateSsoConnectionBody & { reason?: string } }) => api.patch<SubmittedChange>(`/sso-connections/${encodeURIComponent(input.id)}`, input.changes));
export const useRequestDelete = () => useChange((input: { id: string }) => api.del<SubmittedChange>(`/sso-connections/${encodeURIComponent(input.id)}`, {}));
