import { keepPreviousData, useQuery } from '@tanstack/react-query';
import type { GroupDetail, GroupPage, LifecycleState, UserDetail, UserExposure, UserPage, UserTimeline } from '../../../../core/directory/schema.js';
import { api } from '../../lib/api.js';

/** The directory's reads (GET /portal/api/users…, /groups…), cached by react-query. */

export function useUsers(params: { search?: string | undefined; state?: LifecycleState | undefined; cursor?: string | undefined; limit: number }) {
  return useQuery({
    queryKey: ['directory', 'users', params],
    queryFn: ({ signal }) => api.get<UserPage>('/users', params, { signal }),
    placeholderData: keepPreviousData,
  });
}

export function useUser(id: string) {
  return useQuery({ queryKey: ['directory', 'user', id], queryFn: ({ signal }) => api.get<UserDetail>(`/users/${encodeURIComponent(id)}`, undefined, { signal }) });
}

/** The timeline refreshes while the identity workflow still has work queued, so its status stays live. */
export function useTimeline(id: string, enabled: boolean) {
  return useQuery({
    queryKey: ['directory', 'user', id, 'timeline'],
    queryFn: ({ signal }) => api.get<UserTimeline>(`/users/${encodeURIComponent(id)}/timeline`, undefined, { signal }),
    enabled,
    refetchInterval: (query) => {
      const live = query.state.data?.workflow.live;
      return live && live.pendingSeqs.length > 0 ? 2_000 : 10_000;
    },
  });
}

export function useExposure(id: string, enabled: boolean) {
  return useQuery({
    queryKey: ['directory', 'user', id, 'exposure'],
    queryFn: ({ signal }) => api.get<UserExposure>(`/users/${encodeURIComponent(id)}/exposure`, undefined, { signal }),
    enabled,
  });
}

export function useGroups(params: { search?: string | undefined; cursor?: string | undefined; limit: number }) {
  return useQuery({
    queryKey: ['directory', 'groups', params],
    queryFn: ({ signal }) => api.get<GroupPage>('/groups', params, { signal }),
    placeholderData: keepPreviousData,
  });
}

export function useGroup(id: string, params: { cursor?: string | undefined; limit: number }) {
  return useQuery({
    queryKey: ['directory', 'group', id, params],
    queryFn: ({ signal }) => api.get<GroupDetail>(`/groups/${encodeURIComponent(id)}`, params, { signal }),
    placeholderData: keepPreviousData,
  });
}
