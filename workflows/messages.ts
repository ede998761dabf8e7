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
  /** The leaver is held by the mass-deprovisioning guard until released. */
  held: boolean;
  /** The current suspension's leaver sequence has completed. */
  leaverDone: boolean;
}

export interface GroupStatus {
  tenantId: string;
  groupId: string;
  appliedSeq: number;
  deleted: boolean;
  pendingSeqs: number[];
}

export const scimChangeSignal = defineSignal<[StreamEvent]>('scimChange');
/** An operator released this identity's held leaver (the database row is the durable record). */
export const releaseHoldSignal = defineSignal<[{ releasedBy: string }]>('releaseHold');
export const identityStatusQuery = defineQuery<IdentityStatus>('identityStatus');
export const groupStatusQuery = defineQuery<GroupStatus>('groupStatus');

/** An outbound event for the vendor's app, handed to its subject's delivery workflow in emission order. */
export interface DeliverEventInput {
  eventId: string;
}

export interface EventDeliveryStatus {
  tenantId: string;
  subjectType: string;
  subjectId: string;
  /** Received, not yet expanded into per-endpoint deliveries (arrival order). */
  queuedEventIds: string[];
  /** Per endpoint: event ids still to deliver, head first (the head may be in flight). */
  lanes: { endpointId: string; eventIds: string[] }[];
  delivered: number;
  givenUp: number;
}

export const deliverEventSignal = defineSignal<[DeliverEventInput]>('deliverEvent');
export const eventDeliveryStatusQuery = defineQuery<EventDeliveryStatus>('eventDeliveryStatus');

/**
 * Non-retryable failure types of webhook delivery (ApplicationFailure.type): the workflow branches
 * on these, never on messages. EndpointGone: deleted/disabled endpoint or HTTP 410 from it.
 * EventGone: the event is no longer stored (past retention).
 */
export const WEBHOOK_FAILURE_TYPES = ['EndpointGone', 'EventGone'] as const;
export type WebhookFailureType = (typeof WEBHOOK_FAILURE_TYPES)[number];
