import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ConnectionsPage, CreateConnectionBody, CreatedConnection, RotatedToken, ScimTokenView } from '../../../../core/connections/schema.js';
import { api } from '../../lib/api.js';

/** Server state of the connections page: one query, mutations refresh it. */
export const connectionsKey = ['portal', 'connections'] as const;

export function useConnections() {
  return useQuery({ queryKey: connectionsKey, queryFn: () => api.get<ConnectionsPage>('/connections') });
}

function useRefreshing<TVars, TResult>(fn: (vars: TVars) => Promise<TResult>) {
  const client = useQueryClient();
  return useMutation({ mutationFn: fn, onSuccess: () => client.invalidateQueries({ queryKey: connectionsKey }) });
}

export const useCreateConnection = () => useRefreshing((body: CreateConnectionBody) => api.post<CreatedConnection>('/connections', body));

export const useRotateToken = () =>
  useRefreshing(({ connectionId, overlapSeconds }: { connectionId: string; overlapSeconds: number }) =>
    api.post<RotatedToken>(`/connections/${connectionId}/rotate`, { overlapSeconds }),
  );

export const useRevokeToken = () =>
  useRefreshing(({ connectionId, tokenId }: { connectionId: string; tokenId: string }) => api.del<ScimTokenView>(`/connections/${connectionId}/tokens/${tokenId}`));

export const useRevokeConnection = () => useRefreshing(({ connectionId }: { connectionId: string }) => api.del(`/connections/${connectionId}`));
