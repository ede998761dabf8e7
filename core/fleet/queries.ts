import { sql } from 'slonik';
import { z } from 'zod';
import type { Db, Tx } from '../db/pool.js';
import { errorRate } from '../connections/activity-schema.js';
import type { ConnectionHealth, IdentityAlert, ParkedStreamAlert, Tenant, TenantSummary } from './schema.js';

// The console's queries: each calls one of the SECURITY DEFINER functions of migration
// 1764700001000_scim_activity.sql, the only way the console reaches across tenants.

type Conn = Db | Tx;

const minutes = (n: number) => sql.fragment`make_interval(mins => ${n})`;

const TenantSummaryRow = z.object({
  id: z.string().uuid(),
  slug: z.string(),
  name: z.string(),
  created_at: z.string(),
  connections: z.number(),
  last_request_at: z.string().nullable(),
  requests_1h: z.number(),
  errors_1h: z.number(),
  outbox_backlog: z.number(),
  oldest_undelivered_at: z.string().nullable(),
  stuck: z.number(),
  held: z.number(),
});

function toSummary(r: z.infer<typeof TenantSummaryRow>): TenantSummary {
  return {
    id: r.id,
    slug: r.slug,
    name: r.name,
    createdAt: r.created_at,
    connections: r.connections,
    lastRequestAt: r.last_request_at,
    requests1h: r.requests_1h,
    errors1h: r.errors_1h,
    errorRate1h: errorRate(r.requests_1h, r.errors_1h),
    outboxBacklog: r.outbox_backlog,
    oldestUndeliveredAt: r.oldest_undelivered_at,
    stuck: r.stuck,
    held: r.held,
  };
}

export async function listTenantSummaries(db: Conn, stuckAfterMinutes: number): Promise<TenantSummary[]> {
  const rows = await db.any(sql.type(TenantSummaryRow)`SELECT * FROM console_tenants(${minutes(stuckAfterMinutes)})`);
  return rows.map(toSummary);
}

export async function findTenantSummary(db: Conn, tenantId: string, stuckAfterMinutes: number): Promise<TenantSummary | null> {
  const row = await db.maybeOne(sql.type(TenantSummaryRow)`SELECT * FROM console_tenants(${minutes(stuckAfterMinutes)}, ${tenantId})`);
  return row ? toSummary(row) : null;
}

const ConnectionRow = z.object({
  id: z.string().uuid(),
  name: z.string(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
  live_tokens: z.number(),
  last_request_at: z.string().nullable(),
  requests_1h: z.number(),
  errors_1h: z.number(),
});

export async function listConnectionHealth(db: Conn, tenantId: string): Promise<ConnectionHealth[]> {
  const rows = await db.any(sql.type(ConnectionRow)`SELECT * FROM console_tenant_connections(${tenantId})`);
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    liveTokens: r.live_tokens,
    lastRequestAt: r.last_request_at,
    requests1h: r.requests_1h,
    errors1h: r.errors_1h,
    errorRate1h: errorRate(r.requests_1h, r.errors_1h),
  }));
}

const TenantRow = z.object({ id: z.string().uuid(), slug: z.string(), name: z.string(), created_at: z.string() });

/** Inserts the tenant row; call inside a transaction already scoped to `id` (its audit row follows). */
export async function insertTenant(tx: Tx, input: { id: string; slug: string; name: string }): Promise<Tenant> {
  const r = await tx.one(sql.type(TenantRow)`SELECT * FROM console_create_tenant(${input.id}, ${input.slug}, ${input.name})`);
  return { id: r.id, slug: r.slug, name: r.name, createdAt: r.created_at };
}

const OutboxHealthRow = z.object({
  backlog: z.number(),
  oldest_undelivered_at: z.string().nullable(),
  failing: z.number(),
  last_error: z.string().nullable(),
  age_seconds: z.number(),
});

export async function outboxHealth(db: Conn) {
  return db.one(sql.type(OutboxHealthRow)`
    SELECT h.*, coalesce(extract(epoch FROM now() - h.oldest_undelivered_at), 0)::float8 AS age_seconds
      FROM console_outbox_health() h`);
}

const AlertRow = z.object({
  tenant_id: z.string().uuid(),
  tenant_slug: z.string(),
  kind: z.enum(['stuck', 'held']),
  user_id: z.string().uuid(),
  since: z.string(),
  event_seq: z.number(),
  applied_seq: z.number(),
});

export async function listIdentityAlerts(db: Conn, stuckAfterMinutes: number, limit: number): Promise<IdentityAlert[]> {
  const rows = await db.any(sql.type(AlertRow)`SELECT * FROM console_identity_alerts(${minutes(stuckAfterMinutes)}, ${limit})`);
  return rows.map((r) => ({
    tenantId: r.tenant_id,
    tenantSlug: r.tenant_slug,
    kind: r.kind,
    identityId: r.user_id,
    since: r.since,
    eventSeq: r.event_seq,
    appliedSeq: r.applied_seq,
  }));
}

const ParkRow = z.object({
  tenant_id: z.string().uuid(),
  tenant_slug: z.string(),
  user_id: z.string().uuid(),
  seq: z.number(),
  event_type: z.string(),
  failure_type: z.string(),
  attempts: z.number(),
  since: z.string(),
});

/** Open stream parks (one tenant's, or every tenant's), oldest first. */
export async function listStreamParks(db: Conn, options: { tenantId?: string; limit: number }): Promise<ParkedStreamAlert[]> {
  const rows = await db.any(sql.type(ParkRow)`SELECT * FROM console_stream_parks(${options.tenantId ?? null}, ${options.limit})`);
  return rows.map((r) => ({
    tenantId: r.tenant_id,
    tenantSlug: r.tenant_slug,
    identityId: r.user_id,
    seq: r.seq,
    eventType: r.event_type,
    failureType: r.failure_type,
    attempts: r.attempts,
    since: r.since,
  }));
}
