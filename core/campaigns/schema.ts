import { z } from 'zod';
import { PortalRole } from '../portal-auth/schema.js';

/**
 * Access recertification campaigns (issue 9): the shared contract of the campaign service
 * (core/campaigns/service.ts), the campaign workflow (workflows/campaign.ts), the schedule
 * reconciler, the portal and app APIs and the portal pages. Pure zod: the portal imports it.
 * Durations are in hours; the worker and service scale them with CAMPAIGN_HOUR_MS (tests: seconds).
 */

const Uuid = z.string().uuid();

/** What a campaign reviews. A definition combines up to five parts. */
export const ScopePart = z.discriminatedUnion('kind', [
  /** Every role every live person holds. */
  z.object({ kind: z.literal('all_roles') }),
  /** Roles the vendor's catalogue marks privileged. */
  z.object({ kind: z.literal('privileged_roles') }),
  /** The roles of the members of these groups (every role they hold, whatever its source). */
  z.object({ kind: z.literal('groups'), groupIds: z.array(Uuid).min(1).max(100) }),
  /** Service accounts (one item each; revoking disables it and its tokens) and their tokens. */
  z.object({ kind: z.literal('service_accounts') }),
  /** OAuth grants / integrations people authorised. */
  z.object({ kind: z.literal('oauth_grants') }),
]);
export type ScopePart = z.infer<typeof ScopePart>;

export const ReviewerRule = z.object({
  /** People's access: their manager (enterprise extension manager → the portal user with that person's e-mail) or the named reviewers. */
  people: z.enum(['manager', 'named']).default('manager'),
  /** Non-human identities: their owner (as a portal user) or the named reviewers. */
  nonHuman: z.enum(['owner', 'named']).default('owner'),
  /** Portal users for `named` (items spread over them, stable per subject). */
  reviewerIds: z.array(Uuid).max(50).default([]),
  /** When the rule finds nobody, or only the subject themself (nobody reviews their own access). */
  fallbackReviewerId: Uuid,
});
export type ReviewerRule = z.infer<typeof ReviewerRule>;

export const NoResponsePolicy = z.object({
  /** keep_and_flag (default): undecided access stays and is flagged in the evidence. revoke: it is taken away. */
  action: z.enum(['keep_and_flag', 'revoke']).default('keep_and_flag'),
  /** Undecided items move to the fallback reviewer after escalateAfterHours. */
  escalate: z.boolean().default(true),
  /**
   * `revoke` only: the largest share (percent of all items) revoked for no response without an
   * admin's confirmation; past it, undecided items wait as `awaiting_confirmation`.
   */
  revokeCapPercent: z.number().int().min(0).max(100).default(10),
});
export type NoResponsePolicy = z.infer<typeof NoResponsePolicy>;

export const CampaignSchedule = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('monthly') }),
  z.object({ kind: z.literal('quarterly') }),
  /** A five-field cron expression (UTC unless timezone is given). */
  z.object({ kind: z.literal('cron'), cron: z.string().trim().min(9).max(100), timezone: z.string().max(64).optional() }),
  /** Every N hours (scaled by CAMPAIGN_HOUR_MS; tests use it for short intervals). */
  z.object({ kind: z.literal('interval'), everyHours: z.number().int().min(1).max(24 * 366) }),
]);
export type CampaignSchedule = z.infer<typeof CampaignSchedule>;

export const CampaignDefinitionInput = z.object({
  name: z.string().trim().min(1).max(200),
  description: z.string().trim().max(2000).optional(),
  scope: z.array(ScopePart).min(1).max(5),
  reviewers: ReviewerRule,
  durationHours: z.number().int().min(1).max(24 * 90).default(24 * 14),
  remindEveryHours: z.number().int().min(1).max(24 * 30).default(24 * 3),
  escalateAfterHours: z.number().int().min(1).max(24 * 90).default(24 * 7),
  noResponse: NoResponsePolicy.default({}),
  /** A reviewer whose median time per decision is below this while keeping everything is flagged. */
  rubberStampSeconds: z.number().int().min(0).max(600).default(5),
  /** null: launched on demand only. */
  schedule: CampaignSchedule.nullable().default(null),
});
export type CampaignDefinitionInput = z.infer<typeof CampaignDefinitionInput>;
/** The body as sent (defaults not yet applied): what the portal's form holds. */
export type CampaignDefinitionBody = z.input<typeof CampaignDefinitionInput>;

