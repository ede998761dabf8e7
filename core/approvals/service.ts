import { randomUUID } from 'node:crypto';
import { ZodError } from 'zod';
import { type Config, webhookTargets } from '../config.js';
import { type Db, type Tx, withTenant } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { type NewEvent, eventIdFor, recordEvents } from '../repositories/events.js';
import { type AuditEventInput, appendAudit } from '../repositories/audit.js';
import { openSecret, sealSecret } from '../secret-box.js';
import { auditEntry, type ServiceContext } from '../shared/service-context.js';
import type { PortalRole } from '../portal-auth/schema.js';
import { approvalWorkflowId } from '../../workflows/ids.js';
import type { ApprovalDecisionOutcome, ApprovalWorkflowInput } from '../../workflows/messages.js';
import { changeHash } from './change-hash.js';
import type { AppliedChange, ChangeKindDeps, ChangeKindHandler } from './kinds.js';
import { readApprovalPolicy } from './policy-kind.js';
import * as q from './queries.js';
import { handlerFor } from './registry.js';
import {
  type ApprovalPolicy,
  CHANGE_KINDS,
  ChangeDescription,
  ChangeKind,
  type ChangeRequestView,
  type KindPolicy,
  kindPolicy,
} from './schema.js';

/**
 * The approval engine's rules: requests are recorded here, decided through their workflow's
 * Updates (workflows/approval.ts; the portal, app API and CLI reach them through
 * activities/approval-client.ts, the engine's Temporal side), and applied exactly once by the
 * workflow's activities (activities/approvals.ts), which call `applyApprovedChange` below.
 */

/** What the engine needs beyond the handlers' deps; the app and the worker build it once. */
export interface ApprovalDeps extends ChangeKindDeps {
  /** The worker's task queue, where approval workflows run. */
  taskQueue: string;
  /** Milliseconds in one of the policy's hours (core/config.ts APPROVAL_HOUR_MS). */
  hourMs: number;
}

export { readApprovalPolicy as getApprovalPolicy };

const OPEN_STATES = ['pending', 'cooling_off'] as const;

const secretAad = (tenantId: string, requestId: string) => `change_request:${tenantId}:${requestId}`;

// ---- views --------------------------------------------------------------------------------------

function toView(row: q.ChangeRequestRow, decisions: readonly q.DecisionRow[]): ChangeRequestView {
  return {
    id: row.id,
    kind: ChangeKind.parse(row.kind),
    state: row.state,
    requestedBy: { type: row.requested_by_type, id: row.requested_by_id, email: row.requested_by_email },
    reason: row.reason,
    description: ChangeDescription.parse(row.description),
    payload: row.payload,
    version: row.version,
    changeHash: row.change_hash,
    approvalsNeeded: row.approvals_needed,
    approvals: decisions
      .filter((d) => d.request_id === row.id)
      .map((d) => ({ userId: d.user_id, verdict: d.verdict, comment: d.comment, changeHash: d.change_hash, valid: d.valid, decidedAt: d.decided_at })),
    appliesAt: row.applies_at,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    decidedAt: row.decided_at,
    appliedAt: row.applied_at,
    result: row.result,
    secretWaiting: row.has_secret && !row.secret_collected,
  };
}

export async function getChangeRequest(tx: Tx, tenantId: string, requestId: string): Promise<ChangeRequestView> {
  const row = await q.findChangeRequest(tx, tenantId, requestId);
  if (!row) throw new DomainError(404, 'not_found', 'no such change request');
  return toView(row, await q.listDecisions(tx, tenantId, [row.id]));
}

export interface ChangeRequestPage {
  data: ChangeRequestView[];
  next: string | null;
}

