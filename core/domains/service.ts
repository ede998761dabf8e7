import { randomBytes } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import type { Tx } from '../db/pool.js';
import { sqlState } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { appendAudit } from '../repositories/audit.js';
import { auditEntry, type ServiceContext } from '../shared/service-context.js';
import type { ChallengeLookup } from './dns.js';
import * as q from './queries.js';
import { CHALLENGE_TTL_DAYS, DomainName, type DomainView, RECHECK_GRACE_MISSES } from './schema.js';

/**
 * Claimed domains: the one place their rules and audit rows live (portal API through change
 * requests, the verification workflow's activities, the scheduled re-check), each call inside the
 * caller's tenant transaction. Starting the verification workflow is the caller's, after commit.
 */

/** The tenant alert raised when a verified domain's record is missing on a re-check. */
export const DOMAIN_RECORD_MISSING_ALERT = 'domain_record_missing';

const NameRow = z.object({ name: z.string() });

export async function listDomains(tx: Tx, tenantId: string): Promise<DomainView[]> {
  return (await q.listDomains(tx, tenantId)).map(q.toDomainView);
}

export async function getDomain(tx: Tx, tenantId: string, domainId: string): Promise<DomainView> {
  const row = await q.findDomain(tx, tenantId, domainId);
  if (!row) throw new DomainError(404, 'not_found', 'no such domain');
  return q.toDomainView(row);
}

/** Refuses a name the tenant already claims (pending, verified or failed). */
export async function assertClaimable(tx: Tx, tenantId: string, name: string): Promise<string> {
  const parsed = DomainName.safeParse(name);
  if (!parsed.success) throw new DomainError(400, 'invalid_request', `name: ${parsed.error.issues[0]?.message ?? 'not a domain name'}`);
  if (await q.findLiveDomainByName(tx, tenantId, parsed.data)) throw new DomainError(409, 'conflict', `${parsed.data} is already claimed by this tenant`);
  return parsed.data;
}

/** A new claim with its TXT challenge (shown to the admin; it is published, so not a secret). */
export async function claimDomain(tx: Tx, ctx: ServiceContext, input: { name: string }): Promise<DomainView> {
  const name = await assertClaimable(tx, ctx.tenantId, input.name);
  const row = await q.insertDomain(tx, ctx.tenantId, { name, token: randomBytes(24).toString('base64url'), ttlDays: CHALLENGE_TTL_DAYS });
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'domain.claimed', 'domain', row.id, { name, expiresAt: row.expires_at })]);
  return q.toDomainView(row);
}

/** Refuses to remove a domain an active SSO connection still allows (it would stop signing those people in). */
export async function assertRemovable(tx: Tx, tenantId: string, domainId: string): Promise<q.DomainRow> {
  const row = await q.findDomain(tx, tenantId, domainId);
  if (!row || row.state === 'removed') throw new DomainError(404, 'not_found', 'no such domain');
  const usedBy = await tx.anyFirst(sql.type(NameRow)`
    SELECT name FROM sso_connections WHERE tenant_id = ${tenantId} AND state = 'active' AND ${row.name} = ANY(allowed_domains) ORDER BY name`);
  if (usedBy.length) throw new DomainError(409, 'in_use', `${row.name} is allowed by SSO connection ${usedBy.map((n) => `"${n}"`).join(', ')}; remove it there first`);
  return row;
}

export async function removeDomain(tx: Tx, ctx: ServiceContext, input: { domainId: string }): Promise<DomainView> {
  const before = await assertRemovable(tx, ctx.tenantId, input.domainId);
  const row = await q.updateDomain(tx, ctx.tenantId, input.domainId, { state: 'removed' });
  await q.resolveAlerts(tx, ctx.tenantId, DOMAIN_RECORD_MISSING_ALERT, input.domainId);
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'domain.removed', 'domain', row.id, { name: row.name, previousState: before.state })]);
  return q.toDomainView(row);
}

/** What one lookup did to the domain. */
export type CheckOutcome =
  | 'verified'
  /** Still pending: the record is not there (yet), or the lookup failed. */
  | 'pending'
  /** The challenge passed its expiry unverified. */
  | 'expired'
  /** Another tenant holds this name verified; the claim stays pending. */
  | 'taken'
  /** A verified domain's record was found again (or still). */
  | 'seen'
  /** A verified domain's record is missing, within the grace. */
  | 'missing'
  /** Missing past the grace: no longer verified. */
  | 'failed'
  /** A verified (or failed) domain whose lookup failed: nothing changed. */
  | 'unknown'
  /** Removed or expired meanwhile: nothing to check. */
  | 'closed';