export const CampaignDefinitionView = CampaignDefinitionInput.extend({
  id: Uuid,
  paused: z.boolean(),
  revision: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** When the schedule fires next (null: no schedule, paused, or not yet reconciled). */
  nextRunAt: z.string().nullable(),
  /** The open campaign of this definition, if one runs. */
  openCampaignId: Uuid.nullable(),
});
export type CampaignDefinitionView = z.infer<typeof CampaignDefinitionView>;

export const CampaignState = z.enum(['generating', 'open', 'closed', 'cancelled']);
export type CampaignState = z.infer<typeof CampaignState>;

export const ItemOutcome = z.enum([
  'pending',
  'kept',
  'revoked',
  /** The access disappeared after the snapshot (the item closed itself). */
  'gone',
  'no_response_kept',
  'no_response_revoked',
  /** No response, policy revoke, over the cap: waits for an admin to confirm or decline. */
  'awaiting_confirmation',
]);
export type ItemOutcome = z.infer<typeof ItemOutcome>;

export const AccessKind = z.enum(['role', 'service_account', 'token', 'oauth_grant']);
export type AccessKind = z.infer<typeof AccessKind>;

export const RiskReason = z.enum([
  'privileged_role',
  /** A credential, service account or grant unused for 90 days (or never used after 90 days). */
  'unused_90_days',
  /** The role is held but nothing grants it any more (e.g. from a group the person has since left). */
  'source_gone',
  /** A non-human identity with no owner, or whose owner is not active. */
  'orphaned_owner',
  /** The person is suspended or deprovisioning. */
  'inactive_person',
]);
export type RiskReason = z.infer<typeof RiskReason>;

/** Why a person holds a role (the directory's effective-roles sources). */
export const RoleSource = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('default') }),
  z.object({ kind: z.literal('group'), groupId: Uuid, groupName: z.string() }),
  z.object({ kind: z.literal('direct'), grantedBy: z.string() }),
]);
export type RoleSource = z.infer<typeof RoleSource>;

/** How an outcome was carried out (evidence: "how it was applied"). */
export const ApplyRecord = z.discriminatedUnion('via', [
  /** role: an exclusion + `entitlements.changed` on the identity's stream (the mover revokes). */
  z.object({ via: z.literal('identity_stream'), userId: Uuid, seq: z.number().int() }),
  z.object({ via: z.literal('credential_revoked'), credentialId: Uuid }),
  z.object({ via: z.literal('service_account_disabled'), serviceAccountId: Uuid, tokensRevoked: z.number().int() }),
  z.object({ via: z.literal('oauth_grant_revoked'), grantId: Uuid }),
  /** Nothing to do: the access was already gone when the revoke applied. */
  z.object({ via: z.literal('already_gone') }),
]);
export type ApplyRecord = z.infer<typeof ApplyRecord>;

export const CampaignItemView = z.object({
  id: z.string(),
  campaignId: Uuid,
  accessKind: AccessKind,
  /** A role name, or a readable name of the token / service account / grant. */
  access: z.string(),
  accessRef: z.string(),
  subject: z.object({
    userId: Uuid.nullable(),
    serviceAccountId: Uuid.nullable(),
    /** userName / displayName of the person, or the service account's name. */
    name: z.string().nullable(),
    displayName: z.string().nullable(),
  }),
  sources: z.array(z.unknown()),
  lastUsedAt: z.string().nullable(),
  risk: z.number().int(),
  riskReasons: z.array(RiskReason),
  recommendation: z.enum(['keep', 'revoke']),
  recommendationReason: z.string(),
  reviewerId: Uuid.nullable(),
  reviewerName: z.string().nullable(),
  assignedBy: z.string(),
  escalated: z.boolean(),
  /**
   * The access now, against the snapshot: unchanged; changed (its sources differ: the reviewer must
   * acknowledge before deciding); gone (closed itself).
   */
  drift: z.enum(['unchanged', 'changed', 'gone']),
  decision: z.enum(['keep', 'revoke']).nullable(),
  decisionReason: z.string().nullable(),
  decidedAt: z.string().nullable(),
  outcome: ItemOutcome,
  applied: ApplyRecord.nullable(),
});
export type CampaignItemView = z.infer<typeof CampaignItemView>;

