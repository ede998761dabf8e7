import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

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
  /** The event the stream is parked on (it could not be applied), or null. */
  parked: ParkedEvent | null;
}

/** A stream event that failed permanently: the stream waits on it for `resolveStreamUpdate`. */
export interface ParkedEvent {
  seq: number;
  eventType: string;
  /** A PARKING_FAILURES type (workflows/failures.ts). */
  failureType: string;
  message: string;
  /** Attempts so far, the retries asked for by `resolveStreamUpdate` included. */
  attempts: number;
}

/** An operator's decision on a parked stream (`roster stream retry|skip`). */
export interface ResolveStreamInput {
  action: 'retry' | 'skip';
  /** Who decided (audited). */
  by: string;
  reason?: string;
}

/** The synchronous answer: the event applied or was skipped, or it failed again (still parked). */
export type StreamResolution =
  | { outcome: 'applied' | 'skipped'; seq: number }
  | { outcome: 'parked'; seq: number; failureType: string; message: string };

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
/** Resolves a parked identity stream; the validator refuses it when nothing is parked. */
export const resolveStreamUpdate = defineUpdate<StreamResolution, [ResolveStreamInput]>('resolveStream');
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


/** A claimed domain's verification (workflows/domain-verification.ts). */
export interface DomainVerificationInput {
  tenantId: string;
  domainId: string;
  /** The first wait between lookups, doubling up to `maxDelayMs` (defaults: 30 s, 1 hour; tests shorten them). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Carried across continue-as-new. */
  lookups?: number;
}

export interface DomainVerificationResult {
  /** verified; expired (the challenge passed its 7 days); closed (removed, or verified elsewhere meanwhile). */
  outcome: 'verified' | 'expired' | 'closed';
  lookups: number;
}

/** The scheduled fleet sweep (workflows/fleet-sweep.ts): one activity per batch. */
export interface FleetSweepInput {
  batchSize?: number;
}

export interface FleetSweepResult {
  domainsChecked: number;
  verificationsStarted: number;
  domainAlerts: number;
  certificateAlerts: number;
}
