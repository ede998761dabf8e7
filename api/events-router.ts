import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Client } from '@temporalio/client';
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { type Db, withTenant } from '../core/db/pool.js';
import { DomainError } from '../core/errors.js';
import { encodeCursor, EventPayload, EventType, FEED_MAX_LIMIT, listEvents, sealEventFeed, toEventPayload } from '../core/repositories/events.js';
import { CreateWebhookBody, DeliveryLogPage, DeliveryLogQuery, RedeliverBody, RedeliverResult, RotateWebhookBody, WebhookEndpointView, WebhookWithSecret } from '../core/webhooks/schema.js';
import { webhookEndpointExists } from '../core/webhooks/queries.js';
import { checkWebhookUrl, listWebhooks, requestRedelivery, webhookDeliveryLog } from '../core/webhooks/service.js';
import { signalRedelivery } from '../activities/events.js';
import type { WebhookTargetPolicy } from '../core/net/webhook-target.js';
import { requireAppKey } from './app-auth.js';
import { appContext, type ChangeRequestsRouterDeps, submitForApp, waitingForApproval } from './change-requests-router.js';
import { appApiErrors } from './app-api-support.js';

export interface EventsRouterDeps {
  /** The app-role pool. */
  db: Db;
  /** Encrypts webhook signing secrets (core/secret-box.ts `loadSecretsKey`). */
  secretKey: Buffer;
  /** Accept http://localhost receivers (development and tests only). */
  allowHttpLoopback: boolean;
  /** Receivers must resolve to addresses this policy allows (the SSRF guard). */
  webhookTargets: WebhookTargetPolicy;
  /** Signals the delivery workflows on a redelivery (absent: redeliver answers 503). */
  temporal?: Client | undefined;
  /** The worker's task queue (TEMPORAL_TASK_QUEUE), where a delivery workflow starts if it is not running. */
  taskQueue: string;
  /** Webhook changes are change requests (issue 8): the approval engine and its workflow client. */
  changes: ChangeRequestsRouterDeps;
}

// Request and response schemas (webhook bodies: core/webhooks/schema.ts): they validate the requests
// and generate the OpenAPI paths.
const EventsQuery = z
  .object({
    after: z.string().max(64).optional().describe('Cursor from a previous page (nextCursor); the beginning of the retained feed when absent'),
    limit: z.coerce.number().int().min(1).max(FEED_MAX_LIMIT).default(100),
    type: z
      .string()
      .max(512)
      .optional()
      .describe('Comma-separated event types')
      .transform((v, ctx) => {
        if (v === undefined || v === '') return undefined;
        const parsed = z.array(EventType).safeParse(v.split(',').map((s) => s.trim()));
        if (!parsed.success) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: `type: one or more of ${EventType.options.join(', ')}` });
          return z.NEVER;
        }
        return parsed.data;
      }),
  })
  .strict();
const EventsPage = z.object({
  data: z.array(EventPayload.extend({ cursor: z.string().describe('Resume after this event') })),
  nextCursor: z.string().describe('Pass as `after` to continue or to poll for new events'),
  hasMore: z.boolean(),
});
const ErrorBody = z.object({ error: z.string(), error_description: z.string() });
const EndpointId = z.string().uuid();

type Handler = (req: Request, res: Response) => Promise<void>;
const handle = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).catch(next);
};

function principal(res: Response) {
  const app = res.locals.app;
  if (!app) throw new DomainError(401, 'invalid_token', 'missing app API key');
  return app;
}

function endpointId(req: Request): string {
  const parsed = EndpointId.safeParse(req.params.id);
  if (!parsed.success) throw new DomainError(404, 'not_found', 'no such webhook endpoint');
  return parsed.data;
}

/**
 * The app-facing events API under /api/v1: webhook endpoint management and the events feed.
 * Every route authenticates the vendor's app key; data is scoped to that key's tenant.
 */
