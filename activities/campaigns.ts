import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  type CampaignEngineDeps,
  closeCampaign,
  closeVanishedItems,
  escalateOverdue,
  generateItemsBatch,
  openCampaign,
  pendingCount,
  remindReviewers,
} from '../core/campaigns/engine.js';
import { launchCampaign } from '../core/campaigns/launch.js';
import { analyzeCampaignItems } from '../core/campaigns/reconciler-queries.js';
import { type Db, withTenant } from '../core/db/pool.js';
import { DomainError } from '../core/errors.js';
import type { FailureType } from '../workflows/failures.js';
import type { ScheduledCampaignInput, ScheduledCampaignResult } from '../workflows/messages.js';
import { startCampaignWorkflow } from './campaign-client.js';
import { signalEventDelivery } from './events.js';

export interface CampaignActivityDeps {
  /** The app-role pool: every step runs under row-level security for its tenant. */
  db: Db;
  /** Signals event delivery workflows; starts campaign workflows for scheduled launches. */
  client: Client;
  /** The worker's task queue (delivery and campaign workflows run there). */
  taskQueue: string;
  deps: CampaignEngineDeps;
}

interface CampaignRef {
  tenantId: string;
  campaignId: string;
}

/** How often a running step tells Temporal it is alive (the heartbeat timeout is 10 s). */
const HEARTBEAT_MS = 2_000;

/** Runs a step while heartbeating, so a step lost with its worker is retried within seconds. */
async function heartbeating<T>(step: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const timer = setInterval(() => ctx.heartbeat(), HEARTBEAT_MS);
  try {
    return await step();
  } finally {
    clearInterval(timer);
  }
}

const CANCELLED: FailureType = 'CampaignCancelled';

/** A cancelled campaign is an outcome the workflow ends on, not an error to retry or park. */
function cancelledAsFailure(err: unknown): never {
  if (err instanceof DomainError && err.code === 'campaign_cancelled') {
    throw ApplicationFailure.create({ type: CANCELLED, message: err.message, nonRetryable: true });
  }
  throw err;
}

/**
 * The campaign workflow's steps: thin adapters over core/campaigns/engine.ts, each idempotent
 * there (state and cursor columns, or stored steps for what emits events). Events a step recorded
 * go to the campaign's delivery workflow here; a failed hand-over fails the step, whose retry
 * answers with the same event ids. Answers are counts, never items.
 */
export function createCampaignActivities({ db, client, taskQueue, deps }: CampaignActivityDeps) {
  const deliver = (ref: CampaignRef, eventIds: readonly string[]) =>
    signalEventDelivery(client, taskQueue, { tenantId: ref.tenantId, subjectType: 'campaign', subjectId: ref.campaignId }, eventIds);
  const step = <T>(run: () => Promise<T>) => heartbeating(run).catch(cancelledAsFailure);

  return {
    async generateCampaignItems(input: CampaignRef & { batchSize: number }) {
      return step(async () => {
        const batch = await generateItemsBatch(db, deps, input);
        // Reviewers' decisions and revokes start at once: the planner must know the items exist.
        if (batch.done) await analyzeCampaignItems(db);
        return batch;
      });
    },
    async openCampaign(input: CampaignRef) {
      return step(async () => {
        const { deliver: eventIds, ...opened } = await openCampaign(db, deps, input);
        await deliver(input, eventIds);
        return opened;
      });
    },
    async remindCampaignReviewers(input: CampaignRef & { round: number }) {
      return step(async () => {
        const { deliver: eventIds, ...reminded } = await remindReviewers(db, deps, input);
        await deliver(input, eventIds);
        return reminded;
      });
    },
    async escalateCampaignItems(input: CampaignRef) {
      return step(async () => {
        const { deliver: eventIds, ...escalated } = await escalateOverdue(db, deps, input);
        await deliver(input, eventIds);
        return escalated;
      });
    },
    async closeVanishedCampaignItems(input: CampaignRef) {
      return step(() => closeVanishedItems(db, deps, input));
    },
    async countPendingCampaignItems(input: CampaignRef) {
      return step(() => pendingCount(db, deps, input));
    },
    async closeCampaign(input: CampaignRef) {
      return step(async () => {
        const { deliver: eventIds, ...closed } = await closeCampaign(db, deps, input);
        await deliver(input, eventIds);
        return closed;
      });
    },

    /**
     * A Schedule fired: one run of the definition (core launchCampaign, idempotent by the firing
     * workflow's id), then its campaign workflow. A definition that no longer exists launches nothing.
     */
    async launchScheduledCampaign(input: ScheduledCampaignInput & { workflowId: string }): Promise<ScheduledCampaignResult> {
      const launched = await withTenant(db, input.tenantId, (tx) =>
        launchCampaign(tx, input.tenantId, { definitionId: input.definitionId, trigger: 'schedule', triggerRef: input.workflowId, actor: { type: 'system', id: input.workflowId } }),
      ).catch((err: unknown) => {
        if (err instanceof DomainError && err.status === 404) return { outcome: 'skipped' as const, reason: 'deleted' as const };
        throw err;
      });
      if (launched.outcome === 'launched') await startCampaignWorkflow(db, client, taskQueue, { tenantId: input.tenantId, campaignId: launched.campaignId });
      return launched;
    },
  };
}

export type CampaignActivities = ReturnType<typeof createCampaignActivities>;
