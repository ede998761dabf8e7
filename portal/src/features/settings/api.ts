import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { HeldLeaver, ReleaseResult, TenantSettings, UpdateTenantSettingsBody } from '../../../../core/tenants/schema.js';
import type { CreateWebhookBody, WebhookEndpointView, WebhookWithSecret } from '../../../../core/webhooks/schema.js';
import { api } from '../../lib/api.js';
import { approvalKeys, type Submitted } from '../../lib/approvals.js';

const keys = {
  settings: ['portal', 'settings'] as const,
  held: ['portal', 'settings', 'held-leavers'] as const,
  webhooks: ['portal', 'settings', 'webhooks'] as const,
};

export const useTenantSettings = () => useQuery({ queryKey: keys.settings, queryFn: () => api.get<TenantSettings>('/settings') });
export const useHeldLeavers = () => useQuery({ queryKey: keys.held, queryFn: () => api.get<{ data: HeldLeaver[] }>('/settings/held-leavers') });
export const useWebhooks = () => useQuery({ queryKey: keys.webhooks, queryFn: () => api.get<{ data: WebhookEndpointView[] }>('/settings/webhooks') });

function useRefreshing<TVars, TResult>(key: readonly string[], fn: (vars: TVars) => Promise<TResult>) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: fn,
    onSuccess: async () => {
      await Promise.all([client.invalidateQueries({ queryKey: key }), client.invalidateQueries({ queryKey: approvalKeys.all })]);
    },
  });
}

export const useUpdateSettings = () => {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: UpdateTenantSettingsBody) => api.patch<TenantSettings>('/settings', body),
    onSuccess: (settings) => client.setQueryData(keys.settings, settings),
  });
};
export const useReleaseHeld = () => useRefreshing(keys.held, (body: { userId?: string }) => api.post<Submitted<ReleaseResult>>('/settings/held-leavers/release', body));
export const useCreateWebhook = () => useRefreshing(keys.webhooks, (body: CreateWebhookBody) => api.post<Submitted<WebhookWithSecret>>('/settings/webhooks', body));
export const useRotateWebhook = () =>
  useRefreshing(keys.webhooks, ({ id, overlapSeconds }: { id: string; overlapSeconds: number }) => api.post<Submitted<WebhookWithSecret>>(`/settings/webhooks/${id}/rotate`, { overlapSeconds }));
export const useDeleteWebhook = () => useRefreshing(keys.webhooks, ({ id }: { id: string }) => api.del<Submitted<object> | undefined>(`/settings/webhooks/${id}`));
