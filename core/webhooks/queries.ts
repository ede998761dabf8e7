import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import type { Tx } from '../db/pool.js';
import { openSecret, sealSecret } from '../secret-box.js';
import { displayPrefix, generateSecret } from '../secrets.js';
import { WEBHOOK_SECRET_PREFIX } from '../webhook-signature.js';
import { EventType } from '../events/schema.js';
import type { WebhookEndpointView } from './schema.js';

// SQL for webhook endpoints and deliveries; tenant always explicit. Rules and audit: service.ts.

const EndpointRow = z.object({
  id: z.string().uuid(),
  tenant_id: z.string().uuid(),
  url: z.string(),
  event_types: z.array(EventType).nullable(),
  secret_prefix: z.string(),
  created_at: z.string(),
  rotated_at: z.string().nullable(),
  previous_expires_at: z.string().nullable(),
  disabled_at: z.string().nullable(),
});
type EndpointRow = z.infer<typeof EndpointRow>;
const endpointColumns = sql.fragment`id, tenant_id, url, event_types, secret_prefix, created_at, rotated_at, previous_expires_at, disabled_at`;

function toView(row: EndpointRow, now = Date.now()): WebhookEndpointView {
  const previousLive = row.previous_expires_at !== null && Date.parse(row.previous_expires_at) > now;
  return {
    id: row.id,
    url: row.url,
    eventTypes: row.event_types,
    secretPrefix: row.secret_prefix,
    createdAt: row.created_at,
    rotatedAt: row.rotated_at,
    previousSecretExpiresAt: previousLive ? row.previous_expires_at : null,
  };
}

/** The associated data binding a ciphertext to its endpoint row. */
const secretAad = (tenantId: string, endpointId: string) => `webhook:${tenantId}:${endpointId}`;

export async function createWebhookEndpoint(
  tx: Tx,
  tenantId: string,
  input: { url: string; eventTypes?: readonly EventType[] | null | undefined },
  key: Buffer,
): Promise<{ endpoint: WebhookEndpointView; secret: string }> {
  const id = randomUUID();
  const secret = generateSecret(WEBHOOK_SECRET_PREFIX);
  const types = input.eventTypes?.length ? sql.array([...new Set(input.eventTypes)], 'text') : null;
  const row = await tx.one(sql.type(EndpointRow)`
    INSERT INTO webhook_endpoints (id, tenant_id, url, event_types, secret_ciphertext, secret_prefix)
    VALUES (${id}, ${tenantId}, ${input.url}, ${types}, ${sql.binary(sealSecret(key, secret, secretAad(tenantId, id)))},
            ${displayPrefix(secret, WEBHOOK_SECRET_PREFIX)})
    RETURNING ${endpointColumns}`);
  return { endpoint: toView(row), secret };
}

export async function listWebhookEndpoints(tx: Tx, tenantId: string): Promise<WebhookEndpointView[]> {
  const rows = await tx.any(sql.type(EndpointRow)`
    SELECT ${endpointColumns} FROM webhook_endpoints
     WHERE tenant_id = ${tenantId} AND disabled_at IS NULL ORDER BY created_at, id`);
  return rows.map((r) => toView(r));
}

/**
 * Issues a new signing secret. The current one keeps signing (as a second v1 value) for
 * `overlapSeconds`, so receivers can switch without rejecting a delivery; a secret rotated out
 * earlier stops at once (at most two secrets sign at any time). Null when there is no live endpoint.
 */
export async function rotateWebhookSecret(
  tx: Tx,
  tenantId: string,
  endpointId: string,
  overlapSeconds: number,
  key: Buffer,
): Promise<{ endpoint: WebhookEndpointView; secret: string } | null> {
  const secret = generateSecret(WEBHOOK_SECRET_PREFIX);
  const row = await tx.maybeOne(sql.type(EndpointRow)`
    UPDATE webhook_endpoints
       SET previous_secret_ciphertext = CASE WHEN ${overlapSeconds} > 0 THEN secret_ciphertext END,
           previous_expires_at = CASE WHEN ${overlapSeconds} > 0 THEN now() + make_interval(secs => ${overlapSeconds}) END,
           secret_ciphertext = ${sql.binary(sealSecret(key, secret, secretAad(tenantId, endpointId)))},
           secret_prefix = ${displayPrefix(secret, WEBHOOK_SECRET_PREFIX)},
           rotated_at = now()
     WHERE tenant_id = ${tenantId} AND id = ${endpointId} AND disabled_at IS NULL
     RETURNING ${endpointColumns}`);
  return row ? { endpoint: toView(row), secret } : null;
}

