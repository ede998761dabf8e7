import {
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { CredentialActivities } from '../activities/credentials.js';
import type { EventActivities } from '../activities/events.js';
import type { LifecycleActivities } from '../activities/lifecycle.js';
import { databaseLocalActivity } from './activity-options.js';
import {
  type IdentityStatus,
  identityStatusQuery,
  type LifecycleState,
  releaseHoldSignal,
  scimChangeSignal,
  type StreamEvent,
} from './messages.js';
import { OrderedStream } from './ordered-stream.js';

const db = proxyLocalActivities<LifecycleActivities>(databaseLocalActivity);
const credentials = proxyLocalActivities<CredentialActivities>(databaseLocalActivity);
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

const MOVER_EVENTS = new Set(['user.updated', 'membership.added', 'membership.removed', 'entitlements.changed']);

/**
 * The entity workflow of one identity (`identity/<tenantId>/<userId>`). It drains the SCIM change
 * signals strictly in seq order and runs, for each, the joiner, mover or leaver sequence; a SCIM
 * DELETE adds the grace-period timer, after which personal data is removed. Every step is an
 * idempotent activity keyed by workflow id + seq + step, so a crash anywhere replays safely.
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
    }),
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

  const emit = (seq: number, type: Parameters<EventActivities['emitEvent']>[0]['type'], data: Record<string, unknown>, stepSuffix = '') =>
    events.emitEvent({ tenantId, workflowId, step: `${seq}:${type}${stepSuffix}`, type, subjectType: 'user', subjectId: userId, data });

  /** Grants the effective roles and tells the app about each one. */
  async function syncRoles(seq: number) {
    const sync = await db.syncEntitlements({ tenantId, userId, workflowId, seq });
    for (const role of sync.granted) await emit(seq, 'role.granted', { role }, `:${role}`);
    for (const role of sync.revoked) await emit(seq, 'role.revoked', { role }, `:${role}`);
    if (sync.revoked.length) await credentials.revokeCredentialsForLostRoles({ tenantId, userId, workflowId, lostRoles: sync.revoked });
    return sync;
  }

  /**
   * Leaver: (guard) → revoke sessions, tokens, grants → hand over or disable owned service
   * accounts → verify nothing is live → user.suspended. Returns false when the leaver was
   * abandoned because the identity came back while held.
   */
  async function leaver(seq: number): Promise<boolean> {
    const guard = await db.checkDeprovisionGuard({ tenantId, userId, workflowId, seq });
    if (guard.held) {
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
    await credentials.revokeUserAccess({ tenantId, userId, workflowId });
    const accounts = await credentials.handleOwnedServiceAccounts({ tenantId, userId, workflowId });
    const report = await credentials.verifyNoLiveCredentials({ tenantId, userId, workflowId, step: seq });
    await emit(seq, 'user.suspended', {
      liveCredentials: report.liveCredentials,
      serviceAccountsReassigned: accounts.reassigned.length,
      serviceAccountsDisabled: accounts.disabled.length,
    });
    leaverDone = true;
    return true;
  }

  async function handle(event: StreamEvent): Promise<void> {
    const step = { tenantId, userId, workflowId, seq: event.seq };
    const start = await db.beginIdentityEvent({ ...step, type: event.type });
    if (start.skip) return;
    state = start.state;
    if (start.becameActive) {
      // Joiner, or reactivation / restore (which brings back roles, never revoked credentials).
      leaverDone = false;
      awaitingDeletion = false;
      await syncRoles(event.seq);
      await emit(event.seq, event.type === 'user.created' ? 'user.provisioned' : 'user.reactivated', {});
    } else if (MOVER_EVENTS.has(event.type)) {
      if (state === 'active') {
        await syncRoles(event.seq);
        if (event.type === 'user.updated') await emit(event.seq, 'user.updated', { changed: event.payload.changed ?? [] });
      }
    } else if (event.type === 'user.deactivated') {
      if (!leaverDone) await leaver(event.seq);
    } else if (event.type === 'user.deleted') {
      // SCIM DELETE suspends at once; the leaver runs unless this suspension's already did.
      if (!leaverDone) await leaver(event.seq);
      awaitingDeletion = true;
    }
    await db.finishIdentityEvent(step);
  }

  if (!input.carried) {
    const loaded = await db.loadIdentity({ tenantId, userId });
    if (!loaded.exists) return;
    stream.advanceTo(loaded.appliedSeq);
    state = loaded.state;
    awaitingDeletion = loaded.deletionDueInMs !== null;
  }

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
      await condition(() => stream.hasNext() || workflowInfo().historyLength > HISTORY_LIMIT);
    }
    const event = stream.peek();
    if (event) {
      await handle(event);
      stream.markApplied(event.seq);
    }
    if (workflowInfo().historyLength > HISTORY_LIMIT || workflowInfo().continueAsNewSuggested) await carryOn();
  }
}
