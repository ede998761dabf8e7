import type { Tx } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { assertWebhookTarget, type WebhookTargetPolicy } from '../net/webhook-target.js';
import type { EventType } from '../events/schema.js';
import { appendAudit } from '../repositories/audit.js';
import { auditEntry, type ServiceContext } from '../shared/service-context.js';
import * as q from './queries.js';
import {
  DEFAULT_ROTATION_OVERLAP_SECONDS,
  type DeliveryLogPage,
  type DeliveryLogQuery,
  type DeliveryStatus,
  MAX_ROTATION_OVERLAP_SECONDS,
  REDELIVER_MAX_EVENTS,
  type RedeliverBody,
  type RedeliverResult,
  type WebhookEndpointView,
  type WebhookWithSecret,
} from './schema.js';

/**
 * Webhook endpoints of the vendor's app: the one place their rules and audit rows live, called by
 * the app API (api/events-router.ts), the portal API and the CLI inside their tenant transaction.
 */

/** What the surface allows for receiver URLs (http to localhost outside production only). */
export interface WebhookPolicy {
  allowHttpLoopback: boolean;
  /** Encrypts signing secrets (core/secret-box.ts `loadSecretsKey`). */
  secretKey: Buffer;
  /** Receivers must resolve to addresses this allows (the SSRF guard; core/net/webhook-target.ts). */
  targets: WebhookTargetPolicy;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A receiver URL: https, or plain http to the loopback interface when `allowHttpLoopback` (development
 * and tests). No credentials in the URL (they would be shown back in listings), no fragment.
 */
export function parseWebhookUrl(text: string, options: { allowHttpLoopback: boolean }): string {
  const invalid = (why: string) => new DomainError(400, 'invalid_request', `url: ${why}`);
  if (text.length > 2048) throw invalid('too long');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid('not an absolute URL');
  }
  if (url.username || url.password) throw invalid('must not carry credentials');
  if (url.hash) throw invalid('must not have a fragment');
  if (url.protocol === 'https:') return url.toString();
  if (url.protocol === 'http:' && options.allowHttpLoopback && LOOPBACK_HOSTS.has(url.hostname)) return url.toString();
  throw invalid(options.allowHttpLoopback ? 'must be https (or http to localhost)' : 'must be https');
}

declare const checkedUrl: unique symbol;
/** A receiver URL that passed `parseWebhookUrl` and the SSRF guard's DNS check (`checkWebhookUrl`). */
export type CheckedWebhookUrl = string & { readonly [checkedUrl]: true };

/**
 * Parses the URL and resolves its host against the SSRF guard. Call it before opening the tenant
 * transaction: a DNS answer can take seconds, and work inside `withTenant` may run more than once.
 * `createWebhook` takes only what this returns, so no caller can skip the check.
 */
export async function checkWebhookUrl(text: string, policy: Pick<WebhookPolicy, 'allowHttpLoopback' | 'targets'>): Promise<CheckedWebhookUrl> {
  const url = parseWebhookUrl(text, policy);
  await assertWebhookTarget(url, policy.targets);
  return url as CheckedWebhookUrl;
}

export async function listWebhooks(tx: Tx, tenantId: string): Promise<WebhookEndpointView[]> {
  return q.listWebhookEndpoints(tx, tenantId);
}

/** Adds an endpoint (its URL checked before the transaction: `checkWebhookUrl`); the answer carries its signing secret, once. */
export async function createWebhook(
  tx: Tx,
  ctx: ServiceContext,
  policy: WebhookPolicy,
  input: { url: CheckedWebhookUrl; eventTypes?: readonly EventType[] | null | undefined },
): Promise<WebhookWithSecret> {
  const { url } = input;
  const created = await q.createWebhookEndpoint(tx, ctx.tenantId, { url, eventTypes: input.eventTypes }, policy.secretKey);
  await appendAudit(tx, ctx.tenantId, [
    auditEntry(ctx, 'webhook.created', 'webhook_endpoint', created.endpoint.id, { origin: new URL(url).origin, eventTypes: created.endpoint.eventTypes }),
  ]);
  return { ...created.endpoint, secret: created.secret };
}

