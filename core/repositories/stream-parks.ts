import { sql } from 'slonik';
import { z } from 'zod';
import type { Tx } from '../db/pool.js';
import { appendAudit } from './audit.js';
import { finishIdentityEvent } from './lifecycle.js';

/**
 * Parked identity streams: an event that failed permanently stops its identity's stream until an
 * operator retries or skips it. The open `stream_parked` tenant alert is the record (the portal's
 * and console's alert lists show it); each park, retry and skip is audited.
 */
export interface StreamParkInput {
  tenantId: string;
  userId: string;
  workflowId: string;
  seq: number;
  eventType: string;
  failureType: string;
  message: string;
  attempts: number;
}

const ParkedAlert = z.object({ id: z.number(), attempts: z.number() });

/** Records the park (idempotent per identity + seq + attempt: a retried activity writes nothing twice). */
export async function parkStream(tx: Tx, input: StreamParkInput): Promise<void> {
  const open = await tx.maybeOne(sql.type(ParkedAlert)`
    SELECT id, coalesce((data->>'attempts')::int, 1) AS attempts FROM tenant_alerts
     WHERE tenant_id = ${input.tenantId} AND kind = 'stream_parked' AND resolved_at IS NULL
       AND data->>'userId' = ${input.userId} AND (data->>'seq')::bigint = ${input.seq}
     FOR UPDATE`);
  if (open && open.attempts >= input.attempts) return;
  const data = { userId: input.userId, seq: input.seq, eventType: input.eventType, failureType: input.failureType, message: input.message.slice(0, 500), attempts: input.attempts, workflowId: input.workflowId };
  if (open) {
    await tx.query(sql.unsafe`UPDATE tenant_alerts SET data = ${sql.jsonb(data)} WHERE id = ${open.id}`);
  } else {
    await tx.query(sql.unsafe`INSERT INTO tenant_alerts (tenant_id, kind, data) VALUES (${input.tenantId}, 'stream_parked', ${sql.jsonb(data)})`);
  }
  await appendAudit(tx, input.tenantId, [
    { actor: { type: 'system', id: input.workflowId }, action: 'stream.parked', targetType: 'user', targetId: input.userId, data: { seq: input.seq, eventType: input.eventType, failureType: input.failureType, message: data.message, attempts: input.attempts } },
  ]);
}

/**
 * Closes a park: the event applied on a retry, or an operator skipped it (the stream position then
 * moves past it here, in the same transaction as the audit row).
 */
export async function resolveStreamPark(
  tx: Tx,
  input: { tenantId: string; userId: string; workflowId: string; seq: number; outcome: 'applied' | 'skipped'; by: string; reason?: string },
): Promise<void> {
  const closed = await tx.anyFirst(sql.type(z.object({ id: z.number() }))`
    UPDATE tenant_alerts SET resolved_at = now()
     WHERE tenant_id = ${input.tenantId} AND kind = 'stream_parked' AND resolved_at IS NULL
       AND data->>'userId' = ${input.userId} AND (data->>'seq')::bigint = ${input.seq}
    RETURNING id`);
  if (input.outcome === 'skipped') await finishIdentityEvent(tx, input);
  // A retried activity finds the alert closed already: the audit row was written with it.
  if (!closed.length) return;
  await appendAudit(tx, input.tenantId, [
    {
      actor: { type: 'operator', id: input.by },
      action: input.outcome === 'skipped' ? 'stream.event_skipped' : 'stream.retried',
      targetType: 'user',
      targetId: input.userId,
      data: { seq: input.seq, outcome: input.outcome, ...(input.reason ? { reason: input.reason } : {}) },
    },
  ]);
}

export const ParkedStream = z.object({
  userId: z.string(),
  seq: z.number(),
  eventType: z.string(),
  failureType: z.string(),
  message: z.string(),
  attempts: z.number(),
  since: z.string(),
});
export type ParkedStream = z.infer<typeof ParkedStream>;

/** The open parks of a tenant (newest first). */
export async function openStreamParks(tx: Tx, tenantId: string): Promise<readonly ParkedStream[]> {
  return tx.any(sql.type(ParkedStream)`
    SELECT data->>'userId' AS "userId", (data->>'seq')::int AS seq, data->>'eventType' AS "eventType",
           data->>'failureType' AS "failureType", data->>'message' AS message,
           coalesce((data->>'attempts')::int, 1) AS attempts, created_at::text AS since
      FROM tenant_alerts
     WHERE tenant_id = ${tenantId} AND kind = 'stream_parked' AND resolved_at IS NULL ORDER BY created_at DESC`);
}
