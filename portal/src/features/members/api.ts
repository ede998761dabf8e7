import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { InviteBody, Member, SetupLinkResponse, UpdateMemberBody } from '../../../../core/portal-auth/schema.js';
import { api } from '../../lib/api.js';
import { approvalKeys, type Submitted } from '../../lib/approvals.js';

const membersKey = ['portal', 'members'] as const;

export function useMembers() {
  return useQuery({ queryKey: membersKey, queryFn: () => api.get<{ members: Member[] }>('/members') });
}

/** POST /members/invite → the invitee's one-time setup link (shown once). */
export function useInviteMember() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: InviteBody) => api.post<SetupLinkResponse>('/members/invite', body),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: membersKey }),
  });
}

export function useUpdateMemberRoles() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ id, body }: { id: string; body: UpdateMemberBody }) => api.patch<Submitted<Member>>(`/members/${encodeURIComponent(id)}`, body),
    onSuccess: async () => {
      await Promise.all([queryClient.invalidateQueries({ queryKey: membersKey }), queryClient.invalidateQueries({ queryKey: approvalKeys.all })]);
    },
  });
}

export function useRemoveMember() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => api.del(`/members/${encodeURIComponent(id)}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: membersKey }),
  });
}
