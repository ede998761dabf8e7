import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ApprovalPolicy, ChangeOutcome, ChangeRequestPage, ChangeRequestView, DecisionBody, DecisionOutcome, InboxBox, SubmittedChange } from '../../../../core/approvals/schema.js';
import { api, isApiError } from '../../lib/api.js';
import { approvalKeys } from '../../lib/approvals.js';
import type { RoleMappingOverview } from '../../../../core/entitlements/schema.js';

export type Box = InboxBox;

export interface Decided {
  outcome: DecisionOutcome;
  request: ChangeRequestView;
}

const keys = {
  inbox: (box: Box, cursor: string | null) => [...approvalKeys.all, 'inbox', box, cursor] as const,
  request: (id: string) => [...approvalKeys.all, 'request', id] as const,
};

export function useInbox(box: Box, cursor: string | null) {
  return useQuery({
    queryKey: keys.inbox(box, cursor),
    queryFn: ({ signal }) => api.get<ChangeRequestPage>('/approvals', { box, cursor, limit: 25 }, { signal }),
    placeholderData: keepPreviousData,
  });
}

/** One request; refreshed while something is still moving (applying, a countdown running). */
export function useChangeRequest(id: string) {
  return useQuery({
    queryKey: keys.request(id),
    queryFn: ({ signal }) => api.get<ChangeRequestView>(`/approvals/${encodeURIComponent(id)}`, undefined, { signal }),
    refetchInterval: (query) => {
      const state = query.state.data?.state;
      return state === 'approved' || state === 'applying' ? 1_000 : state === 'pending' || state === 'cooling_off' ? 15_000 : false;
    },
  });
}

/** Every approvals query (inbox, counts, requests) is stale after any decision. */
function useApprovalsMutation<TVars, TResult>(fn: (vars: TVars) => Promise<TResult>) {
  const client = useQueryClient();
  return useMutation({ mutationFn: fn, onSettled: () => client.invalidateQueries({ queryKey: approvalKeys.all }) });
}

/**
 * A decision's typed outcome. A refusal ("you requested this change") is an outcome too, whether
 * the API answers it with 200 or with a 4xx that carries `outcome`.
 */
export const useDecide = () =>
  useApprovalsMutation(async ({ id, body }: { id: string; body: DecisionBody }): Promise<Decided> => {
    try {
      return await api.post<Decided>(`/approvals/${encodeURIComponent(id)}/decide`, body);
    } catch (err) {
      const outcome = outcomeOf(err);
      if (outcome) return outcome;
      throw err;
    }
  });

function outcomeOf(err: unknown): Decided | null {
  if (!isApiError(err)) return null;
  const body = err.body as { outcome?: unknown; request?: unknown } | undefined;
  if (body && typeof body.outcome === 'string') return { outcome: body.outcome as DecisionOutcome, request: body.request as ChangeRequestView };
  return null;
}

/** Withdraw / cancel answer a ChangeOutcome; a refusal is a 409 whose message says why. */
export const useWithdraw = () => useApprovalsMutation(({ id }: { id: string }) => api.post<ChangeOutcome>(`/approvals/${encodeURIComponent(id)}/withdraw`, {}));

export const useCancel = () =>
  useApprovalsMutation(({ id, comment }: { id: string; comment: string }) =>
    api.post<ChangeOutcome>(`/approvals/${encodeURIComponent(id)}/cancel`, comment.trim() ? { comment: comment.trim() } : {}),
  );

/** The secret an applied change produced, once; the server forgets it after this answer. */
export const useCollectSecret = () => useApprovalsMutation(({ id }: { id: string }) => api.post<{ secret: string }>(`/approvals/${encodeURIComponent(id)}/collect-secret`, {}));

/** Saving the policy submits an `approval_policy.set` request, decided under the policy in force. */
export const useSubmitPolicy = () =>
  useApprovalsMutation(({ policy, reason }: { policy: ApprovalPolicy; reason: string }) =>
    api.post<SubmittedChange>('/approvals', { kind: 'approval_policy.set', payload: { policy }, reason: reason || undefined }),
  );

/**
 * The requester's edit: earlier approvals are void and approvers are asked again. A new payload
 * that is not possible is a 400 whose message (and `issues`) say why.
 */
export const useEditRequest = () =>
  useApprovalsMutation(({ id, payload, reason }: { id: string; payload: unknown; reason: string }) =>
    api.post<ChangeOutcome>(`/approvals/${encodeURIComponent(id)}/edit`, { payload, ...(reason.trim() ? { reason: reason.trim() } : {}) }),
  );

/** The app roles catalogue, for the role-mapping and default-role edit forms. */
export function useRoleCatalogue(enabled: boolean) {
  return useQuery({
    queryKey: [...approvalKeys.all, 'role-catalogue'] as const,
    queryFn: ({ signal }) => api.get<Pick<RoleMappingOverview, 'roles'>>('/role-mappings', undefined, { signal }),
    enabled,
    staleTime: 60_000,
  });
}
