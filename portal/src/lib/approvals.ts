import { useQuery } from '@tanstack/react-query';
import { type ChangeKind, type ChangeRequestView, type EffectiveApprovalPolicy, type KindPolicy, kindPolicy } from '../../../core/approvals/schema.js';
import { api } from './api.js';

/**
 * What every page that changes something behind an approval needs (connections, role mappings,
 * settings, members): the tenant's policy for a kind, and the two answers a change can get.
 *
 * The portal API answers a change that waits for approvers with 202 `{ request }` (the engine's
 * SubmittedChange); a change the policy applied inline (approvals: 0) with the route's usual body
 * plus `changeRequestId`.
 */

export const approvalKeys = {
  all: ['portal', 'approvals'] as const,
  policy: ['portal', 'approvals', 'policy'] as const,
  counts: ['portal', 'approvals', 'counts'] as const,
};

/** A change that waits for approvers (HTTP 202). */
export interface PendingChange {
  request: ChangeRequestView;
}

/** A change applied at once: the route's usual body, with the request that recorded it. */
export type AppliedChange<T> = T & { changeRequestId: string };

export type Submitted<T> = PendingChange | AppliedChange<T>;

/** The request a change waits in, or null when it applied at once. */
export function waitingRequest<T>(answer: Submitted<T> | null | undefined): ChangeRequestView | null {
  if (answer && typeof answer === 'object' && 'request' in answer && !('changeRequestId' in answer)) return answer.request;
  return null;
}

/** The applied body, or null when the change waits for approvers. */
export function appliedBody<T>(answer: Submitted<T>): AppliedChange<T> | null {
  return waitingRequest(answer) ? null : (answer as AppliedChange<T>);
}

/** GET /approvals/policy: the policy as stored, and every kind's effective rule (defaults filled in). */
export function useApprovalPolicy() {
  return useQuery({ queryKey: approvalKeys.policy, queryFn: ({ signal }) => api.get<EffectiveApprovalPolicy>('/approvals/policy', undefined, { signal }), staleTime: 60_000 });
}

/** The rule for one kind, or undefined while the policy loads (or could not be read). */
export function useKindPolicy(kind: ChangeKind): KindPolicy | undefined {
  const policy = useApprovalPolicy();
  return policy.data ? (policy.data.effective[kind] ?? kindPolicy(policy.data.policy, kind)) : undefined;
}

/** "needs 2 approvals" / "applies at once" for a kind's rule. */
export function approvalsPhrase(rule: KindPolicy): string {
  if (rule.approvals === 0) return 'applies at once';
  return `needs ${rule.approvals} ${rule.approvals === 1 ? 'approval' : 'approvals'}`;
}

export const approvalRequestPath = (id: string): string => `/approvals/${id}`;
