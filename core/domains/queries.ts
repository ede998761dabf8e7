import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import type { Db, Tx } from '../db/pool.js';
import { challengeFor, DomainState, type DomainView } from './schema.js';

// SQL for claimed domains; tenant always explicit. Rules and audit: service.ts.

const DomainRow = z.object({
  id: z.string().uuid(),
  tenant_id: z.string().uuid(),
  name: z.string(),
  challenge_token: z.string(),
  state: DomainState,
  created_at: z.string(),
  verified_at: z.string().nullable(),
  last_checked_at: z.string().nullable(),
  last_seen_at: z.string().nullable(),
  missed_checks: z.number(),
  expires_at: z.string(),
});
export type DomainRow = z.infer<typeof DomainRow>;
const columns = sql.fragment`id, tenant_id, name, challenge_token, state, created_at, verified_at, last_checked_at, last_seen_at, missed_checks, expires_at`;

export function toDomainView(row: DomainRow): DomainView {
  return {
    id: row.id,
    name: row.name,
    state: row.state,
    challenge: challengeFor(row.name, row.challenge_token),
    createdAt: row.created_at,
    verifiedAt: row.verified_at,
    lastCheckedAt: row.last_checked_at,
    lastSeenAt: row.last_seen_at,
    missedChecks: row.missed_checks,
    expiresAt: row.expires_at,
  };
}

export async function insertDomain(tx: Tx, tenantId: string, input: { name: string; token: string; ttlDays: number }): Promise<DomainRow> {
  return tx.one(sql.type(DomainRow)`
    INSERT INTO domains (id, tenant_id, name, challenge_token, expires_at)
    VALUES (${randomUUID()}, ${tenantId}, ${input.name}, ${input.token}, now() + make_interval(days => ${input.ttlDays}))
    RETURNING ${columns}`);
}

/** Live claims first (pending, verified, failed), then the closed ones, newest first within each. */
export async function listDomains(tx: Tx, tenantId: string): Promise<readonly DomainRow[]> {
  return tx.any(sql.type(DomainRow)`
    SELECT ${columns} FROM domains WHERE tenant_id = ${tenantId}
     ORDER BY state IN ('pending', 'verified', 'failed') DESC, created_at DESC, id`);
}

export async function findDomain(tx: Tx | Db, tenantId: string, domainId: string, options: { lock?: boolean } = {}): Promise<DomainRow | null> {
  return tx.maybeOne(sql.type(DomainRow)`
    SELECT ${columns} FROM domains WHERE tenant_id = ${tenantId} AND id = ${domainId}
    ${options.lock ? sql.fragment`FOR NO KEY UPDATE` : sql.fragment``}`);
}

export async function findLiveDomainByName(tx: Tx, tenantId: string, name: string): Promise<DomainRow | null> {
  return tx.maybeOne(sql.type(DomainRow)`
    SELECT ${columns} FROM domains WHERE tenant_id = ${tenantId} AND name = ${name} AND state IN ('pending', 'verified', 'failed')`);
}

/** The tenant's verified domain names among `names` (the ones an SSO connection may name). */
export async function verifiedDomainNames(tx: Tx, tenantId: string, names: readonly string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const rows = await tx.anyFirst(sql.type(z.object({ name: z.string() }))`
    SELECT name FROM domains WHERE tenant_id = ${tenantId} AND state = 'verified' AND name = ANY(${sql.array([...names], 'text')})`);
  return [...rows];
}

export async function updateDomain(
  tx: Tx,
  tenantId: string,
  domainId: string,
  set: { state?: DomainState; verified?: boolean; checked?: boolean; seen?: boolean; missedChecks?: number },
): Promise<DomainRow> {
  const parts = [
    ...(set.state ? [sql.fragment`state = ${set.state}`] : []),
    ...(set.state === 'removed' ? [sql.fragment`removed_at = now()`] : []),
    ...(set.verified ? [sql.fragment`verified_at = now()`] : []),
    ...(set.checked ? [sql.fragment`last_checked_at = now()`] : []),
    ...(set.seen ? [sql.fragment`last_seen_at = now()`] : []),
    ...(set.missedChecks !== undefined ? [sql.fragment`missed_checks = ${set.missedChecks}`] : []),
  ];
  return tx.one(sql.type(DomainRow)`
    UPDATE domains SET ${sql.join(parts, sql.fragment`, `)} WHERE tenant_id = ${tenantId} AND id = ${domainId} RETURNING ${columns}`);
}

const DueRow = z.object({ tenant_id: z.string().uuid(), id: z.string().uuid() });
export type DueRef = { tenantId: string; id: string };

/** Fleet-wide (SECURITY DEFINER, ids only): live domains after the cursor, for the scheduled sweep. */
export async function domainsDue(db: Db, after: DueRef | null, limit: number): Promise<DueRef[]> {
  const rows = await db.any(sql.type(DueRow)`SELECT tenant_id, id FROM domains_due_recheck(${after?.tenantId ?? null}, ${after?.id ?? null}, ${limit})`);
  return rows.map((r) => ({ tenantId: r.tenant_id, id: r.id }));
}

/** An open tenant alert of this kind about this domain or connection, or a new one (idempotent). */
export async function raiseAlert(tx: Tx, tenantId: string, kind: string, data: Record<string, unknown> & { subjectId: string }): Promise<boolean> {
  const open = await tx.exists(sql.unsafe`
    SELECT 1 FROM tenant_alerts WHERE tenant_id = ${tenantId} AND kind = ${kind} AND resolved_at IS NULL AND data->>'subjectId' = ${data.subjectId}`);
  if (open) return false;
  await tx.query(sql.unsafe`INSERT INTO tenant_alerts (tenant_id, kind, data) VALUES (${tenantId}, ${kind}, ${sql.jsonb(data as never)})`);
  return true;
}

export async function resolveAlerts(tx: Tx, tenantId: string, kind: string, subjectId: string): Promise<number> {
  const res = await tx.query(sql.unsafe`
    UPDATE tenant_alerts SET resolved_at = now() WHERE tenant_id = ${tenantId} AND kind = ${kind} AND resolved_at IS NULL AND data->>'subjectId' = ${subjectId}`);
  return res.rowCount;
}
