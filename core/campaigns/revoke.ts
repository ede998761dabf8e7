import type { AppRole } from '../config.js';
import { lockUsers } from '../db/locks.js';
import type { Tx } from '../db/pool.js';
import { effectiveRoles } from '../entitlements.js';
import { fanOutEntitlementsChanges } from '../entitlements/service.js';
import { appendAudit } from '../audit/queries.js';
import type { AuditEventInput } from '../audit/schema.js';
import { excludeRoles, roleStatesMany, type RoleExclusion } from '../repositories/entitlements.js';
import { disableServiceAccount, findServiceAccount, revokeLiveCredentials, revokeLiveOAuthGrants } from '../repositories/credentials.js';
import { auditEntry, type ServiceContext } from '../shared/service-context.js';
import { setItemOutcomes, type ItemRow } from './queries.js';
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

/**
 * Revokes the access of one item and records it on the item: `applyRevokes` with one item.
 */
export async function applyRevoke(
  tx: Tx,
  ctx: ServiceContext,
  deps: RevokeDeps,
  item: ItemRow,
  reason: string,
  outcome: 'revoked' | 'no_response_revoked',
): Promise<ApplyRecord> {
  return (await applyRevokes(tx, ctx, deps, [item], reason, outcome))[0]!;
}

/**
 * Revokes the access of items of one campaign in one transaction and records each on its item
 * (outcome, applied, applied_at) with one `campaign.item.revoked` audit row per item; access
 * already gone is recorded as `already_gone`. Returns the records in the items' order.
 *
 * Set-based, so a bulk costs a handful of statements, not ten per item: the role items' users are
 * locked in id order (core/db/locks.ts) and read in one statement, their exclusions and direct
 * grants written in two, and each person gets ONE `entitlements.changed` event naming all their
 * revoked items (the mover recomputes from the exclusions, whatever the payload says); tokens and
 * OAuth grants are revoked in one statement each; service accounts one by one (each disable locks
 * its row and revokes its tokens). Item outcomes and audit rows are one statement each.
 */
export async function applyRevokes(
  tx: Tx,
  ctx: ServiceContext,
  deps: RevokeDeps,
  items: readonly ItemRow[],
  reason: string,
  outcome: 'revoked' | 'no_response_revoked',
): Promise<ApplyRecord[]> {
  if (items.length === 0) return [];
  const campaignId = items[0]!.campaign_id;
  if (items.some((i) => i.campaign_id !== campaignId)) throw new Error('applyRevokes: items of one campaign at a time');
  const records = new Map<string, ApplyRecord>();
  const audit: AuditEventInput[] = [];
  await revokeRoles(tx, ctx, deps, campaignId, items.filter((i) => i.access_kind === 'role'), reason, records);
  const credentials = await revokeLiveCredentials(tx, ctx.tenantId, refsOf(items, 'token'), RECERTIFICATION_REASON, ctx.actor);
  const grants = await revokeLiveOAuthGrants(tx, ctx.tenantId, refsOf(items, 'oauth_grant'), RECERTIFICATION_REASON, ctx.actor);
  audit.push(...credentials.audit, ...grants.audit);
  // A credential or grant named twice in a bulk is revoked by the first item; the second finds it gone.
  const claimed = new Set<string>();
  const firstClaim = (ref: string, revoked: ReadonlySet<string>) => {
    if (!revoked.has(ref) || claimed.has(ref)) return false;
    claimed.add(ref);
    return true;
  };
  for (const item of items) {
    if (records.has(item.id)) continue;
    const ref = item.access_ref.toLowerCase();
    switch (item.access_kind) {
      case 'role':
        break;
      case 'token':
        records.set(item.id, firstClaim(ref, credentials.revoked) ? { via: 'credential_revoked', credentialId: item.access_ref } : GONE);
        break;
      case 'oauth_grant':
        records.set(item.id, firstClaim(ref, grants.revoked) ? { via: 'oauth_grant_revoked', grantId: item.access_ref } : GONE);
        break;
      case 'service_account': {
        const account = await findServiceAccount(tx, ctx.tenantId, item.access_ref);
        if (!account || account.status === 'disabled') records.set(item.id, GONE);
        else {
          const r = await disableServiceAccount(tx, ctx.tenantId, item.access_ref, {}, ctx.actor);
          records.set(item.id, { via: 'service_account_disabled', serviceAccountId: item.access_ref, tokensRevoked: r.revokedTokens.length });
        }
        break;
      }
    }
  }
  const out = items.map((item) => records.get(item.id) ?? GONE);
  await setItemOutcomes(tx, ctx.tenantId, campaignId, outcome, items.map((item, i) => ({ itemId: item.id, applied: out[i] })));
  audit.push(
    ...items.map((item, i) =>
      auditEntry(ctx, 'campaign.item.revoked', 'campaign', item.campaign_id, {
        itemId: item.id,
        accessKind: item.access_kind,
        access: item.access_ref,
        userId: item.user_id,
        serviceAccountId: item.service_account_id,
        outcome,
        reason,
        applied: out[i],
      }),
    ),
  );
  await appendAudit(tx, ctx.tenantId, audit);
  return out;
}

