import { z } from 'zod';
import { PortalRole } from '../portal-auth/schema.js';

/**
 * Change requests and their approval policy: the shared contract of the approval engine
 * (workflows/approval.ts), the portal, the app API, the CLI and the features whose changes need
 * approval. Pure zod: the portal imports it.
 */

/** Every change that goes through an approval request instead of applying at once. */
export const CHANGE_KINDS = [
  'scim_connection.create',
  'scim_connection.rotate',
  'scim_connection.revoke',
  'sso_connection.create',
  'sso_connection.update',
  'sso_connection.delete',
  'domain.claim',
  'domain.remove',
  'role_mapping.set',
  'default_role.set',
  'portal_roles.set',
  'webhook.create',
  'webhook.rotate',
  'webhook.delete',
  'guard.release',
  'approval_policy.set',
] as const;
export const ChangeKind = z.enum(CHANGE_KINDS);
export type ChangeKind = z.infer<typeof ChangeKind>;

/** Kinds that can lock a company out or hand its directory away: two approvers by default. */
export const PRIVILEGED_CHANGE_KINDS: readonly ChangeKind[] = [
  'sso_connection.create',
  'sso_connection.update',
  'sso_connection.delete',
  'scim_connection.revoke',
  'portal_roles.set',
  'approval_policy.set',
];

/** One change kind's rule, as the tenant sets it. */
export const KindPolicy = z
  .object({
    /**
     * Distinct approvers needed (N of the eligible M). 0: the request applies at once (still
     * recorded and audited); never allowed for privileged kinds.
     */
    approvals: z.number().int().min(0).max(5),
    /** Who may approve: holders of these portal roles, or the named portal users. */
    eligibleRoles: z.array(PortalRole).min(1).default(['admin', 'approver']),
    eligibleUserIds: z.array(z.string().uuid()).default([]),
    /** Hours before an undecided request expires (default 7 days). */
    expiresAfterHours: z.number().int().min(1).max(24 * 90).default(24 * 7),
    /** Hours between reminders to eligible approvers who have not decided. */
    remindEveryHours: z.number().int().min(1).max(24 * 30).default(24),
    /** Hours after which an undecided request escalates to the tenant's admins. */
    escalateAfterHours: z.number().int().min(1).max(24 * 90).default(24 * 3),
    /**
     * When fewer eligible approvers M exist than `approvals` needs (a tenant with one admin): after
     * all M have approved (none, for a lone admin), the change applies after this many hours unless
     * someone cancels it, with notifications; never silent self-approval. Null: such a request
     * waits for more approvers (and expires).
     */
    coolingOffHours: z.number().int().min(1).max(24 * 30).nullable().default(24),
  })
  .strict();
export type KindPolicy = z.infer<typeof KindPolicy>;

/** The tenant's policy: a rule per kind; kinds not named use the defaults below. */
export const ApprovalPolicy = z
  .object({ kinds: z.record(ChangeKind, KindPolicy).default({}) })
  .strict()
  .superRefine((policy, ctx) => {
    for (const kind of PRIVILEGED_CHANGE_KINDS) {
      if (policy.kinds[kind]?.approvals === 0) ctx.addIssue({ code: 'custom', path: ['kinds', kind, 'approvals'], message: 'a privileged change needs at least one approver' });
    }
  });
export type ApprovalPolicy = z.infer<typeof ApprovalPolicy>;

export function defaultKindPolicy(kind: ChangeKind): KindPolicy {
  return KindPolicy.parse({ approvals: PRIVILEGED_CHANGE_KINDS.includes(kind) ? 2 : 1 });
}

export function kindPolicy(policy: ApprovalPolicy, kind: ChangeKind): KindPolicy {
  return policy.kinds[kind] ?? defaultKindPolicy(kind);
}

export const CHANGE_REQUEST_STATES = ['pending', 'cooling_off', 'approved', 'applying', 'applied', 'failed', 'rejected', 'withdrawn', 'expired', 'cancelled'] as const;
export const ChangeRequestState = z.enum(CHANGE_REQUEST_STATES);
export type ChangeRequestState = z.infer<typeof ChangeRequestState>;

/** What a change does, as approvers see it and as the binding hash covers it. */
export const ChangeDescription = z.object({
  /** One line for the inbox ("Rotate the token of SCIM connection Okta"). */
  summary: z.string(),
  /** The affected state before and after, canonical JSON (no secrets). */
  before: z.unknown(),
  after: z.unknown(),
  /** Portal user ids the change is about: they may not approve it. */
  subjectUserIds: z.array(z.string()).default([]),
  /** What applying will do beyond the diff (role mappings: the dry run's gains and losses). */
  effects: z.record(z.unknown()).optional(),
});
export type ChangeDescription = z.infer<typeof ChangeDescription>;

export const DecisionVerdict = z.enum(['approve', 'reject']);
export type DecisionVerdict = z.infer<typeof DecisionVerdict>;