export function createEventsRouter(deps: EventsRouterDeps): Router {
  const { db } = deps;
  const router = Router();
  const auth = requireAppKey(db);
  const json = express.json({ limit: '16kb', type: ['application/json', 'application/*+json'] });

  // Changes to endpoints are change requests: 202 with the request while it waits for approval,
  // the old answer when the tenant's policy lets it apply at once.
  const endpointView = async (tenantId: string, endpointId: unknown) =>
    (await withTenant(db, tenantId, (tx) => listWebhooks(tx, tenantId))).find((e) => e.id === endpointId);

  router.post(
    '/webhooks',
    auth,
    json,
    handle(async (req, res) => {
      const body = CreateWebhookBody.parse(req.body ?? {});
      const ctx = appContext(req, res);
      // The SSRF guard before anything is requested, outside any transaction.
      await checkWebhookUrl(body.url, { allowHttpLoopback: deps.allowHttpLoopback, targets: deps.webhookTargets });
      await submitForApp(deps.changes, ctx, 'webhook.create', body, res, async ({ applied }) => ({
        status: 201,
        body: { ...(await endpointView(ctx.tenantId, applied.result.endpointId)), secret: applied.secret },
      }));
    }),
  );

  router.get(
    '/webhooks',
    auth,
    handle(async (_req, res) => {
      const { tenantId } = principal(res);
      res.json({ data: await withTenant(db, tenantId, (tx) => listWebhooks(tx, tenantId)) });
    }),
  );

  router.post(
    '/webhooks/:id/rotate',
    auth,
    json,
    handle(async (req, res) => {
      const id = endpointId(req);
      const body = RotateWebhookBody.parse(req.body ?? {});
      const ctx = appContext(req, res);
      await submitForApp(deps.changes, ctx, 'webhook.rotate', { endpointId: id, ...(body.overlapSeconds !== undefined ? { overlapSeconds: body.overlapSeconds } : {}) }, res, async ({ applied }) => ({
        status: 200,
        body: { ...(await endpointView(ctx.tenantId, id)), secret: applied.secret },
      }));
    }),
  );

  router.delete(
    '/webhooks/:id',
    auth,
    handle(async (req, res) => {
      const id = endpointId(req);
      const ctx = appContext(req, res);
      await submitForApp(deps.changes, ctx, 'webhook.delete', { endpointId: id }, res, async () => ({ status: 204, body: undefined }));
    }),
  );

  router.post(
    '/webhooks/:id/redeliver',
    auth,
    json,
    handle(async (req, res) => {
      const ctx = appContext(req, res);
      const tenantId = ctx.tenantId;
      const id = endpointId(req);
      const body = RedeliverBody.parse(req.body ?? {});
      if (!(await withTenant(db, tenantId, (tx) => webhookEndpointExists(tx, tenantId, id)))) throw new DomainError(404, 'not_found', 'no such webhook endpoint');
      const temporal = deps.temporal;
      if (!temporal) throw new DomainError(503, 'temporarily_unavailable', 'redelivery needs the workflow engine, which is not configured');
      // A range by position must see every committed event with its position.
      await sealEventFeed(db, tenantId);
      const plan = await withTenant(db, tenantId, (tx) => requestRedelivery(tx, ctx, { endpointId: id, body }));
      try {
        for (const subject of plan.subjects) {
          await temporal.withDeadline(Date.now() + 5_000, () => signalRedelivery(temporal, deps.taskQueue, { tenantId, ...subject }, id, subject.eventIds));
        }
      } catch (err) {
        req.log?.warn({ err }, 'redelivery signal failed');
        // The rows are marked; asking again hands them over (a lane never holds an event twice).
        throw new DomainError(503, 'temporarily_unavailable', 'the workflow engine did not take the redelivery; retry the request');
      }
      res.status(202).json(plan.result);
    }),
  );

  router.get(
    '/webhooks/:id/deliveries',
    auth,
    handle(async (req, res) => {
      const { tenantId } = principal(res);
      const id = endpointId(req);
      const query = DeliveryLogQuery.parse(req.query);
      res.json(await withTenant(db, tenantId, (tx) => webhookDeliveryLog(tx, tenantId, { endpointId: id, query })));
    }),
  );

  router.get(
    '/events',
    auth,
    handle(async (req, res) => {
      const { tenantId } = principal(res);
      const query = EventsQuery.parse(req.query);
      // Give freshly committed events their positions now rather than at the sealer's next pass.
      await sealEventFeed(db, tenantId);
      const page = await withTenant(db, tenantId, (tx) => listEvents(tx, tenantId, { after: query.after, limit: query.limit, types: query.type }));
      res.json({
        data: page.events.map((e) => ({ ...toEventPayload(e), cursor: encodeCursor(e.position ?? 0) })),
        nextCursor: page.nextCursor,
        hasMore: page.hasMore,
      });
    }),
  );

  router.use(appApiErrors);
  return router;
}