const encodeCursor = (row: { created_at: string; id: string }) => Buffer.from(JSON.stringify([row.created_at, row.id])).toString('base64url');
function decodeCursor(cursor: string): { createdAt: string; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof createdAt === 'string' && !Number.isNaN(Date.parse(createdAt)) && typeof id === 'string' && /^[0-9a-f-]{36}$/i.test(id)) return { createdAt, id };
  } catch {
    // falls through
  }
  throw new DomainError(400, 'invalid_cursor', 'the page cursor is not one this server issued; start from the first page');
}

/**
 * The inbox, newest first, keyset-paged: `waiting` (what this person may decide now), `mine` (what
 * they requested), `history` (every request of the tenant).
 */
export async function listChangeRequests(
  tx: Tx,
  tenantId: string,
  query: { box: q.InboxBox; userId: string; roles: readonly string[]; cursor?: string | undefined; limit: number },
): Promise<ChangeRequestPage> {
  const rows = await q.inboxPage(tx, tenantId, {
    box: query.box,
    userId: query.userId,
    roles: query.roles,
    after: query.cursor ? decodeCursor(query.cursor) : undefined,
    limit: query.limit,
  });
  const page = rows.slice(0, query.limit);
  const decisions = await q.listDecisions(tx, tenantId, page.map((r) => r.id));
  const last = page[page.length - 1];
  return { data: page.map((r) => toView(r, decisions)), next: rows.length > query.limit && last ? encodeCursor(last) : null };
}

/** Badges: requests waiting for this person's decision, and their own open requests. */
export async function pendingCount(tx: Tx, tenantId: string, userId: string, roles: readonly string[]): Promise<{ waiting: number; mine: number }> {
  return { waiting: await q.countWaiting(tx, tenantId, userId, roles), mine: await q.countMineOpen(tx, tenantId, userId) };
}

// ---- submitting ---------------------------------------------------------------------------------

export interface SubmitInput {
  kind: ChangeKind;
  payload?: unknown;
  reason?: string | undefined;
  /** CLI only: an operator approves for a tenant that has no portal users yet (audited). */
  approveAsOperator?: boolean | undefined;
}

/** A recorded request: applied already (`applied`), or waiting for its workflow to start. */
export interface RecordedRequest {
  requestId: string;
  applied: AppliedChange | undefined;
  /** The `approval.*` events recorded with it, for their delivery workflow. */
  subscribed: string[];
}

export interface SubmitResult {
  request: ChangeRequestView;
  /** Set when the change applied at once (policy `approvals: 0`, or operator approval). */
  applied?: AppliedChange;
}

function parsePayload(handler: ChangeKindHandler<unknown>, payload: unknown): unknown {
  const parsed = handler.payload.safeParse(payload);
  if (!parsed.success) throw new ZodError(parsed.error.issues.map((i) => ({ ...i, path: ['payload', ...i.path] })));
  return parsed.data;
}

async function describeChange(tx: Tx, ctx: ServiceContext, deps: ChangeKindDeps, handler: ChangeKindHandler<unknown>, payload: unknown) {
  const description = ChangeDescription.parse(await handler.describe(tx, ctx, deps, payload));
  return { description, hash: changeHash(handler.kind, description) };
}

function approvalEvent(tenantId: string, requestId: string, step: string, type: NewEvent['type'], data: Record<string, unknown>): NewEvent {
  return { id: eventIdFor(approvalWorkflowId(tenantId, requestId), step), type, subjectType: 'change_request', subjectId: requestId, data };
}

/**
 * Requests a change: one transaction describes it (before/after, the binding hash), records the
 * request, its audit row and the `approval.requested` event. A kind whose policy needs no approver
 * (or an operator approving for a tenant without portal users) applies in the same transaction and
 * the secret it produced is returned here, never stored. Otherwise the approval workflow starts
 * after commit (activities/approval-client.ts `submitChange`; a crash in between is healed by the
 * worker's reconciler).
 */
