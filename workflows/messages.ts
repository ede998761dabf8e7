import { defineQuery, defineSignal } from '@temporalio/workflow';

/** One accepted SCIM change, as the outbox relay delivers it (ids and facts, never PII). */
export interface StreamEvent {
  /** Gapless per stream: the workflow applies seq n only after n - 1. */
  seq: number;
  outboxId: number;
  type: string;
  payload: Record<string, unknown>;
}

export type LifecycleState = 'provisioned' | 'active' | 'suspended' | 'deleted';

export interface IdentityStatus {
  tenantId: string;
  userId: string;
  appliedSeq: number;
  state: LifecycleState | 'unknown';
  pendingSeqs: number[];
  /** A SCIM DELETE is waiting out the tenant's grace period. */
  awaitingDeletion: boolean;
}

export interface GroupStatus {
  tenantId: string;
  groupId: string;
  appliedSeq: number;
  deleted: boolean;
  pendingSeqs: number[];
}

export const scimChangeSignal = defineSignal<[StreamEvent]>('scimChange');
export const identityStatusQuery = defineQuery<IdentityStatus>('identityStatus');
export const groupStatusQuery = defineQuery<GroupStatus>('groupStatus');
