import { sql } from 'slonik';
import { z } from 'zod';
import type { Tx } from '../db/pool.js';
import { appendAudit } from './audit.js';
import { LifecycleState } from './users.js';

const IdentityPosition = z.object({
  applied_seq: z.number(),
  lifecycle_state: LifecycleState,
  active: z.boolean(),
  scim_deleted: z.boolean(),
  /** Milliseconds until a SCIM-deleted identity's grace period ends (null when not deleted). */
  deletion_due_in_ms: z.number().nullable(),
});
export type IdentityPosition = z.infer<typeof IdentityPosition>;

/** Where an identity's workflow stands in the database (any state, SCIM-deleted included). */
export async function identityPosition(tx: Tx, userId: string): Promise<IdentityPosition | null> {
  return tx.maybeOne(sql.type(IdentityPosition)`
    SELECT u.applied_seq, u.lifecycle_state, u.active, u.scim_deleted_at IS NOT NULL AS scim_deleted,
           CASE WHEN u.scim_deleted_at IS NOT NULL AND u.lifecycle_state <> 'deleted' THEN
             greatest(0, ceil(extract(epoch FROM (u.scim_deleted_at + make_interval(secs => t.deletion_grace_seconds) - now())) * 1000))::int8
           END AS deletion_due_in_ms
      FROM users u JOIN tenants t ON t.id = u.tenant_id
     WHERE u.id = ${userId}`);
}

const Transition = z.object({ lifecycle_state: LifecycleState, changed: z.boolean() });

/**
 * Applies the lifecycle consequence of event `seq` exactly once: the UPDATE only matches while
 * applied_seq = seq - 1, so a retried activity or a redelivered signal changes nothing twice. The
 * target state is checked against the row's current truth (`active`), so a stale "activate"
 * never undoes a later suspension that SCIM already wrote.
 */
export async function applyIdentityEvent(
  tx: Tx,
  input: { tenantId: string; userId: string; seq: number; type: string; workflowId: string },
): Promise<{ applied: boolean; state: LifecycleState }> {
  const activate = input.type === 'user.created' || input.type === 'user.activated';
  const row = await tx.maybeOne(sql.type(Transition)`
    WITH prev AS (SELECT lifecycle_state FROM users WHERE id = ${input.userId} FOR UPDATE)
    UPDATE users u SET applied_seq = ${input.seq},
           lifecycle_state = CASE
             WHEN ${activate} AND u.active AND u.scim_deleted_at IS NULL AND u.lifecycle_state IN ('provisioned', 'suspended')
               THEN 'active' ELSE u.lifecycle_state END,
           activated_at = CASE
             WHEN ${activate} AND u.active AND u.scim_deleted_at IS NULL AND u.lifecycle_state IN ('provisioned', 'suspended')
               THEN now() ELSE u.activated_at END
      FROM prev
     WHERE u.id = ${input.userId} AND u.applied_seq = ${input.seq - 1}
     RETURNING u.lifecycle_state, u.lifecycle_state IS DISTINCT FROM prev.lifecycle_state AS changed`);
  if (!row) {
    const current = await identityPosition(tx, input.userId);
    return { applied: false, state: current?.lifecycle_state ?? 'deleted' };
  }
  const action = row.changed ? `lifecycle.${row.lifecycle_state}` : `lifecycle.${input.type}`;
  await appendAudit(tx, input.tenantId, [
    {
      actor: { type: 'system', id: input.workflowId },
      action,
      targetType: 'user',
      targetId: input.userId,
      data: { seq: input.seq, event: input.type, state: row.lifecycle_state },
    },
  ]);
  return { applied: true, state: row.lifecycle_state };
}

/** The grace period has run out: the identity becomes `deleted` (once). */
export async function completeIdentityDeletion(
  tx: Tx,
  input: { tenantId: string; userId: string; workflowId: string },
): Promise<{ state: LifecycleState }> {
  const row = await tx.maybeOne(sql.type(z.object({ lifecycle_state: LifecycleState }))`
    UPDATE users SET lifecycle_state = 'deleted', deleted_at = now(), active = false
     WHERE id = ${input.userId} AND scim_deleted_at IS NOT NULL AND lifecycle_state <> 'deleted'
     RETURNING lifecycle_state`);
  if (row) {
    await appendAudit(tx, input.tenantId, [
      { actor: { type: 'system', id: input.workflowId }, action: 'lifecycle.deleted', targetType: 'user', targetId: input.userId, data: {} },
    ]);
  }
  return { state: 'deleted' };
}

const GroupPosition = z.object({ applied_seq: z.number() });

export async function groupPosition(tx: Tx, groupId: string): Promise<{ applied_seq: number } | null> {
  return tx.maybeOne(sql.type(GroupPosition)`SELECT applied_seq FROM groups WHERE id = ${groupId}`);
}

export async function applyGroupEvent(tx: Tx, input: { groupId: string; seq: number }): Promise<boolean> {
  const res = await tx.query(sql.unsafe`
    UPDATE groups SET applied_seq = ${input.seq} WHERE id = ${input.groupId} AND applied_seq = ${input.seq - 1}`);
  return res.rowCount > 0;
}
