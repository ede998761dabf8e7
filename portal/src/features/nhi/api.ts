import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type {
  OAuthGrantPage,
  OrphanPage,
  ReassignResult,
  RevokeResult,
  ServiceAccountPage,
  TokenPage,
  UserPage,
} from '../../../../core/directory/schema.js';
import { api } from '../../lib/api.js';

export type NhiList = 'service-accounts' | 'tokens' | 'oauth-grants' | 'orphans';
type PageOf = { 'service-accounts': ServiceAccountPage; tokens: TokenPage; 'oauth-grants': OAuthGrantPage; orphans: OrphanPage };

export function useNhiList<L extends NhiList>(list: L, params: Record<string, string | number | undefined>) {
  return useQuery({
    queryKey: ['nhi', list, params],
    queryFn: ({ signal }) => api.get<PageOf[L]>(`/${list}`, params, { signal }),
    placeholderData: keepPreviousData,
  });
}

/** POST /{service-accounts|tokens|oauth-grants}/:id/revoke; refreshes every non-human list. */
export function useRevoke(list: Exclude<NhiList, 'orphans'>) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => api.post<RevokeResult>(`/${list}/${encodeURIComponent(id)}/revoke`),
    onSuccess: () => client.invalidateQueries({ queryKey: ['nhi'] }),
  });
}

export function useReassign() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: { id: string; ownerUserId: string }) => api.post<ReassignResult>(`/orphans/${encodeURIComponent(input.id)}/reassign`, { ownerUserId: input.ownerUserId }),
    onSuccess: () => Promise.all([client.invalidateQueries({ queryKey: ['nhi'] }), client.invalidateQueries({ queryKey: ['overview'] })]),
  });
}

/** Candidate new owners: a user search (the directory API), first page only. */
export function useOwnerSearch(search: string) {
  return useQuery({
    queryKey: ['nhi', 'owner-search', search],
    queryFn: ({ signal }) => api.get<UserPage>('/users', { search, limit: 10 }, { signal }),
    enabled: [...search].length >= 3,
  });
}
