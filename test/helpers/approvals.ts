import { writeApprovalPolicy } from '../../core/approvals/service.js';
import { ApprovalPolicy, type ChangeKind, type KindPolicy } from '../../core/approvals/schema.js';
import { withTenant } from '../../core/db/pool.js';
import type { TestStack } from './stack.js';

/**
 * Writes the test tenant's approval policy directly (fixtures only; tenants change it through an
 * `approval_policy.set` request). Kinds not named keep the defaults.
 */
export async function setApprovalPolicy(stack: Pick<TestStack, 'owner'>, tenantId: string, kinds: Partial<Record<ChangeKind, Partial<KindPolicy>>>): Promise<void> {
  const policy = ApprovalPolicy.parse({ kinds: Object.fromEntries(Object.entries(kinds).map(([k, v]) => [k, { approvals: 1, ...v }])) });
  await withTenant(stack.owner, tenantId, (tx) => writeApprovalPolicy(tx, tenantId, policy));
}

/**
 * For tests about something else: these (non-privileged) kinds apply at once, as they did before
 * approvals existed.
 */
export async function applyAtOnce(stack: Pick<TestStack, 'owner'>, tenantId: string, kinds: readonly ChangeKind[]): Promise<void> {
  await setApprovalPolicy(stack, tenantId, Object.fromEntries(kinds.map((k) => [k, { approvals: 0 }])));
}

/** The kinds the app API's older routes change (webhooks, role mappings, default role, guard release). */
export const APP_API_CHANGE_KINDS: readonly ChangeKind[] = ['webhook.create', 'webhook.rotate', 'webhook.delete', 'role_mapping.set', 'default_role.set', 'guard.release'];
