import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { GroupChoicePage, RoleChangePreview, RoleChangeResult, RoleMappingOverview } from '../../../../core/entitlements/schema.js';
import { api } from '../../lib/api.js';
import { approvalKeys, type Submitted } from '../../lib/approvals.js';

export const roleMappingKeys = {
  all: ['role-mappings'] as const,
  overview: ['role-mappings', 'overview'] as const,
  groups: (search: string, cursor: string | null) => ['role-mappings', 'groups', search, cursor] as const,
};

export function useRoleMappings() {
  return useQuery({ queryKey: roleMappingKeys.overview, queryFn: ({ signal }) => api.get<RoleMappingOverview>('/role-mappings', undefined, { signal }) });
}

export function useGroupSearch(search: string, cursor: string | null, enabled: boolean) {
  return useQuery({
    queryKey: roleMappingKeys.groups(search, cursor),
    queryFn: ({ signal }) => api.get<GroupChoicePage>('/role-mappings/groups', { search, cursor, limit: 10 }, { signal }),
    placeholderData: keepPreviousData,
    enabled,
  });
}

/** What is being changed: a group's roles, or the default role. */
export type PendingChange = { kind: 'group'; groupId: string; groupName: string; roles: string[] } | { kind: 'default'; role: string | null };

export function previewChange(change: PendingChange): Promise<RoleChangePreview> {
  return change.kind === 'group'
    ? api.post<RoleChangePreview>('/role-mappings/preview', { groupId: change.groupId, roles: change.roles })
    : api.post<RoleChangePreview>('/default-role/preview', { role: change.role });
}

export function useSaveChange() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ change, fingerprint }: { change: PendingChange; fingerprint: string }) =>
      change.kind === 'group'
        ? api.put<Submitted<RoleChangeResult>>(`/role-mappings/${encodeURIComponent(change.groupId)}`, { roles: change.roles, fingerprint })
        : api.put<Submitted<RoleChangeResult>>('/default-role', { role: change.role, fingerprint }),
    onSuccess: async () => {
      await Promise.all([queryClient.invalidateQueries({ queryKey: roleMappingKeys.all }), queryClient.invalidateQueries({ queryKey: approvalKeys.all })]);
    },
  });
}
