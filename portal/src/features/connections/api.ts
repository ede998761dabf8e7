import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ConnectionsPage, CreateConnectionBody, CreatedConnection, RotatedToken, ScimTokenView } from '../../../../core/connections/schema.js';
import { api } from '../../lib/api.js';
import { approvalKeys, type Submitted } from '../../lib/approvals.js';

/**
 * Server state of the connections page: one query, mutations refresh it. Every change may wait for
 * approvers (202 `{ changeRequest }`) or apply at once under the tenant's policy.
 */
export const connectionsKey = ['portal', 'connections'] as const;

export function useConnections() {
  return useQuery({ queryKey: connectionsKey, queryFn: () => api.get<ConnectionsPage>('/connections') });
}

function useRefreshing<TVars, TResult>(fn: (vars: TVars) => Promise<TResult>) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: fn,
    onSuccess: async () => {
      await Promise.all([client.invalidateQueries({ queryKey: connectionsKey }), client.invalidateQueries({ queryKey: approvalKeys.all })]);
    },
  });
}

export const useCreateConnection = () => useRefreshing((body: CreateConnectionBody) => api.post<Submitted<CreatedConnection>>('/connections', body));

export const useRotateToken = () =>
  useRefreshing(({ connectionId, overlapSeconds }: { connectionId: string; overlapSeconds: number }) =>
    api.post<Submitted<RotatedToken>>(`/connections/${connectionId}/rotate`, { overlapSeconds }),
  );

export const useRevokeToken = () =>
  useRefreshing(({ connectionId, tokenId }: { connectionId: string; tokenId: string }) => api.del<Submitted<ScimTokenView>>(`/connections/${connectionId}/tokens/${tokenId}`));

export const useRevokeConnection = () => useRefreshing(({ connectionId }: { connectionId: string }) => api.del<Submitted<object> | undefined>(`/connections/${connectionId}`));
