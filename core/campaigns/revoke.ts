import { sql } from 'slonik';
import { z } from 'zod';
import type { AppRole } from '../config.js';
import { lockUsers } from '../db/locks.js';
import type { Tx } from '../db/pool.js';
import { fanOutEntitlementsChange } from '../entitlements/service.js';
import { appendAudit } from '../audit/queries.js';
import { computeEffectiveRoles, currentRoles, removeDirectGrant } from '../repositories/entitlements.js';
import { disableServiceAccount, findServiceAccount, revokeCredential, revokeOAuthGrant } from '../repositories/credentials.js';
import { auditEntry, type ServiceContext } from '../shared/service-context.js';
import { setItemOutcome, type ItemRow } from './queries.js';
import type { ApplyRecord } from './schema.js';

// Carrying out a review's "revoke" (a reviewer's decision, or the no-response policy): as real and
// as audited as any other revocation.
// - A role: a role_exclusions row (effectiveRoles leaves the role out whatever grants it, until an
//   admin grants it directly again), the direct grant of it removed, and an `entitlements.changed`
//   event on the identity's ordered stream, exactly as an entitlement change fans out
//   (core/entitlements/service.ts): the mover revokes the role and the credentials that required it.
// - A token, a service account (disabled, its tokens revoked), an OAuth grant: the credentials
//   repository the NHI page uses, reason `recertification`.

/** revoked_reason of the credentials and grants a review revokes. */
export const RECERTIFICATION_REASON = 'recertification';

export interface RevokeDeps {
  catalogue: readonly AppRole[];
}

const CredentialState = z.object({ revoked: z.boolean(), kind: z.string() });

/**
 * Revokes the access of one item and records it on the item (outcome, applied, applied_at) with
 * one `campaign.item.revoked` audit row. Access already gone is recorded as `already_gone`.
 *
 * Locks: a role locks the item's user (core/db/locks.ts); a caller revoking several roles in one
 * transaction must take them in user id order: use `applyRevokes`, which does.
 */
export async function applyRevoke(
  tx: Tx,
  ctx: ServiceContext,
  deps: RevokeDeps,
  item: ItemRow,
  reason: string,
  outcome: 'revoked' | 'no_response_revoked',
): Promise<ApplyRecord> {
  const applied = await revokeAccess(tx, ctx, deps, item, reason);
  await setItemOutcome(tx, ctx.tenantId, item.campaign_id, item.id, outcome, applied);
  await appendAudit(tx, ctx.tenantId, [
    auditEntry(ctx, 'campaign.item.revoked', 'campaign', item.campaign_id, {
      itemId: item.id,
      accessKind: item.access_kind,
      access: item.access_ref,
      userId: item.user_id,
      serviceAccountId: item.service_account_id,
      outcome,
      reason,
      applied,
    }),
  ]);
  return applied;
}

/**
 * `applyRevoke` for several items in one transaction: the users of role items are locked first,
 * in id order (one statement), then each item is applied. Returns the records in the items' order.
 */
export async function applyRevokes(
  tx: Tx,
  ctx: ServiceContext,
  deps: RevokeDeps,
  items: readonly ItemRow[],
  reason: string,
  outcome: 'revoked' | 'no_response_revoked',
): Promise<ApplyRecord[]> {
  const userIds = items.filter((i) => i.access_kind === 'role' && i.user_id).map((i) => i.user_id!);
  if (userIds.length) await lockUsers(tx, userIds);
  const out: ApplyRecord[] = [];
  for (const item of items) out.push(await applyRevoke(tx, ctx, deps, item, reason, outcome));
  return out;
}

async function revokeAccess(tx: Tx, ctx: ServiceContext, deps: RevokeDeps, item: ItemRow, reason: string): Promise<ApplyRecord> {
  const gone: ApplyRecord = { via: 'already_gone' };
  switch (item.access_kind) {
    case 'role': {
      if (!item.user_id) return gone;
      const userId = item.user_id;
      const role = item.access_ref;
      // Deleted people are locked too but not returned: their leaver took every role already.
      if (!(await lockUsers(tx, [userId])).has(userId) && !(await isLive(tx, ctx.tenantId, userId))) return gone;
      const held = (await currentRoles(tx, ctx.tenantId, userId)).includes(role);
      const granted = (await computeEffectiveRoles(tx, ctx.tenantId, userId, deps.catalogue)).includes(role);
      if (!held && !granted) return gone;
      // The latest review's exclusion replaces an earlier one (the app role has no UPDATE on the table).
      await tx.query(sql.unsafe`DELETE FROM role_exclusions WHERE tenant_id = ${ctx.tenantId} AND user_id = ${userId} AND role = ${role}`);
      await tx.query(sql.unsafe`
        INSERT INTO role_exclusions (tenant_id, user_id, role, campaign_id, item_id, reason, created_by)
        VALUES (${ctx.tenantId}, ${userId}, ${role}, ${item.campaign_id}, ${item.id}::int8, ${reason}, ${actorText(ctx)})`);
      await removeDirectGrant(tx, ctx.tenantId, userId, role);
      const seqs = await fanOutEntitlementsChange(tx, ctx.tenantId, [userId], { cause: 'recertification', campaignId: item.campaign_id, itemId: item.id, role });
      return { via: 'identity_stream', userId, seq: seqs.get(userId)! };
    }
    case 'token': {
      const state = await tx.maybeOne(sql.type(CredentialState)`
        SELECT revoked_at IS NOT NULL OR (expires_at IS NOT NULL AND expires_at <= now()) AS revoked, kind
          FROM credentials WHERE tenant_id = ${ctx.tenantId} AND id = ${item.access_ref}::uuid`);
      if (!state || state.revoked) return gone;
      const r = await revokeCredential(tx, ctx.tenantId, item.access_ref, RECERTIFICATION_REASON, ctx.actor);
      return r.revoked ? { via: 'credential_revoked', credentialId: item.access_ref } : gone;
    }
    case 'service_account': {
      const account = await findServiceAccount(tx, ctx.tenantId, item.access_ref);
      if (!account || account.status === 'disabled') return gone;
      const r = await disableServiceAccount(tx, ctx.tenantId, item.access_ref, {}, ctx.actor);
      return { via: 'service_account_disabled', serviceAccountId: item.access_ref, tokensRevoked: r.revokedTokens.length };
    }
    case 'oauth_grant': {
      const live = await tx.maybeOneFirst(sql.type(z.object({ live: z.boolean() }))`
        SELECT revoked_at IS NULL AS live FROM oauth_grants WHERE tenant_id = ${ctx.tenantId} AND id = ${item.access_ref}::uuid`);
      if (!live) return gone;
      const r = await revokeOAuthGrant(tx, ctx.tenantId, item.access_ref, RECERTIFICATION_REASON, ctx.actor);
      return r.revoked ? { via: 'oauth_grant_revoked', grantId: item.access_ref } : gone;
    }
  }
}

async function isLive(tx: Tx, tenantId: string, userId: string): Promise<boolean> {
  return (await tx.maybeOneFirst(sql.type(z.object({ live: z.boolean() }))`
    SELECT scim_deleted_at IS NULL AS live FROM users WHERE tenant_id = ${tenantId} AND id = ${userId}`)) === true;
}

const actorText = (ctx: ServiceContext) => `${ctx.actor.type}:${ctx.actor.id ?? ''}`;
