import { sql } from 'slonik';
import { z } from 'zod';
import type { Db, Tx } from '../db/pool.js';
import type { PortalRole } from '../portal-auth/schema.js';
import { ChangeRequestState, DecisionVerdict } from './schema.js';

// SQL for change requests, their decisions and the tenant's approval policy; rules and views live
// in service.ts. Every query names its tenant explicitly as well as relying on RLS (the CLI
// connects as the owner).

type Json = Parameters<typeof sql.jsonb>[0];
const jsonb = (value: unknown) => sql.jsonb(value as Json);

export const ChangeRequestRow = z.object({
  id: z.string().uuid(),
  tenant_id: z.string().uuid(),
  kind: z.string(),
  payload: z.unknown(),
  description: z.unknown(),
  change_hash: z.string(),
  state: ChangeRequestState,
  requested_by_type: z.string(),
  requested_by_id: z.string().nullable(),
  requested_by_email: z.string().nullable(),
  reason: z.string().nullable(),
  approvals_needed: z.number().int(),
  eligible_roles: z.array(z.string()),
  eligible_user_ids: z.array(z.string()),
  escalated_at: z.string().nullable(),
  expires_at: z.string(),
  applies_at: z.string().nullable(),
  decided_at: z.string().nullable(),
  applied_at: z.string().nullable(),
  result: z.record(z.unknown()).nullable(),
  has_secret: z.boolean(),
  secret_collected: z.boolean(),
  workflow_started_at: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  version: z.number().int(),
});
export type ChangeRequestRow = z.infer<typeof ChangeRequestRow>;

export const DecisionRow = z.object({
  request_id: z.string().uuid(),
  user_id: z.string().uuid(),
  verdict: DecisionVerdict,
  comment: z.string().nullable(),
  change_hash: z.string(),
  valid: z.boolean(),
  decided_at: z.string(),
});
export type DecisionRow = z.infer<typeof DecisionRow>;

const columns = sql.fragment`r.id, r.tenant_id, r.kind, r.payload, r.description, r.change_hash, r.state, r.requested_by_type,
  r.requested_by_id, (SELECT u.email FROM portal_users u WHERE u.tenant_id = r.tenant_id AND r.requested_by_type = 'user' AND u.id::text = r.requested_by_id) AS requested_by_email,
  r.reason, r.approvals_needed, r.eligible_roles, r.eligible_user_ids::text[] AS eligible_user_ids, r.escalated_at, r.expires_at, r.applies_at, r.decided_at, r.applied_at, r.result,
  (r.secret IS NOT NULL) AS has_secret, r.secret_collected, r.workflow_started_at, r.created_at, r.updated_at, r.version`;

export interface NewChangeRequest {
  id: string;
  kind: string;
  payload: unknown;
  description: unknown;
  changeHash: string;
  state: ChangeRequestState;
  requestedBy: { type: string; id?: string | undefined };
  reason: string | null;
  approvalsNeeded: number;
  eligibleRoles: readonly string[];
  eligibleUserIds: readonly string[];
  expiresAt: Date;
}

export async function insertChangeRequest(tx: Tx, tenantId: string, r: NewChangeRequest): Promise<ChangeRequestRow> {
  return tx.one(sql.type(ChangeRequestRow)`
    WITH r AS (
      INSERT INTO change_requests (id, tenant_id, kind, payload, description, change_hash, state, requested_by_type, requested_by_id, reason, approvals_needed,
                                   eligible_roles, eligible_user_ids, expires_at)
      VALUES (${r.id}, ${tenantId}, ${r.kind}, ${jsonb(r.payload)}, ${jsonb(r.description)}, ${r.changeHash}, ${r.state}, ${r.requestedBy.type},
              ${r.requestedBy.id ?? null}, ${r.reason}, ${r.approvalsNeeded}, ${sql.array(r.eligibleRoles, 'text')},
              ${sql.array(r.eligibleUserIds, 'uuid')}, ${r.expiresAt.toISOString()})
      RETURNING *)
    SELECT ${columns} FROM r`);
}

export async function findChangeRequest(tx: Tx, tenantId: string, id: string, options: { forUpdate?: boolean } = {}): Promise<ChangeRequestRow | null> {
  if (options.forUpdate) {
    await tx.query(sql.unsafe`SELECT 1 FROM change_requests WHERE tenant_id = ${tenantId} AND id = ${id} FOR NO KEY UPDATE`);
  }
  return tx.maybeOne(sql.type(ChangeRequestRow)`SELECT ${columns} FROM change_requests r WHERE r.tenant_id = ${tenantId} AND r.id = ${id}`);
}

export async function listDecisions(tx: Tx, tenantId: string, requestIds: readonly string[]): Promise<readonly DecisionRow[]> {
  if (requestIds.length === 0) return [];
  return tx.any(sql.type(DecisionRow)`
    SELECT request_id, user_id, verdict, comment, change_hash, valid, decided_at FROM change_request_decisions
     WHERE tenant_id = ${tenantId} AND request_id = ANY(${sql.array(requestIds, 'uuid')}) ORDER BY decided_at, user_id`);
}

