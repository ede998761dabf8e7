import { allHandlersFinished, ApplicationFailure, condition, proxyActivities, setHandler } from '@temporalio/workflow';
import type { ApprovalActivities } from '../activities/approvals.js';
import { databaseActivity } from './activity-options.js';
import { ApprovalState } from './approval-state.js';
import {
  type ApprovalPhase,
  approvalStatusQuery,
  type ApprovalWorkflowInput,
  type CancelInput,
  cancelUpdate,
  type DecideInput,
  decideUpdate,
  type EditInput,
  editUpdate,
  type WithdrawInput,
  withdrawUpdate,
} from './messages.js';

const acts = proxyActivities<ApprovalActivities>(databaseActivity);

const OPEN = ['pending', 'cooling_off'];
const system = { type: 'system' as const, id: 'approval-workflow' };

/** A typed refusal: the Update's validator rejects with it and the caller maps `type` to the outcome. */
function refuse(outcome: string): never {
  throw ApplicationFailure.create({ type: outcome, message: outcome, nonRetryable: true });
}

/**
 * One change request (`approval/<tenantId>/<requestId>`): decisions arrive as Updates whose
 * validators refuse requester, subject, ineligible, repeated, stale and late decisions before
 * anything is written; N distinct approvals (or, where fewer than N people can approve, their
 * approvals plus a cooling-off period nobody cancelled) lead to applying the change once and
 * verifying it. Reminders, escalation to admins and expiry run on workflow timers. PostgreSQL holds
 * the record; every step is an idempotent activity that checks the row's state first.
 */
export async function approval(input: ApprovalWorkflowInput): Promise<ApprovalPhase> {
  const { tenantId, requestId } = input;
  const state = new ApprovalState(input, Date.now());

  setHandler(approvalStatusQuery, () => state.status());

  setHandler(
    decideUpdate,
    async (d) => {
      const closeAt = state.closeAt(Date.now());
      const r = await acts.recordApprovalDecision({ tenantId, requestId, userId: d.userId, verdict: d.verdict, comment: d.comment, changeHash: d.changeHash, closeAt });
      state.decisionRecorded(d, r, closeAt.appliesAt);
      return r.outcome;
    },
    {
      validator: (d: DecideInput) => {
        const refusal = state.refusal(d, Date.now());
        if (refusal) refuse(refusal);
      },
    },
  );

  setHandler(
    editUpdate,
    async (e) => {
      const r = await acts.reviseApprovalRequest({ tenantId, requestId, userId: e.userId, payload: e.payload, reason: e.reason });
      if (!r.ok) return { outcome: 'invalid', message: r.message };
      state.revise(r.changeHash);
      return { outcome: 'edited', changeHash: r.changeHash };
    },
    {
      validator: (e: EditInput) => {
        if (!state.open) refuse('already_closed');
        if (e.userId !== input.requesterId) refuse('refused_requester');
      },
    },
  );

  setHandler(
    withdrawUpdate,
    async (w) => {
      const done = await acts.transitionApprovalRequest({ tenantId, requestId, from: OPEN, to: 'withdrawn', actor: { type: 'user', id: w.userId }, action: 'approval.withdrawn' });
      if (!done) return 'already_closed';
      state.close('withdrawn');
      return 'withdrawn';
    },
    {
      validator: (w: WithdrawInput) => {
        if (!state.open) refuse('already_closed');
        if (w.userId !== input.requesterId) refuse('refused_requester');
      },
    },
  );

  setHandler(
    cancelUpdate,
    async (c) => {
      const done = await acts.transitionApprovalRequest({
        tenantId,
        requestId,
        from: OPEN,
        to: 'cancelled',
        actor: { type: 'user', id: c.userId },
        action: 'approval.cancelled',
        data: { comment: c.comment ?? null },
      });
      if (!done) return 'already_closed';
      state.close('cancelled');
      return 'cancelled';
    },
    {
      validator: (c: CancelInput) => {
        const refusal = state.cancelRefusal(c.userId, c.roles);
        if (refusal) refuse(refusal);
      },
    },
  );

  const finish = async (): Promise<ApprovalPhase> => {
    await condition(allHandlersFinished);
    return state.phase;
  };

  const escalateAt = state.startedAt + input.escalateAfterMs;
  let nextReminder = state.startedAt + input.remindEveryMs;
  for (;;) {
    if (state.phase === 'approved') break;
    if (!state.open) return finish();
    const now = Date.now();
    if (state.shouldCoolOff()) {
      const appliesAt = now + (input.coolingOffMs ?? 0);
      const moved = await acts.transitionApprovalRequest({
        tenantId,
        requestId,
        from: ['pending'],
        to: 'cooling_off',
        actor: system,
        action: 'approval.cooling_off',
        appliesAt: new Date(appliesAt).toISOString(),
        data: { approvals: state.approvals.size, needed: input.approvalsNeeded, eligibleApprovers: input.eligibleApprovers },
      });
      if (moved && state.phase === 'pending') state.coolOff(appliesAt);
      continue;
    }
    if (state.phase === 'cooling_off') {
      if (state.appliesAt !== null && now >= state.appliesAt) break;
    } else {
      if (now >= state.expiresAt) {
        await acts.transitionApprovalRequest({ tenantId, requestId, from: ['pending'], to: 'expired', actor: system, action: 'approval.expired' });
        if (state.open) state.close('expired');
        continue;
      }
      if (!state.escalated && now >= escalateAt) {
        await acts.notifyApprovers({ tenantId, requestId, kind: 'escalation', n: 1 });
        state.escalate();
        continue;
      }
      if (now >= nextReminder) {
        state.reminders++;
        await acts.notifyApprovers({ tenantId, requestId, kind: 'reminder', n: state.reminders });
        nextReminder += input.remindEveryMs;
        continue;
      }
    }
    const deadline = state.phase === 'cooling_off' ? (state.appliesAt ?? now) : Math.min(state.expiresAt, state.escalated ? Infinity : escalateAt, nextReminder);
    const seen = state.version;
    await condition(() => state.version !== seen, Math.max(1, deadline - now));
  }

  // Approved (or cooled off unchallenged): apply once, then verify.
  const applied = await acts.applyApprovedChange({ tenantId, requestId });
  if (applied.state === 'applied') {
    state.close('applied');
    await acts.verifyAppliedChange({ tenantId, requestId });
  } else if (applied.state === 'failed') {
    state.close('failed');
  } else if (state.open || state.phase === 'approved') {
    // Closed meanwhile (a cancel won the race): keep what the record says.
    state.close('cancelled');
  }
  return finish();
}