export async function recordChangeRequest(db: Db, ctx: ServiceContext, deps: ApprovalDeps, input: SubmitInput): Promise<RecordedRequest> {
  const kind = ChangeKind.parse(input.kind);
  const handler = handlerFor(kind);
  const payload = parsePayload(handler, input.payload);
  const reason = input.reason?.trim() ? input.reason.trim().slice(0, 2000) : null;
  const requestId = randomUUID();
  return withTenant(db, ctx.tenantId, async (tx) => {
    const policy = kindPolicy(await readApprovalPolicy(tx, ctx.tenantId), kind);
    if (input.approveAsOperator) {
      if (ctx.actor.type !== 'operator') throw new DomainError(403, 'operator_approval_refused', 'only an operator (the CLI) may approve as operator');
      if ((await q.countPortalUsers(tx, ctx.tenantId)) > 0) {
        throw new DomainError(403, 'operator_approval_refused', 'this tenant has portal users: its own approvers decide (--approve-as-operator is only for tenants without any)');
      }
    }
    const { description, hash } = await describeChange(tx, ctx, deps, handler, payload);
    const inline = policy.approvals === 0 || input.approveAsOperator === true;
    const row = await q.insertChangeRequest(tx, ctx.tenantId, {
      id: requestId,
      kind,
      payload,
      description,
      changeHash: hash,
      state: inline ? 'applying' : 'pending',
      requestedBy: ctx.actor,
      reason,
      approvalsNeeded: inline ? 0 : policy.approvals,
      eligibleRoles: policy.eligibleRoles,
      eligibleUserIds: policy.eligibleUserIds,
      expiresAt: new Date(Date.now() + policy.expiresAfterHours * deps.hourMs),
    });
    await appendAudit(tx, ctx.tenantId, [
      auditEntry(ctx, 'approval.requested', 'change_request', requestId, { kind, summary: description.summary, changeHash: hash, approvalsNeeded: row.approvals_needed, reason }),
    ]);
    const events = [approvalEvent(ctx.tenantId, requestId, 'requested', 'approval.requested', { kind, changeHash: hash, approvalsNeeded: row.approvals_needed })];
    let applied: AppliedChange | undefined;
    if (inline) {
      if (input.approveAsOperator) {
        await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'approval.operator_approved', 'change_request', requestId, { kind, changeHash: hash, reason: 'tenant has no portal users' })]);
      }
      applied = await handler.apply(tx, ctx, deps, payload, description);
      await q.updateChangeRequest(tx, ctx.tenantId, requestId, { state: 'applied', decidedAt: 'now', appliedAt: 'now', result: applied.result, workflowStarted: true });
      await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'approval.applied', 'change_request', requestId, { kind, changeHash: hash, result: applied.result, inline: true })]);
      events.push(approvalEvent(ctx.tenantId, requestId, 'applied', 'change.applied', { kind, result: applied.result }));
    }
    const subscribed = await recordEvents(tx, ctx.tenantId, events);
    return { requestId, applied, subscribed };
  });
}

/** The workflow's input, from the request row and the approvers eligible now. */
export async function approvalWorkflowInput(tx: Tx, deps: Pick<ApprovalDeps, 'hourMs'>, tenantId: string, row: q.ChangeRequestRow): Promise<ApprovalWorkflowInput> {
  const policy = kindPolicy(await readApprovalPolicy(tx, tenantId), ChangeKind.parse(row.kind));
  const description = ChangeDescription.parse(row.description);
  const requesterId = row.requested_by_type === 'user' ? row.requested_by_id : null;
  const excluded = new Set([requesterId, ...description.subjectUserIds]);
  const eligible = (await q.eligibleApprovers(tx, tenantId, row.eligible_roles as PortalRole[], row.eligible_user_ids)).filter((id) => !excluded.has(id));
  return {
    tenantId,
    requestId: row.id,
    kind: row.kind,
    changeHash: row.change_hash,
    requesterId,
    subjectUserIds: description.subjectUserIds,
    approvalsNeeded: row.approvals_needed,
    eligibleRoles: row.eligible_roles,
    eligibleUserIds: row.eligible_user_ids,
    eligibleApprovers: eligible.length,
    coolingOffMs: policy.coolingOffHours === null ? null : policy.coolingOffHours * deps.hourMs,
    expiresInMs: Math.max(0, Date.parse(row.expires_at) - Date.now()),
    remindEveryMs: policy.remindEveryHours * deps.hourMs,
    escalateAfterMs: policy.escalateAfterHours * deps.hourMs,
  };
}

