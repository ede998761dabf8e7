import { expect } from 'vitest';
import { ApprovalPolicy, type ChangeKind, type ChangeRequestView, type KindPolicy, KindPolicy as KindPolicySchema, PRIVILEGED_CHANGE_KINDS } from '../../core/approvals/schema.js';
import { getApprovalPolicy, writeApprovalPolicy } from '../../core/approvals/service.js';
import { withTenant } from '../../core/db/pool.js';
import type { ApiClient } from './portal.js';
import { eventually, type TestStack } from './stack.js';

/**
 * Approval policies and decisions for tests. A test that is not about approvals gives its tenant
 * `approvals: 0` for the (non-privileged) kinds it changes, so those apply at once as they did
 * before approvals existed; privileged kinds (a connection revoke, portal roles) always need an
 * approver, so such tests ask one with `approveAndWait`.
 */

/**
 * Writes the test tenant's approval policy directly (fixtures only; tenants change it through an
 * `approval_policy.set` request): each named kind's rule over that kind's defaults, merged into
 * what the tenant has (kinds not named keep their rule).
 */
export async function setApprovalPolicy(stack: Pick<TestStack, 'owner'>, tenantId: string, rules: Partial<Record<ChangeKind, Partial<KindPolicy>>>): Promise<void> {
  await withTenant(stack.owner, tenantId, async (tx) => {
    const current = await getApprovalPolicy(tx, tenantId);
    const kinds = { ...current.kinds };
    for (const [kind, rule] of Object.entries(rules) as [ChangeKind, Partial<KindPolicy>][]) kinds[kind] = KindPolicySchema.parse({ approvals: 1, ...rule });
    await writeApprovalPolicy(tx, tenantId, ApprovalPolicy.parse({ kinds }));
  });
}

/** For tests about something else: `approvals: 0` for these (non-privileged) kinds, so they apply at once (still recorded as requests and audited). */
export async function applyAtOnce(stack: Pick<TestStack, 'owner'>, tenantId: string, kinds: readonly ChangeKind[]): Promise<void> {
  const privileged = kinds.filter((k) => PRIVILEGED_CHANGE_KINDS.includes(k));
  if (privileged.length) throw new Error(`privileged kinds always need an approver: ${privileged.join(', ')}`);
  await setApprovalPolicy(stack, tenantId, Object.fromEntries(kinds.map((k) => [k, { approvals: 0 }])));
}

/** The non-privileged kinds the portal's change routes submit: what tests not about approvals let apply at once. */
export const PORTAL_DIRECT_KINDS: readonly ChangeKind[] = [
  'scim_connection.create',
  'scim_connection.rotate',
  'role_mapping.set',
  'default_role.set',
  'webhook.create',
  'webhook.rotate',
  'webhook.delete',
  'guard.release',
];

/** A 202 answer's request (fails the test with the answer otherwise). */
export function waitingRequestOf(res: { status: number; body: any }): ChangeRequestView {
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  expect(res.body.request).toMatchObject({ id: expect.any(String), state: 'pending' });
  return res.body.request as ChangeRequestView;
}

/** Approves as `approver` (over the portal API) and waits until the request applied (or ended otherwise). */
export async function approveAndWait(approver: ApiClient, requestId: string, timeoutMs = 30_000): Promise<ChangeRequestView> {
  const seen = await approver.request('GET', `/approvals/${requestId}`);
  expect(seen.status, JSON.stringify(seen.body)).toBe(200);
  const decided = await approver.request('POST', `/approvals/${requestId}/decide`, { verdict: 'approve', changeHash: seen.body.changeHash });
  expect(decided.status, JSON.stringify(decided.body)).toBe(200);
  expect(['recorded', 'approved']).toContain(decided.body.outcome);
  return waitForState(approver, requestId, ['applied', 'failed', 'rejected', 'expired', 'withdrawn', 'cancelled'], timeoutMs);
}

/** Polls the request until its state is one of `states`. */
export async function waitForState(client: ApiClient, requestId: string, states: readonly string[], timeoutMs = 30_000): Promise<ChangeRequestView> {
  return eventually(async () => {
    const res = await client.request('GET', `/approvals/${requestId}`);
    return res.status === 200 && states.includes(res.body.state) ? (res.body as ChangeRequestView) : undefined;
  }, timeoutMs);
}

/** The kinds the app API's older routes change (webhooks, role mappings, default role, guard release). */
export const APP_API_CHANGE_KINDS: readonly ChangeKind[] = ['webhook.create', 'webhook.rotate', 'webhook.delete', 'role_mapping.set', 'default_role.set', 'guard.release'];
