import type { AppRole } from '../core/config.js';
import { type Db, withTenant } from '../core/db/pool.js';
import { privilegedRoles } from '../core/entitlements.js';
import { syncUserRoles } from '../core/repositories/entitlements.js';
import * as lifecycle from '../core/repositories/lifecycle.js';
import type { LifecycleState } from '../core/repositories/users.js';

export interface LifecycleActivityDeps {
  /** The app-role pool: every activity runs under row-level security for its tenant. */
  db: Db;
  /** The vendor's app roles catalogue. */
  roles: readonly AppRole[];
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

const stepKey = (s: StepRef, step: string) => `${s.workflowId}:${s.seq}:${step}`;

/** Thin, idempotent adapters to PostgreSQL for the identity and group workflows. */
export function createLifecycleActivities({ db, roles }: LifecycleActivityDeps) {
  return {
    async loadIdentity(input: IdentityRef): Promise<{ exists: boolean; appliedSeq: number; state: LifecycleState; active: boolean; deletionDueInMs: number | null }> {
      const pos = await withTenant(db, input.tenantId, (tx) => lifecycle.identityPosition(tx, input.tenantId, input.userId));
      if (!pos) return { exists: false, appliedSeq: 0, state: 'deleted', active: false, deletionDueInMs: null };
      return { exists: true, appliedSeq: pos.applied_seq, state: pos.lifecycle_state, active: pos.active && !pos.scim_deleted, deletionDueInMs: pos.deletion_due_in_ms };
    },

    async beginIdentityEvent(input: StepRef & { type: string }): Promise<lifecycle.EventStart> {
      return withTenant(db, input.tenantId, (tx) =>
        lifecycle.runStep(tx, input.tenantId, stepKey(input, 'begin'), () => lifecycle.beginIdentityEvent(tx, input)),
      );
    },

    async finishIdentityEvent(input: StepRef): Promise<void> {
      await withTenant(db, input.tenantId, (tx) => lifecycle.finishIdentityEvent(tx, input));
    },

    /** Joiner / mover: bring granted roles to the effective set; report what changed. */
    async syncEntitlements(input: StepRef): Promise<{ granted: string[]; revoked: string[]; roles: string[]; lostPrivileged: string[] }> {
      return withTenant(db, input.tenantId, (tx) =>
        lifecycle.runStep(tx, input.tenantId, stepKey(input, 'roles'), async () => {
          const d = await syncUserRoles(tx, { tenantId: input.tenantId, userId: input.userId, catalogue: roles, actor: { type: 'system', id: input.workflowId } });
          return { granted: d.grant, revoked: d.revoke, roles: d.roles, lostPrivileged: privilegedRoles(d.revoke, roles) };
        }),
      );
    },

    async checkDeprovisionGuard(input: StepRef): Promise<{ held: boolean }> {
      return withTenant(db, input.tenantId, (tx) =>
        lifecycle.runStep(tx, input.tenantId, stepKey(input, 'guard'), () => lifecycle.checkDeprovisionGuard(tx, input)),
      );
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