/** A decision as the portal sends it; a rejection needs a comment. */
export const DecisionBody = z
  .object({ verdict: DecisionVerdict, comment: z.string().trim().max(2000).optional(), changeHash: z.string().min(16) })
  .refine((d) => d.verdict === 'approve' || (d.comment ?? '').length > 0, { message: 'a rejection needs a comment', path: ['comment'] });
export type DecisionBody = z.infer<typeof DecisionBody>;

/** The synchronous, typed answer to a decision (the workflow's Update result or its validator's refusal). */
export const DecisionOutcome = z.enum([
  /** Counted; more approvals are needed. */
  'recorded',
  /** The last approval needed: the change is applying. */
  'approved',
  'rejected',
  /** Refusals (nothing changed): */
  'refused_requester',
  'refused_subject',
  'refused_not_eligible',
  'refused_already_decided_by_you',
  'refused_stale_hash',
  'already_closed',
  'expired',
]);
export type DecisionOutcome = z.infer<typeof DecisionOutcome>;

export const ApprovalEntry = z.object({
  userId: z.string(),
  verdict: DecisionVerdict,
  comment: z.string().nullable(),
  changeHash: z.string(),
  /** False once the request was edited after this decision. */
  valid: z.boolean(),
  decidedAt: z.string(),
});
export type ApprovalEntry = z.infer<typeof ApprovalEntry>;

export const ChangeRequestView = z.object({
  id: z.string().uuid(),
  kind: ChangeKind,
  state: ChangeRequestState,
  requestedBy: z.object({ type: z.string(), id: z.string().nullable(), email: z.string().nullable() }),
  reason: z.string().nullable(),
  description: ChangeDescription,
  /** The change as requested (its kind's payload; never a secret): what the requester edits. */
  payload: z.unknown(),
  /** 1 when submitted; each edit adds one (approvals of an earlier version are void). */
  version: z.number().int(),
  /** sha256 of the canonical JSON of kind + before + after: what an approval is bound to. */
  changeHash: z.string(),
  approvalsNeeded: z.number().int(),
  approvals: z.array(ApprovalEntry),
  /** Set while cooling off: the change applies at this time unless cancelled. */
  appliesAt: z.string().nullable(),
  expiresAt: z.string(),
  createdAt: z.string(),
  decidedAt: z.string().nullable(),
  appliedAt: z.string().nullable(),
  /** The outcome of applying (ids created; the verification's result), never a secret. */
  result: z.record(z.unknown()).nullable(),
  /** A secret the applied change produced (a SCIM token, a webhook secret) waits for the requester to collect it once. */
  secretWaiting: z.boolean(),
});
export type ChangeRequestView = z.infer<typeof ChangeRequestView>;

// ---- API shapes (portal API, app API, CLI) ------------------------------------------------------

export const InboxBox = z.enum(['waiting', 'mine', 'history']);
export type InboxBox = z.infer<typeof InboxBox>;

export const InboxQuery = z.object({
  box: InboxBox.default('waiting'),
  /** Opaque position from the previous page's `next`. */
  cursor: z.string().max(400).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(25),
});
export type InboxQuery = z.infer<typeof InboxQuery>;

export const ChangeRequestPage = z.object({ data: z.array(ChangeRequestView), next: z.string().nullable() });
export type ChangeRequestPage = z.infer<typeof ChangeRequestPage>;

/** Badges: requests waiting for my decision, my own open requests. */
export const PendingCounts = z.object({ waiting: z.number().int(), mine: z.number().int() });
export type PendingCounts = z.infer<typeof PendingCounts>;

export const SubmitChangeBody = z
  .object({ kind: ChangeKind, payload: z.unknown(), reason: z.string().trim().max(2000).optional() })
  .strict();
export type SubmitChangeBody = z.infer<typeof SubmitChangeBody>;

/** A submitted request; `secret` only when the change applied at once and produced one (shown once). */
export const SubmittedChange = z.object({ request: ChangeRequestView, secret: z.string().optional() });
export type SubmittedChange = z.infer<typeof SubmittedChange>;

export const EditChangeBody = z.object({ payload: z.unknown(), reason: z.string().trim().max(2000).optional() }).strict();
export type EditChangeBody = z.infer<typeof EditChangeBody>;

export const CancelChangeBody = z.object({ comment: z.string().trim().max(2000).optional() }).strict();
export type CancelChangeBody = z.infer<typeof CancelChangeBody>;

/** The answer to decide / withdraw / cancel / edit: the outcome and the request as it now stands. */
export const ChangeOutcome = z.object({ outcome: z.string(), request: ChangeRequestView });
export type ChangeOutcome = z.infer<typeof ChangeOutcome>;

export const CollectedSecret = z.object({ secret: z.string() });

/** Every kind's effective rule (the policy with its defaults filled in). */
export const EffectiveApprovalPolicy = z.object({ policy: ApprovalPolicy, effective: z.record(ChangeKind, KindPolicy) });
export type EffectiveApprovalPolicy = z.infer<typeof EffectiveApprovalPolicy>;