/**
 * Deletes an endpoint for its tenant; false when there was no live one. The row stays (disabled) so
 * in-flight deliveries learn it is gone.
 */
export async function disableWebhookEndpoint(tx: Tx, tenantId: string, endpointId: string): Promise<boolean> {
  const res = await tx.query(sql.unsafe`
    UPDATE webhook_endpoints SET disabled_at = now(), previous_secret_ciphertext = NULL, previous_expires_at = NULL
     WHERE tenant_id = ${tenantId} AND id = ${endpointId} AND disabled_at IS NULL`);
  return res.rowCount > 0;
}

/** Whether any live endpoint of the tenant takes events of this type (emitters skip the delivery workflow otherwise). */
export async function hasSubscribers(tx: Tx, tenantId: string, type: EventType): Promise<boolean> {
  return tx.exists(sql.unsafe`
    SELECT 1 FROM webhook_endpoints
     WHERE tenant_id = ${tenantId} AND disabled_at IS NULL AND (event_types IS NULL OR ${type} = ANY(event_types))`);
}

/**
 * The live endpoints that take this event: subscribed to its type and created no later than the
 * event (an endpoint added later starts with the events after it; the feed has the earlier ones).
 */
export async function endpointsForEvent(tx: Tx, tenantId: string, eventId: string): Promise<string[]> {
  const ids = await tx.anyFirst(sql.type(z.object({ id: z.string().uuid() }))`
    SELECT w.id FROM webhook_endpoints w JOIN events e ON e.tenant_id = w.tenant_id AND e.id = ${eventId}
     WHERE w.tenant_id = ${tenantId} AND w.disabled_at IS NULL AND w.created_at <= e.created_at
       AND (w.event_types IS NULL OR e.type = ANY(w.event_types))
     ORDER BY w.created_at, w.id`);
  return [...ids];
}

const SigningRow = z.object({
  url: z.string(),
  disabled_at: z.string().nullable(),
  secret_ciphertext: z.instanceof(Buffer),
  previous_secret_ciphertext: z.instanceof(Buffer).nullable(),
  previous_live: z.boolean(),
});

/** The endpoint's URL and the secrets that sign right now (current first), or null if it does not exist. */
export async function loadSigningEndpoint(
  tx: Tx,
  tenantId: string,
  endpointId: string,
  key: Buffer,
): Promise<{ url: string; disabled: boolean; secrets: string[] } | null> {
  const row = await tx.maybeOne(sql.type(SigningRow)`
    SELECT url, disabled_at, secret_ciphertext, previous_secret_ciphertext,
           coalesce(previous_expires_at > now(), false) AS previous_live
      FROM webhook_endpoints WHERE tenant_id = ${tenantId} AND id = ${endpointId}`);
  if (!row) return null;
  const aad = secretAad(tenantId, endpointId);
  const secrets = [openSecret(key, row.secret_ciphertext, aad)];
  if (row.previous_live && row.previous_secret_ciphertext) secrets.push(openSecret(key, row.previous_secret_ciphertext, aad));
  return { url: row.url, disabled: row.disabled_at !== null, secrets };
}

export const DeliveryRow = z.object({
  event_id: z.string().uuid(),
  endpoint_id: z.string().uuid(),
  attempts: z.number(),
  last_status: z.number().nullable(),
  last_error: z.string().nullable(),
  last_attempt_at: z.string().nullable(),
  delivered_at: z.string().nullable(),
  /** Delivered, and not asked for again since (a redelivery request reopens a delivered row). */
  settled: z.boolean(),
  /** Redelivery requests so far: pass to recordDeliveryAttempt as `redeliveriesSeen`. */
  redeliveries: z.number(),
});
export type DeliveryRow = z.infer<typeof DeliveryRow>;

const deliveryColumns = sql.fragment`event_id, endpoint_id, attempts, last_status, last_error, last_attempt_at, delivered_at,
  (delivered_at IS NOT NULL AND redeliveries_done >= redeliveries) AS settled, redeliveries`;

export async function findDelivery(tx: Tx, tenantId: string, eventId: string, endpointId: string): Promise<DeliveryRow | null> {
  return tx.maybeOne(sql.type(DeliveryRow)`
    SELECT ${deliveryColumns}
      FROM webhook_deliveries WHERE tenant_id = ${tenantId} AND event_id = ${eventId} AND endpoint_id = ${endpointId}`);
}

