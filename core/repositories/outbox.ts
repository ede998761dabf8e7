import { sql } from 'slonik';
import { z } from 'zod';
import type { Db, Tx } from '../db/pool.js';
import { currentTraceparent } from '../telemetry.js';

export const StreamType = z.enum(['user', 'group']);
export type StreamType = z.infer<typeof StreamType>;

/** What the relay hands to a workflow: ids and facts, never PII or secrets. */
export const OutboxEventType = z.enum([
  'user.created',
  'user.updated',
  'user.activated',
  'user.deactivated',
  'user.deleted',
  'user.restored',
  'membership.added',
  'membership.removed',
  'entitlements.changed',
  'group.created',
  'group.updated',
  'group.deleted',
]);
export type OutboxEventType = z.infer<typeof OutboxEventType>;

export const OutboxRow = z.object({
  id: z.number(),
  tenant_id: z.string().uuid(),
  stream_type: StreamType,
  stream_id: z.string().uuid(),
  seq: z.number(),
  // Any text, not OutboxEventType: one row the workflows cannot apply must park its own stream
  // (workflows/failures.ts), not make every claim of the relay fail for every tenant.
  event_type: z.string(),
  payload: z.record(z.unknown()),
  created_at: z.string(),
  delivered_at: z.string().nullable(),
  /** Deferred by the relay until then (a step of its stream may pull it first). */
  defer_until: z.string().nullable(),
  attempts: z.number(),
  last_error: z.string().nullable(),
  /** The W3C traceparent of the request that wrote the row (null: tracing was off). */
  traceparent: z.string().nullable(),
});
export type OutboxRow = z.infer<typeof OutboxRow>;

export interface OutboxEvent {
  streamType: StreamType;
  streamId: string;
  /** The stream's seq, assigned by the caller under the stream row's lock. */
  seq: number;
  type: OutboxEventType;
  payload?: Record<string, unknown>;
}

export async function appendOutbox(tx: Tx, tenantId: string, events: OutboxEvent[]): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map((e) => [tenantId, e.streamType, e.streamId, e.seq, e.type, JSON.stringify(e.payload ?? {})]);
  // The trace continues in the relay, the workflow and the webhook POST (core/telemetry.ts).
  const traceparent = currentTraceparent();
  await tx.query(sql.unsafe`
    INSERT INTO outbox (tenant_id, stream_type, stream_id, seq, event_type, payload, traceparent)
    SELECT t, st, si, s, et, p::jsonb, ${traceparent}::text
      FROM ${sql.unnest(rows, ['uuid', 'text', 'uuid', 'int8', 'text', 'text'])} AS x(t, st, si, s, et, p)`);
}

/**
 * Claims rows to signal across tenants (deferred rows only once their time is up), locked until
 * the caller's transaction ends; undelivered rows only up to id `windowEnd` when given (what
 * `deferOutbox` looked at).
 */
export async function claimOutbox(tx: Tx, limit: number, windowEnd: number | null = null): Promise<readonly OutboxRow[]> {
  return tx.any(sql.type(OutboxRow)`SELECT * FROM outbox_claim_ready(${limit}::int4, ${windowEnd}::int8)`);
}

const Deferral = z.object({ deferred: z.number(), window_end: z.number().nullable(), due: z.boolean() });

/**
 * Defers, in its own short transaction, the membership and entitlement rows among the next `limit`
 * undelivered ones whose identity has an earlier event not applied yet and no step running: the
 * step applying that event pulls them (`pullOutbox`). After `deferMs` a row is deferred again
 * while its stream is still busy with an event the workflow has (up to `maxMs` in all), else a
 * claim returns it like any other (migration 1764801300000_outbox_pull). Returns how many it
 * deferred, the last id it looked at (0 when nothing waited), within which the claim that
 * follows stays, and whether deferred rows are due for that claim.
 */
export async function deferOutbox(db: Db, limit: number, deferMs: number, maxMs: number): Promise<{ deferred: number; windowEnd: number; due: boolean }> {
  const r = await db.one(sql.type(Deferral)`SELECT * FROM outbox_defer(${limit}::int4, ${deferMs}::int4, ${maxMs}::int4)`);
  return { deferred: r.deferred, windowEnd: r.window_end ?? 0, due: r.due };
}

const PulledRow = z.object({ id: z.number(), seq: z.number(), event_type: z.string(), payload: z.record(z.unknown()) });

/** An identity stream's waiting event as a step pulls it: what the relay would have signalled. */
export const PulledEvent = z.object({ seq: z.number(), outboxId: z.number(), type: z.string(), payload: z.record(z.unknown()) });
export type PulledEvent = z.infer<typeof PulledEvent>;

/**
 * A step's pull: the undelivered rows of identity stream `userId` after seq `after` (at most
 * `limit`, in seq order), marked delivered in the caller's transaction, which must hold the user's
 * row lock and be scoped to its tenant. Rows a relay holds are skipped (it signals them).
 */
export async function pullOutbox(tx: Tx, userId: string, after: number, limit: number): Promise<PulledEvent[]> {
  const rows = await tx.any(sql.type(PulledRow)`SELECT * FROM outbox_pull(${userId}::uuid, ${after}::int8, ${limit}::int4)`);
  return rows.map((r) => ({ seq: r.seq, outboxId: r.id, type: r.event_type, payload: r.payload }));
}

export async function markDelivered(tx: Tx, ids: number[]): Promise<void> {
  if (ids.length) await tx.query(sql.unsafe`SELECT outbox_mark_delivered(${sql.array(ids, 'int8')})`);
}

export async function markFailed(tx: Tx, ids: number[], error: string): Promise<void> {
  if (ids.length) await tx.query(sql.unsafe`SELECT outbox_mark_failed(${sql.array(ids, 'int8')}, ${error})`);
}