/** Records a decision once per (request, user, hash); false when it was already there. */
export async function insertDecision(
  tx: Tx,
  tenantId: string,
  d: { requestId: string; userId: string; verdict: string; comment: string | null; changeHash: string },
): Promise<boolean> {
  const res = await tx.query(sql.unsafe`
    INSERT INTO change_request_decisions (tenant_id, request_id, user_id, verdict, comment, change_hash)
    VALUES (${tenantId}, ${d.requestId}, ${d.userId}, ${d.verdict}, ${d.comment}, ${d.changeHash})
    ON CONFLICT DO NOTHING`);
  return res.rowCount === 1;
}

/** Voids every decision made on another hash than `changeHash` (an edit). */
export async function voidDecisions(tx: Tx, tenantId: string, requestId: string, changeHash: string): Promise<number> {
  const res = await tx.query(sql.unsafe`
    UPDATE change_request_decisions SET valid = false
     WHERE tenant_id = ${tenantId} AND request_id = ${requestId} AND change_hash <> ${changeHash} AND valid`);
  return res.rowCount;
}

export async function updateChangeRequest(
  tx: Tx,
  tenantId: string,
  id: string,
  set: {
    state?: ChangeRequestState;
    payload?: unknown;
    description?: unknown;
    changeHash?: string;
    bumpVersion?: boolean;
    appliesAt?: string | null;
    decidedAt?: 'now';
    appliedAt?: 'now';
    result?: Record<string, unknown>;
    secret?: Buffer | null;
    secretCollected?: boolean;
    workflowStarted?: boolean;
    escalated?: boolean;
  },
): Promise<void> {
  const sets = [sql.fragment`updated_at = now()`];
  if (set.state !== undefined) sets.push(sql.fragment`state = ${set.state}`);
  if (set.payload !== undefined) sets.push(sql.fragment`payload = ${jsonb(set.payload)}`);
  if (set.description !== undefined) sets.push(sql.fragment`description = ${jsonb(set.description)}`);
  if (set.changeHash !== undefined) sets.push(sql.fragment`change_hash = ${set.changeHash}`);
  if (set.bumpVersion) sets.push(sql.fragment`version = version + 1`);
  if (set.appliesAt !== undefined) sets.push(sql.fragment`applies_at = ${set.appliesAt}`);
  if (set.decidedAt) sets.push(sql.fragment`decided_at = coalesce(decided_at, now())`);
  if (set.appliedAt) sets.push(sql.fragment`applied_at = now()`);
  if (set.result !== undefined) sets.push(sql.fragment`result = ${jsonb(set.result)}`);
  if (set.secret !== undefined) sets.push(sql.fragment`secret = ${set.secret ? sql.binary(set.secret) : null}`);
  if (set.secretCollected !== undefined) sets.push(sql.fragment`secret_collected = ${set.secretCollected}`);
  if (set.escalated) sets.push(sql.fragment`escalated_at = coalesce(escalated_at, now())`);
  if (set.workflowStarted) sets.push(sql.fragment`workflow_started_at = coalesce(workflow_started_at, now())`);
  await tx.query(sql.unsafe`UPDATE change_requests SET ${sql.join(sets, sql.fragment`, `)} WHERE tenant_id = ${tenantId} AND id = ${id}`);
}

const SecretRow = z.object({ secret: z.instanceof(Buffer).nullable(), secret_collected: z.boolean(), requested_by_type: z.string(), requested_by_id: z.string().nullable() });

/** The sealed secret, locked for the collecting transaction. */
export async function lockSecret(tx: Tx, tenantId: string, id: string): Promise<z.infer<typeof SecretRow> | null> {
  return tx.maybeOne(sql.type(SecretRow)`
    SELECT secret, secret_collected, requested_by_type, requested_by_id FROM change_requests
     WHERE tenant_id = ${tenantId} AND id = ${id} FOR NO KEY UPDATE`);
}

export type InboxBox = 'waiting' | 'mine' | 'history';

/**
 * One keyset page (newest first, `limit + 1` rows so the caller knows whether more follow).
 * waiting: open requests the user may decide (eligible by role or name, or an admin once escalated;
 * neither requester nor subject) and has not decided on the current hash. mine: requested by the
 * user. history: everything.
 */
