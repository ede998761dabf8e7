import { type FragmentSqlToken, sql } from 'slonik';
import { z } from 'zod';
import type { Db, Tx } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { escapeLike } from '../scim/fold.js';
import { type AuditEventInput, AuditEventInput as AuditEventInputSchema, type AuditFilter } from './schema.js';

// SQL of the audit log. Every function takes the tenant explicitly and filters on it (the CLI
// connects as the owner; row-level security is the second wall, not the only one).

export const AuditEventRow = z.object({
  id: z.number(),
  tenant_id: z.string().uuid(),
  occurred_at: z.string(),
  actor_type: z.string(),
  actor_id: z.string().nullable(),
  action: z.string(),
  target_type: z.string().nullable(),
  target_id: z.string().nullable(),
  request_id: z.string().nullable(),
  data: z.record(z.unknown()),
  seq: z.number().nullable(),
  prev_hash: z.instanceof(Buffer).nullable(),
  hash: z.instanceof(Buffer).nullable(),
});
export type AuditEventRow = z.infer<typeof AuditEventRow>;

/** Appends audit events inside the caller's transaction (unsealed; the sealer chains them). */
export async function appendAudit(tx: Tx, tenantId: string, events: AuditEventInput[]): Promise<void> {
  if (events.length === 0) return;
  await tx.query(sql.unsafe`${auditInsert(tenantId, events)}`);
}

/**
 * appendAudit's statement as a fragment, for a caller that folds it into a larger statement (a
 * data-modifying CTE) to save the round trip (the lifecycle hot path). `events` must not be empty.
 */
export function auditInsert(tenantId: string, events: readonly AuditEventInput[]): FragmentSqlToken {
  const rows = events.map((input) => {
    const e = AuditEventInputSchema.parse(input);
    return [
      tenantId,
      e.actor.type,
      e.actor.id ?? null,
      e.action,
      e.targetType ?? null,
      e.targetId ?? null,
      e.requestId ?? null,
      JSON.stringify(e.data),
    ];
  });
  return sql.fragment`
    INSERT INTO audit_events (tenant_id, actor_type, actor_id, action, target_type, target_id, request_id, data)
    SELECT t, at, ai, a, tt, ti, r, d::jsonb
      FROM ${sql.unnest(rows, ['uuid', 'text', 'text', 'text', 'text', 'text', 'text', 'text'])}
        AS x(t, at, ai, a, tt, ti, r, d)`;
}

export async function listAudit(
  tx: Tx,
  options: { targetType?: string; targetId?: string; limit?: number } = {},
): Promise<readonly AuditEventRow[]> {
  const where = [sql.fragment`TRUE`];
  if (options.targetType) where.push(sql.fragment`target_type = ${options.targetType}`);
  if (options.targetId) where.push(sql.fragment`target_id = ${options.targetId}`);
  return tx.any(sql.type(AuditEventRow)`
    SELECT * FROM audit_events WHERE ${sql.join(where, sql.fragment` AND `)}
     ORDER BY id LIMIT ${options.limit ?? 1000}`);
}

/** The WHERE clause of a filtered view of one tenant's log. */
export function auditWhere(tenantId: string, f: AuditFilter) {
  if (f.from && f.to && f.from >= f.to) throw new DomainError(400, 'invalid_request', '"from" must be before "to"');
  const where = [sql.fragment`tenant_id = ${tenantId}`];
  if (f.actorType) where.push(sql.fragment`actor_type = ${f.actorType}`);
  if (f.actorId) where.push(sql.fragment`actor_id = ${f.actorId}`);
  if (f.action?.endsWith('*')) {
    where.push(sql.fragment`action LIKE ${`${escapeLike(f.action.slice(0, -1))}%`}`);
  } else if (f.action) where.push(sql.fragment`action = ${f.action}`);
  if (f.targetType) where.push(sql.fragment`target_type = ${f.targetType}`);
  if (f.targetId) where.push(sql.fragment`target_id = ${f.targetId}`);
  if (f.from) where.push(sql.fragment`occurred_at >= ${f.from}::timestamptz`);
  if (f.to) where.push(sql.fragment`occurred_at < ${f.to}::timestamptz`);
  return sql.join(where, sql.fragment` AND `);
}

