import { sql } from 'slonik';
import { z } from 'zod';
import type { Tx } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { LifecycleState } from './users.js';

export const IdentityLifecycle = z.object({
  id: z.string().uuid(),
  lifecycle_state: LifecycleState,
  active: z.boolean(),
  provisioned_at: z.string(),
  activated_at: z.string().nullable(),
  suspended_at: z.string().nullable(),
  deleted_at: z.string().nullable(),
  scim_deleted_at: z.string().nullable(),
  roles: z.array(z.string()),
  held: z.boolean(),
});

/** An identity's lifecycle state, each transition's time and its granted roles (no personal data). */
export async function identityLifecycle(tx: Tx, tenantId: string, userId: string) {
  const row = await tx.maybeOne(sql.type(IdentityLifecycle)`
    SELECT u.id, u.lifecycle_state, u.active, u.provisioned_at, u.activated_at, u.suspended_at, u.deleted_at, u.scim_deleted_at,
           coalesce((SELECT array_agg(role ORDER BY role) FROM user_roles r WHERE r.tenant_id = u.tenant_id AND r.user_id = u.id), '{}') AS roles,
           EXISTS (SELECT 1 FROM deprovision_holds h WHERE h.tenant_id = u.tenant_id AND h.user_id = u.id AND h.released_at IS NULL) AS held
      FROM users u WHERE u.tenant_id = ${tenantId} AND u.id = ${userId}`);
  if (!row) throw new DomainError(404, 'not_found', 'no such user in this tenant');
  return row;
}

export const TimelineEntry = z.object({
  at: z.string(),
  action: z.string(),
  actor_type: z.string(),
  actor_id: z.string().nullable(),
  seq: z.number().nullable(),
});

/** The identity's lifecycle timeline from the audit log (actions and actors, not attribute values). */
export async function identityTimeline(tx: Tx, tenantId: string, userId: string, limit = 500) {
  return tx.any(sql.type(TimelineEntry)`
    SELECT occurred_at AS at, action, actor_type, actor_id, (data->>'seq')::int8 AS seq
      FROM audit_events WHERE tenant_id = ${tenantId} AND target_type = 'user' AND target_id = ${userId}
     ORDER BY id LIMIT ${limit}`);
}

export const TenantAlert = z.object({
  id: z.number(),
  kind: z.string(),
  data: z.record(z.unknown()),
  created_at: z.string(),
  resolved_at: z.string().nullable(),
});

/** The tenant's alerts (e.g. a tripped mass-deprovisioning guard), newest first. */
export async function tenantAlerts(tx: Tx, tenantId: string, options: { open?: boolean } = {}) {
  return tx.any(sql.type(TenantAlert)`
    SELECT id, kind, data, created_at, resolved_at FROM tenant_alerts
     WHERE tenant_id = ${tenantId} ${options.open ? sql.fragment`AND resolved_at IS NULL` : sql.fragment``}
     ORDER BY created_at DESC LIMIT 200`);
}