/** The workflow's input for a request whose workflow has not been started yet (else null). */
export async function workflowStartInput(db: Db, deps: Pick<ApprovalDeps, 'hourMs'>, tenantId: string, requestId: string): Promise<ApprovalWorkflowInput | null> {
  return withTenant(db, tenantId, async (tx) => {
    const row = await q.findChangeRequest(tx, tenantId, requestId);
    if (!row || row.workflow_started_at) return null;
    return approvalWorkflowInput(tx, deps, tenantId, row);
  });
}

export async function markWorkflowStarted(db: Db, tenantId: string, requestId: string): Promise<void> {
  await withTenant(db, tenantId, (tx) => q.updateChangeRequest(tx, tenantId, requestId, { workflowStarted: true }));
}

/** The request's state as recorded, for answering an Update sent to a workflow that has closed. */
export async function recordedState(db: Db, tenantId: string, requestId: string): Promise<string> {
  const row = await withTenant(db, tenantId, (tx) => q.findChangeRequest(tx, tenantId, requestId));
  if (!row) throw new DomainError(404, 'not_found', 'no such change request');
  return row.state;
}

/** Reads a request of this tenant (404 otherwise). */
export async function readChangeRequest(db: Db, tenantId: string, requestId: string): Promise<ChangeRequestView> {
  return withTenant(db, tenantId, (tx) => getChangeRequest(tx, tenantId, requestId));
}

/** Checks an edit before it is sent to the workflow: the request exists here and the new payload describes a possible change. */
export async function checkRevision(db: Db, ctx: ServiceContext, deps: ChangeKindDeps, requestId: string, payload: unknown): Promise<void> {
  await withTenant(db, ctx.tenantId, async (tx) => {
    const found = await q.findChangeRequest(tx, ctx.tenantId, requestId);
    if (!found) throw new DomainError(404, 'not_found', 'no such change request');
    const handler = handlerFor(ChangeKind.parse(found.kind));
    await describeChange(tx, ctx, deps, handler, parsePayload(handler, payload));
  });
}

// ---- deciding -----------------------------------------------------------------------------------

/** The requester collects the secret the applied change produced, once; then it is wiped. */
export async function collectSecret(tx: Tx, ctx: ServiceContext, requestId: string, secretKey: Buffer): Promise<{ secret: string }> {
  const row = await q.lockSecret(tx, ctx.tenantId, requestId);
  if (!row) throw new DomainError(404, 'not_found', 'no such change request');
  if (row.requested_by_type !== ctx.actor.type || row.requested_by_id !== (ctx.actor.id ?? null)) {
    throw new DomainError(403, 'not_requester', 'only the person who requested the change can collect its secret');
  }
  if (row.secret_collected) throw new DomainError(410, 'secret_collected', 'the secret was already collected');
  if (!row.secret) throw new DomainError(409, 'no_secret', 'this change produced no secret (yet)');
  const secret = openSecret(secretKey, row.secret, secretAad(ctx.tenantId, requestId));
  await q.updateChangeRequest(tx, ctx.tenantId, requestId, { secret: null, secretCollected: true });
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'approval.secret_collected', 'change_request', requestId)]);
  return { secret };
}

// ---- the workflow's steps (activities/approvals.ts calls these) ---------------------------------

const workflowActor = { type: 'system' as const, id: 'approval-workflow' };

/**
 * Records one decision in one transaction (the request row locked): refused when the request is
 * closed or its hash moved; a rejection closes it; the approval that reaches `closeAt.approvals`
 * moves it to `closeAt.then` (approved, or cooling off until `appliesAt`).
 */