const GONE: ApplyRecord = { via: 'already_gone' };

/** The lower-cased refs of the items of one kind (ids: compared as PostgreSQL returns them). */
const refsOf = (items: readonly ItemRow[], kind: ItemRow['access_kind']) => items.filter((i) => i.access_kind === kind).map((i) => i.access_ref.toLowerCase());

/**
 * The role items of a bulk: a role is revoked when the person is live and holds it now or is
 * still granted it (the mover has yet to grant it); otherwise it is already gone. Sets a record
 * for every item. Two items of the same person and role share the first one's exclusion and event.
 */
async function revokeRoles(
  tx: Tx,
  ctx: ServiceContext,
  deps: RevokeDeps,
  campaignId: string,
  items: readonly ItemRow[],
  reason: string,
  records: Map<string, ApplyRecord>,
): Promise<void> {
  const userIds = [...new Set(items.flatMap((i) => (i.user_id ? [i.user_id] : [])))];
  if (userIds.length === 0) {
    for (const item of items) records.set(item.id, GONE);
    return;
  }
  await lockUsers(tx, userIds);
  const states = await roleStatesMany(tx, ctx.tenantId, userIds);
  const effective = new Map([...states].map(([id, s]) => [id, new Set(effectiveRoles(s.sources, deps.catalogue))]));
  const exclusions: RoleExclusion[] = [];
  /** user id → the items (and roles) this bulk revokes for them, in the items' order. */
  const perUser = new Map<string, { itemId: string; role: string }[]>();
  const firstItemOf = new Map<string, string>();
  const createdBy = `${ctx.actor.type}:${ctx.actor.id ?? ''}`;
  for (const item of items) {
    const state = item.user_id ? states.get(item.user_id) : undefined;
    const role = item.access_ref;
    // Deleted people: their leaver took every role already.
    if (!item.user_id || !state?.live || (!state.currentRoles.includes(role) && !effective.get(item.user_id)!.has(role))) continue;
    const key = `${item.user_id}\u0000${role}`;
    if (firstItemOf.has(key)) continue;
    firstItemOf.set(key, item.id);
    exclusions.push({ userId: item.user_id, role, campaignId, itemId: item.id, reason, createdBy });
    const list = perUser.get(item.user_id) ?? [];
    list.push({ itemId: item.id, role });
    perUser.set(item.user_id, list);
  }
  await excludeRoles(tx, ctx.tenantId, exclusions);
  const seqs = await fanOutEntitlementsChanges(
    tx,
    ctx.tenantId,
    new Map([...perUser].map(([userId, revoked]) => [userId, { cause: 'recertification', campaignId, items: revoked }])),
  );
  for (const item of items) {
    const first = item.user_id ? firstItemOf.get(`${item.user_id}\u0000${item.access_ref}`) : undefined;
    records.set(item.id, first !== undefined ? { via: 'identity_stream', userId: item.user_id!, seq: seqs.get(item.user_id!)! } : GONE);
  }
}
