import { z } from 'zod';

// The audit log's shapes, shared by the portal API, the CLI and the portal pages (pure zod: the
// portal bundles this file).

/** Who did it: the IdP through a SCIM connection, the lifecycle engine, an operator, a person. */
export const ActorType = z.enum(['scim', 'system', 'operator', 'user']);
export type ActorType = z.infer<typeof ActorType>;

export const Actor = z.object({ type: ActorType, id: z.string().optional() });
export type Actor = z.infer<typeof Actor>;

export const AuditEventInput = z.object({
  actor: Actor,
  action: z.string().min(1),
  targetType: z.string().optional(),
  targetId: z.string().optional(),
  requestId: z.string().optional(),
  /** before / after and anything else worth keeping; never secrets. */
  data: z.record(z.unknown()).default({}),
});
export type AuditEventInput = z.input<typeof AuditEventInput>;

const Text = z.string().trim().min(1).max(200);
/** An ISO-8601 instant, with or without a zone (a bare `2026-11-30T10:00` is read as UTC). */
const Instant = z
  .string()
  .trim()
  .refine((v) => !Number.isNaN(Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) || !v.includes('T') ? v : `${v}Z`)), 'not a date or time')
  .transform((v) => new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(v) || !v.includes('T') ? v : `${v}Z`).toISOString());

/**
 * Filters of the audit log. `action` matches exactly, or as a prefix when it ends in `*`
 * (`role.*`); `from` is inclusive, `to` exclusive (the service refuses `from` ≥ `to`). Plain
 * objects, no refinements: they double as OpenAPI query parameters.
 */
export const AuditFilter = z.object({
  actorType: ActorType.optional(),
  actorId: Text.optional(),
  action: Text.regex(/^[A-Za-z0-9_.:-]+\*?$/, 'letters, digits, . _ : - and an optional trailing *').optional(),
  targetType: Text.optional(),
  targetId: Text.optional(),
  from: Instant.optional(),
  to: Instant.optional(),
});
export type AuditFilter = z.infer<typeof AuditFilter>;

export const AuditListQuery = AuditFilter.extend({
  /** Opaque position from a previous page's `next` or `prev`. */
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type AuditListQuery = z.infer<typeof AuditListQuery>;

export const ExportFormat = z.enum(['csv', 'json', 'ndjson']);
export type ExportFormat = z.infer<typeof ExportFormat>;
export const AuditExportQuery = AuditFilter.extend({ format: ExportFormat.default('csv') });
export type AuditExportQuery = z.infer<typeof AuditExportQuery>;

/** One event as the API shows it (hashes in hex; seq and hashes null until the sealer links it). */
export const AuditEvent = z.object({
  id: z.number().int(),
  seq: z.number().int().nullable(),
  occurredAt: z.string(),
  actor: z.object({ type: z.string(), id: z.string().nullable() }),
  action: z.string(),
  target: z.object({ type: z.string().nullable(), id: z.string().nullable() }),
  requestId: z.string().nullable(),
  data: z.record(z.unknown()),
  prevHash: z.string().nullable(),
  hash: z.string().nullable(),
});
export type AuditEvent = z.infer<typeof AuditEvent>;

/** Newest first; `next` continues to older events, `prev` back to newer ones (null at either end). */
export const AuditPage = z.object({
  data: z.array(AuditEvent),
  next: z.string().nullable(),
  prev: z.string().nullable(),
});
export type AuditPage = z.infer<typeof AuditPage>;

export const BrokenLinkReason = z.enum(['missing_event', 'prev_hash_mismatch', 'hash_mismatch', 'chain_head_mismatch']);
export type BrokenLinkReason = z.infer<typeof BrokenLinkReason>;

export const BrokenLink = z.object({
  seq: z.number().int(),
  reason: BrokenLinkReason,
  /** Human-readable: what the chain expected here and what it found. */
  explanation: z.string(),
  eventId: z.number().int().nullable(),
  expected: z.object({ seq: z.number().int().nullable(), prevHash: z.string().nullable(), hash: z.string().nullable() }),
  found: z.object({ seq: z.number().int().nullable(), prevHash: z.string().nullable(), hash: z.string().nullable() }),
});
export type BrokenLink = z.infer<typeof BrokenLink>;

export const ChainVerification = z.object({
  intact: z.boolean(),
  /** Events linked into the chain and verified before the first broken link (all, when intact). */
  verified: z.number().int(),
  /** Linked events in all. */
  sealed: z.number().int(),
  /** Events written but not yet linked by the sealer. */
  pending: z.number().int(),
  firstBroken: BrokenLink.nullable(),
  checkedAt: z.string(),
});
export type ChainVerification = z.infer<typeof ChainVerification>;
