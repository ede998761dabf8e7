import { createHash } from 'node:crypto';
import { type FragmentSqlToken, sql } from 'slonik';
import { z } from 'zod';
import { claimLocks, lockTenantGuard } from '../db/locks.js';
import type { Tx } from '../db/pool.js';
import type { AppRole } from '../config.js';
import { DomainError } from '../errors.js';
import { type Actor, appendAudit, auditInsert, type AuditEventInput } from './audit.js';
import { buildExposureReport, handOverServiceAccounts, insertExposureReport, RevocationReason, revokeCredentialsRequiringRoles, revokeUserAccessRows } from './credentials.js';
import { applyEffectiveRoles, grantRolesInsert, planEffectiveRoles, revokeAllRoles } from './entitlements.js';
import { eventIdFor, type EventType, type NewEvent, recordEventsCtes } from './events.js';
import { OutboxEventType, PulledEvent, pullOutbox } from './outbox.js';
import { erasePersonalData } from './personal-data.js';
import { reviewOnMove } from '../campaigns/engine.js';
import { LifecycleState } from './users.js';
import { BATCHED_IDENTITY_EVENTS, MAX_IDENTITY_BATCH } from '../../workflows/messages.js';

/**
 * Runs `fn` at most once per key: its effects and its (JSON) result commit together, and a retry
 * (an activity whose completion never reached Temporal) gets the stored result back.
 */
export async function runStep<T>(tx: Tx, tenantId: string, key: string, fn: () => Promise<T>): Promise<T> {
  const done = await storedStep<T>(tx, tenantId, key);
  if (done !== null) return done;
  const result = await fn();
  await storeStep(tx, tenantId, key, result);
  return result;
}

/** Built once: a schema constructed per call costs more than checking the row (hot path). */
const StepResult = z.object({ result: z.unknown() });

/** The stored result of a step that already committed, or null. */
export async function storedStep<T>(tx: Tx, tenantId: string, key: string): Promise<T | null> {
  const done = await tx.maybeOneFirst(sql.type(StepResult)`
    SELECT result FROM activity_steps WHERE tenant_id = ${tenantId} AND step_key = ${key}`);
  return done === null ? null : (done as T);
}

