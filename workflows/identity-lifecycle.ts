import {
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { EventActivities } from '../activities/events.js';
import type { LifecycleActivities } from '../activities/lifecycle.js';
import { databaseLocalActivity } from './activity-options.js';
import { PARKING_FAILURES, permanentFailure } from './failures.js';
import {
  BATCHED_IDENTITY_EVENTS,
  type IdentityStatus,
  MAX_IDENTITY_BATCH,
  identityStatusQuery,
  type LifecycleState,
  type ParkedEvent,
  releaseHoldSignal,
  type ResolveStreamInput,
  resolveStreamUpdate,
  scimChangeSignal,
  type StreamEvent,
  type StreamResolution,
} from './messages.js';
import { OrderedStream } from './ordered-stream.js';

const db = proxyLocalActivities<LifecycleActivities>(databaseLocalActivity);
const events = proxyLocalActivities<EventActivities>(databaseLocalActivity);

export interface IdentityLifecycleInput {
  tenantId: string;
  userId: string;
  /** Carried across continue-as-new; absent on the first run. */
  carried?: { appliedSeq: number; state: LifecycleState; pending: StreamEvent[]; awaitingDeletion: boolean; leaverDone: boolean };
}

/** Past this many history events the workflow continues as new (state carried, nothing lost). */
const HISTORY_LIMIT = 2_000;
/**
 * While held, the database is re-checked this often in case a release signal was missed. Holds can
 * last days, so the check is sparse and the workflow continues as new if the history grows.
 */
const HOLD_RECHECK = '10 minutes';
/** Version marker: consecutive membership and entitlement events waiting in the stream apply as one step. */
const BATCH_EVENTS = 'identity-batched-events';
/**
 * Version marker: a step pulls the stream's waiting events from the outbox (the relay defers
 * membership and entitlement rows of a busy identity instead of signalling each).
 */
const PULL_EVENTS = 'identity-pulled-events';

/**
 * The entity workflow of one identity (`identity/<tenantId>/<userId>`). It drains the SCIM change
 * signals strictly in seq order and runs, for each, the joiner, mover or leaver sequence; a SCIM
 * DELETE adds the grace-period timer, after which personal data is removed. Each event is one
 * local activity and one transaction (`applyIdentityEvent`: transition, roles, guard, revocations,
 * audit, outbound events, stream position), stored under workflow id + seq + step, so a crash
 * anywhere replays safely; only a held leaver, or one whose service accounts must be handed over,
 * takes further steps. A fresh run learns its stream position from its first event's step. When
 * the stream has a backlog (a group push delivers several events per member), a run of membership
 * and entitlement events waiting together is one step: their roles follow the directory as it is
 * now, so applying them one by one would only end at the same roles. Such events of a busy
 * identity are not signalled at all: the relay defers them and the step before them pulls them
 * from the outbox (its outcome's `pulled`), so a group push costs about one workflow task per
 * member rather than one per membership.
 */
export async function identityLifecycle(input: IdentityLifecycleInput): Promise<void> {
  const { tenantId, userId } = input;
  const workflowId = workflowInfo().workflowId;
  const stream = new OrderedStream(input.carried?.appliedSeq ?? 0, input.carried?.pending);
  let state: LifecycleState | 'unknown' = input.carried?.state ?? 'unknown';
  let awaitingDeletion = input.carried?.awaitingDeletion ?? false;
  let leaverDone = input.carried?.leaverDone ?? false;
  let held = false;
  let releaseSignalled = false;
  /** The event the stream waits on after a permanent failure, the decision asked for, its answer. */
  let parked: ParkedEvent | null = null;
  let decision: ResolveStreamInput | null = null;
  let resolution: { ticket: number; answer: StreamResolution } | null = null;
  let decisions = 0;

  setHandler(scimChangeSignal, (event) => stream.accept(event));
  setHandler(releaseHoldSignal, () => {
    releaseSignalled = true;
  });
  setHandler(
    identityStatusQuery,
    (): IdentityStatus => ({
      tenantId,
      userId,
      appliedSeq: stream.appliedSeq,
      state,
      pendingSeqs: stream.pendingEvents().map((e) => e.seq),
      awaitingDeletion,
      held,
      leaverDone,
      parked,
    }),
  );
  setHandler(
    resolveStreamUpdate,
    async (input): Promise<StreamResolution> => {
      const ticket = ++decisions;
      decision = input;
      await condition(() => resolution?.ticket === ticket);
      return resolution!.answer;
    },
    {
      validator: (input) => {
        if (input.action !== 'retry' && input.action !== 'skip') throw new Error('action must be retry or skip');
        if (!input.by) throw new Error('by is required');
        if (!parked) throw new Error('the stream is not parked');
        if (decision) throw new Error('a decision on this event is already being applied');
      },
    },
  );

  /** Continues as new with everything this run knows (after in-flight handlers finish). */
  async function carryOn(): Promise<never> {
    await condition(allHandlersFinished);
    return continueAsNew<typeof identityLifecycle>({
      tenantId,
      userId,
      carried: {
        appliedSeq: stream.appliedSeq,
        state: state === 'unknown' ? 'provisioned' : state,
        pending: stream.pendingEvents(),
        awaitingDeletion,
        leaverDone,
      },
    });
  }

  const emit = (seq: number, type: Parameters<EventActivities['emitEvent']>[0]['type'], data: Record<string, unknown>) =>
    events.emitEvent({ tenantId, workflowId, step: `${seq}:${type}`, type, subjectType: 'user', subjectId: userId, data });

  /**
   * The leaver after the guard's decision: a held one waits for an operator's release (or for the
   * identity to come back, which abandons it: returns false), then revocation, service-account
   * hand-over, verification and user.suspended run as one step.
   */
  async function completeLeaver(seq: number, wasHeld: boolean, pull: boolean): Promise<boolean> {
    if (wasHeld) {
      held = true;
      for (;;) {
        const comingBack = () => stream.pendingEvents().some((e) => e.type === 'user.activated' || e.type === 'user.restored');
        await condition(() => releaseSignalled || comingBack(), HOLD_RECHECK);
        const status = await db.holdStatus({ tenantId, userId });
        if (status.active) {
          await db.cancelHold({ tenantId, userId, workflowId });
          held = false;
          return false;
        }
        if (status.released) break;
        releaseSignalled = false;
        // The held event is still pending (not applied), so the next run takes it up again; its
        // steps so far are stored per workflow id + seq, so nothing is done twice.
        if (workflowInfo().historyLength > HISTORY_LIMIT) await carryOn();
      }
      held = false;
    }
    const done = await db.completeLeaver({ tenantId, userId, workflowId, seq, ...(pull ? { pull } : {}) });
    for (const e of done.pulled ?? []) stream.accept(e);
    if (!done.finished) await db.finishIdentityEvent({ tenantId, userId, workflowId, seq });
    leaverDone = true;
    return true;
  }

  /** Applies one event; the first of a fresh run may instead move the stream to the database's position. */
  async function handle(event: StreamEvent, fromStart: boolean): Promise<'applied' | 'repositioned' | 'gone'> {
    const step = { tenantId, userId, workflowId, seq: event.seq };
    const changed = Array.isArray(event.payload.changed) ? (event.payload.changed as unknown[]) : undefined;
    const batched = (e: StreamEvent) => BATCHED_IDENTITY_EVENTS.has(e.type);
    const following = fromStart || !batched(event) ? [] : stream.following(event.seq, batched, MAX_IDENTITY_BATCH - 1);
    const then = following.length && patched(BATCH_EVENTS) ? following.map((e) => ({ seq: e.seq, type: e.type })) : undefined;
    const pull = patched(PULL_EVENTS);
    const out = await db.applyIdentityEvent({ ...step, type: event.type, ...(changed ? { changed } : {}), leaverDone, fromStart, ...(then ? { then } : {}), ...(pull ? { pull } : {}) });
    // Pulled events were marked delivered by the step: no signal brings them.
    if ((out.kind === 'applied' || out.kind === 'position') && out.pulled) for (const e of out.pulled) stream.accept(e);
    if (out.kind === 'gone') return fromStart ? 'gone' : 'applied';
    if (fromStart) awaitingDeletion = out.deletionPending;
    if (out.kind === 'position') {
      stream.advanceTo(out.appliedSeq);
      state = out.state;
      return 'repositioned';
    }
    if (out.kind === 'skip') return 'applied';
    state = out.state;
    if (out.through) stream.advanceTo(out.through);
    if (out.becameActive) {
      // Joiner, or reactivation / restore (which brings back roles, never revoked credentials).
      leaverDone = false;
      awaitingDeletion = false;
    }
    // SCIM DELETE suspends at once; the leaver runs unless this suspension's already did.
    if (out.leaver !== 'none' && !(await completeLeaver(event.seq, out.leaver === 'held', pull))) await db.finishIdentityEvent(step);
    if (event.type === 'user.deleted') awaitingDeletion = true;
    return 'applied';
  }

  /**
   * `handle`, parking the stream when the event fails permanently (workflows/failures.ts): the
   * failure is recorded (an open tenant alert and an audit row) and the stream waits, without
   * retrying, for an operator's `resolveStreamUpdate`: retry runs the event again, skip moves the
   * stream past it (audited). Any other failure propagates (Temporal retries the workflow task).
   */
  async function handleOrPark(event: StreamEvent, fromStart: boolean): Promise<'applied' | 'repositioned' | 'gone' | 'skipped'> {
    for (let attempts = 1; ; attempts++) {
      let failure: { type: string; message: string } | undefined;
      try {
        const result = await handle(event, fromStart);
        if (parked) await settle({ outcome: 'applied', seq: event.seq }, 'applied');
        return result;
      } catch (err) {
        failure = permanentFailure(err, PARKING_FAILURES);
        if (!failure) throw err;
      }
      parked = { seq: event.seq, eventType: event.type, failureType: failure.type, message: failure.message, attempts };
      await db.parkStream({ tenantId, userId, workflowId, seq: event.seq, eventType: event.type, failureType: failure.type, message: failure.message, attempts });
      if (decision) answer({ outcome: 'parked', seq: event.seq, failureType: failure.type, message: failure.message });
      await condition(() => decision !== null);
      if (decision!.action === 'skip') {
        await settle({ outcome: 'skipped', seq: event.seq }, 'skipped');
        return 'skipped';
      }
    }
  }

  function answer(result: StreamResolution): void {
    resolution = { ticket: decisions, answer: result };
    decision = null;
  }

  /** Closes the park (alert resolved, audited; a skip also moves the stream position) and answers. */
  async function settle(result: StreamResolution, outcome: 'applied' | 'skipped'): Promise<void> {
    const by = decision?.by ?? workflowId;
    await db.resolveStreamPark({ tenantId, userId, workflowId, seq: result.seq, outcome, by, ...(decision?.reason ? { reason: decision.reason } : {}) });
    parked = null;
    answer(result);
  }

  /** False until the stream's position is known (carried, or learned from the first event). */
  let positioned = !!input.carried;

  for (;;) {
    if (awaitingDeletion && !stream.hasNext()) {
      // The deadline lives in the database (SCIM DELETE time + the tenant's grace period), so a
      // continue-as-new or a restart never moves it; Temporal only keeps the timer.
      const { deletionDueInMs } = await db.loadIdentity({ tenantId, userId });
      const woke = deletionDueInMs !== null && (await condition(() => stream.hasNext(), Math.max(1, deletionDueInMs)));
      if (!woke) {
        const result = await db.completeIdentityDeletion({ tenantId, userId, workflowId });
        state = 'deleted';
        awaitingDeletion = false;
        if (result.deleted) await emit(stream.appliedSeq, 'user.deleted', {});
        await condition(allHandlersFinished);
        return;
      }
    } else {
      await condition(() => (positioned ? stream.hasNext() : stream.pendingEvents().length > 0) || workflowInfo().historyLength > HISTORY_LIMIT);
    }
    const event = positioned ? stream.peek() : stream.pendingEvents()[0];
    if (event) {
      const result = await handleOrPark(event, !positioned);
      if (result === 'gone') return;
      positioned = true;
      if (result === 'applied' || result === 'skipped') stream.markApplied(event.seq);
    }
    if (positioned && (workflowInfo().historyLength > HISTORY_LIMIT || workflowInfo().continueAsNewSuggested)) await carryOn();
  }
}
