import { ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { type Db, retryAfterSeconds, withTenant } from '../core/db/pool.js';
import type { Metrics } from '../core/metrics.js';
import type { WebhookTargetPolicy } from '../core/net/webhook-target.js';
import { type EventSubjectType, type EventType, findEvent, recordEvent, eventIdFor, toEventPayload } from '../core/repositories/events.js';
import { endpointsForEvent, findDelivery, hasSubscribers, loadSigningEndpoint, recordDeliveryAttempt } from '../core/webhooks/queries.js';
import { EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, signPayload } from '../core/webhook-signature.js';
import { eventDeliveryWorkflowId } from '../workflows/ids.js';
import type { WebhookFailureType } from '../workflows/failures.js';
import { type DeliverEventInput, deliverEventSignal, type RedeliverEventsInput, redeliverEventsSignal } from '../workflows/messages.js';
import type { EventDeliveryInput } from '../workflows/event-delivery.js';
import { postWebhook } from './webhook-post.js';
import { injectTraceHeaders, inSpan, SpanKind, SpanStatusCode } from '../core/telemetry.js';

export interface EventActivityDeps {
  /** The app-role pool: every activity runs under row-level security for its tenant. */
  db: Db;
  /** Starts / signals the per-subject delivery workflows. */
  client: Client;
  /** The task queue the delivery workflow runs on (the worker's own). */
  taskQueue: string;
  /** SECRETS_ENCRYPTION_KEY (core/secret-box.ts `loadSecretsKey`): decrypts signing secrets. */
  secretKey: Buffer;
  /** Where deliveries may connect (the SSRF guard; core/net/webhook-target.ts). */
  targets: WebhookTargetPolicy;
  /** Per POST; the activity's startToCloseTimeout (30 s) stays above it. */
  requestTimeoutMs?: number;
  metrics?: Metrics;
}

export interface EmitEventInput {
  tenantId: string;
  /** With `step`, the idempotency key: the event id is derived from both. */
  workflowId: string;
  step: string;
  type: EventType;
  subjectType: EventSubjectType;
  subjectId: string;
  /** Ids and facts only: no secrets, no personal data beyond what the receiver needs. */
  data?: Record<string, unknown>;
}

export interface DeliverWebhookInput {
  tenantId: string;
  eventId: string;
  endpointId: string;
}

/** How long a delivered attempt retries recording itself (inside the activity's 30 s, after a POST of at most 10 s). */
const RECORD_DELIVERED_FOR_MS = 15_000;

function gone(type: WebhookFailureType, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause: unknown = err.cause;
    const code = cause && typeof cause === 'object' && 'code' in cause && typeof cause.code === 'string' ? ` (${cause.code})` : '';
    return `${err.name}: ${err.message}${code}`;
  }
  return String(err);
}

/**
 * Hands recorded events to their subject's delivery workflow (started if needed), one signal per
 * event in the given order. The workflow drops an id it has seen, so a retried step re-signals
 * safely.
 */
export async function signalEventDelivery(
  client: Client,
  taskQueue: string,
  subject: { tenantId: string; subjectType: EventSubjectType; subjectId: string },
  eventIds: readonly string[],
): Promise<void> {
  for (const eventId of eventIds) {
    await client.workflow.signalWithStart<(input: EventDeliveryInput) => Promise<void>, [DeliverEventInput]>('eventDelivery', {
      workflowId: eventDeliveryWorkflowId(subject.tenantId, subject.subjectType, subject.subjectId),
      taskQueue,
      args: [{ tenantId: subject.tenantId, subjectType: subject.subjectType, subjectId: subject.subjectId }],
      signal: deliverEventSignal,
      signalArgs: [{ eventId }],
    });
  }
}

/**
 * Asks the subject's delivery workflow (started if needed) to deliver these events to one endpoint
 * again, in the given order. Called after the redelivery request committed (core/webhooks/service.ts
 * `requestRedelivery`), one signal per subject.
 */
export async function signalRedelivery(
  client: Client,
  taskQueue: string,
  subject: { tenantId: string; subjectType: string; subjectId: string },
  endpointId: string,
  eventIds: readonly string[],
): Promise<void> {
  await client.workflow.signalWithStart<(input: EventDeliveryInput) => Promise<void>, [RedeliverEventsInput]>('eventDelivery', {
    workflowId: eventDeliveryWorkflowId(subject.tenantId, subject.subjectType, subject.subjectId),
    taskQueue,
    args: [{ tenantId: subject.tenantId, subjectType: subject.subjectType, subjectId: subject.subjectId }],
    signal: redeliverEventsSignal,
    signalArgs: [{ endpointId, eventIds: [...eventIds] }],
  });
}

