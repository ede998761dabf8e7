import { type Db, withTenant } from '../core/db/pool.js';
import * as lifecycle from '../core/repositories/lifecycle.js';
import type { LifecycleState } from '../core/repositories/users.js';

export interface LifecycleActivityDeps {
  /** The app-role pool: every activity runs under row-level security for its tenant. */
  db: Db;
}

export interface IdentityRef {
  tenantId: string;
  userId: string;
}

/** Thin, idempotent adapters to PostgreSQL for the identity and group workflows. */
export function createLifecycleActivities({ db }: LifecycleActivityDeps) {
  return {
    async loadIdentity(input: IdentityRef): Promise<{ exists: boolean; appliedSeq: number; state: LifecycleState; deletionDueInMs: number | null }> {
      const pos = await withTenant(db, input.tenantId, (tx) => lifecycle.identityPosition(tx, input.userId));
      if (!pos) return { exists: false, appliedSeq: 0, state: 'deleted', deletionDueInMs: null };
      return { exists: true, appliedSeq: pos.applied_seq, state: pos.lifecycle_state, deletionDueInMs: pos.deletion_due_in_ms };
    },

    async applyIdentityEvent(input: IdentityRef & { seq: number; type: string; workflowId: string }): Promise<{ applied: boolean; state: LifecycleState }> {
      return withTenant(db, input.tenantId, (tx) => lifecycle.applyIdentityEvent(tx, input));
    },

    async completeIdentityDeletion(input: IdentityRef & { workflowId: string }): Promise<{ state: LifecycleState }> {
      return withTenant(db, input.tenantId, (tx) => lifecycle.completeIdentityDeletion(tx, input));
    },

    async loadGroup(input: { tenantId: string; groupId: string }): Promise<{ exists: boolean; appliedSeq: number }> {
      const pos = await withTenant(db, input.tenantId, (tx) => lifecycle.groupPosition(tx, input.groupId));
      return { exists: !!pos, appliedSeq: pos?.applied_seq ?? 0 };
    },

    async applyGroupEvent(input: { tenantId: string; groupId: string; seq: number }): Promise<{ applied: boolean }> {
      return { applied: await withTenant(db, input.tenantId, (tx) => lifecycle.applyGroupEvent(tx, input)) };
    },
  };
}

export type LifecycleActivities = ReturnType<typeof createLifecycleActivities>;