export async function listDeliveries(tx: Tx, tenantId: string, filter: { eventId?: string; endpointId?: string } = {}): Promise<readonly DeliveryRow[]> {
  return tx.any(sql.type(DeliveryRow)`
    SELECT ${deliveryColumns}
      FROM webhook_deliveries
     WHERE tenant_id = ${tenantId}
       ${filter.eventId ? sql.fragment`AND event_id = ${filter.eventId}` : sql.fragment``}
       ${filter.endpointId ? sql.fragment`AND endpoint_id = ${filter.endpointId}` : sql.fragment``}
     ORDER BY last_attempt_at`);
}

/**
 * Records one delivery attempt. A success records when, and how many redelivery requests it had
 * seen when it started (`redeliveriesSeen`, from findDelivery): a request made while it was in
 * flight keeps the row open. A failure leaves an earlier success in place.
 */
export async function recordDeliveryAttempt(
  tx: Tx,
  tenantId: string,
  input: { eventId: string; endpointId: string; status: number | null; error: string | null; delivered: boolean; latencyMs?: number | undefined; redeliveriesSeen?: number | undefined },
): Promise<void> {
  const deliveredAt = input.delivered ? sql.fragment`now()` : sql.fragment`NULL`;
  const latency = input.latencyMs === undefined ? null : Math.max(0, Math.round(input.latencyMs));
  const seen = input.delivered ? (input.redeliveriesSeen ?? 0) : 0;
  await tx.query(sql.unsafe`
    INSERT INTO webhook_deliveries (tenant_id, event_id, endpoint_id, attempts, last_status, last_error, last_attempt_at, delivered_at, last_latency_ms, redeliveries_done)
    VALUES (${tenantId}, ${input.eventId}, ${input.endpointId}, 1, ${input.status}, ${input.error?.slice(0, 500) ?? null}, now(), ${deliveredAt}, ${latency}, ${seen})
    ON CONFLICT (event_id, endpoint_id) DO UPDATE
       SET attempts = webhook_deliveries.attempts + 1,
           last_status = EXCLUDED.last_status,
           last_error = EXCLUDED.last_error,
           last_attempt_at = EXCLUDED.last_attempt_at,
           last_latency_ms = EXCLUDED.last_latency_ms,
           delivered_at = coalesce(EXCLUDED.delivered_at, webhook_deliveries.delivered_at),
           redeliveries_done = greatest(webhook_deliveries.redeliveries_done, EXCLUDED.redeliveries_done)`);
}

/** Whether the endpoint exists for the tenant and is live. */
export async function webhookEndpointExists(tx: Tx, tenantId: string, endpointId: string): Promise<boolean> {
  return tx.exists(sql.unsafe`SELECT 1 FROM webhook_endpoints WHERE tenant_id = ${tenantId} AND id = ${endpointId} AND disabled_at IS NULL`);
}

const RedeliveryCandidate = z.object({
  id: z.string().uuid(),
  subject_type: z.string(),
  subject_id: z.string().uuid(),
  position: z.number().nullable(),
  taken: z.boolean(),
});
export type RedeliveryCandidate = z.infer<typeof RedeliveryCandidate>;

/** One event of the tenant, and whether the endpoint takes it (subscribed type, not older than the endpoint). */
export async function redeliveryCandidate(tx: Tx, tenantId: string, endpointId: string, eventId: string): Promise<RedeliveryCandidate | null> {
  return tx.maybeOne(sql.type(RedeliveryCandidate)`
    SELECT e.id, e.subject_type, e.subject_id, e.position,
           (w.created_at <= e.created_at AND (w.event_types IS NULL OR e.type = ANY(w.event_types))) AS taken
      FROM events e JOIN webhook_endpoints w ON w.tenant_id = e.tenant_id AND w.id = ${endpointId}
     WHERE e.tenant_id = ${tenantId} AND e.id = ${eventId}`);
}

/**
 * The events in a range that the endpoint takes, in feed order: by position (inclusive bounds) or
 * by time (`created_at`, inclusive). At most `limit + 1` rows, so the caller can tell there are more.
 */
