import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/** One accepted SCIM change, as the outbox relay delivers it (ids and facts, never PII). */
export interface StreamEvent {
  /** Gapless per stream: the workflow applies seq n only after n - 1. */
  seq: number;
  outboxId: number;
  type: string;
  payload: Record<string, unknown>;
}

/**
 * Identity events that only re-derive the user's roles from what the directory holds now: no
 * payload the step reads, never a state transition. Consecutive ones waiting in a stream (a group
 * push delivers several per member) are applied as one step (`IdentityEventInput.then`).
 */
export const BATCHED_IDENTITY_EVENTS: ReadonlySet<string> = new Set(['membership.added', 'membership.removed', 'entitlements.changed']);
/** At most this many events in one batched step (bounds the transaction and its audit insert). */
export const MAX_IDENTITY_BATCH = 64;

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


/**
 * Deliver these events to one endpoint again (the app API's redeliver): appended to that endpoint's
 * lane in the given order (skipping ids already waiting there), delivered with the same event id.
 */
export interface RedeliverEventsInput {
  endpointId: string;
  eventIds: string[];
}

export const redeliverEventsSignal = defineSignal<[RedeliverEventsInput]>('redeliverEvents');

/** The maintenance schedule's run (workflows/maintenance.ts). */
export interface MaintenanceInput {
  /** Batches per kind in one run (the rest waits for the next run); default 100. */
  maxBatchesPerKind?: number;
}

/** What one maintenance run deleted, per kind. */
export type MaintenanceResult = Record<string, number>;
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
// ---- approvals (workflows/approval.ts) ----------------------------------------------------------

/**
 * What an approval workflow needs, computed from the request row and the policy in force when it
 * was requested (core/approvals/service.ts `approvalWorkflowInput`). Durations are milliseconds, so
 * tests can run the policy's hours as seconds (APPROVAL_HOUR_MS).
 */
export interface ApprovalWorkflowInput {
  tenantId: string;
  requestId: string;
  kind: string;
  changeHash: string;
  /** The requesting portal user (null for an operator or app key): never an approver. */
  requesterId: string | null;
  /** The people the change is about: never approvers. */
  subjectUserIds: string[];
  approvalsNeeded: number;
  eligibleRoles: string[];
  eligibleUserIds: string[];
  /** M: eligible approvers other than requester and subjects when the request was made. */
  eligibleApprovers: number;
  /** Null: a request with M < N waits for more approvers (and expires). */
  coolingOffMs: number | null;
  expiresInMs: number;
  remindEveryMs: number;
  escalateAfterMs: number;
}

export type ApprovalPhase = 'pending' | 'cooling_off' | 'approved' | 'applied' | 'failed' | 'rejected' | 'withdrawn' | 'expired' | 'cancelled';

/** A decision as the service sends it: who (with the roles of their session) and what. */
export interface DecideInput {
  userId: string;
  roles: string[];
  verdict: 'approve' | 'reject';
  comment?: string | undefined;
  changeHash: string;
}

/** DecisionOutcome of core/approvals/schema.ts (the workflow cannot import zod schemas' runtime). */
export type ApprovalDecisionOutcome =
  | 'recorded'
  | 'approved'
  | 'rejected'
  | 'refused_requester'
  | 'refused_subject'
  | 'refused_not_eligible'
  | 'refused_already_decided_by_you'
  | 'refused_stale_hash'
  | 'already_closed'
  | 'expired';

export interface EditInput {
  userId: string;
  payload: unknown;
  reason?: string | undefined;
}
export type EditOutcome = { outcome: 'edited'; changeHash: string } | { outcome: 'invalid'; message: string } | { outcome: 'refused_requester' | 'already_closed' };

export interface WithdrawInput {
  userId: string;
}
export interface CancelInput {
  userId: string;
  roles: string[];
  comment?: string | undefined;
}
export type CloseOutcome = 'withdrawn' | 'cancelled' | 'refused_requester' | 'refused_not_eligible' | 'already_closed';

export interface ApprovalStatus {
  requestId: string;
  phase: ApprovalPhase;
  changeHash: string;
  approvals: string[];
  escalated: boolean;
  appliesAt: number | null;
  reminders: number;
}

/** Typed refusals come back as the validator's ApplicationFailure with `type` = the outcome. */
export const decideUpdate = defineUpdate<ApprovalDecisionOutcome, [DecideInput]>('decide');
export const editUpdate = defineUpdate<EditOutcome, [EditInput]>('edit');
export const withdrawUpdate = defineUpdate<CloseOutcome, [WithdrawInput]>('withdraw');
export const cancelUpdate = defineUpdate<CloseOutcome, [CancelInput]>('cancel');
export const approvalStatusQuery = defineQuery<ApprovalStatus>('approvalStatus');

// ---------------------------------------------------------------------------------------------
// Recertification campaigns (issue 9; the data contract is core/campaigns/schema.ts)

/** `campaign/<tenantId>/<campaignId>`: one run, its row already in `campaigns` (state generating or open). */
export interface CampaignWorkflowInput {
  tenantId: string;
  campaignId: string;
  /** Subjects (people or service accounts) per generation batch; default 2000 (the bench tunes it). */
  batchSize?: number;
  /** Continue-as-new threshold (history events; default 2000, at least 100): tests lower it to exercise the hand-over. */
  historyLimit?: number;
  /** The first pause before a step that failed unexpectedly is tried again (default a minute, doubling to an hour); tests shorten it. */
  stepPauseMs?: number;
  /** Carried across continue-as-new; absent on a campaign's first run. */
  resume?: CampaignResume;
}

/** Where a campaign workflow was when it continued as new (counts and workflow times, never items). */
export interface CampaignResume {
  phase: 'generating' | 'open';
  /** Items written so far (generating) or in the campaign (open). */
  items: number;
  remindersSent: number;
  /** Workflow time (ms since the epoch) of the next reminder, once open. */
  nextReminderAt?: number;
  escalated: boolean;
  /** Runs before this one (continue-as-new count). */
  runs: number;
}

/** What a campaign definition's Temporal Schedule starts: launches one run of the definition, then starts its campaign workflow. */
export interface ScheduledCampaignInput {
  tenantId: string;
  definitionId: string;
}

/** Why a scheduled fire launched nothing. */
export type ScheduledCampaignResult =
  | { outcome: 'launched'; campaignId: string }
  | { outcome: 'skipped'; reason: 'overlap' | 'paused' | 'deleted'; campaignId?: string };

export type CampaignPhase = 'generating' | 'open' | 'closing' | 'closed' | 'cancelled';

export interface CampaignStatus {
  tenantId: string;
  campaignId: string;
  phase: CampaignPhase;
  /** Items written so far (generation) or in the campaign (open and after). */
  items: number;
  /** Pending items as last counted by the workflow. */
  pending: number;
  remindersSent: number;
  escalated: boolean;
}

/** A security user (or admin) closes the campaign before its deadline. */
export interface CloseCampaignNowInput {
  /** Portal user id (audited). */
  by: string;
  reason?: string;
}

/** closing: accepted, the workflow closes now. The rest are refusals (the Update's validator). */
export type CloseCampaignNowOutcome = 'closing' | 'already_closed' | 'still_generating';

/** Decisions were recorded: the workflow recounts, and closes early once nothing is pending. */
export const campaignDecidedSignal = defineSignal<[{ decided: number }]>('campaignDecided');
export const closeCampaignNowUpdate = defineUpdate<CloseCampaignNowOutcome, [CloseCampaignNowInput]>('closeCampaignNow');
export const campaignStatusQuery = defineQuery<CampaignStatus>('campaignStatus');
