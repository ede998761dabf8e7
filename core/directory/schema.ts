import { z } from 'zod';
import { ExposureReport } from '../credentials/schema.js';

/**
 * The portal's Overview, Directory and Non-human identities: request and response shapes. Pure
 * zod (no node:*, pg or slonik), so the portal validates with the very schemas the API declares.
 */

export const LifecycleState = z.enum(['provisioned', 'active', 'suspended', 'deleted']);
export type LifecycleState = z.infer<typeof LifecycleState>;
export const LIFECYCLE_STATES = LifecycleState.options;

/** Search matches a substring of 3 or more characters (a trigram index serves it). */
export const SEARCH_MIN_LENGTH = 3;
export const SearchTerm = z
  .string()
  .trim()
  .max(200)
  .transform((s) => (s === '' ? undefined : s))
  .refine((s) => s === undefined || [...s].length >= SEARCH_MIN_LENGTH, { message: `type at least ${SEARCH_MIN_LENGTH} characters to search` });

/** An opaque keyset position (base64url); only the server reads it. */
export const Cursor = z.string().max(400).regex(/^[A-Za-z0-9_-]+$/, 'not a cursor this API issued');

export const PageLimit = z.coerce.number().int().min(1).max(100).default(25);

export const UserListQuery = z.object({
  search: SearchTerm.optional(),
  state: LifecycleState.optional(),
  cursor: Cursor.optional(),
  limit: PageLimit,
});
export type UserListQuery = z.input<typeof UserListQuery>;

/** A page of a keyset-paged list: `next` / `prev` continue after the last / before the first row. */
export const PageInfo = z.object({
  /** Rows matching the query; `totalIsLowerBound` when a search matched more than were counted. */
  total: z.number().int(),
  totalIsLowerBound: z.boolean(),
  next: z.string().nullable(),
  prev: z.string().nullable(),
});

export const UserSummary = z.object({
  id: z.string().uuid(),
  userName: z.string(),
  displayName: z.string().nullable(),
  email: z.string().nullable(),
  externalId: z.string().nullable(),
  state: LifecycleState,
  active: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type UserSummary = z.infer<typeof UserSummary>;

export const UserPage = PageInfo.extend({
  /** Counted on the first page only (null after it: the first page's count holds while paging). */
  total: z.number().int().nullable(),
  /** `total` is the planner's estimate (a common search term matched more than are counted): show "about". */
  totalIsEstimate: z.boolean(),
  items: z.array(UserSummary),
});
export type UserPage = z.infer<typeof UserPage>;

/** One attribute of the user. Everything SCIM sets is IdP-managed: change it in the IdP. */
export const UserAttribute = z.object({
  path: z.string(),
  label: z.string(),
  value: z.string(),
  idpManaged: z.boolean(),
});

export const RoleSource = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('default') }),
  z.object({ kind: z.literal('group'), groupId: z.string().uuid(), groupName: z.string() }),
  z.object({ kind: z.literal('direct'), grantedBy: z.string(), grantedAt: z.string() }),
]);
export type RoleSource = z.infer<typeof RoleSource>;

export const EffectiveRole = z.object({
  role: z.string(),
  /** Granted now by the lifecycle engine (user_roles); false while a change is still applying. */
  granted: z.boolean(),
  /** The role is in the vendor's catalogue (a mapping to a removed role grants nothing). */
  inCatalogue: z.boolean(),
  sources: z.array(RoleSource),
  /** An access review removed it (role_exclusions): not effective whatever its sources, until granted directly again. */
  removedByReview: z.object({ campaignId: z.string().uuid().nullable() }).optional(),
});

export const CredentialKind = z.enum(['session', 'personal_token', 'service_account_token']);

export const TokenView = z.object({
  id: z.string().uuid(),
  kind: CredentialKind,
  name: z.string().nullable(),
  tokenPrefix: z.string(),
  scopes: z.array(z.string()),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  revokedReason: z.string().nullable(),
  live: z.boolean(),
});

export const OAuthGrantView = z.object({
  id: z.string().uuid(),
  clientId: z.string(),
  clientName: z.string().nullable(),
  scopes: z.array(z.string()),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
  revokedReason: z.string().nullable(),
});

export const OwnerRef = z.object({
  id: z.string().uuid(),
  userName: z.string(),
  displayName: z.string().nullable(),
  state: LifecycleState,
});
export type OwnerRef = z.infer<typeof OwnerRef>;

export const ServiceAccountStatus = z.enum(['active', 'disabled']);
export const ServiceAccountView = z.object({
  id: z.string().uuid(),
  name: z.string(),
  status: ServiceAccountStatus,
  orphaned: z.boolean(),
  orphanedAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  disabledAt: z.string().nullable(),
  owner: OwnerRef.nullable(),
  liveTokens: z.number().int(),
  lastUsedAt: z.string().nullable(),
});
export type ServiceAccountView = z.infer<typeof ServiceAccountView>;

export const GroupRef = z.object({ id: z.string().uuid(), displayName: z.string() });