export async function redeliveryRange(
  tx: Tx,
  tenantId: string,
  endpointId: string,
  range: { kind: 'position'; from: number; to: number } | { kind: 'time'; from: string; to: string },
  limit: number,
): Promise<RedeliveryCandidate[]> {
  const bounds =
    range.kind === 'position'
      ? sql.fragment`AND e.position BETWEEN ${range.from} AND ${range.to}`
      : sql.fragment`AND e.created_at BETWEEN ${range.from}::timestamptz AND ${range.to}::timestamptz`;
  const rows = await tx.any(sql.type(RedeliveryCandidate)`
    SELECT e.id, e.subject_type, e.subject_id, e.position, true AS taken
      FROM events e JOIN webhook_endpoints w ON w.tenant_id = e.tenant_id AND w.id = ${endpointId}
     WHERE e.tenant_id = ${tenantId} AND e.position IS NOT NULL ${bounds}
       AND w.created_at <= e.created_at AND (w.event_types IS NULL OR e.type = ANY(w.event_types))
     ORDER BY e.position
     LIMIT ${limit + 1}`);
  return [...rows];
}

/** Opens (or re-opens) the delivery rows of these events: the activity posts them again. */
export async function markRedelivery(tx: Tx, tenantId: string, endpointId: string, eventIds: readonly string[]): Promise<void> {
  if (eventIds.length === 0) return;
  await tx.query(sql.unsafe`
    INSERT INTO webhook_deliveries (tenant_id, event_id, endpoint_id, attempts, redeliver_requested_at, redeliveries)
    SELECT ${tenantId}, id, ${endpointId}, 0, now(), 1 FROM unnest(${sql.array([...eventIds], 'uuid')}::uuid[]) AS id
    ON CONFLICT (event_id, endpoint_id) DO UPDATE
       SET redeliver_requested_at = EXCLUDED.redeliver_requested_at,
           redeliveries = webhook_deliveries.redeliveries + 1`);
}

const DeliveryLogRow = z.object({
  event_id: z.string().uuid(),
  event_type: z.string(),
  attempts: z.number(),
  last_status: z.number().nullable(),
  last_error: z.string().nullable(),
  last_latency_ms: z.number().nullable(),
  last_attempt_at: z.string().nullable(),
  delivered_at: z.string().nullable(),
  redeliver_requested_at: z.string().nullable(),
  redeliveries: z.number(),
  created_at: z.string(),
  settled: z.boolean(),
});
export type DeliveryLogRow = z.infer<typeof DeliveryLogRow>;

/** One endpoint's deliveries, newest first, keyset-paged on (created_at, event_id). */
export async function listDeliveryLog(
  tx: Tx,
  tenantId: string,
  endpointId: string,
  options: { before?: { createdAt: string; eventId: string } | undefined; limit: number },
): Promise<DeliveryLogRow[]> {
  const before = options.before
    ? sql.fragment`AND (d.created_at, d.event_id) < (${options.before.createdAt}::timestamptz, ${options.before.eventId}::uuid)`
    : sql.fragment``;
  const rows = await tx.any(sql.type(DeliveryLogRow)`
    SELECT d.event_id, e.type AS event_type, d.attempts, d.last_status, d.last_error, d.last_latency_ms, d.last_attempt_at,
           d.delivered_at, d.redeliver_requested_at, d.redeliveries,
           to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
           (d.delivered_at IS NOT NULL AND d.redeliveries_done >= d.redeliveries) AS settled
      FROM webhook_deliveries d JOIN events e ON e.id = d.event_id AND e.tenant_id = d.tenant_id
     WHERE d.tenant_id = ${tenantId} AND d.endpoint_id = ${endpointId} ${before}
     ORDER BY d.created_at DESC, d.event_id DESC
     LIMIT ${options.limit + 1}`);
  return [...rows];
}

/** The tenant's own delivery-log retention in days (null: the operator default applies). */
export async function findDeliveryLogRetention(tx: Tx, tenantId: string, options: { forUpdate?: boolean } = {}): Promise<number | null> {
  return tx.oneFirst(sql.type(z.object({ days: z.number().nullable() }))`
    SELECT delivery_log_retention_days AS days FROM tenants WHERE id = ${tenantId} ${options.forUpdate ? sql.fragment`FOR NO KEY UPDATE` : sql.fragment``}`);
}

export async function writeDeliveryLogRetention(tx: Tx, tenantId: string, days: number | null): Promise<void> {
  await tx.query(sql.unsafe`UPDATE tenants SET delivery_log_retention_days = ${days} WHERE id = ${tenantId}`);
}
