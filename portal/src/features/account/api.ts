import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { AccountSession } from '../../../../core/portal-auth/schema.js';
import { sessionQueryKey } from '../../app/session.js';
import { api } from '../../lib/api.js';

const sessionsKey = ['portal', 'account', 'sessions'] as const;

export function useAccountSessions() {
  return useQuery({ queryKey: sessionsKey, queryFn: () => api.get<{ sessions: AccountSession[] }>('/account/sessions') });
}

export function useRevokeSession() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => api.del(`/account/sessions/${encodeURIComponent(id)}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: sessionsKey }),
  });
}

export function useTotpEnroll() {
  return useMutation({ mutationFn: () => api.post<{ secret: string; otpauthUri: string }>('/account/totp/enroll', {}) });
}

export function useTotpConfirm() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (code: string) => api.post<{ recoveryCodes: string[] }>('/account/totp/confirm', { code }),
    // The session says whether two-step sign-in is on.
    onSuccess: () => queryClient.invalidateQueries({ queryKey: sessionQueryKey }),
  });
}

export function useTotpDisable() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (code: string) => api.del('/account/totp', { code }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: sessionQueryKey }),
  });
}