export const UserDetail = z.object({
  id: z.string().uuid(),
  userName: z.string(),
  displayName: z.string().nullable(),
  state: LifecycleState,
  active: z.boolean(),
  /** Held by the mass-deprovisioning guard: the leaver waits for a release. */
  held: z.boolean(),
  scimDeletedAt: z.string().nullable(),
  lifecycle: z.object({
    provisionedAt: z.string(),
    activatedAt: z.string().nullable(),
    suspendedAt: z.string().nullable(),
    deletedAt: z.string().nullable(),
  }),
  attributes: z.array(UserAttribute),
  roles: z.array(EffectiveRole),
  groups: z.array(GroupRef),
  tokens: z.array(TokenView),
  sessions: z.object({ total: z.number().int(), live: z.number().int() }),
  oauthGrants: z.array(OAuthGrantView),
  serviceAccounts: z.array(ServiceAccountView),
});
export type UserDetail = z.infer<typeof UserDetail>;

export const TimelineEvent = z.object({
  id: z.number().int(),
  at: z.string(),
  action: z.string(),
  actorType: z.string(),
  actorId: z.string().nullable(),
  seq: z.number().int().nullable(),
});
export type TimelineEvent = z.infer<typeof TimelineEvent>;

/** The identity workflow as Temporal describes it now; `unknown` when Temporal is not reachable. */
export const WorkflowStatus = z.object({
  workflowId: z.string(),
  status: z.enum(['running', 'completed', 'failed', 'canceled', 'terminated', 'continued_as_new', 'timed_out', 'not_found', 'unknown']),
  startedAt: z.string().nullable(),
  historyLength: z.number().int().nullable(),
  /** The workflow's own view (its status query) while it runs. */
  live: z
    .object({
      state: z.string(),
      appliedSeq: z.number().int(),
      pendingSeqs: z.array(z.number().int()),
      awaitingDeletion: z.boolean(),
      held: z.boolean(),
      leaverDone: z.boolean(),
    })
    .nullable(),
  /** Why the status is unknown (never internals). */
  reason: z.string().nullable(),
});
export type WorkflowStatus = z.infer<typeof WorkflowStatus>;

export const UserTimeline = z.object({
  userId: z.string().uuid(),
  state: LifecycleState,
  events: z.array(TimelineEvent),
  /** More (older) events exist than were returned. */
  truncated: z.boolean(),
  workflow: WorkflowStatus,
});
export type UserTimeline = z.infer<typeof UserTimeline>;

export { ExposureItem, ExposureReport } from '../credentials/schema.js';

export const UserExposure = z.object({
  userId: z.string().uuid(),
  state: LifecycleState,
  /** Is this identity a leaver (suspended or deleted)? The report matters most then. */
  leaver: z.boolean(),
  /** Everything the user owns, re-read now: what was revoked (when, why) and what is still open. */
  current: ExposureReport,
  /** What the leaver's verification step recorded, newest first. */
  recorded: z.array(z.object({ workflowId: z.string(), createdAt: z.string(), liveCredentials: z.number().int(), report: ExposureReport })),
});
export type UserExposure = z.infer<typeof UserExposure>;

export const GroupListQuery = z.object({ search: SearchTerm.optional(), cursor: Cursor.optional(), limit: PageLimit });
export type GroupListQuery = z.input<typeof GroupListQuery>;

/** Member counts stop at this many (a count is a scan of the membership). */
export const MEMBER_COUNT_CAP = 10_000;

export const GroupSummary = z.object({
  id: z.string().uuid(),
  displayName: z.string(),
  externalId: z.string().nullable(),
  /** Members, counted up to MEMBER_COUNT_CAP (a value equal to it means "at least"). */
  memberCount: z.number().int(),
  roles: z.array(z.string()),
  createdAt: z.string(),
});
export const GroupPage = PageInfo.extend({ items: z.array(GroupSummary) });
export type GroupPage = z.infer<typeof GroupPage>;

export const GroupMembersQuery = z.object({ cursor: Cursor.optional(), limit: PageLimit });
export const GroupDetail = z.object({
  group: GroupSummary.extend({ updatedAt: z.string(), attributes: z.array(UserAttribute) }),
  members: PageInfo.extend({ items: z.array(UserSummary) }),
});
export type GroupDetail = z.infer<typeof GroupDetail>;

export const ConnectionHealth = z.object({
  id: z.string().uuid(),
  name: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
  liveTokens: z.number().int(),
  lastUsedAt: z.string().nullable(),
});

export const Overview = z.object({
  connections: z.array(ConnectionHealth),
  identities: z.object({
    total: z.number().int(),
    byState: z.object({ provisioned: z.number().int(), active: z.number().int(), suspended: z.number().int(), deleted: z.number().int() }),
  }),
  alerts: z.array(z.object({ id: z.number().int(), kind: z.string(), createdAt: z.string(), data: z.record(z.unknown()) })),
  heldLeavers: z.number().int(),
  orphanedServiceAccounts: z.number().int(),
  recentActivity: z.array(
    TimelineEvent.extend({ targetId: z.string().nullable(), userName: z.string().nullable() }),
  ),
});
export type Overview = z.infer<typeof Overview>;

