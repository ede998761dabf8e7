import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../core/db/pool.js';
import { DomainError } from '../core/errors.js';
import type { PortalRole } from '../core/portal-auth/schema.js';
import type { ChangeRequestView, DecisionBody, DecisionOutcome } from '../core/approvals/schema.js';
import {
  type ApprovalDeps,
  checkRevision,
  markWorkflowStarted,
  readChangeRequest,
  recordChangeRequest,
  recordedState,
  type SubmitInput,
  type SubmitResult,
  verifyAndRecord,
  workflowStartInput,
} from '../core/approvals/service.js';
import type { ServiceContext } from '../core/shared/service-context.js';
import { approvalWorkflowId } from '../workflows/ids.js';
import { type ApprovalDecisionOutcome, cancelUpdate, type CloseOutcome, decideUpdate, editUpdate, type EditOutcome, withdrawUpdate } from '../workflows/messages.js';
import { signalEventDelivery } from './events.js';

/**
 * The approval engine's Temporal side, for the surfaces that submit and decide requests (portal,
 * app API, CLI) and the worker's reconciler: the rules and records are core/approvals/service.ts;
 * this starts each request's workflow and sends it decisions, edits, withdrawals and cancellations
 * as Updates, turning a refused Update into its typed outcome.
 */

const OPEN = new Set(['pending', 'cooling_off']);

/**
 * Requests a change (core `recordChangeRequest`: described, bound, audited in one transaction).
 * One that applied at once is verified here and returns its secret; otherwise its workflow starts
 * after commit (a failed start is healed by the worker's approval reconciler).
 */
export async function submitChange(db: Db, temporal: Client | undefined, ctx: ServiceContext, deps: ApprovalDeps, input: SubmitInput): Promise<SubmitResult> {
  const recorded = await recordChangeRequest(db, ctx, deps, input);
  const { requestId } = recorded;
  if (temporal) await signalEvents(temporal, deps.taskQueue, ctx.tenantId, requestId, recorded.subscribed);
  if (recorded.applied) {
    await verifyAndRecord(db, deps, ctx.tenantId, requestId, recorded.applied.secret);
    return { request: await readChangeRequest(db, ctx.tenantId, requestId), applied: recorded.applied };
  }
  if (temporal) await startApprovalWorkflow(db, temporal, deps, ctx.tenantId, requestId).catch(() => undefined);
  return { request: await readChangeRequest(db, ctx.tenantId, requestId) };
}

/** Hands recorded approval events to their delivery workflow (webhooks); the feed has them already. */
export async function signalEvents(temporal: Client, taskQueue: string, tenantId: string, requestId: string, eventIds: readonly string[]): Promise<void> {
  if (eventIds.length === 0) return;
  await signalEventDelivery(temporal, taskQueue, { tenantId, subjectType: 'change_request', subjectId: requestId }, eventIds).catch(() => undefined);
}

/** Starts the request's workflow (once: a second start finds it running) and records that it did. */
export async function startApprovalWorkflow(db: Db, temporal: Client, deps: Pick<ApprovalDeps, 'hourMs' | 'taskQueue'>, tenantId: string, requestId: string): Promise<void> {
  const input = await workflowStartInput(db, deps, tenantId, requestId);
  if (!input) return;
  try {
    await temporal.workflow.start('approval', { workflowId: approvalWorkflowId(tenantId, requestId), taskQueue: deps.taskQueue, args: [input] });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  await markWorkflowStarted(db, tenantId, requestId);
}

/** The typed outcome behind a failed Update: the validator's refusal, or the request's closed state. */
async function refusalOf<T extends string>(err: unknown, db: Db, tenantId: string, requestId: string, closed: (state: string) => T): Promise<T> {
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type) return err.cause.type as T;
  // The workflow is gone (closed): answer from the record.
  const state = await recordedState(db, tenantId, requestId);
  if (!OPEN.has(state)) return closed(state);
  throw err;
}

/** Sends one Update to the request's workflow (the request must be this tenant's first: RLS), and reads the request after. */
async function throughWorkflow<T extends string>(
  db: Db,
  temporal: Client,
  tenantId: string,
  requestId: string,
  send: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<T>,
  closed: (state: string) => T,
): Promise<{ outcome: T; request: ChangeRequestView }> {
  await readChangeRequest(db, tenantId, requestId);
  let outcome: T;
  try {
    outcome = await send(temporal.workflow.getHandle(approvalWorkflowId(tenantId, requestId)));
  } catch (err) {
    outcome = await refusalOf<T>(err, db, tenantId, requestId, closed);
  }
  return { outcome, request: await readChangeRequest(db, tenantId, requestId) };
}

export interface DecideChangeInput {
  tenantId: string;
  requestId: string;
  userId: string;
  roles: readonly PortalRole[];
  body: DecisionBody;
}

/**
 * A decision, sent to the request's workflow as an Update with a validator: the answer is typed
 * (recorded, approved, rejected, or why it was refused) and nothing changed when it was refused.
 */
export async function decideChange(temporal: Client, input: DecideChangeInput, db: Db): Promise<{ outcome: DecisionOutcome; request: ChangeRequestView }> {
  const { body } = input;
  return throughWorkflow<ApprovalDecisionOutcome>(
    db,
    temporal,
    input.tenantId,
    input.requestId,
    (h) => h.executeUpdate(decideUpdate, { args: [{ userId: input.userId, roles: [...input.roles], verdict: body.verdict, comment: body.comment, changeHash: body.changeHash }] }),
    (state) => (state === 'expired' ? 'expired' : 'already_closed'),
  );
}

/**
 * The requester changes their request: the new payload is described first (400 when it is not
 * possible) and the workflow re-binds the request to the new hash, voiding earlier approvals.
 */
export async function editChange(
  db: Db,
  temporal: Client,
  ctx: ServiceContext,
  deps: ApprovalDeps,
  input: { requestId: string; payload: unknown; reason?: string | undefined },
): Promise<{ outcome: EditOutcome['outcome']; request: ChangeRequestView }> {
  await checkRevision(db, ctx, deps, input.requestId, input.payload);
  let invalid: string | undefined;
  const answered = await throughWorkflow<EditOutcome['outcome']>(
    db,
    temporal,
    ctx.tenantId,
    input.requestId,
    async (h) => {
      const outcome = await h.executeUpdate(editUpdate, { args: [{ userId: ctx.actor.id ?? '', payload: input.payload, reason: input.reason }] });
      if (outcome.outcome === 'invalid') invalid = outcome.message;
      return outcome.outcome;
    },
    () => 'already_closed',
  );
  if (invalid !== undefined) throw new DomainError(400, 'invalid_request', invalid);
  return answered;
}

/** The requester takes the request back (while it is open). */
export async function withdrawChange(db: Db, temporal: Client, input: { tenantId: string; requestId: string; userId: string }) {
  return throughWorkflow<CloseOutcome>(db, temporal, input.tenantId, input.requestId, (h) => h.executeUpdate(withdrawUpdate, { args: [{ userId: input.userId }] }), () => 'already_closed');
}

/** Stops a change that is cooling off (an eligible approver or an admin). */
export async function cancelChange(db: Db, temporal: Client, input: { tenantId: string; requestId: string; userId: string; roles: readonly PortalRole[]; comment?: string | undefined }) {
  return throughWorkflow<CloseOutcome>(
    db,
    temporal,
    input.tenantId,
    input.requestId,
    (h) => h.executeUpdate(cancelUpdate, { args: [{ userId: input.userId, roles: [...input.roles], comment: input.comment }] }),
    () => 'already_closed',
  );
}