/** Records a step's result in the transaction that made its effects. */
export async function storeStep(tx: Tx, tenantId: string, key: string, result: unknown): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO activity_steps (tenant_id, step_key, result) VALUES (${tenantId}, ${key}, ${JSON.stringify(result ?? null)}::jsonb)`);
}

const IdentityPosition = z.object({
  applied_seq: z.number(),
  /** The stream's last seq assigned (read under the row's lock: exact, since writers need it too). */
  event_seq: z.number(),
  lifecycle_state: LifecycleState,
  active: z.boolean(),
  scim_deleted: z.boolean(),
  /** The leaver event that decided this suspension's leaver; null when none since the last activation. */
  leaver_seq: z.number().nullable(),
  /** Milliseconds until a SCIM-deleted identity's grace period ends (null when not deleted). */
  deletion_due_in_ms: z.number().nullable(),
});
export type IdentityPosition = z.infer<typeof IdentityPosition>;

/** Where an identity's workflow stands in the database (any state, SCIM-deleted included). */
export async function identityPosition(tx: Tx, tenantId: string, userId: string, options: { forUpdate?: boolean } = {}): Promise<IdentityPosition | null> {
  if (options.forUpdate) claimLocks(tx, 'users', [userId]);
  return tx.maybeOne(sql.type(IdentityPosition)`
    SELECT u.applied_seq, u.event_seq, u.lifecycle_state, u.active, u.scim_deleted_at IS NOT NULL AS scim_deleted, u.leaver_seq,
           CASE WHEN u.scim_deleted_at IS NOT NULL AND u.lifecycle_state <> 'deleted' THEN
             greatest(0, ceil(extract(epoch FROM (u.scim_deleted_at + make_interval(secs => t.deletion_grace_seconds) - now())) * 1000))::int8
           END AS deletion_due_in_ms
      FROM users u JOIN tenants t ON t.id = u.tenant_id
     WHERE u.tenant_id = ${tenantId} AND u.id = ${userId}
     ${options.forUpdate ? sql.fragment`FOR NO KEY UPDATE OF u` : sql.fragment``}`);
}

const ACTIVATING = new Set(['user.created', 'user.activated', 'user.restored']);
/** Every event type an identity stream carries (what SCIM writes to the outbox for a user). */
export const IDENTITY_EVENT_TYPES: ReadonlySet<string> = new Set(OutboxEventType.options.filter((t) => !t.startsWith('group.')));

/** The stream position moves on only when every step of the event has completed. */
export async function finishIdentityEvent(tx: Tx, input: { tenantId: string; userId: string; seq: number }): Promise<void> {
  await tx.query(sql.unsafe`${finishIdentityEventUpdate(input)}`);
}

/** finishIdentityEvent's statement, for a caller that folds it into its closing statement. */
function finishIdentityEventUpdate(input: { tenantId: string; userId: string; seq: number }): FragmentSqlToken {
  return sql.fragment`
    UPDATE users SET applied_seq = ${input.seq} WHERE tenant_id = ${input.tenantId} AND id = ${input.userId} AND applied_seq < ${input.seq}`;
}

/** At most this many waiting events are pulled by one step (the rest by the next, or signalled). */
const PULL_LIMIT = 64;

const ClosedStep = z.object({
  ids: z.array(z.string()),
  pulled: z.array(PulledEvent).nullable(),
});

/**
 * A step's closing statement: `ctes` (which must define `subscribed`, recordEventsCtes' answer),
 * then the step's outcome stored with the events to deliver added as `deliver`, in one round trip.
 * With `pull`, the stream's waiting outbox rows after seq `pull.after` are pulled in the same
 * statement (core/repositories/outbox.ts pullOutbox) and stored with the outcome as `pulled`, so
 * that a retried step hands them over again. Returns those event ids and the pulled events.
 */
async function closeStep(
  tx: Tx,
  tenantId: string,
  key: string,
  ctes: FragmentSqlToken[],
  outcome: unknown,
  pull?: { userId: string; after: number },
): Promise<{ deliver: string[]; pulled?: PulledEvent[] }> {
  const pulledCte = pull
    ? [
        sql.fragment`pulled AS (
          SELECT coalesce(jsonb_agg(jsonb_build_object('seq', p.seq, 'outboxId', p.id, 'type', p.event_type, 'payload', p.payload) ORDER BY p.seq), '[]') AS events
            FROM outbox_pull(${pull.userId}::uuid, ${pull.after}::int8, ${PULL_LIMIT}::int4) p)`,
      ]
    : [];
  const extra = pull ? sql.fragment`jsonb_build_object('deliver', to_jsonb(s.ids), 'pulled', (SELECT events FROM pulled))` : sql.fragment`jsonb_build_object('deliver', to_jsonb(s.ids))`;
  const stored = sql.fragment`stored AS (
    INSERT INTO activity_steps (tenant_id, step_key, result)
    SELECT ${tenantId}, ${key}, ${JSON.stringify(outcome)}::jsonb || ${extra} FROM subscribed s)`;
  const closed = await tx.one(sql.type(ClosedStep)`
    WITH ${sql.join([...ctes, ...pulledCte, stored], sql.fragment`, `)}
    SELECT ids, ${pull ? sql.fragment`(SELECT events FROM pulled)` : sql.fragment`NULL::jsonb`} AS pulled FROM subscribed`);
  return { deliver: [...closed.ids], ...(closed.pulled?.length ? { pulled: closed.pulled } : {}) };
}

/** Events that change what a user may do: the mover re-derives roles when the identity is active. */
const MOVER_EVENTS = new Set(['user.updated', 'membership.added', 'membership.removed', 'entitlements.changed']);
const LEAVER_EVENTS = new Set(['user.deactivated', 'user.deleted']);

/**
 * What one stream event did. `position`: the first event of a fresh workflow run is not the next
 * one in the database (or was applied already): the workflow moves its stream there instead.
 */
export type IdentityEventOutcome =
  | { kind: 'gone' }
  | { kind: 'position'; appliedSeq: number; state: LifecycleState; deletionPending: boolean; deliver: string[]; pulled?: PulledEvent[] }
  | { kind: 'skip'; deletionPending: boolean }
  | {
      kind: 'applied';
      state: LifecycleState;
      /** This event moved the identity to `active` (joiner or reactivation). */
      becameActive: boolean;
      /**
       * none: not a leaver (or this suspension's leaver already ran). proceed: the guard let it
       * through; `completeLeaver` revokes. held: the guard held it until an operator releases it.
       */
      leaver: 'none' | 'proceed' | 'held';
      /** The stream position moved on in this transaction (otherwise `finishIdentityEvent` follows). */
      finished: boolean;
      /** A batch (`IdentityEventInput.then`): the last seq applied with this event. */
      through?: number;
      deletionPending: boolean;
      /** Recorded events that a webhook endpoint takes, in emission order, for the delivery workflow. */
      deliver: string[];
      /** `IdentityEventInput.pull`: the stream's waiting events after this step's, now the workflow's to apply. */
      pulled?: PulledEvent[];
      /**
       * Campaigns this event opened (a move that changed the manager or department of a person
       * holding privileged roles: core/campaigns/engine.ts reviewOnMove): their workflows start
       * after commit (the campaign reconciler starts any that a crash left unstarted).
       */
      startCampaigns?: string[];
    };

export interface IdentityEventInput {
  tenantId: string;
  userId: string;
  workflowId: string;
  seq: number;
  type: string;
  /** user.updated: the attributes that changed (ids and names only). */
  changed?: unknown[];
  /** The current suspension's leaver already ran (workflow state): a later DELETE runs none. */
  leaverDone: boolean;
  /** The first event of a fresh run: the stream position is read here, not assumed. */
  fromStart: boolean;
  /**
   * The events that follow this one in the stream, to apply in the same step when they and this
   * one are all BATCHED_IDENTITY_EVENTS (workflows/messages.ts). Only the consecutive prefix is
   * taken; the outcome's `through` says how far the stream moved.
   */
  then?: readonly { seq: number; type: string }[];
  /**
   * Pull the stream's waiting outbox rows after this step's last seq (the outcome's `pulled`): the
   * relay defers membership and entitlement rows of a busy identity for its step to pull, instead
   * of signalling each (migration 1764801300000_outbox_pull). The workflow asks only when its code
   * takes them (patched).
   */
  pull?: boolean;
  catalogue: readonly AppRole[];
  /** Milliseconds in a campaign hour (CAMPAIGN_HOUR_MS) for a review a move opens; default one hour. */
  campaignHourMs?: number;
}

const eventStepKey = (input: { workflowId: string; seq: number }, step: string) => `${input.workflowId}:${input.seq}:${step}`;

/** Whether `input` can take the events after it into its step (then, or pulled ones). */
const batches = (input: IdentityEventInput) => !input.fromStart && BATCHED_IDENTITY_EVENTS.has(input.type);

/**
 * The events applied with `input` as one step: the consecutive, batchable prefix of what follows
 * it, from `then` (what the workflow has) and `pulled` (what this step pulled from the outbox).
 */
function batchedWith(input: IdentityEventInput, pulled: readonly PulledEvent[]): { seq: number; type: string }[] {
  if (!batches(input)) return [];
  const following = new Map<number, string>();
  for (const e of [...(input.then ?? []), ...pulled]) following.set(e.seq, e.type);
  const batch: { seq: number; type: string }[] = [];
  for (let seq = input.seq + 1, type = following.get(seq); type !== undefined; type = following.get(++seq)) {
    if (batch.length + 1 >= MAX_IDENTITY_BATCH || !BATCHED_IDENTITY_EVENTS.has(type)) break;
    batch.push({ seq, type });
  }
  return batch;
}

/**
 * One stream event, every step that always runs together in one transaction: the state
 * transition, the role sync (joiner, reactivation, mover), the mass-deprovisioning guard's decision
 * for a leaver, the audit rows, the outbound events and the stream position. Exactly once in
 * effect: the outcome is stored under workflow id + seq + `event` with the effects, and a retry
 * gets it back. Event ids are derived from workflow id + `seq:type[:role]`, as when each was its
 * own step, so receivers deduplicate.
 *
 * A run of membership and entitlement events (`then`) applies as one: each keeps its audit row, the
 * roles are derived once from the directory as it is now (what applying them one by one ends at),
 * their events carry the first event's seq, and the outcome (stored under the first seq) says
 * `through` which seq the stream moved.
 *
 * Locks (core/db/locks.ts): this user's row first (identityPosition), then, for a leaver, the
 * guard's advisory tenant lock; no other user or group row.
 */
export async function applyIdentityEvent(tx: Tx, input: IdentityEventInput): Promise<IdentityEventOutcome> {
  const key = eventStepKey(input, 'event');
  // A retry gets the stored outcome; a fresh run's first event is checked against the position
  // first, as an earlier run of the same workflow id may have stored it and then moved on.
  const stored = input.fromStart ? null : await storedStep<IdentityEventOutcome>(tx, input.tenantId, key);
  if (stored) return stored;
  const pos = await identityPosition(tx, input.tenantId, input.userId, { forUpdate: true });
  if (!pos) return { kind: 'gone' };
  const deletionPending = pos.deletion_due_in_ms !== null;
  if (input.fromStart && pos.applied_seq !== input.seq - 1) {
    // Applied already: possibly by this very step, whose retry must still hand its events over.
    const applied = pos.applied_seq >= input.seq ? await storedStep<IdentityEventOutcome>(tx, input.tenantId, key) : null;
    const deliver = applied?.kind === 'applied' ? applied.deliver : [];
    // What that step pulled is the workflow's only way to those events (marked delivered).
    const pulled = applied?.kind === 'applied' ? applied.pulled : undefined;
    return { kind: 'position', appliedSeq: pos.applied_seq, state: pos.lifecycle_state, deletionPending, deliver, ...(pulled?.length ? { pulled } : {}) };
  }
  if (pos.applied_seq >= input.seq) return { kind: 'skip', deletionPending };
  // Permanent: the same event would be refused on every attempt, so its stream parks.
  if (!IDENTITY_EVENT_TYPES.has(input.type)) throw new DomainError(422, 'unknown_event_type', `identity streams carry no ${JSON.stringify(input.type)} events`);
  // The next event, stored but unfinished (a held leaver), or a retry of a fresh run's first step.
  // Only a leaver stores an unfinished outcome: any other event's outcome commits with the stream
  // position moved to its seq (the closing statement below), so here, at seq - 1, it has none
  // (which saves a fresh joiner's workflow a round trip).
  const unfinished = input.fromStart && LEAVER_EVENTS.has(input.type) ? await storedStep<IdentityEventOutcome>(tx, input.tenantId, key) : null;
  if (unfinished) return unfinished;

  const actor: Actor = { type: 'system', id: input.workflowId };
  // A membership or entitlement event pulls what waits behind it before it plans, so that it can
  // apply those with itself (a group push's later rows for this member, deferred by the relay);
  // any other event pulls in its closing statement (it would not batch them anyway). Either way
  // after this user's lock: core/db/migrations/1764801300000_outbox_pull.sql says why.
  // Nothing can wait when the stream's last seq is this one (read under the lock a writer needs).
  const pullsFirst = input.pull === true && batches(input);
  const pulledFirst = pullsFirst && pos.event_seq > input.seq ? await pullOutbox(tx, input.userId, input.seq, PULL_LIMIT) : [];
  const batch = batchedWith(input, pulledFirst);
  const last = batch.at(-1)?.seq ?? input.seq;
  const activate = ACTIVATING.has(input.type) && pos.active && !pos.scim_deleted && (pos.lifecycle_state === 'provisioned' || pos.lifecycle_state === 'suspended');
  const state: LifecycleState = activate ? 'active' : pos.lifecycle_state;
  const audit: AuditEventInput[] = [
    { actor, action: activate ? 'lifecycle.active' : `lifecycle.${input.type}`, targetType: 'user', targetId: input.userId, data: { seq: input.seq, event: input.type, state } },
    ...batch.map((e): AuditEventInput => ({ actor, action: `lifecycle.${e.type}`, targetType: 'user', targetId: input.userId, data: { seq: e.seq, event: e.type, state } })),
  ];
  const events: NewEvent[] = [];
  const emit = (type: EventType, data: Record<string, unknown>, suffix = '') =>
    events.push({ id: eventIdFor(input.workflowId, `${input.seq}:${type}${suffix}`), type, subjectType: 'user', subjectId: input.userId, data });

  let leaver: 'none' | 'proceed' | 'held' = 'none';
  const startCampaigns: string[] = [];
  let deferredGrants: readonly string[] = [];
  if (activate || (MOVER_EVENTS.has(input.type) && state === 'active')) {
    // Joiner or reactivation (roles come back, revoked credentials never do), or the mover.
    // A joiner's grants (no revocation) are written by the closing statement below; anything
    // else writes its diff now, before the steps that read it (credential revocation, the review).
    const roleInput = { tenantId: input.tenantId, userId: input.userId, catalogue: input.catalogue, actor };
    const plan = activate ? await planEffectiveRoles(tx, roleInput) : null;
    const roles = plan && plan.revoke.length === 0 ? plan : await applyEffectiveRoles(tx, roleInput);
    if (roles === plan) deferredGrants = plan.grant;
    audit.push(...roles.audit);
    for (const role of roles.grant) emit('role.granted', { role }, `:${role}`);
    for (const role of roles.revoke) emit('role.revoked', { role }, `:${role}`);
    if (roles.revoke.length) await revokeCredentialsRequiringRoles(tx, input.tenantId, input.userId, roles.revoke, actor);
    if (activate) emit(input.type === 'user.created' ? 'user.provisioned' : 'user.reactivated', {});
    else if (input.type === 'user.updated') {
      emit('user.updated', { changed: input.changed ?? [] });
      const review = await reviewOnMove(tx, { catalogue: input.catalogue, hourMs: input.campaignHourMs ?? 3_600_000 }, {
        tenantId: input.tenantId,
        userId: input.userId,
        seq: input.seq,
        changed: input.changed ?? [],
      });
      if (review) startCampaigns.push(review);
    }
  } else if (LEAVER_EVENTS.has(input.type) && !input.leaverDone && pos.leaver_seq === null) {
    // SCIM already suspended the user synchronously; the leaver is the durable revocation behind
    // it. Only the guard's decision is taken here; its tenant lock is held until commit, so the
    // revocations run in `completeLeaver`'s transaction and other leavers of the tenant wait on
    // it only briefly.
    leaver = (await checkDeprovisionGuard(tx, input)).held ? 'held' : 'proceed';
  }

  const finished = leaver === 'none';
  const outcome: IdentityEventOutcome = {
    kind: 'applied',
    state,
    becameActive: activate,
    leaver,
    finished,
    deletionPending,
    deliver: [],
    ...(batch.length ? { through: last } : {}),
    ...(startCampaigns.length ? { startCampaigns } : {}),
    // Stored with the outcome: a retry of this step hands them over again.
    ...(pulledFirst.length ? { pulled: pulledFirst } : {}),
  };
  // The event's writes in one statement (one round trip instead of five on the hot path): the
  // deferred grants, the transition and stream position, the audit rows, the events (answering
  // which of them a webhook takes) and the stored outcome with that answer. The user's row is
  // locked already (identityPosition), and user_roles are its child rows.
  const ctes: FragmentSqlToken[] = [];
  if (deferredGrants.length) ctes.push(sql.fragment`granted AS (${grantRolesInsert(input.tenantId, input.userId, deferredGrants)})`);
  // The transition (an activation clears the leaver decision; a leaver records it, so a later
  // DELETE finds it even in a workflow run that never saw this event) and the stream position.
  const transition = activate
    ? sql.fragment`lifecycle_state = 'active', activated_at = now(), leaver_seq = NULL, `
    : leaver !== 'none' ? sql.fragment`leaver_seq = ${input.seq}, ` : sql.fragment``;
  ctes.push(sql.fragment`moved AS (
    UPDATE users SET ${transition} applied_seq = ${finished ? last : pos.applied_seq}
     WHERE tenant_id = ${input.tenantId} AND id = ${input.userId})`);
  ctes.push(sql.fragment`audited AS (${auditInsert(input.tenantId, audit)})`);
  ctes.push(recordEventsCtes(input.tenantId, events));
  const pullAtClose = input.pull === true && !pullsFirst && pos.event_seq > last;
  const closed = await closeStep(tx, input.tenantId, key, ctes, outcome, pullAtClose ? { userId: input.userId, after: last } : undefined);
  return { ...outcome, ...closed };
}

/**
 * The leaver, after the guard let it through (at once, or after an operator's release): revoke
 * every live session, personal token and OAuth grant, hand over or disable the service accounts the
 * user still owns, record the exposure report (once per workflow id + seq) and user.suspended, in
 * one transaction stored under workflow id + seq + `leaver`. The stream position moves on in the
 * same transaction unless service accounts were handed over: that locks the manager's row, and
 * this user's row after it could break the id order of user locks (core/db/locks.ts), so the caller
 * then finishes with `finishIdentityEvent`.
 */
export async function completeLeaver(
  tx: Tx,
  input: { tenantId: string; userId: string; workflowId: string; seq: number; pull?: boolean },
): Promise<{ finished: boolean; deliver: string[]; pulled?: PulledEvent[] }> {
  const key = eventStepKey(input, 'leaver');
  const done = await storedStep<{ finished: boolean; deliver: string[]; pulled?: PulledEvent[] }>(tx, input.tenantId, key);
  if (done !== null) return done;
  const actor: Actor = { type: 'system', id: input.workflowId };
  // Revocation and whether service accounts are owned: one statement, its audit rows written last.
  const revoked = await revokeUserAccessRows(tx, input.tenantId, input.userId, RevocationReason.leaver, actor);
  const handOver = revoked.ownsServiceAccounts;
  const accounts = handOver ? await handOverServiceAccounts(tx, input.tenantId, input.userId, actor) : { reassigned: [], disabled: [] };
  const report = await buildExposureReport(tx, input.tenantId, input.userId);
  const recorded = await insertExposureReport(tx, input.tenantId, { userId: input.userId, runKey: `${input.workflowId}#${input.seq}`, report }, actor);
  const suspended: NewEvent = {
    id: eventIdFor(input.workflowId, `${input.seq}:user.suspended`),
    type: 'user.suspended',
    subjectType: 'user',
    subjectId: input.userId,
    data: {
      liveCredentials: recorded.report.liveCredentials,
      serviceAccountsReassigned: accounts.reassigned.length,
      serviceAccountsDisabled: accounts.disabled.length,
    },
  };
  // The closing statement: the audit rows (revocations, then the report), user.suspended, the
  // stream position (unless a hand-over locked the manager's row: then the caller finishes) and
  // the stored outcome.
  const audit = [...revoked.audit, ...recorded.audit];
  const ctes: FragmentSqlToken[] = [];
  if (audit.length) ctes.push(sql.fragment`audited AS (${auditInsert(input.tenantId, audit)})`);
  ctes.push(recordEventsCtes(input.tenantId, [suspended]));
  if (!handOver) ctes.push(sql.fragment`moved AS (${finishIdentityEventUpdate(input)})`);
  const outcome = { finished: !handOver };
  // A finished leaver moves the stream: what waits behind it (an IdP removing the leaver from its
  // groups, say, deferred by the relay) is pulled here, as by applyIdentityEvent.
  const pull = input.pull && !handOver ? { userId: input.userId, after: input.seq } : undefined;
  return { ...outcome, ...(await closeStep(tx, input.tenantId, key, ctes, outcome, pull)) };
}

