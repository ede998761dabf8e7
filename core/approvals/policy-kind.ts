import { z } from 'zod';
import type { Tx } from '../db/pool.js';
import { appendAudit } from '../repositories/audit.js';
import { auditEntry } from '../shared/service-context.js';
import { changeKind } from './kinds.js';
import { findPolicy, writePolicy } from './queries.js';
import { ApprovalPolicy, CHANGE_KINDS, kindPolicy } from './schema.js';

/**
 * The tenant's approval policy, itself changed through an approval request. The request is
 * decided under the policy in force when it was made (the engine reads the policy before the
 * change applies), so loosening the rules needs the approvers the current rules ask for.
 */

/** The tenant's policy; the defaults (core/approvals/schema.ts) when it never set one. */
export async function readApprovalPolicy(tx: Tx, tenantId: string): Promise<ApprovalPolicy> {
  const stored = await findPolicy(tx, tenantId);
  return ApprovalPolicy.parse(stored ?? {});
}

/** Every kind's effective rule: what the policy page shows and what `before`/`after` compare. */
function effective(policy: ApprovalPolicy) {
  return Object.fromEntries(CHANGE_KINDS.map((k) => [k, kindPolicy(policy, k)]));
}

const PolicyPayload = z.object({ policy: ApprovalPolicy }).strict();

export const policyChangeKinds = [
  changeKind({
    kind: 'approval_policy.set',
    payload: PolicyPayload,
    async describe(tx, ctx, _deps, p) {
      const current = await readApprovalPolicy(tx, ctx.tenantId);
      const [before, after] = [effective(current), effective(p.policy)];
      const changed = CHANGE_KINDS.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
      return {
        summary: changed.length ? `Change the approval rules for ${changed.join(', ')}` : 'Restate the approval policy (no rule changes)',
        before,
        after,
        subjectUserIds: [],
      };
    },
    async apply(tx, ctx, _deps, p) {
      const before = await readApprovalPolicy(tx, ctx.tenantId);
      await writePolicy(tx, ctx.tenantId, p.policy);
      await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'approval_policy.changed', 'tenant', ctx.tenantId, { before, after: p.policy })]);
      return { result: { kinds: Object.keys(p.policy.kinds).sort() } };
    },
  }),
];