// ---------------------------------------------------------------------------------------------
// Non-human identities

export const NhiStatusFilter = z.enum(['live', 'revoked', 'all']);

export const ServiceAccountListQuery = z.object({ cursor: Cursor.optional(), limit: PageLimit, status: ServiceAccountStatus.optional() });
export const ServiceAccountPage = PageInfo.extend({ items: z.array(ServiceAccountView) });
export type ServiceAccountPage = z.infer<typeof ServiceAccountPage>;

export const TokenListQuery = z.object({
  cursor: Cursor.optional(),
  limit: PageLimit,
  kind: z.enum(['personal_token', 'service_account_token']).optional(),
  status: NhiStatusFilter.default('live'),
});
export const TokenListItem = TokenView.extend({
  /** The person behind a personal token, or the owner of the service account behind a service token. */
  owner: OwnerRef.nullable(),
  serviceAccount: z.object({ id: z.string().uuid(), name: z.string(), status: ServiceAccountStatus }).nullable(),
});
export type TokenListItem = z.infer<typeof TokenListItem>;
export const TokenPage = PageInfo.extend({ items: z.array(TokenListItem) });
export type TokenPage = z.infer<typeof TokenPage>;

export const OAuthGrantListQuery = z.object({ cursor: Cursor.optional(), limit: PageLimit, status: NhiStatusFilter.default('live') });
export const OAuthGrantListItem = OAuthGrantView.extend({ owner: OwnerRef.nullable() });
export type OAuthGrantListItem = z.infer<typeof OAuthGrantListItem>;
export const OAuthGrantPage = PageInfo.extend({ items: z.array(OAuthGrantListItem) });
export type OAuthGrantPage = z.infer<typeof OAuthGrantPage>;

export const OrphanListQuery = z.object({ cursor: Cursor.optional(), limit: PageLimit });
export const OrphanPage = PageInfo.extend({ items: z.array(ServiceAccountView) });
export type OrphanPage = z.infer<typeof OrphanPage>;

export const ReassignBody = z.object({ ownerUserId: z.string().uuid() }).strict();
export type ReassignBody = z.infer<typeof ReassignBody>;

/** The answer to every revoke: idempotent, `changed` false when it was already revoked/disabled. */
export const RevokeResult = z.object({ id: z.string().uuid(), changed: z.boolean(), revokedTokens: z.array(z.string().uuid()) });
export type RevokeResult = z.infer<typeof RevokeResult>;
export const ReassignResult = z.object({ changed: z.boolean(), serviceAccount: ServiceAccountView });
export type ReassignResult = z.infer<typeof ReassignResult>;

export const IdParams = z.object({ id: z.string() });

/** Readable names for the audit actions the timeline and the overview show. */
const ACTION_LABELS: Record<string, string> = {
  'user.created': 'Created by the IdP',
  'user.provisioned': 'Provisioned',
  'user.updated': 'Attributes changed in the IdP',
  'user.activated': 'Activated in the IdP',
  'user.deactivated': 'Deactivated in the IdP',
  'user.suspended': 'Suspended',
  'user.reactivated': 'Reactivated',
  'user.deleted': 'Deleted in the IdP (grace period started)',
  'user.restored': 'Restored in the IdP',
  'lifecycle.active': 'Joiner done: account active',
  'lifecycle.user.deactivated': 'Leaver sequence ran: access revoked',
  'lifecycle.user.deleted': 'Leaver sequence ran: deletion scheduled',
  'lifecycle.user.updated': 'Mover sequence ran: attributes applied',
  'lifecycle.user.restored': 'Restore applied',
  'lifecycle.entitlements.changed': 'Entitlements recomputed',
  'lifecycle.membership.added': 'Group membership applied',
  'lifecycle.membership.removed': 'Group removal applied',
  'lifecycle.deleted': 'Personal data removed (deletion complete)',
  'leaver.held': 'Leaver held by the mass-deprovisioning guard',
  'leaver.released': 'Held leaver released',
  'role.granted': 'Role granted',
  'role.revoked': 'Role revoked',
  'exposure_report.recorded': 'Exposure report recorded',
};

export function actionLabel(action: string): string {
  return ACTION_LABELS[action] ?? action.replace(/[._]/g, ' ').replace(/^./, (c) => c.toUpperCase());
}

/** Why a credential or grant stopped working (credentials.revoked_reason), in words. */
const REASON_LABELS: Record<string, string> = {
  user_left: 'the person left',
  revoked_in_portal: 'revoked in the portal',
  revoked_by_app: 'revoked by the application',
  required_role_lost: 'a role it needs was lost',
  service_account_disabled: 'its service account was disabled',
};

export function reasonLabel(reason: string | null | undefined): string {
  return reason ? (REASON_LABELS[reason] ?? reason.replace(/_/g, ' ')) : 'no reason recorded';
}

export const ACTOR_LABELS: Record<string, string> = { scim: 'IdP (SCIM)', system: 'Lifecycle engine', operator: 'Operator', user: 'Portal user' };
