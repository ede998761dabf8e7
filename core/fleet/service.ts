import { randomUUID } from 'node:crypto';
import { type Db, sqlState, withTenant } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { auditSizes } from '../maintenance/queries.js';
import { appendAudit } from '../repositories/audit.js';
import { appendOperatorAudit } from '../portal-auth/operator-queries.js';
import { findTenantSummary, insertTenant, listConnectionHealth, listIdentityAlerts, listStreamParks, listTenantSummaries, outboxHealth } from './queries.js';
import { CreateTenantBody, type FleetHealth, type ParkedStreamAlert, type RelayStatus, type StreamDecision, type Tenant, type TenantDetail, type TenantList } from './schema.js';

/** The operator acting in the console (audited as actor `operator`). */
export interface OperatorActor {
  type: 'operator';
  id: string;
}

/** The most identity alerts one fleet page lists (counts per tenant stay exact). */
export const FLEET_ALERT_LIMIT = 200;
/** The oldest undelivered outbox row may wait this long before the relay counts as lagging. */
export const RELAY_LAG_SECONDS = 60;

/**
 * Creates a tenant; its first audit row, in its own log, names the operator. One transaction,
 * scoped to the new tenant from its first statement.
 */
export async function createTenant(db: Db, actor: OperatorActor, input: CreateTenantBody): Promise<Tenant> {
  const { slug, name } = CreateTenantBody.parse(input);
  const id = randomUUID();
  try {
    return await withTenant(db, id, async (tx) => {
      const tenant = await insertTenant(tx, { id, slug, name });
      await appendAudit(tx, id, [{ actor, action: 'tenant.created', targetType: 'tenant', targetId: id, data: { slug, name } }]);
      return tenant;
    });
  } catch (err) {
    if (sqlState(err) === '23505') throw new DomainError(409, 'tenant_exists', `a tenant with the slug "${slug}" already exists`);
    throw err;
  }
}

export async function listTenants(db: Db, stuckAfterMinutes: number): Promise<TenantList> {
  return { tenants: await listTenantSummaries(db, stuckAfterMinutes), stuckAfterMinutes };
}

export async function tenantDetail(db: Db, tenantId: string, stuckAfterMinutes: number): Promise<TenantDetail> {
  const tenant = await requireTenant(db, tenantId, stuckAfterMinutes);
  const [connections, [size], parkedStreams] = await Promise.all([listConnectionHealth(db, tenantId), auditSizes(db, tenantId), listStreamParks(db, { tenantId, limit: FLEET_ALERT_LIMIT })]);
  return { tenant, connections, auditLog: { rows: size?.rows ?? 0, bytes: size?.bytes ?? 0, measuredAt: size?.measuredAt ?? null }, parkedStreams };
}

export async function requireTenant(db: Db, tenantId: string, stuckAfterMinutes = 0) {
  const tenant = await findTenantSummary(db, tenantId, stuckAfterMinutes);
  if (!tenant) throw new DomainError(404, 'not_found', 'no such tenant');
  return tenant;
}

function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function relayStatus(outbox: { backlog: number; failing: number; age_seconds: number; last_error: string | null }): { status: RelayStatus; detail: string } {
  if (outbox.failing > 0) {
    return { status: 'failing', detail: `${outbox.failing} undelivered event(s) failed at least once${outbox.last_error ? `: ${outbox.last_error}` : ''}` };
  }
  if (outbox.backlog > 0 && outbox.age_seconds > RELAY_LAG_SECONDS) {
    return { status: 'lagging', detail: `the oldest undelivered event has waited ${duration(outbox.age_seconds)} (more than ${duration(RELAY_LAG_SECONDS)})` };
  }
  return { status: 'healthy', detail: outbox.backlog === 0 ? 'nothing waiting for delivery' : `${outbox.backlog} event(s) waiting, the oldest for ${duration(outbox.age_seconds)}` };
}

/** Outbox backlog and relay health, stuck and held identities (ids only), per-tenant counts. */
export async function fleetHealth(db: Db, stuckAfterMinutes: number): Promise<FleetHealth> {
  const [outbox, tenants, identities] = await Promise.all([
    outboxHealth(db),
    listTenantSummaries(db, stuckAfterMinutes),
    listIdentityAlerts(db, stuckAfterMinutes, FLEET_ALERT_LIMIT + 1),
  ]);
  const parkedStreams = await listStreamParks(db, { limit: FLEET_ALERT_LIMIT });
  return {
    generatedAt: new Date().toISOString(),
    stuckAfterMinutes,
    outbox: {
      backlog: outbox.backlog,
      oldestUndeliveredAt: outbox.oldest_undelivered_at,
      oldestAgeSeconds: Math.max(0, Math.round(outbox.age_seconds)),
      failing: outbox.failing,
      lastError: outbox.last_error,
    },
    relay: relayStatus(outbox),
    tenants: tenants
      .filter((t) => t.outboxBacklog > 0 || t.stuck > 0 || t.held > 0)
      .map((t) => ({ id: t.id, slug: t.slug, outboxBacklog: t.outboxBacklog, stuck: t.stuck, held: t.held })),
    identities: identities.slice(0, FLEET_ALERT_LIMIT),
    identitiesTruncated: identities.length > FLEET_ALERT_LIMIT,
    parkedStreams,
  };
}

/** The open park of one identity of the tenant; 404 for no such tenant, 409 `not_parked` when its stream is not parked. */
export async function requireParkedStream(db: Db, tenantId: string, identityId: string): Promise<ParkedStreamAlert> {
  await requireTenant(db, tenantId);
  const park = (await listStreamParks(db, { tenantId, limit: 10_000 })).find((p) => p.identityId === identityId);
  if (!park) throw new DomainError(409, 'not_parked', "this identity's stream is not parked");
  return park;
}

/** An operator's retry or skip of a parked stream, in operator_audit (the tenant's own log has the workflow's row). */
export async function recordStreamDecision(
  db: Db,
  operatorId: string,
  input: { tenantId: string; identityId: string; action: 'retry' | 'skip'; reason?: string | undefined; outcome: StreamDecision['outcome']; seq: number },
): Promise<void> {
  await appendOperatorAudit(db, operatorId, `stream.${input.action}`, {
    tenantId: input.tenantId,
    identityId: input.identityId,
    seq: input.seq,
    outcome: input.outcome,
    ...(input.reason ? { reason: input.reason } : {}),
  });
}