export async function recordDecision(
  db: Db,
  input: {
    tenantId: string;
    requestId: string;
    userId: string;
    verdict: 'approve' | 'reject';
    comment?: string | undefined;
    changeHash: string;
    closeAt: { approvals: number; then: 'approved' | 'cooling_off'; appliesAt?: string | undefined };
  },
): Promise<{ outcome: ApprovalDecisionOutcome; validApprovals: number; state: string; eventIds: string[] }> {
  const { tenantId, requestId } = input;
  return withTenant(db, tenantId, async (tx) => {
    const row = await q.findChangeRequest(tx, tenantId, requestId, { forUpdate: true });
    if (!row) throw new DomainError(404, 'not_found', 'no such change request');
    const decisions = await q.listDecisions(tx, tenantId, [requestId]);
    const valid = (ds: readonly q.DecisionRow[]) => ds.filter((d) => d.valid && d.verdict === 'approve' && d.change_hash === row.change_hash).length;
    const refused = (outcome: ApprovalDecisionOutcome) => ({ outcome, validApprovals: valid(decisions), state: row.state, eventIds: [] });
    if (row.state !== 'pending' && row.state !== 'cooling_off') return refused(row.state === 'expired' ? 'expired' : 'already_closed');
    if (row.change_hash !== input.changeHash) return refused('refused_stale_hash');
    const inserted = await q.insertDecision(tx, tenantId, { requestId, userId: input.userId, verdict: input.verdict, comment: input.comment ?? null, changeHash: input.changeHash });
    if (!inserted) return refused('refused_already_decided_by_you');
    let state: string = row.state;
    const count = valid(await q.listDecisions(tx, tenantId, [requestId]));
    let outcome: ApprovalDecisionOutcome = 'recorded';
    const actor = { type: 'user' as const, id: input.userId };
    const audits: AuditEventInput[] = [
      { actor, action: 'approval.decided', targetType: 'change_request', targetId: requestId, data: { verdict: input.verdict, comment: input.comment ?? null, changeHash: input.changeHash, approvals: count, needed: row.approvals_needed } },
    ];
    if (input.verdict === 'reject') {
      outcome = 'rejected';
      state = 'rejected';
      await q.updateChangeRequest(tx, tenantId, requestId, { state: 'rejected', decidedAt: 'now' });
    } else if (count >= input.closeAt.approvals || count >= row.approvals_needed) {
      // The full N approvals always approve, even where the workflow expected to cool off: its
      // count of eligible people (M < N) was taken at start, and someone may have joined since.
      if (input.closeAt.then === 'approved' || count >= row.approvals_needed) {
        outcome = 'approved';
        state = 'approved';
        await q.updateChangeRequest(tx, tenantId, requestId, { state: 'approved', decidedAt: 'now' });
      } else if (row.state === 'pending') {
        state = 'cooling_off';
        await q.updateChangeRequest(tx, tenantId, requestId, { state: 'cooling_off', appliesAt: input.closeAt.appliesAt ?? null });
        audits.push({ actor: workflowActor, action: 'approval.cooling_off', targetType: 'change_request', targetId: requestId, data: { appliesAt: input.closeAt.appliesAt ?? null, approvals: count, needed: row.approvals_needed } });
      }
    }
    await appendAudit(tx, tenantId, audits);
    const eventIds = await recordEvents(tx, tenantId, [
      approvalEvent(tenantId, requestId, `decided/${input.userId}/${input.changeHash}`, 'approval.decided', { kind: row.kind, userId: input.userId, verdict: input.verdict, outcome, approvals: count, needed: row.approvals_needed }),
    ]);
    return { outcome, validApprovals: count, state, eventIds };
  });
}

/**
 * Moves an open request to another state (withdrawn, cancelled, expired, cooling off) with its
 * audit row; a request no longer in one of `from` is left as it is (false).
 */
