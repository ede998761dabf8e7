import { changeKind, type ChangeKindHandler } from '../approvals/kinds.js';
import { withTenant } from '../db/pool.js';
import { domainWorkflowId } from '../../workflows/ids.js';
import { assertClaimable, assertRemovable, claimDomain, getDomain, removeDomain } from './service.js';
import { ClaimDomainBody, RemoveDomainBody } from './schema.js';

/**
 * Domain claims and removals as change requests. Applying a claim creates the pending claim (its
 * TXT challenge is in the result, to publish); `verify` then starts the verification workflow.
 */

const claim = changeKind({
  kind: 'domain.claim',
  payload: ClaimDomainBody,
  async describe(tx, ctx, _deps, payload) {
    const name = await assertClaimable(tx, ctx.tenantId, payload.name);
    return { summary: `Claim the domain ${name}`, before: null, after: { domain: name, state: 'pending' }, subjectUserIds: [] };
  },
  async apply(tx, ctx, _deps, payload) {
    const domain = await claimDomain(tx, ctx, payload);
    return { result: { domainId: domain.id, name: domain.name, challenge: domain.challenge, expiresAt: domain.expiresAt } };
  },
  async verify(db, ctx, deps, _payload, applied) {
    const domainId = String(applied['domainId']);
    const domain = await withTenant(db, ctx.tenantId, (tx) => getDomain(tx, ctx.tenantId, domainId));
    const checks = [{ name: 'claim recorded, pending its TXT record', ok: domain.state === 'pending' || domain.state === 'verified' }];
    if (deps.startWorkflow) {
      await deps.startWorkflow({ workflowType: 'domainVerification', workflowId: domainWorkflowId(ctx.tenantId, domainId), args: [{ tenantId: ctx.tenantId, domainId }] });
      checks.push({ name: 'verification workflow started', ok: true });
    }
    return { ok: checks.every((c) => c.ok), checks };
  },
});

const remove = changeKind({
  kind: 'domain.remove',
  payload: RemoveDomainBody,
  async describe(tx, ctx, _deps, payload) {
    const row = await assertRemovable(tx, ctx.tenantId, payload.domainId);
    return { summary: `Remove the domain ${row.name}`, before: { domain: row.name, state: row.state }, after: { domain: row.name, state: 'removed' }, subjectUserIds: [] };
  },
  async apply(tx, ctx, _deps, payload) {
    const domain = await removeDomain(tx, ctx, payload);
    return { result: { domainId: domain.id, name: domain.name } };
  },
});

export const domainChangeKinds: readonly ChangeKindHandler[] = [claim, remove];