export const CampaignItemPage = z.object({ data: z.array(CampaignItemView), next: z.string().nullable() });
export type CampaignItemPage = z.infer<typeof CampaignItemPage>;

export const ItemQuery = z.object({
  /** mine (default): items assigned to the caller; all: every item (admin, reviewer, auditor). */
  view: z.enum(['mine', 'all']).default('mine'),
  outcome: ItemOutcome.optional(),
  accessKind: AccessKind.optional(),
  reviewerId: Uuid.optional(),
  /** Prefix of the subject's userName / service account name, or of the role. */
  search: z.string().trim().max(200).optional(),
  cursor: z.string().max(400).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type ItemQuery = z.infer<typeof ItemQuery>;

export const DecideItemsBody = z
  .object({
    itemIds: z.array(z.string().regex(/^\d{1,18}$/)).min(1).max(500),
    decision: z.enum(['keep', 'revoke']),
    /** Required to revoke, and to keep privileged access unused for 90 days. */
    reason: z.string().trim().max(2000).optional(),
    /** The reviewer saw that the access changed after the snapshot and decides anyway. */
    acknowledgeChanges: z.boolean().default(false),
    /** Time the reviewer spent on this decision in the page (spread over the items). */
    elapsedMs: z.number().int().min(0).max(3_600_000).optional(),
  })
  .refine((b) => b.decision !== 'revoke' || (b.reason?.length ?? 0) > 0, { message: 'a reason is required to revoke', path: ['reason'] });
export type DecideItemsBody = z.infer<typeof DecideItemsBody>;

export const ItemDecisionResult = z.object({
  itemId: z.string(),
  /** decided; gone (the access had disappeared: closed); refused (see code). */
  result: z.enum(['decided', 'gone', 'refused']),
  code: z
    .enum(['not_your_item', 'already_decided', 'reason_required', 'access_changed', 'campaign_not_open', 'not_found'])
    .optional(),
  outcome: ItemOutcome.optional(),
});
export const DecideItemsResult = z.object({ results: z.array(ItemDecisionResult), decided: z.number().int(), refused: z.number().int() });
export type DecideItemsResult = z.infer<typeof DecideItemsResult>;

export const ReassignBody = z.union([
  z.object({ itemIds: z.array(z.string().regex(/^\d{1,18}$/)).min(1).max(500), toReviewerId: Uuid }),
  z.object({ fromReviewerId: Uuid, toReviewerId: Uuid }),
]);
export type ReassignBody = z.infer<typeof ReassignBody>;

export const ReviewerProgress = z.object({
  reviewerId: Uuid.nullable(),
  reviewerName: z.string().nullable(),
  assigned: z.number().int(),
  decided: z.number().int(),
  kept: z.number().int(),
  revoked: z.number().int(),
  overdue: z.number().int(),
  medianDecisionMs: z.number().nullable(),
  /** Kept everything, with a median time per decision under the definition's rubberStampSeconds. */
  rubberStamp: z.boolean(),
});
export type ReviewerProgress = z.infer<typeof ReviewerProgress>;

export const CampaignProgress = z.object({
  items: z.number().int(),
  decided: z.number().int(),
  kept: z.number().int(),
  revoked: z.number().int(),
  gone: z.number().int(),
  pending: z.number().int(),
  /** Pending after the escalation time (or the deadline). */
  overdue: z.number().int(),
  noResponseKept: z.number().int(),
  noResponseRevoked: z.number().int(),
  awaitingConfirmation: z.number().int(),
  reviewers: z.array(ReviewerProgress),
});
export type CampaignProgress = z.infer<typeof CampaignProgress>;

/** Written at close; `evidenceDigest` and the chain head anchor the evidence in the audit log. */
export const CampaignSummary = z.object({
  closedAt: z.string(),
  progress: CampaignProgress.omit({ reviewers: true }),
  flaggedReviewers: z.array(z.object({ reviewerId: Uuid, reviewerName: z.string().nullable(), decided: z.number().int(), medianDecisionMs: z.number().nullable() })),
  /** sha256 (hex) over the evidence rows (JSON lines in item id order). */
  evidenceDigest: z.string(),
  /** The `campaign.closed` audit row (its data carries evidenceDigest): seq and hash in the tenant's chain. */
  auditChain: z.object({ seq: z.number().int(), hash: z.string() }),
});
export type CampaignSummary = z.infer<typeof CampaignSummary>;

export const CampaignView = z.object({
  id: Uuid,
  definitionId: Uuid.nullable(),
  name: z.string(),
  trigger: z.enum(['manual', 'schedule', 'event']),
  state: CampaignState,
  settings: CampaignDefinitionInput,
  subjectUserId: Uuid.nullable(),
  itemsTotal: z.number().int(),
  createdAt: z.string(),
  openedAt: z.string().nullable(),
  dueAt: z.string().nullable(),
  closedAt: z.string().nullable(),
  progress: CampaignProgress,
  summary: CampaignSummary.nullable(),
});
export type CampaignView = z.infer<typeof CampaignView>;

export const CampaignListItem = CampaignView.omit({ settings: true, progress: true, summary: true }).extend({
  decided: z.number().int(),
  /** Items assigned to the caller that are still pending. */
  mine: z.number().int(),
});
export const CampaignPage = z.object({ data: z.array(CampaignListItem), next: z.string().nullable() });
export type CampaignPage = z.infer<typeof CampaignPage>;

export const ConfirmNoResponseBody = z.object({ confirm: z.boolean(), reason: z.string().trim().min(1).max(2000) });

/** One evidence row (CSV columns in this order; JSON objects with these keys). */
export const EVIDENCE_COLUMNS = [
  'itemId',
  'accessKind',
  'access',
  'subjectUserId',
  'subjectName',
  'serviceAccountId',
  'sources',
  'risk',
  'riskReasons',
  'recommendation',
  'reviewerId',
  'reviewerName',
  'assignedBy',
  'decision',
  'decisionReason',
  'decidedAt',
  'decisionMs',
  'outcome',
  'applied',
  'appliedAt',
] as const;

/**
 * Keeping unused privileged access needs a reason (as revoking always does): the service refuses
 * such a keep without one (`reason_required`) and the portal asks for it before sending.
 */
export const keepNeedsReason = (riskReasons: readonly string[]): boolean => riskReasons.includes('privileged_role') && riskReasons.includes('unused_90_days');

// Request and response bodies of the campaign routes (portal /portal/api and app /api/v1) that the
// contract above does not already name.

const PageQuery = {
  cursor: z.string().max(400).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
};
export const DefinitionListQuery = z.object(PageQuery);
export const CampaignDefinitionPage = z.object({ data: z.array(CampaignDefinitionView), next: z.string().nullable() });
export type CampaignDefinitionPage = z.infer<typeof CampaignDefinitionPage>;
export const CampaignListQuery = z.object({ state: CampaignState.optional(), definitionId: Uuid.optional(), ...PageQuery });
export type CampaignListQuery = z.infer<typeof CampaignListQuery>;
export const LaunchedCampaign = z.object({ campaignId: Uuid });
export const ReassignResult = z.object({ reassigned: z.number().int() });
export const CloseNowResult = z.object({ outcome: z.literal('closing') });
export const ConfirmNoResponseResult = z.object({ revoked: z.number().int(), kept: z.number().int() });
export type ConfirmNoResponseBody = z.infer<typeof ConfirmNoResponseBody>;

/** The reviewer and fallback pickers (active portal users) and the groups scope's picker. */
export const PickerQuery = z.object({ search: z.string().trim().max(200).optional() });
export const ReviewerOption = z.object({ id: Uuid, email: z.string(), displayName: z.string().nullable(), roles: z.array(PortalRole) });
export type ReviewerOption = z.infer<typeof ReviewerOption>;
export const ReviewerOptions = z.object({ data: z.array(ReviewerOption) });
export const GroupOption = z.object({ id: Uuid, displayName: z.string(), members: z.number().int() });
export type GroupOption = z.infer<typeof GroupOption>;
export const GroupOptions = z.object({ data: z.array(GroupOption) });