/**
 * Applies one lookup's result (the verification workflow and the scheduled re-check both call it).
 * A failed lookup (`error`) never counts as a missing record. A verified domain becomes `failed`
 * only after RECHECK_GRACE_MISSES re-checks in a row missed it; the first miss raises a tenant
 * alert. The actor is the system: the workflow or schedule that looked.
 */
export async function recordLookup(tx: Tx, ctx: ServiceContext, domainId: string, lookup: ChallengeLookup): Promise<{ outcome: CheckOutcome; domain: DomainView | null }> {
  const tenantId = ctx.tenantId;
  const row = await q.findDomain(tx, tenantId, domainId, { lock: true });
  if (!row || row.state === 'removed' || row.state === 'expired') return { outcome: 'closed', domain: row ? q.toDomainView(row) : null };
  const view = (r: q.DomainRow) => q.toDomainView(r);

  if (lookup.outcome === 'error') {
    const checked = await q.updateDomain(tx, tenantId, domainId, { checked: true });
    if (row.state === 'pending' && Date.parse(row.expires_at) <= Date.now()) return expire(tx, ctx, checked);
    return { outcome: row.state === 'pending' ? 'pending' : 'unknown', domain: view(checked) };
  }

  if (lookup.outcome === 'found') {
    if (row.state === 'verified') {
      const seen = await q.updateDomain(tx, tenantId, domainId, { checked: true, seen: true, missedChecks: 0 });
      if ((await q.resolveAlerts(tx, tenantId, DOMAIN_RECORD_MISSING_ALERT, domainId)) > 0) {
        await appendAudit(tx, tenantId, [auditEntry(ctx, 'domain.record_restored', 'domain', domainId, { name: row.name })]);
      }
      return { outcome: 'seen', domain: view(seen) };
    }
    if (row.state === 'pending' && Date.parse(row.expires_at) <= Date.now()) return expire(tx, ctx, row);
    // pending → verified, failed → verified again. The name may be verified by another tenant: the
    // unique index refuses it, inside a savepoint so the transaction goes on.
    try {
      const verified = await tx.transaction((sp) => q.updateDomain(sp, tenantId, domainId, { state: 'verified', verified: true, checked: true, seen: true, missedChecks: 0 }));
      await q.resolveAlerts(tx, tenantId, DOMAIN_RECORD_MISSING_ALERT, domainId);
      await appendAudit(tx, tenantId, [auditEntry(ctx, row.state === 'failed' ? 'domain.reverified' : 'domain.verified', 'domain', domainId, { name: row.name })]);
      return { outcome: 'verified', domain: view(verified) };
    } catch (err) {
      if (sqlState(err) !== '23505') throw err;
      const checked = await q.updateDomain(tx, tenantId, domainId, { checked: true });
      await appendAudit(tx, tenantId, [auditEntry(ctx, 'domain.verification_refused', 'domain', domainId, { name: row.name, reason: 'verified by another tenant' })]);
      return { outcome: 'taken', domain: view(checked) };
    }
  }

  // absent
  if (row.state === 'pending') {
    const checked = await q.updateDomain(tx, tenantId, domainId, { checked: true });
    if (Date.parse(row.expires_at) <= Date.now()) return expire(tx, ctx, checked);
    return { outcome: 'pending', domain: view(checked) };
  }
  if (row.state === 'failed') return { outcome: 'failed', domain: view(await q.updateDomain(tx, tenantId, domainId, { checked: true, missedChecks: row.missed_checks + 1 })) };
  const missed = row.missed_checks + 1;
  const failed = missed >= RECHECK_GRACE_MISSES;
  const updated = await q.updateDomain(tx, tenantId, domainId, { checked: true, missedChecks: missed, ...(failed ? { state: 'failed' as const } : {}) });
  const raised = await q.raiseAlert(tx, tenantId, DOMAIN_RECORD_MISSING_ALERT, { subjectId: domainId, name: row.name, record: q.toDomainView(updated).challenge.name });
  await appendAudit(tx, tenantId, [
    ...(raised ? [auditEntry(ctx, 'domain.record_missing', 'domain', domainId, { name: row.name, missedChecks: missed })] : []),
    ...(failed ? [auditEntry(ctx, 'domain.verification_failed', 'domain', domainId, { name: row.name, missedChecks: missed })] : []),
  ]);
  return { outcome: failed ? 'failed' : 'missing', domain: view(updated) };
}

async function expire(tx: Tx, ctx: ServiceContext, row: q.DomainRow): Promise<{ outcome: 'expired'; domain: DomainView }> {
  const expired = await q.updateDomain(tx, ctx.tenantId, row.id, { state: 'expired' });
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'domain.challenge_expired', 'domain', row.id, { name: row.name })]);
  return { outcome: 'expired', domain: q.toDomainView(expired) };
}