/**
 * One keyset page by id: `older` reads ids below `from` newest first; otherwise ids above `from`
 * oldest first (the caller flips them). One row more than `limit` tells whether more follow.
 */
export async function auditPage(
  tx: Tx,
  tenantId: string,
  f: AuditFilter,
  page: { from?: number | undefined; older: boolean; limit: number },
): Promise<readonly AuditEventRow[]> {
  const keyset =
    page.from === undefined ? sql.fragment`TRUE` : page.older ? sql.fragment`id < ${page.from}` : sql.fragment`id > ${page.from}`;
  const order = page.older ? sql.fragment`id DESC` : sql.fragment`id ASC`;
  return tx.any(sql.type(AuditEventRow)`
    SELECT * FROM audit_events WHERE ${auditWhere(tenantId, f)} AND ${keyset}
     ORDER BY ${order} LIMIT ${page.limit + 1}`);
}

/** Rows with after < id <= upTo in id order: one batch of an export. */
export async function auditBatch(tx: Tx, tenantId: string, f: AuditFilter, after: number, upTo: number, limit: number): Promise<readonly AuditEventRow[]> {
  return tx.any(sql.type(AuditEventRow)`
    SELECT * FROM audit_events WHERE ${auditWhere(tenantId, f)} AND id > ${after} AND id <= ${upTo}
     ORDER BY id LIMIT ${limit}`);
}

/** The newest event id of a tenant (0 when it has none): where an export stops. */
export async function latestAuditId(tx: Tx, tenantId: string): Promise<number> {
  return tx.oneFirst(sql.type(z.object({ n: z.number() }))`
    SELECT coalesce(max(id), 0)::int8 AS n FROM audit_events WHERE tenant_id = ${tenantId}`);
}

/** Seals every tenant's pending audit rows into its hash chain. Safe to run from many replicas. */
export async function sealAuditChains(db: Db): Promise<number> {
  const tenants = await db.anyFirst(sql.type(z.object({ t: z.string() }))`SELECT t FROM audit_tenants_to_seal() AS t`);
  let sealed = 0;
  for (const tenantId of tenants) {
    sealed += await db.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT audit_seal(${tenantId}) AS n`);
  }
  return sealed;
}

/** Seals one tenant's pending rows (up to `limit`); returns how many it linked. */
export async function sealTenantChain(tx: Pick<Tx, 'oneFirst'>, tenantId: string, limit = 5000): Promise<number> {
  return tx.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT audit_seal(${tenantId}, ${limit}) AS n`);
}

export const ChainVerificationRow = z.object({ sealed: z.number(), first_bad_seq: z.number().nullable() });

/** Recomputes a tenant's chain; first_bad_seq is null when every link verifies. */
export async function verifyAuditChain(db: Pick<Db, 'one'>, tenantId: string) {
  return db.one(sql.type(ChainVerificationRow)`SELECT * FROM audit_verify(${tenantId})`);
}

export const ChainDetailRow = z.object({
  sealed: z.number(),
  pending: z.number(),
  verified: z.number(),
  first_bad_seq: z.number().nullable(),
  reason: z.string().nullable(),
  event_id: z.number().nullable(),
  expected_seq: z.number().nullable(),
  found_seq: z.number().nullable(),
  expected_prev_hash: z.instanceof(Buffer).nullable(),
  found_prev_hash: z.instanceof(Buffer).nullable(),
  expected_hash: z.instanceof(Buffer).nullable(),
  found_hash: z.instanceof(Buffer).nullable(),
});
export type ChainDetailRow = z.infer<typeof ChainDetailRow>;

/**
 * `audit_verify` with what the first broken link expected and found (migration 1764700004000).
 * A long chain takes longer than the pool's statement timeout: this transaction gets its own.
 */
export async function verifyAuditChainDetail(tx: Pick<Tx, 'one' | 'query'>, tenantId: string, timeoutMinutes = 15): Promise<ChainDetailRow> {
  await tx.query(sql.unsafe`SELECT set_config('statement_timeout', ${`${timeoutMinutes}min`}, true)`);
  return tx.one(sql.type(ChainDetailRow)`SELECT * FROM audit_verify_detail(${tenantId})`);
}
