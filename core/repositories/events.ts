import { createHash } from 'node:crypto';
import { type FragmentSqlToken, sql } from 'slonik';
import { z } from 'zod';
import type { Db, Tx } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { EventType } from '../events/schema.js';

export { EVENT_TYPES, EventType } from '../events/schema.js';

export const EventSubjectType = z.enum(['user', 'group', 'service_account', 'domain', 'change_request', 'campaign']);
export type EventSubjectType = z.infer<typeof EventSubjectType>;

export const EventInput = z.object({
  id: z.string().uuid(),
  type: EventType,
  subjectType: EventSubjectType,
  subjectId: z.string().uuid(),
  /** Ids and facts only: never secrets, and no personal data the receiver cannot look up itself. */
  data: z.record(z.unknown()).default({}),
});
export type EventInput = z.input<typeof EventInput>;

export const EventRow = z.object({
  id: z.string().uuid(),
  tenant_id: z.string().uuid(),
  type: EventType,
  subject_type: EventSubjectType,
  subject_id: z.string().uuid(),
  data: z.record(z.unknown()),
  created_at: z.string(),
  position: z.number().nullable(),
});
export type EventRow = z.infer<typeof EventRow>;

/** What receivers get, in a webhook body and in the feed alike. */
export const EventPayload = z.object({
  id: z.string().uuid().describe('Unique per event: deduplicate on it'),
  type: EventType,
  createdAt: z.string(),
  tenantId: z.string().uuid(),
  subject: z.object({ type: EventSubjectType, id: z.string().uuid() }),
  data: z.record(z.unknown()),
});
export type EventPayload = z.infer<typeof EventPayload>;

export function toEventPayload(row: EventRow): EventPayload {
  return {
    id: row.id,
    type: row.type,
    createdAt: row.created_at,
    tenantId: row.tenant_id,
    subject: { type: row.subject_type, id: row.subject_id },
    data: row.data,
  };
}

/**
 * A deterministic event id: the first 128 bits of SHA-256 over the idempotency key (the emitting
 * workflow id and its step), with the RFC 9562 version-8 (custom) and variant bits set. A retried
 * activity computes the same id, so the event is recorded and delivered once.
 */