export async function transitionRequest(
  db: Db,
  input: {
    tenantId: string;
    requestId: string;
    from: readonly string[];
    to: 'withdrawn' | 'cancelled' | 'expired' | 'cooling_off' | 'pending';
    actor: { type: 'user' | 'system'; id?: string | undefined };
    action: string;
    data?: Record<string, unknown>;
    appliesAt?: string | null;
  },
): Promise<{ moved: boolean; eventIds: string[] }> {
  const { tenantId, requestId } = input;
  return withTenant(db, tenantId, async (tx) => {
    const row = await q.findChangeRequest(tx, tenantId, requestId, { forUpdate: true });
    if (!row || !input.from.includes(row.state)) return { moved: false, eventIds: [] };
    const closing = input.to !== 'cooling_off' && input.to !== 'pending';
    await q.updateChangeRequest(tx, tenantId, requestId, { state: input.to, ...(closing ? { decidedAt: 'now' as const } : {}), ...(input.appliesAt !== undefined ? { appliesAt: input.appliesAt } : {}) });
    await appendAudit(tx, tenantId, [{ actor: input.actor, action: input.action, targetType: 'change_request', targetId: requestId, data: { from: row.state, to: input.to, ...input.data } }]);
    // Who must know: a cooling-off change applies unless someone cancels it; a closed one never will.
    const event =
      input.to === 'cooling_off'
        ? approvalEvent(tenantId, requestId, `cooling_off/${row.change_hash}`, 'approval.cooling_off', { kind: row.kind, appliesAt: input.appliesAt ?? null })
        : closing
          ? approvalEvent(tenantId, requestId, 'closed', 'approval.closed', { kind: row.kind, state: input.to, by: input.actor.type === 'user' ? (input.actor.id ?? null) : input.actor.type })
          : undefined;
    return { moved: true, eventIds: event ? await recordEvents(tx, tenantId, [event]) : [] };
  });
}

/**
 * A reminder or an escalation (escalation makes the tenant's admins eligible): audited, and an
 * `approval.reminded` / `approval.escalated` event naming who still has to decide, which the
 * tenant's webhooks turn into mail or chat. Its id is per request and step, so a retried
 * activity notifies once.
 */
export async function notifyApprovers(
  db: Db,
  input: { tenantId: string; requestId: string; kind: 'reminder' | 'escalation'; n: number },
): Promise<{ approverIds: string[]; eventIds: string[] }> {
  const { tenantId, requestId } = input;
  return withTenant(db, tenantId, async (tx) => {
    const row = await q.findChangeRequest(tx, tenantId, requestId, { forUpdate: true });
    if (!row || !OPEN_STATES.includes(row.state as (typeof OPEN_STATES)[number])) return { approverIds: [], eventIds: [] };
    if (input.kind === 'escalation') await q.updateChangeRequest(tx, tenantId, requestId, { escalated: true });
    const roles = (input.kind === 'escalation' ? [...row.eligible_roles, 'admin'] : row.eligible_roles) as PortalRole[];
    const decided = new Set((await q.listDecisions(tx, tenantId, [requestId])).filter((d) => d.change_hash === row.change_hash).map((d) => d.user_id));
    const subjects = new Set(ChangeDescription.parse(row.description).subjectUserIds);
    const approverIds = (await q.eligibleApprovers(tx, tenantId, roles, row.eligible_user_ids)).filter((id) => id !== row.requested_by_id && !subjects.has(id) && !decided.has(id));
    await appendAudit(tx, tenantId, [
      { actor: workflowActor, action: input.kind === 'reminder' ? 'approval.reminded' : 'approval.escalated', targetType: 'change_request', targetId: requestId, data: { n: input.n, approverIds } },
    ]);
    const type = input.kind === 'reminder' ? 'approval.reminded' : 'approval.escalated';
    const eventIds = await recordEvents(tx, tenantId, [approvalEvent(tenantId, requestId, `${input.kind}/${input.n}`, type, { kind: row.kind, n: input.n, approverIds, expiresAt: row.expires_at })]);
    return { approverIds, eventIds };
  });
}