/** A new signing secret (shown once); the old one keeps signing beside it for the overlap. */
export async function rotateWebhook(
  tx: Tx,
  ctx: ServiceContext,
  policy: Pick<WebhookPolicy, 'secretKey'>,
  input: { endpointId: string; overlapSeconds?: number | undefined },
): Promise<WebhookWithSecret> {
  const overlap = input.overlapSeconds ?? DEFAULT_ROTATION_OVERLAP_SECONDS;
  if (!Number.isInteger(overlap) || overlap < 0 || overlap > MAX_ROTATION_OVERLAP_SECONDS) {
    throw new DomainError(400, 'invalid_request', `overlapSeconds: a whole number from 0 to ${MAX_ROTATION_OVERLAP_SECONDS}`);
  }
  const rotated = await q.rotateWebhookSecret(tx, ctx.tenantId, input.endpointId, overlap, policy.secretKey);
  if (!rotated) throw new DomainError(404, 'not_found', 'no such webhook endpoint');
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'webhook.secret_rotated', 'webhook_endpoint', input.endpointId, { overlapSeconds: overlap })]);
  return { ...rotated.endpoint, secret: rotated.secret };
}

/** Deletes an endpoint: no further deliveries, in-flight ones stop at their next attempt. */
export async function deleteWebhook(tx: Tx, ctx: ServiceContext, input: { endpointId: string }): Promise<void> {
  if (!(await q.disableWebhookEndpoint(tx, ctx.tenantId, input.endpointId))) throw new DomainError(404, 'not_found', 'no such webhook endpoint');
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'webhook.deleted', 'webhook_endpoint', input.endpointId)]);
}

/** The events a redelivery request queued again, grouped by the subject whose workflow delivers them. */
export interface RedeliveryPlan {
  result: RedeliverResult;
  /** Per subject, its events in feed order: one `signalRedelivery` each, after commit. */
  subjects: { subjectType: string; subjectId: string; eventIds: string[] }[];
}

/**
 * Asks for events to be delivered to one endpoint again: one event, or a range of the feed by
 * position or time (at most REDELIVER_MAX_EVENTS, the rest answered as `hasMore`). Only events the
 * endpoint takes (its types, not older than it) are included. Marks the delivery rows and writes the
 * audit row; the caller signals the delivery workflows after commit (`signalRedelivery`). The
 * caller seals the tenant's feed first so a range sees every committed event.
 */
export async function requestRedelivery(tx: Tx, ctx: ServiceContext, input: { endpointId: string; body: RedeliverBody }): Promise<RedeliveryPlan> {
  const { tenantId } = ctx;
  if (!(await q.webhookEndpointExists(tx, tenantId, input.endpointId))) throw new DomainError(404, 'not_found', 'no such webhook endpoint');
  let events: q.RedeliveryCandidate[];
  let hasMore = false;
  const { body } = input;
  if ('eventId' in body) {
    const event = await q.redeliveryCandidate(tx, tenantId, input.endpointId, body.eventId);
    if (!event) throw new DomainError(404, 'not_found', 'no such event (or it is past the retention period)');
    if (!event.taken) throw new DomainError(400, 'invalid_request', 'eventId: this endpoint does not take that event (its types, or the event is older than the endpoint)');
    events = [event];
  } else {
    const range = typeof body.from === 'number' ? { kind: 'position' as const, from: body.from, to: body.to as number } : { kind: 'time' as const, from: body.from, to: body.to as string };
    const rows = await q.redeliveryRange(tx, tenantId, input.endpointId, range, REDELIVER_MAX_EVENTS);
    hasMore = rows.length > REDELIVER_MAX_EVENTS;
    events = rows.slice(0, REDELIVER_MAX_EVENTS);
  }
  const eventIds = events.map((e) => e.id);
  await q.markRedelivery(tx, tenantId, input.endpointId, eventIds);
  const last = events.at(-1)?.position ?? null;
  const nextFrom = hasMore && last !== null ? last + 1 : null;
  const selection = 'eventId' in body ? { eventId: body.eventId } : { from: body.from, to: body.to };
  await appendAudit(tx, tenantId, [
    auditEntry(ctx, 'webhook.redelivery_requested', 'webhook_endpoint', input.endpointId, {
      ...selection,
      count: eventIds.length,
      firstEventId: eventIds[0] ?? null,
      lastEventId: eventIds.at(-1) ?? null,
      hasMore,
    }),
  ]);
  const bySubject = new Map<string, { subjectType: string; subjectId: string; eventIds: string[] }>();
  for (const e of events) {
    const key = `${e.subject_type}/${e.subject_id}`;
    const group = bySubject.get(key) ?? { subjectType: e.subject_type, subjectId: e.subject_id, eventIds: [] };
    group.eventIds.push(e.id);
    bySubject.set(key, group);
  }
  return { result: { endpointId: input.endpointId, eventIds, hasMore, nextFrom }, subjects: [...bySubject.values()] };
}