const GuardRow = z.object({
  open_holds: z.number(),
  recent_suspensions: z.number(),
  max_suspensions: z.number(),
  max_share: z.number(),
  window_seconds: z.number(),
});

/** Below this many recent suspensions the share rule never trips (a 3-person tenant losing 1). */
const GUARD_SHARE_FLOOR = 10;

/**
 * The mass-deprovisioning guard: too many suspensions in the window (an IdP misconfiguration) holds
 * this leaver, and every later one while a hold is open, and alerts the tenant once per trip.
 */
export async function checkDeprovisionGuard(tx: Tx, input: { tenantId: string; userId: string; workflowId: string }): Promise<{ held: boolean }> {
  // One guard decision at a time per tenant, so a burst of leavers counts consistently. The lock is
  // its own statement on purpose: counts read after it see the previous decision's commit.
  await lockTenantGuard(tx, input.tenantId);
  const g = await tx.one(sql.type(GuardRow)`
    SELECT (SELECT count(*) FROM deprovision_holds h WHERE h.tenant_id = ${input.tenantId} AND h.released_at IS NULL)::int AS open_holds,
           (SELECT count(DISTINCT l.user_id) FROM leaver_starts l
             WHERE l.tenant_id = ${input.tenantId} AND l.started_at > now() - make_interval(secs => t.guard_window_seconds))::int AS recent_suspensions,
           t.guard_max_suspensions AS max_suspensions, t.guard_max_share::float8 AS max_share, t.guard_window_seconds AS window_seconds
      FROM tenants t WHERE t.id = ${input.tenantId}`);
  // Would this leaver take the window past the limits?
  const wouldBe = g.recent_suspensions + 1;
  const overCount = wouldBe > g.max_suspensions;
  let overShare = false;
  let population = 0;
  if (wouldBe >= GUARD_SHARE_FLOOR && g.max_share <= 0) {
    overShare = true;
  } else if (wouldBe >= GUARD_SHARE_FLOOR && g.max_share < 1) {
    // wouldBe / population > share  ⇔  population < wouldBe / share: count no further than that, so
    // a million-user tenant costs a bounded index scan, not a full count, per leaver.
    const cap = Math.floor(wouldBe / g.max_share) + 1;
    population = await tx.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int AS n FROM (SELECT 1 FROM users WHERE tenant_id = ${input.tenantId}
         AND lifecycle_state IN ('active', 'suspended') LIMIT ${cap}) s`);
    overShare = population > 0 && wouldBe / population > g.max_share;
  }
  if (g.open_holds === 0 && !overCount && !overShare) {
    await tx.query(sql.unsafe`INSERT INTO leaver_starts (tenant_id, user_id) VALUES (${input.tenantId}, ${input.userId}) ON CONFLICT DO NOTHING`);
    return { held: false };
  }
  await tx.query(sql.unsafe`INSERT INTO deprovision_holds (tenant_id, user_id) VALUES (${input.tenantId}, ${input.userId}) ON CONFLICT DO NOTHING`);
  if (g.open_holds === 0) {
    await tx.query(sql.unsafe`
      INSERT INTO tenant_alerts (tenant_id, kind, data)
      VALUES (${input.tenantId}, 'mass_deprovisioning', ${JSON.stringify({ recentSuspensions: g.recent_suspensions, population, windowSeconds: g.window_seconds })}::jsonb)`);
  }
  await appendAudit(tx, input.tenantId, [
    { actor: { type: 'system', id: input.workflowId }, action: 'leaver.held', targetType: 'user', targetId: input.userId, data: { recentSuspensions: g.recent_suspensions, population } },
  ]);
  return { held: true };
}

/** Is this identity's hold released (by an operator), or has the identity been reactivated? */
export async function holdStatus(tx: Tx, input: { tenantId: string; userId: string }): Promise<{ released: boolean; active: boolean }> {
  return tx.one(sql.type(z.object({ released: z.boolean(), active: z.boolean() }))`
    SELECT NOT EXISTS (SELECT 1 FROM deprovision_holds h WHERE h.tenant_id = u.tenant_id AND h.user_id = u.id AND h.released_at IS NULL) AS released,
           u.active AND u.scim_deleted_at IS NULL AS active
      FROM users u WHERE u.tenant_id = ${input.tenantId} AND u.id = ${input.userId}`);
}

/**
 * Releases open holds (all of a tenant's, or one identity's); returns the released identities.
 * A released leaver then proceeds without asking the guard again.
 */
export async function releaseHolds(
  tx: Tx,
  tenantId: string,
  options: { userId?: string; by: string; reason?: string; actor?: Actor; requestId?: string | undefined },
): Promise<string[]> {
  const ids = await tx.anyFirst(sql.type(z.object({ user_id: z.string() }))`
    UPDATE deprovision_holds SET released_at = now(), released_by = ${options.by}
     WHERE tenant_id = ${tenantId} AND released_at IS NULL
       ${options.userId ? sql.fragment`AND user_id = ${options.userId}` : sql.fragment``}
    RETURNING user_id::text`);
  if (ids.length) {
    await tx.query(sql.unsafe`UPDATE tenant_alerts SET resolved_at = now() WHERE tenant_id = ${tenantId} AND kind = 'mass_deprovisioning' AND resolved_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM deprovision_holds WHERE tenant_id = ${tenantId} AND released_at IS NULL)`);
    await appendAudit(
      tx,
      tenantId,
      ids.map((id) => ({
        actor: options.actor ?? { type: 'operator' as const, id: options.by },
        action: 'leaver.released',
        targetType: 'user',
        targetId: id,
        ...(options.requestId ? { requestId: options.requestId } : {}),
        data: { reason: options.reason ?? 'released' },
      })),
    );
  }
  return [...ids];
}

/** A stable pseudonym: the audit trail keeps pointing at the same identity without naming it. */
export function pseudonymFor(tenantId: string, userId: string): string {
  return `deleted-${createHash('sha256').update(`${tenantId}:${userId}`).digest('hex').slice(0, 16)}`;
}

/**
 * The grace period has run out: personal data is removed (the row stays, under a pseudonym, so
 * the audit trail and foreign keys keep their meaning), roles and memberships go, state `deleted`.
 */
export async function completeIdentityDeletion(
  tx: Tx,
  input: { tenantId: string; userId: string; workflowId: string },
): Promise<{ state: LifecycleState; deleted: boolean }> {
  const pseudonym = pseudonymFor(input.tenantId, input.userId);
  claimLocks(tx, 'users', [input.userId]);
  const row = await tx.maybeOne(sql.type(z.object({ lifecycle_state: LifecycleState }))`
    UPDATE users SET lifecycle_state = 'deleted', deleted_at = now(), active = false, pseudonym = ${pseudonym},
           user_name = ${pseudonym}, user_name_key = ${pseudonym}, external_id = NULL, display_name = NULL, name = NULL,
           emails = '[]', phone_numbers = '[]', enterprise = NULL, attributes = '{}'
     WHERE tenant_id = ${input.tenantId} AND id = ${input.userId} AND scim_deleted_at IS NOT NULL AND lifecycle_state <> 'deleted'
     RETURNING lifecycle_state`);
  if (!row) return { state: 'deleted', deleted: false };
  const roles = await revokeAllRoles(tx, input.tenantId, input.userId);
  const erased = await erasePersonalData(tx, input.tenantId, input.userId);
  await tx.query(sql.unsafe`DELETE FROM direct_role_grants WHERE tenant_id = ${input.tenantId} AND user_id = ${input.userId}`);
  await tx.query(sql.unsafe`DELETE FROM group_members WHERE tenant_id = ${input.tenantId} AND user_id = ${input.userId}`);
  await appendAudit(tx, input.tenantId, [
    { actor: { type: 'system', id: input.workflowId }, action: 'lifecycle.deleted', targetType: 'user', targetId: input.userId, data: { pseudonym, rolesRevoked: roles, auditValuesErased: erased } },
  ]);
  return { state: 'deleted', deleted: true };
}

const GroupPosition = z.object({ applied_seq: z.number() });

export async function groupPosition(tx: Tx, tenantId: string, groupId: string): Promise<{ applied_seq: number } | null> {
  return tx.maybeOne(sql.type(GroupPosition)`SELECT applied_seq FROM groups WHERE tenant_id = ${tenantId} AND id = ${groupId}`);
}

export async function applyGroupEvent(tx: Tx, input: { tenantId: string; groupId: string; seq: number }): Promise<boolean> {
  const res = await tx.query(sql.unsafe`
    UPDATE groups SET applied_seq = ${input.seq} WHERE tenant_id = ${input.tenantId} AND id = ${input.groupId} AND applied_seq = ${input.seq - 1}`);
  return res.rowCount > 0;
}
