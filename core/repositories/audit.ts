import { sql } from 'slonik';
import { z } from 'zod';
import type { Db, Tx } from '../db/pool.js';

/** Who did it: the IdP through a SCIM connection, the lifecycle engine, an operator, a person. */
export const Actor = z.object({
  type: z.enum(['scim', 'system', 'operator', 'user']),
  id: z.string().optional(),
});
export type Actor = z.infer<typeof Actor>;

export const AuditEventInput = z.object({
  actor: Actor,
  action: z.string().min(1),
  targetType: z.string().optional(),
  targetId: z.string().optional(),
  requestId: z.string().optional(),
  /** before / after and anything else worth keeping; never secrets. */
  data: z.record(z.unknown()).default({}),
});
export type AuditEventInput = z.input<typeof AuditEventInput>;

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
  const rows = events.map((input) => {
    const e = AuditEventInput.parse(input);
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
  await tx.query(sql.unsafe`
    INSERT INTO audit_events (tenant_id, actor_type, actor_id, action, target_type, target_id, request_id, data)
    SELECT t, at, ai, a, tt, ti, r, d::jsonb
      FROM ${sql.unnest(rows, ['uuid', 'text', 'text', 'text', 'text', 'text', 'text', 'text'])}
        AS x(t, at, ai, a, tt, ti, r, d)`);
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

/** Seals every tenant's pending audit rows into its hash chain. Safe to run from many replicas. */
export async function sealAuditChains(db: Db): Promise<number> {
  const tenants = await db.anyFirst(sql.type(z.object({ t: z.string() }))`SELECT t FROM audit_tenants_to_seal() AS t`);
  let sealed = 0;
  for (const tenantId of tenants) {
    sealed += await db.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT audit_seal(${tenantId}) AS n`);
  }
  return sealed;
}

export const ChainVerification = z.object({ sealed: z.number(), first_bad_seq: z.number().nullable() });

/** Recomputes a tenant's chain; first_bad_seq is null when every link verifies. */
export async function verifyAuditChain(db: Db, tenantId: string) {
  return db.one(sql.type(ChainVerification)`SELECT * FROM audit_verify(${tenantId})`);
}