export async function inboxPage(
  tx: Tx,
  tenantId: string,
  q: { box: InboxBox; userId: string; roles: readonly string[]; after?: { createdAt: string; id: string } | undefined; limit: number },
): Promise<readonly ChangeRequestRow[]> {
  const filters = [sql.fragment`r.tenant_id = ${tenantId}`];
  if (q.box === 'waiting') {
    filters.push(sql.fragment`r.state IN ('pending', 'cooling_off')`);
    filters.push(sql.fragment`r.requested_by_id IS DISTINCT FROM ${q.userId}`);
    filters.push(sql.fragment`NOT EXISTS (SELECT 1 FROM change_request_decisions d WHERE d.tenant_id = r.tenant_id AND d.request_id = r.id AND d.user_id = ${q.userId} AND d.change_hash = r.change_hash)`);
    filters.push(sql.fragment`NOT (r.description -> 'subjectUserIds' ? ${q.userId})`);
    filters.push(sql.fragment`(r.eligible_roles && ${sql.array(q.roles, 'text')} OR ${q.userId}::uuid = ANY(r.eligible_user_ids)
                               OR (r.escalated_at IS NOT NULL AND 'admin' = ANY(${sql.array(q.roles, 'text')})))`);
  } else if (q.box === 'mine') {
    filters.push(sql.fragment`r.requested_by_type = 'user' AND r.requested_by_id = ${q.userId}`);
  }
  if (q.after) filters.push(sql.fragment`(r.created_at, r.id) < (${q.after.createdAt}::timestamptz, ${q.after.id}::uuid)`);
  return tx.any(sql.type(ChangeRequestRow)`
    SELECT ${columns} FROM change_requests r WHERE ${sql.join(filters, sql.fragment` AND `)}
     ORDER BY r.created_at DESC, r.id DESC LIMIT ${q.limit + 1}`);
}

const PolicyRow = z.object({ policy: z.unknown() });

export async function findPolicy(tx: Tx, tenantId: string): Promise<unknown> {
  const row = await tx.maybeOne(sql.type(PolicyRow)`SELECT policy FROM approval_policies WHERE tenant_id = ${tenantId}`);
  return row?.policy ?? null;
}

export async function writePolicy(tx: Tx, tenantId: string, policy: unknown): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO approval_policies (tenant_id, policy) VALUES (${tenantId}, ${jsonb(policy)})
    ON CONFLICT (tenant_id) DO UPDATE SET policy = EXCLUDED.policy, updated_at = now()`);
}

const Id = z.object({ id: z.string().uuid() });

/** Active portal users holding one of `roles` or named in `userIds`: who may approve. */
export async function eligibleApprovers(tx: Tx, tenantId: string, roles: readonly PortalRole[], userIds: readonly string[]): Promise<string[]> {
  const rows = await tx.any(sql.type(Id)`
    SELECT u.id FROM portal_users u
     WHERE u.tenant_id = ${tenantId} AND u.status = 'active'
       AND (u.id = ANY(${sql.array(userIds, 'uuid')})
            OR EXISTS (SELECT 1 FROM portal_user_roles ur WHERE ur.tenant_id = u.tenant_id AND ur.user_id = u.id AND ur.role = ANY(${sql.array(roles, 'text')})))
     ORDER BY u.id`);
  return rows.map((r) => r.id);
}

const Count = z.object({ n: z.number().int() });

export async function countPortalUsers(tx: Tx, tenantId: string): Promise<number> {
  return tx.oneFirst(sql.type(Count)`SELECT count(*)::int AS n FROM portal_users WHERE tenant_id = ${tenantId}`);
}

const Unstarted = z.object({ tenant_id: z.string().uuid(), id: z.string().uuid() });

/** Open requests of any tenant whose workflow was never started (SECURITY DEFINER; ids only). */
export async function unstartedRequests(db: Db, olderThanSeconds: number, limit: number): Promise<readonly { tenant_id: string; id: string }[]> {
  return db.any(sql.type(Unstarted)`SELECT tenant_id, id FROM change_requests_unstarted(${olderThanSeconds}, ${limit})`);
}

export async function countWaiting(tx: Tx, tenantId: string, userId: string, roles: readonly string[]): Promise<number> {
  return tx.oneFirst(sql.type(Count)`
    SELECT count(*)::int AS n FROM change_requests r
     WHERE r.tenant_id = ${tenantId} AND r.state IN ('pending', 'cooling_off')
       AND r.requested_by_id IS DISTINCT FROM ${userId}
       AND NOT (r.description -> 'subjectUserIds' ? ${userId})
       AND NOT EXISTS (SELECT 1 FROM change_request_decisions d WHERE d.tenant_id = r.tenant_id AND d.request_id = r.id AND d.user_id = ${userId} AND d.change_hash = r.change_hash)
       AND (r.eligible_roles && ${sql.array(roles, 'text')} OR ${userId}::uuid = ANY(r.eligible_user_ids)
            OR (r.escalated_at IS NOT NULL AND 'admin' = ANY(${sql.array(roles, 'text')})))`);
}

export async function countMineOpen(tx: Tx, tenantId: string, userId: string): Promise<number> {
  return tx.oneFirst(sql.type(Count)`
    SELECT count(*)::int AS n FROM change_requests r
     WHERE r.tenant_id = ${tenantId} AND r.requested_by_type = 'user' AND r.requested_by_id = ${userId} AND r.state IN ('pending', 'cooling_off')`);
}
