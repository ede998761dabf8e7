import type { Client } from '@temporalio/client';
import type { AppRole } from '../core/config.js';
import { type Db, withTenant } from '../core/db/pool.js';
import * as lifecycle from '../core/repositories/lifecycle.js';
import type { PulledEvent } from '../core/repositories/outbox.js';
import * as parks from '../core/repositories/stream-parks.js';
import type { LifecycleState } from '../core/repositories/users.js';
import { startCampaignWorkflow } from './campaign-client.js';
import { signalEventDelivery } from './events.js';

export interface LifecycleActivityDeps {
  /** The app-role pool: every activity runs under row-level security for its tenant. */
  db: Db;
  /** The vendor's app roles catalogue. */
  roles: readonly AppRole[];
  /** Hands emitted events to their subject's delivery workflow (only when a webhook takes them). */
  client: Client;
  /** The task queue the delivery workflow runs on (the worker's own). */
  taskQueue: string;
  /** Milliseconds in a campaign hour (CAMPAIGN_HOUR_MS), for the review a move opens. */
  campaignHourMs?: number;
}

export interface IdentityRef {
  tenantId: string;
  userId: string;
}

/** One step of one event of one workflow: the idempotency key's parts. */
export interface StepRef extends IdentityRef {
  workflowId: string;
  seq: number;
}

/** What the workflow learns from one event (the outcome without the events to deliver). */
export type IdentityEventStep =
  | Exclude<lifecycle.IdentityEventOutcome, { kind: 'applied' | 'position' }>
  | Omit<Extract<lifecycle.IdentityEventOutcome, { kind: 'applied' }>, 'deliver' | 'startCampaigns'>
  | Omit<Extract<lifecycle.IdentityEventOutcome, { kind: 'position' }>, 'deliver'>;

/** Thin, idempotent adapters to PostgreSQL for the identity and group workflows. */
export function createLifecycleActivities({ db, roles, client, taskQueue, campaignHourMs }: LifecycleActivityDeps) {
  const deliver = (input: IdentityRef, eventIds: readonly string[]) =>
    signalEventDelivery(client, taskQueue, { tenantId: input.tenantId, subjectType: 'user', subjectId: input.userId }, eventIds);

  return {
    async loadIdentity(input: IdentityRef): Promise<{ exists: boolean; appliedSeq: number; state: LifecycleState; active: boolean; deletionDueInMs: number | null }> {
      const pos = await withTenant(db, input.tenantId, (tx) => lifecycle.identityPosition(tx, input.tenantId, input.userId));
      if (!pos) return { exists: false, appliedSeq: 0, state: 'deleted', active: false, deletionDueInMs: null };
      return { exists: true, appliedSeq: pos.applied_seq, state: pos.lifecycle_state, active: pos.active && !pos.scim_deleted, deletionDueInMs: pos.deletion_due_in_ms };
    },

    /**
     * One stream event in one transaction (core/repositories/lifecycle.ts `applyIdentityEvent`),
     * then its events to the delivery workflow. The delivery list is dropped from the answer: the
     * workflow history keeps only what the workflow decides on.
     */
    async applyIdentityEvent(input: Omit<lifecycle.IdentityEventInput, 'catalogue' | 'campaignHourMs'>): Promise<IdentityEventStep> {
      const outcome = await withTenant(db, input.tenantId, (tx) =>
        lifecycle.applyIdentityEvent(tx, { ...input, catalogue: roles, ...(campaignHourMs ? { campaignHourMs } : {}) }),
      );
      if (outcome.kind === 'position') {
        const { deliver: eventIds, ...rest } = outcome;
        await deliver(input, eventIds);
        return rest;
      }
      if (outcome.kind !== 'applied') return outcome;
      const { deliver: eventIds, startCampaigns, ...rest } = outcome;
      await deliver(input, eventIds);
      // A move opened a review: its workflow starts once the review is committed. A failed start
      // must not hold up the identity's stream: the campaign reconciler starts it later.
      for (const campaignId of startCampaigns ?? []) {
        await startCampaignWorkflow(db, client, taskQueue, { tenantId: input.tenantId, campaignId }).catch(() => undefined);
      }
      return rest;
    },

    /** The leaver once the guard let it through, in one transaction (`completeLeaver`). */
    async completeLeaver(input: StepRef & { pull?: boolean }): Promise<{ finished: boolean; pulled?: PulledEvent[] }> {
      const { finished, deliver: eventIds, pulled } = await withTenant(db, input.tenantId, (tx) => lifecycle.completeLeaver(tx, input));
      await deliver(input, eventIds);
      return { finished, ...(pulled?.length ? { pulled } : {}) };
    },

    async finishIdentityEvent(input: StepRef): Promise<void> {
      await withTenant(db, input.tenantId, (tx) => lifecycle.finishIdentityEvent(tx, input));
    },

    async holdStatus(input: IdentityRef): Promise<{ released: boolean; active: boolean }> {
      return withTenant(db, input.tenantId, (tx) => lifecycle.holdStatus(tx, input));
    },

    /** A held leaver that is no longer needed (the identity came back) closes its hold. */
    async cancelHold(input: IdentityRef & { workflowId: string }): Promise<void> {
      await withTenant(db, input.tenantId, (tx) => lifecycle.releaseHolds(tx, input.tenantId, { userId: input.userId, by: input.workflowId, reason: 'reactivated' }));
    },

    async completeIdentityDeletion(input: IdentityRef & { workflowId: string }): Promise<{ state: LifecycleState; deleted: boolean }> {
      return withTenant(db, input.tenantId, (tx) => lifecycle.completeIdentityDeletion(tx, input));
    },

    /** The stream parks on a permanently failed event: an open alert and an audit row. */
    async parkStream(input: parks.StreamParkInput): Promise<void> {
      await withTenant(db, input.tenantId, (tx) => parks.parkStream(tx, input));
    },

    /** The parked event applied on a retry, or was skipped (the position moves past it). */
    async resolveStreamPark(input: Parameters<typeof parks.resolveStreamPark>[1]): Promise<void> {
      await withTenant(db, input.tenantId, (tx) => parks.resolveStreamPark(tx, input));
    },

    async loadGroup(input: { tenantId: string; groupId: string }): Promise<{ exists: boolean; appliedSeq: number }> {
      const pos = await withTenant(db, input.tenantId, (tx) => lifecycle.groupPosition(tx, input.tenantId, input.groupId));
      return { exists: !!pos, appliedSeq: pos?.applied_seq ?? 0 };
    },

    async applyGroupEvent(input: { tenantId: string; groupId: string; seq: number }): Promise<{ applied: boolean }> {
      return { applied: await withTenant(db, input.tenantId, (tx) => lifecycle.applyGroupEvent(tx, input)) };
    },
  };
}

export type LifecycleActivities = ReturnType<typeof createLifecycleActivities>;