/**
 * The requester's edit, inside the workflow's update: re-described and re-bound to the new hash in
 * one transaction; earlier approvals are void. A change that is no longer possible answers `invalid`.
 */
export async function reviseRequest(
  db: Db,
  deps: ChangeKindDeps,
  input: { tenantId: string; requestId: string; userId: string; payload: unknown; reason?: string | undefined },
): Promise<{ ok: true; changeHash: string } | { ok: false; message: string }> {
  const { tenantId, requestId } = input;
  try {
    return await withTenant(db, tenantId, async (tx) => {
      const row = await q.findChangeRequest(tx, tenantId, requestId, { forUpdate: true });
      if (!row || !OPEN_STATES.includes(row.state as (typeof OPEN_STATES)[number])) return { ok: false as const, message: 'the request is closed' };
      const handler = handlerFor(ChangeKind.parse(row.kind));
      const ctx: ServiceContext = { tenantId, actor: { type: 'user', id: input.userId } };
      const payload = parsePayload(handler, input.payload);
      const { description, hash } = await describeChange(tx, ctx, deps, handler, payload);
      await q.updateChangeRequest(tx, tenantId, requestId, { payload, description, changeHash: hash, bumpVersion: true, state: 'pending', appliesAt: null });
      const voided = await q.voidDecisions(tx, tenantId, requestId, hash);
      await appendAudit(tx, tenantId, [auditEntry(ctx, 'approval.edited', 'change_request', requestId, { before: row.change_hash, after: hash, approvalsVoided: voided, reason: input.reason ?? null })]);
      return { ok: true as const, changeHash: hash };
    });
  } catch (err) {
    if (err instanceof DomainError || err instanceof ZodError) return { ok: false, message: err.message };
    throw err;
  }
}

export interface ApplyOutcome {
  state: 'applied' | 'failed' | 'closed';
  result: Record<string, unknown> | null;
  eventIds: string[];
}

/**
 * Applies an approved change exactly once: the request row is locked; an applied (or failed)
 * request answers its stored outcome; the change is described again and must still hash to what
 * was approved (otherwise the world changed: failed, not applied); the handler applies it through
 * the feature's service; result, sealed secret and audit row land in the same transaction.
 */
export async function applyApprovedChange(db: Db, deps: ChangeKindDeps, input: { tenantId: string; requestId: string }): Promise<ApplyOutcome> {
  const { tenantId, requestId } = input;
  return withTenant(db, tenantId, async (tx) => {
    const row = await q.findChangeRequest(tx, tenantId, requestId, { forUpdate: true });
    if (!row) throw new DomainError(404, 'not_found', 'no such change request');
    if (row.state === 'applied' || row.state === 'failed') return { state: row.state, result: row.result, eventIds: [] };
    if (!['approved', 'cooling_off', 'applying'].includes(row.state)) return { state: 'closed', result: null, eventIds: [] };
    const kind = ChangeKind.parse(row.kind);
    const handler = handlerFor(kind);
    const ctx: ServiceContext = { tenantId, actor: { type: row.requested_by_type as 'user', ...(row.requested_by_id ? { id: row.requested_by_id } : {}) } };
    const fail = async (reason: string, message: string): Promise<ApplyOutcome> => {
      const result = { error: reason, message };
      await q.updateChangeRequest(tx, tenantId, requestId, { state: 'failed', result });
      await appendAudit(tx, tenantId, [{ actor: workflowActor, action: 'approval.apply_failed', targetType: 'change_request', targetId: requestId, data: { kind, ...result } }]);
      return { state: 'failed', result, eventIds: [] };
    };
    let applied: AppliedChange;
    try {
      applied = await tx.transaction(async (sp) => {
        const payload = parsePayload(handler, row.payload);
        const { description, hash } = await describeChange(sp, ctx, deps, handler, payload);
        if (hash !== row.change_hash) throw new DomainError(409, 'changed', 'the state this change was approved against has changed since; request it again');
        return handler.apply(sp, ctx, deps, payload, description);
      });
    } catch (err) {
      if (err instanceof DomainError) return fail(err.code, err.message);
      if (err instanceof ZodError) return fail('invalid_request', err.message);
      throw err;
    }
    const secret = applied.secret ? sealSecret(deps.secretKey, applied.secret, secretAad(tenantId, requestId)) : null;
    await q.updateChangeRequest(tx, tenantId, requestId, { state: 'applied', appliedAt: 'now', decidedAt: 'now', result: applied.result, secret });
    await appendAudit(tx, tenantId, [{ actor: workflowActor, action: 'approval.applied', targetType: 'change_request', targetId: requestId, data: { kind, changeHash: row.change_hash, result: applied.result } }]);
    const eventIds = await recordEvents(tx, tenantId, [approvalEvent(tenantId, requestId, 'applied', 'change.applied', { kind, result: applied.result })]);
    return { state: 'applied', result: applied.result, eventIds };
  });
}