/** Adds this router's paths to the OpenAPI document (called by api/openapi.ts). */
export function registerEventsApiPaths(registry: OpenAPIRegistry): void {
  // The same scheme the rest of the app-facing API declares (api/app-api-schemas.ts).
  const bearer = registry.registerComponent('securitySchemes', 'appApiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'tenant-scoped app API key (`roster app-key create`)',
  });
  const security = [{ [bearer.name]: [] }];
  const json = (schema: z.ZodTypeAny) => ({ 'application/json': { schema } });
  const error = registry.register('EventsApiError', ErrorBody);
  const endpoint = registry.register('WebhookEndpoint', WebhookEndpointView);
  const withSecret = registry.register('WebhookEndpointWithSecret', WebhookWithSecret);
  registry.register('Event', EventPayload);
  const errors = {
    400: { description: 'Invalid request', content: json(error) },
    401: { description: 'Missing or invalid app API key', content: json(error) },
  };
  const params = z.object({ id: z.string().uuid() });
  registry.registerPath({
    method: 'post',
    path: '/api/v1/webhooks',
    tags: ['Events'],
    summary: 'Add a webhook endpoint',
    description:
      'Events are POSTed as JSON (the Event schema) with `Roster-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, `Roster-Event-Id` and `Roster-Event-Type`. Failed deliveries are retried for up to three days; deliveries for one subject arrive in order per endpoint.',
    security,
    request: { body: { required: true, content: json(CreateWebhookBody) } },
    responses: { 201: { description: 'Created; the secret is shown once', content: json(withSecret) }, ...waitingForApproval, ...errors },
  });
  registry.registerPath({ method: 'get', path: '/api/v1/webhooks', tags: ['Events'], security, responses: { 200: { description: 'Live endpoints (no secrets)', content: json(z.object({ data: z.array(endpoint) })) }, ...errors } });
  registry.registerPath({
    method: 'post',
    path: '/api/v1/webhooks/{id}/rotate',
    tags: ['Events'],
    summary: "Rotate an endpoint's signing secret",
    description: 'During the overlap every delivery carries two v1 signatures (new and old secret).',
    security,
    request: { params, body: { content: json(RotateWebhookBody) } },
    responses: { 200: { description: 'The new secret, shown once', content: json(withSecret) }, ...waitingForApproval, 404: { description: 'No such endpoint', content: json(error) }, ...errors },
  });
  registry.registerPath({ method: 'delete', path: '/api/v1/webhooks/{id}', tags: ['Events'], security, request: { params }, responses: { 204: { description: 'Deleted' }, ...waitingForApproval, 404: { description: 'No such endpoint', content: json(error) }, ...errors } });
  registry.registerPath({
    method: 'post',
    path: '/api/v1/webhooks/{id}/redeliver',
    tags: ['Events'],
    summary: 'Deliver one event, or a range of the feed, to this endpoint again',
    description:
      'Queued through the same per-subject delivery as the first time: the same event id and signature scheme, in order per subject. A range (feed positions or times, inclusive) takes at most 500 events per request; `hasMore` and `nextFrom` continue it. Audited.',
    security,
    request: { params, body: { required: true, content: json(RedeliverBody) } },
    responses: {
      202: { description: 'Queued', content: json(RedeliverResult) },
      404: { description: 'No such endpoint or event', content: json(error) },
      503: { description: 'The workflow engine is not reachable', content: json(error) },
      ...errors,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/api/v1/webhooks/{id}/deliveries',
    tags: ['Events'],
    summary: "The endpoint's delivery log, newest first",
    security,
    request: { params, query: DeliveryLogQuery },
    responses: { 200: { description: 'A page of deliveries', content: json(DeliveryLogPage) }, 404: { description: 'No such endpoint', content: json(error) }, ...errors },
  });
  registry.registerPath({
    method: 'get',
    path: '/api/v1/events',
    tags: ['Events'],
    summary: 'The events feed',
    description: "Events in a stable order, replayable from any cursor within the tenant's retention period. Deduplicate on `id`.",
    security,
    request: { query: EventsQuery },
    responses: {
      200: { description: 'A page of events', content: json(EventsPage) },
      410: { description: 'The cursor is older than the retention period', content: json(error) },
      ...errors,
    },
  });
}
