import { z } from 'zod';
import { AuditSize } from '../maintenance/schema.js';
import { Email, PortalRole, SetupLinkResponse } from '../portal-auth/schema.js';

/**
 * The operator console's API shapes (pure zod: the console pages import them). Operators see
 * tenants, their SCIM connections and counts; never a tenant's people (identities appear only
 * as opaque ids) and never a tenant's settings.
 */

/** The same rule as the tenants.slug CHECK constraint. */
export const TenantSlug = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'use 1–63 lower-case letters, digits and dashes, starting with a letter or digit');

export const CreateTenantBody = z.object({
  slug: TenantSlug,
  name: z.string().trim().min(1, 'enter the customer’s name').max(200, 'at most 200 characters'),
});
export type CreateTenantBody = z.infer<typeof CreateTenantBody>;

export const TenantIdParams = z.object({ id: z.string().uuid() });

export const Tenant = z.object({
  id: z.string().uuid(),
  slug: z.string(),
  name: z.string(),
  createdAt: z.string(),
});
export type Tenant = z.infer<typeof Tenant>;

export const TenantSummary = Tenant.extend({
  /** Connections not revoked. */
  connections: z.number().int(),
  lastRequestAt: z.string().nullable(),
  requests1h: z.number().int(),
  errors1h: z.number().int(),
  errorRate1h: z.number(),
  outboxBacklog: z.number().int(),
  oldestUndeliveredAt: z.string().nullable(),
  stuck: z.number().int(),
  held: z.number().int(),
});
export type TenantSummary = z.infer<typeof TenantSummary>;

export const TenantList = z.object({ tenants: z.array(TenantSummary), stuckAfterMinutes: z.number() });
export type TenantList = z.infer<typeof TenantList>;

export const ConnectionHealth = z.object({
  id: z.string().uuid(),
  name: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
  /** Tokens that would authenticate now (not revoked, not past their rotation overlap). */
  liveTokens: z.number().int(),
  lastRequestAt: z.string().nullable(),
  requests1h: z.number().int(),
  errors1h: z.number().int(),
  errorRate1h: z.number(),
});
export type ConnectionHealth = z.infer<typeof ConnectionHealth>;

/** An identity stream parked on an event it could not apply: ids, types and counts only (no failure message). */
export const ParkedStreamAlert = z.object({
  tenantId: z.string().uuid(),
  tenantSlug: z.string(),
  /** The identity's opaque id. */
  identityId: z.string().uuid(),
  seq: z.number().int(),
  eventType: z.string(),
  failureType: z.string(),
  attempts: z.number().int(),
  since: z.string(),
});
export type ParkedStreamAlert = z.infer<typeof ParkedStreamAlert>;

export const TenantDetail = z.object({
  tenant: TenantSummary,
  connections: z.array(ConnectionHealth),
  /** The audit log is kept (never pruned): its size, as the maintenance schedule last counted it. */
  auditLog: AuditSize,
  /** Streams waiting on an operator's retry or skip. */
  parkedStreams: z.array(ParkedStreamAlert),
});
export type TenantDetail = z.infer<typeof TenantDetail>;

/** How long an identity's unapplied event may wait before it counts as stuck. */
export const DEFAULT_STUCK_AFTER_MINUTES = 15;
export const StuckQuery = z.object({
  stuckAfterMinutes: z.coerce.number().int().min(0).max(10_080).default(DEFAULT_STUCK_AFTER_MINUTES),
});

export const IdentityAlert = z.object({
  tenantId: z.string().uuid(),
  tenantSlug: z.string(),
  /** stuck: accepted events not applied for too long; held: a leaver held by the mass-deprovisioning guard. */
  kind: z.enum(['stuck', 'held']),
  /** The identity's opaque id: no name, no e-mail. */
  identityId: z.string().uuid(),
  since: z.string(),
  eventSeq: z.number().int(),
  appliedSeq: z.number().int(),
});
export type IdentityAlert = z.infer<typeof IdentityAlert>;

export const RelayStatus = z.enum(['healthy', 'lagging', 'failing']);
export type RelayStatus = z.infer<typeof RelayStatus>;

export const FleetHealth = z.object({
  generatedAt: z.string(),
  stuckAfterMinutes: z.number(),
  outbox: z.object({
    backlog: z.number().int(),
    oldestUndeliveredAt: z.string().nullable(),
    /** Seconds the oldest undelivered row has waited (0 when nothing waits). */
    oldestAgeSeconds: z.number(),
    /** Undelivered rows whose delivery was tried and failed. */
    failing: z.number().int(),
    lastError: z.string().nullable(),
  }),
  relay: z.object({ status: RelayStatus, detail: z.string() }),
  tenants: z.array(z.object({ id: z.string().uuid(), slug: z.string(), outboxBacklog: z.number().int(), stuck: z.number().int(), held: z.number().int() })),
  identities: z.array(IdentityAlert),
  /** More alerts exist than listed. */
  identitiesTruncated: z.boolean(),
  /** Parked identity streams across tenants (oldest first, at most 200). */
  parkedStreams: z.array(ParkedStreamAlert),
});
export type FleetHealth = z.infer<typeof FleetHealth>;

export const IssueSetupLinkBody = z.object({
  email: Email,
  roles: z.array(PortalRole).min(1, 'choose at least one role').default(['admin']),
});
export type IssueSetupLinkBody = z.infer<typeof IssueSetupLinkBody>;

/** Shown once: Roster keeps only the link's hash. */
export const SetupLink = SetupLinkResponse;
export type SetupLink = SetupLinkResponse;

export const StreamParams = z.object({ id: z.string().uuid(), identityId: z.string().uuid() });
export const RetryStreamBody = z.object({ reason: z.string().trim().min(1).max(500).optional() }).strict();
export const SkipStreamBody = z.object({ reason: z.string().trim().min(1, 'say why the event is skipped').max(500) }).strict();
/** The identity workflow's synchronous answer: applied or skipped, or failed again (still parked). */
export const StreamDecision = z.object({
  outcome: z.enum(['applied', 'skipped', 'parked']),
  seq: z.number().int(),
  failureType: z.string().optional(),
});
export type StreamDecision = z.infer<typeof StreamDecision>;
