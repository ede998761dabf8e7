import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { CreateTenantBody, IssueSetupLinkBody, SetupLink, Tenant, TenantDetail, TenantList } from '../../../../../core/fleet/schema.js';
import { consoleApi } from '../../../lib/api.js';

// Server state of the tenants pages, in the console's query cache (keys under 'console', which
// the console layout clears on sign-out).

const keys = {
  all: ['console', 'tenants'] as const,
  one: (id: string) => ['console', 'tenants', id] as const,
};

export function useTenants() {
  return useQuery({ queryKey: keys.all, queryFn: () => consoleApi.get<TenantList>('/tenants'), refetchInterval: 30_000 });
}

export function useTenant(id: string) {
  return useQuery({ queryKey: keys.one(id), queryFn: () => consoleApi.get<TenantDetail>(`/tenants/${encodeURIComponent(id)}`), refetchInterval: 30_000 });
}

export function useCreateTenant() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: CreateTenantBody) => consoleApi.post<Tenant>('/tenants', body),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all }),
  });
}

/** The link comes back once; it is kept only in the page's state, never in the query cache. */
export function useIssueSetupLink(tenantId: string) {
  return useMutation({
    mutationFn: (body: IssueSetupLinkBody) => consoleApi.post<SetupLink>(`/tenants/${encodeURIComponent(tenantId)}/setup-links`, body),
  });
}