/** After commit: the handler checks the change took effect; the verification joins the result (once). */
export async function verifyAndRecord(db: Db, deps: ChangeKindDeps, tenantId: string, requestId: string, inlineSecret?: string): Promise<{ ok: boolean } | null> {
  const row = await withTenant(db, tenantId, (tx) => q.findChangeRequest(tx, tenantId, requestId));
  if (!row || row.state !== 'applied' || !row.result) return null;
  if (row.result.verification) return { ok: (row.result.verification as { ok: boolean }).ok };
  const handler = handlerFor(ChangeKind.parse(row.kind));
  if (!handler.verify) return null;
  let secret = inlineSecret;
  if (secret === undefined && row.has_secret) {
    const sealed = await withTenant(db, tenantId, (tx) => q.lockSecret(tx, tenantId, requestId));
    if (sealed?.secret) secret = openSecret(deps.secretKey, sealed.secret, secretAad(tenantId, requestId));
  }
  const ctx: ServiceContext = { tenantId, actor: workflowActor };
  const verification = await handler.verify(db, ctx, deps, handler.payload.parse(row.payload), row.result, secret);
  await withTenant(db, tenantId, async (tx) => {
    const current = await q.findChangeRequest(tx, tenantId, requestId, { forUpdate: true });
    if (!current?.result || current.result.verification) return;
    await q.updateChangeRequest(tx, tenantId, requestId, { result: { ...current.result, verification } });
    await appendAudit(tx, tenantId, [{ actor: workflowActor, action: 'approval.verified', targetType: 'change_request', targetId: requestId, data: { kind: row.kind, ...verification } }]);
  });
  return { ok: verification.ok };
}

/** Sets the tenant's policy directly: test fixtures and tenant bootstrap only (changes go through approval_policy.set). */
export async function writeApprovalPolicy(tx: Tx, tenantId: string, policy: ApprovalPolicy): Promise<void> {
  await q.writePolicy(tx, tenantId, policy);
}

/** The engine's deps for an API process or the CLI, from its configuration. */
export function approvalDepsFromConfig(config: Config, secretKey: Buffer): ApprovalDeps {
  return {
    catalogue: config.APP_ROLES,
    secretKey,
    webhooks: { allowHttpLoopback: config.NODE_ENV !== 'production', secretKey, targets: webhookTargets(config) },
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    hourMs: config.APPROVAL_HOUR_MS,
  };
}

/** The policy as stored and every kind's effective rule. */
export async function effectiveApprovalPolicy(tx: Tx, tenantId: string): Promise<{ policy: ApprovalPolicy; effective: Record<ChangeKind, KindPolicy> }> {
  const policy = await readApprovalPolicy(tx, tenantId);
  return { policy, effective: Object.fromEntries(CHANGE_KINDS.map((k) => [k, kindPolicy(policy, k)])) as Record<ChangeKind, KindPolicy> };
}