export function eventIdFor(workflowId: string, step: string): string {
  const bytes = createHash('sha256').update(`roster-event\u0000${workflowId}\u0000${step}`, 'utf8').digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Records an event in the caller's transaction; a second call with the same id inserts nothing. */
export async function recordEvent(tx: Tx, tenantId: string, input: EventInput): Promise<{ inserted: boolean }> {
  const e = EventInput.parse(input);
  const res = await tx.query(sql.unsafe`
    INSERT INTO events (id, tenant_id, type, subject_type, subject_id, data)
    VALUES (${e.id}, ${tenantId}, ${e.type}, ${e.subjectType}, ${e.subjectId}, ${sql.jsonb(e.data as Parameters<typeof sql.jsonb>[0])})
    ON CONFLICT (id) DO NOTHING`);
  return { inserted: res.rowCount === 1 };
}

/** An event a lifecycle step emits; typed at compile time, so recordEvents checks no row at run time. */
export interface NewEvent {
  /** eventIdFor(workflow id, step): a retried step inserts nothing twice. */
  id: string;
  type: EventType;
  subjectType: EventSubjectType;
  subjectId: string;
  data: Record<string, unknown>;
}

/**
 * Records a step's events in the caller's transaction, in one statement: rows are inserted in
 * array order (created_at is clock_timestamp() per row, and the feed sealer orders by it), and the
 * answer is the ids of those whose type a live webhook endpoint takes, in the same order, which
 * the caller hands to the subject's delivery workflow after commit.
 */
/** The row `recordEventsCtes`' `subscribed` CTE answers: the ids of the events a webhook takes. */
export const SubscribedIds = z.object({ ids: z.array(z.string()) });

export async function recordEvents(tx: Tx, tenantId: string, events: readonly NewEvent[]): Promise<string[]> {
  if (events.length === 0) return [];
  const subscribed = await tx.oneFirst(sql.type(SubscribedIds)`
    WITH ${recordEventsCtes(tenantId, events)}
    SELECT ids FROM subscribed`);
  return [...subscribed];
}

/**
 * recordEvents' statement as CTEs (`input`, `inserted`, and `subscribed`, one row whose `ids` is
 * the answer), for a caller that folds it into a larger statement to save the round trip (the
 * lifecycle hot path). With no events, `subscribed` is one row of an empty array.
 */
export function recordEventsCtes(tenantId: string, events: readonly NewEvent[]): FragmentSqlToken {
  if (events.length === 0) return sql.fragment`subscribed AS (SELECT '{}'::text[] AS ids)`;
  const rows = events.map((e) => [e.id, e.type, e.subjectType, e.subjectId, JSON.stringify(e.data)]);
  return sql.fragment`
    input AS (
      SELECT * FROM ${sql.unnest(rows, ['uuid', 'text', 'text', 'uuid', 'text'])} WITH ORDINALITY AS x(id, type, subject_type, subject_id, data, n)
    ), inserted AS (
      INSERT INTO events (id, tenant_id, type, subject_type, subject_id, data)
      SELECT id, ${tenantId}, type, subject_type, subject_id, data::jsonb FROM input ORDER BY n
      ON CONFLICT (id) DO NOTHING
    ), subscribed AS (
      SELECT coalesce(array_agg(i.id::text ORDER BY i.n), '{}') AS ids FROM input i
       WHERE EXISTS (SELECT 1 FROM webhook_endpoints w
                      WHERE w.tenant_id = ${tenantId} AND w.disabled_at IS NULL AND (w.event_types IS NULL OR i.type = ANY(w.event_types)))
    )`;
}

export async function findEvent(tx: Tx, tenantId: string, eventId: string): Promise<EventRow | null> {
  return tx.maybeOne(sql.type(EventRow)`
    SELECT id, tenant_id, type, subject_type, subject_id, data, created_at, position
      FROM events WHERE tenant_id = ${tenantId} AND id = ${eventId}`);
}

// ---------------------------------------------------------------------------------------------
// The feed. Cursors are opaque to clients: base64url of `p<position>`. Positions are assigned by
// the sealer in commit-visible order, so "everything after position n" never changes once read.

export function encodeCursor(position: number): string {
  return Buffer.from(`p${position}`, 'utf8').toString('base64url');
}

/** The position a cursor stands for; a `DomainError(400, 'invalid_cursor')` for anything else. */
export function decodeCursor(cursor: string): number {
  const bad = () => new DomainError(400, 'invalid_cursor', 'the cursor is not one this feed issued');
  if (!/^[A-Za-z0-9_-]{2,24}$/.test(cursor)) throw bad();
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^p(0|[1-9]\d{0,15})$/.exec(text);
  if (!m || encodeCursor(Number(m[1])) !== cursor) throw bad();
  const position = Number(m[1]);
  if (!Number.isSafeInteger(position)) throw bad();
  return position;
}

export const FEED_MAX_LIMIT = 500;

export interface FeedPage {
  events: EventRow[];
  nextCursor: string;
  hasMore: boolean;
}

/**
 * One page of the tenant's feed after `after` (a cursor; the beginning when absent), in position
 * order, within the tenant's retention period. `nextCursor` is always returned: pass it back to
 * continue (or to poll for new events). A cursor older than what retention already removed is
 * a `DomainError(410, 'cursor_expired')`: the gap cannot be replayed.
 */
export async function listEvents(
  tx: Tx,
  tenantId: string,
  options: { after?: string | undefined; limit: number; types?: readonly EventType[] | undefined },
): Promise<FeedPage> {
  const after = options.after === undefined ? 0 : decodeCursor(options.after);
  const limit = Math.max(1, Math.min(FEED_MAX_LIMIT, Math.trunc(options.limit)));
  // Read before the page: every position up to the head was committed with it, so the page query
  // (a later snapshot) sees all of them.
  const head = await tx.maybeOne(sql.type(z.object({ position: z.number(), purged_through: z.number() }))`
    SELECT position, purged_through FROM event_feed_heads WHERE tenant_id = ${tenantId}`);
  if (options.after !== undefined && head && after < head.purged_through) {
    throw new DomainError(410, 'cursor_expired', 'events after this cursor are past the retention period; restart from the beginning');
  }
  const typeFilter = options.types?.length ? sql.fragment`AND e.type = ANY(${sql.array([...options.types], 'text')})` : sql.fragment``;
  const rows = await tx.any(sql.type(EventRow)`
    SELECT e.id, e.tenant_id, e.type, e.subject_type, e.subject_id, e.data, e.created_at, e.position
      FROM events e JOIN tenants t ON t.id = e.tenant_id
     WHERE e.tenant_id = ${tenantId} AND e.position IS NOT NULL AND e.position > ${after}
       AND e.created_at > now() - make_interval(days => t.event_retention_days)
       ${typeFilter}
     ORDER BY e.position
     LIMIT ${limit + 1}`);
  const hasMore = rows.length > limit;
  const events = rows.slice(0, limit);
  // On the last page the cursor moves to the head even when a type filter matched nothing, so a
  // filtered poll does not rescan the same non-matching events forever.
  const last = hasMore ? events.at(-1)!.position! : Math.max(events.at(-1)?.position ?? 0, head?.position ?? 0, after);
  return { events, nextCursor: encodeCursor(last), hasMore };
}

/** Assigns feed positions to every tenant's pending events. Safe to run from many replicas. */
export async function sealEventFeeds(db: Db): Promise<number> {
  const tenants = await db.anyFirst(sql.type(z.object({ t: z.string() }))`SELECT t FROM events_tenants_to_seal() AS t`);
  let sealed = 0;
  for (const tenantId of tenants) sealed += await sealEventFeed(db, tenantId);
  return sealed;
}

export async function sealEventFeed(db: Db, tenantId: string): Promise<number> {
  return db.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT events_seal(${tenantId}) AS n`);
}

/** Removes events past each tenant's retention period (their delivery records go with them). */
export async function purgeExpiredEvents(db: Db): Promise<number> {
  return db.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT events_purge_expired() AS n`);
}
