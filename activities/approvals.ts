import type { Client } from '@temporalio/client';
import type { Db } from '../core/db/pool.js';
import {
  type ApprovalDeps,
  applyApprovedChange,
  notifyApprovers,
  recordDecision,
  reviseRequest,
  transitionRequest,
  verifyAndRecord,
} from '../core/approvals/service.js';
import { signalEvents } from './approval-client.js';

export interface ApprovalActivityDeps {
  /** The app-role pool: every step runs under row-level security for its tenant. */
  db: Db;
  /** Signals the event delivery workflows (webhooks for approval events). */
  client: Client;
  deps: ApprovalDeps;
}

/**
 * The approval workflow's steps: thin adapters over core/approvals/service.ts. Each is one
 * transaction that locks the request row and checks its state first, so a retried step (a worker
 * killed mid-step) changes nothing twice; events carry ids derived from the workflow and step.
 */
export function createApprovalActivities({ db, client, deps }: ApprovalActivityDeps) {
  const emitted = async (tenantId: string, requestId: string, eventIds: readonly string[]) => signalEvents(client, deps.taskQueue, tenantId, requestId, eventIds);
  return {
    async recordApprovalDecision(input: Parameters<typeof recordDecision>[1]) {
      const r = await recordDecision(db, input);
      await emitted(input.tenantId, input.requestId, r.eventIds);
      return { outcome: r.outcome, validApprovals: r.validApprovals, state: r.state };
    },
    async transitionApprovalRequest(input: Parameters<typeof transitionRequest>[1]): Promise<boolean> {
      const r = await transitionRequest(db, input);
      await emitted(input.tenantId, input.requestId, r.eventIds);
      return r.moved;
    },
    async notifyApprovers(input: Parameters<typeof notifyApprovers>[1]) {
      const r = await notifyApprovers(db, input);
      await emitted(input.tenantId, input.requestId, r.eventIds);
      return { approverIds: r.approverIds };
    },
    async reviseApprovalRequest(input: Parameters<typeof reviseRequest>[2]) {
      return reviseRequest(db, deps, input);
    },
    async applyApprovedChange(input: { tenantId: string; requestId: string }) {
      const r = await applyApprovedChange(db, deps, input);
      await emitted(input.tenantId, input.requestId, r.eventIds);
      return { state: r.state, result: r.result };
    },
    async verifyAppliedChange(input: { tenantId: string; requestId: string }) {
      return verifyAndRecord(db, deps, input.tenantId, input.requestId);
    },
  };
}

export type ApprovalActivities = ReturnType<typeof createApprovalActivities>;