function encodeLogCursor(row: { created_at: string; event_id: string }): string {
  return Buffer.from(`${row.created_at}|${row.event_id}`, 'utf8').toString('base64url');
}

function decodeLogCursor(cursor: string): { createdAt: string; eventId: string } {
  const bad = () => new DomainError(400, 'invalid_cursor', 'the cursor is not one this log issued');
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)\|([0-9a-f-]{36})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m || Number.isNaN(Date.parse(m[1]!))) throw bad();
  return { createdAt: m[1]!, eventId: m[2]! };
}

/** One endpoint's delivery log, newest first (status, HTTP answer, latency, attempts, last error). */
export async function webhookDeliveryLog(tx: Tx, tenantId: string, input: { endpointId: string; query: DeliveryLogQuery }): Promise<DeliveryLogPage> {
  const before = input.query.before === undefined ? undefined : decodeLogCursor(input.query.before);
  if (!(await q.webhookEndpointExists(tx, tenantId, input.endpointId))) throw new DomainError(404, 'not_found', 'no such webhook endpoint');
  const rows = await q.listDeliveryLog(tx, tenantId, input.endpointId, { before, limit: input.query.limit });
  const page = rows.slice(0, input.query.limit);
  const status = (r: q.DeliveryLogRow): DeliveryStatus => {
    if (r.settled) return 'delivered';
    const askedAgain = r.redeliver_requested_at !== null && (r.last_attempt_at === null || Date.parse(r.last_attempt_at) < Date.parse(r.redeliver_requested_at));
    return r.attempts === 0 || askedAgain ? 'pending' : 'failing';
  };
  return {
    data: page.map((r) => ({
      eventId: r.event_id,
      eventType: r.event_type,
      status: status(r),
      httpStatus: r.last_status,
      latencyMs: r.last_latency_ms,
      attempts: r.attempts,
      lastError: r.last_error,
      lastAttemptAt: r.last_attempt_at,
      deliveredAt: r.delivered_at,
      redeliveries: r.redeliveries,
      redeliveryRequestedAt: r.redeliver_requested_at,
      createdAt: r.created_at,
    })),
    nextCursor: rows.length > input.query.limit ? encodeLogCursor(page.at(-1)!) : null,
  };
}

/** The tenant's delivery-log retention (its own, or null for the operator default). */
export async function getDeliveryLogRetention(tx: Tx, tenantId: string): Promise<number | null> {
  return q.findDeliveryLogRetention(tx, tenantId);
}

/**
 * Sets how long the tenant keeps its webhook delivery log (the maintenance schedule prunes older
 * records); null returns to the operator's default. Audited with before and after.
 */
export async function setDeliveryLogRetention(tx: Tx, ctx: ServiceContext, days: number | null): Promise<number | null> {
  if (days !== null && (!Number.isInteger(days) || days < 1 || days > 3650)) throw new DomainError(400, 'invalid_request', 'days: a whole number from 1 to 3650, or null');
  const before = await q.findDeliveryLogRetention(tx, ctx.tenantId, { forUpdate: true });
  if (before === days) return days;
  await q.writeDeliveryLogRetention(tx, ctx.tenantId, days);
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'webhook.delivery_log_retention_changed', 'tenant', ctx.tenantId, { before, after: days })]);
  return days;
}