/** Thin adapters for outbound events: record, hand to the subject's delivery workflow, POST signed webhooks. */
export function createEventActivities({ db, client, taskQueue, secretKey, targets, requestTimeoutMs = 10_000, metrics }: EventActivityDeps) {
  return {
    /**
     * Records the event (id = eventIdFor(workflowId, step), so a retry records nothing twice) and
     * signals the subject's delivery workflow, starting it if needed. Callers emit one subject's
     * events one after another, so the workflow receives them in emission order. When no endpoint
     * of the tenant takes this type the workflow is not involved (the feed still has the event).
     */
    async emitEvent(input: EmitEventInput): Promise<{ eventId: string; recorded: boolean; signalled: boolean }> {
      const eventId = eventIdFor(input.workflowId, input.step);
      const { inserted, subscribed } = await withTenant(db, input.tenantId, async (tx) => {
        const r = await recordEvent(tx, input.tenantId, {
          id: eventId,
          type: input.type,
          subjectType: input.subjectType,
          subjectId: input.subjectId,
          data: input.data ?? {},
        });
        return { inserted: r.inserted, subscribed: await hasSubscribers(tx, input.tenantId, input.type) };
      });
      if (!subscribed) return { eventId, recorded: inserted, signalled: false };
      await signalEventDelivery(client, taskQueue, input, [eventId]);
      return { eventId, recorded: inserted, signalled: true };
    },

    /** The live endpoints subscribed to the event, in a stable order. */
    async listEndpointsForEvent(input: { tenantId: string; eventId: string }): Promise<{ endpointIds: string[] }> {
      return { endpointIds: await withTenant(db, input.tenantId, (tx) => endpointsForEvent(tx, input.tenantId, input.eventId)) };
    },

    /**
     * POSTs the signed event to the endpoint once. 2xx: recorded as delivered. 410, or an endpoint
     * that was deleted: non-retryable `EndpointGone`. Anything else: the attempt is recorded and the
     * activity fails (Temporal retries it). An (event, endpoint) already delivered is not posted again.
     */
    async deliverWebhook(input: DeliverWebhookInput): Promise<{ delivered: true; alreadyDelivered: boolean; status: number | null }> {
      const { tenantId, eventId, endpointId } = input;
      const prepared = await withTenant(db, tenantId, async (tx) => {
        const delivery = await findDelivery(tx, tenantId, eventId, endpointId);
        if (delivery?.settled) return { kind: 'delivered' as const, status: delivery.last_status };
        const event = await findEvent(tx, tenantId, eventId);
        if (!event) return { kind: 'event-gone' as const };
        const endpoint = await loadSigningEndpoint(tx, tenantId, endpointId, secretKey);
        if (!endpoint || endpoint.disabled) return { kind: 'endpoint-gone' as const };
        return { kind: 'send' as const, event, endpoint, redeliveriesSeen: delivery?.redeliveries ?? 0 };
      });
      if (prepared.kind === 'delivered') return { delivered: true, alreadyDelivered: true, status: prepared.status };
      if (prepared.kind === 'event-gone') throw gone('EventGone', 'the event is no longer stored');
      if (prepared.kind === 'endpoint-gone') throw gone('EndpointGone', 'the webhook endpoint was deleted');

      const { event, endpoint } = prepared;
      const body = JSON.stringify(toEventPayload(event));
      const timestamp = Math.floor(Date.now() / 1000);
      let status: number | null = null;
      let error: string | null = null;
      const started = performance.now();
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': 'Roster-Webhooks/1',
        [SIGNATURE_HEADER]: signPayload(body, endpoint.secrets, timestamp),
        [EVENT_ID_HEADER]: event.id,
        [EVENT_TYPE_HEADER]: event.type,
      };
      try {
        // Traces: a client span per POST, and its `traceparent` to the receiver (no-op when off).
        status = await inSpan('webhook POST', { kind: SpanKind.CLIENT, attributes: { 'http.request.method': 'POST', 'roster.event.type': event.type, 'roster.webhook.endpoint': endpointId } }, async (span) => {
          injectTraceHeaders(headers);
          const answered = await postWebhook(endpoint.url, { headers, body, timeoutMs: requestTimeoutMs, policy: targets });
          span?.setAttribute('http.response.status_code', answered);
          if (answered >= 400) span?.setStatus({ code: SpanStatusCode.ERROR, message: `HTTP ${answered}` });
          return answered;
        });
        // A redirect (3xx) is a misconfiguration to surface, not something to follow with a signed body.
        if (status < 200 || status >= 300) error = `HTTP ${status}`;
      } catch (err) {
        error = describeError(err);
      }
      const latencyMs = performance.now() - started;
      const delivered = status !== null && status >= 200 && status < 300;
      const { redeliveriesSeen } = prepared;
      const record = () => withTenant(db, tenantId, (tx) => recordDeliveryAttempt(tx, tenantId, { eventId, endpointId, status, error, delivered, latencyMs, redeliveriesSeen }));
      // A receiver that took the event must not get it again because the database could not record
      // that (a PostgreSQL restart right after the POST; seen in the chaos run): while the database is
      // unavailable (core/db/pool.ts retryAfterSeconds), a delivered attempt keeps trying to record
      // itself for a while before the activity fails and Temporal re-POSTs.
      for (let wait = 250, until = Date.now() + RECORD_DELIVERED_FOR_MS; ; wait = Math.min(wait * 2, 2_000)) {
        try {
          await record();
          break;
        } catch (err) {
          if (!delivered || retryAfterSeconds(err) === undefined || Date.now() + wait > until) throw err;
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }
      const labels = { tenant: tenantId, endpoint: endpointId };
      metrics?.webhookDeliveries.inc({ ...labels, outcome: delivered ? 'delivered' : status === 410 ? 'gone' : 'failed' });
      if (delivered) metrics?.webhookLag.observe(labels, Math.max(0, Date.now() - Date.parse(event.created_at)) / 1000);
      if (delivered) return { delivered: true, alreadyDelivered: false, status };
      if (status === 410) throw gone('EndpointGone', 'the endpoint answered 410 Gone');
      throw ApplicationFailure.create({ type: 'WebhookDeliveryFailed', message: `webhook delivery failed: ${error ?? 'unknown'}` });
    },
  };
}

export type EventActivities = ReturnType<typeof createEventActivities>;
