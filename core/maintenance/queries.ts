import { sql } from 'slonik';
import { z } from 'zod';
import type { Db } from '../db/pool.js';
import type { AuditSize, PruneKind } from './schema.js';

// Cross-tenant housekeeping, through SECURITY DEFINER functions (migration 1764800201000_retention.sql):
// the app role deletes nothing itself.

/** Deletes at most `limit` rows of one kind past `days`; how many went. */
export async function pruneExpired(db: Db, kind: PruneKind, days: number, limit: number): Promise<number> {
  return db.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT prune_expired(${kind}, ${days}, ${limit}) AS n`);
}

/** Counts the audit rows sealed since the last pass into each tenant's size; the tenants visited (0 when another pass runs). */
export async function refreshAuditSizes(db: Db): Promise<number> {
  return db.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT audit_size_refresh() AS n`);
}

const SizeRow = z.object({ tenant_id: z.string().uuid(), slug: z.string(), audit_rows: z.number(), audit_bytes: z.number(), measured_at: z.string().nullable() });

/** Every tenant's audit size (or one tenant's). */
export async function auditSizes(db: Db, tenantId?: string): Promise<(AuditSize & { tenantId: string; slug: string })[]> {
  const rows = await db.any(sql.type(SizeRow)`SELECT * FROM console_audit_sizes(${tenantId ?? null})`);
  return rows.map((r) => ({ tenantId: r.tenant_id, slug: r.slug, rows: r.audit_rows, bytes: r.audit_bytes, measuredAt: r.measured_at }));
}
