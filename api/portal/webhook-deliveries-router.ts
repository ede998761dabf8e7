import { Router } from 'express';
import { z } from 'zod';
import { signalRedelivery } from '../../activities/events.js';
import { withTenant } from '../../core/db/pool.js';
import { DomainError } from '../../core/errors.js';
import { sealEventFeed } from '../../core/repositories/events.js';
import { DeliveryLogPage, DeliveryLogQuery, DeliveryLogRetention, DeliveryLogRetentionBody, RedeliverBody, RedeliverResult } from '../../core/webhooks/schema.js';
import { webhookEndpointExists } from '../../core/webhooks/queries.js';
import { getDeliveryLogRetention, requestRedelivery, setDeliveryLogRetention, webhookDeliveryLog } from '../../core/webhooks/service.js';
import type { PortalDeps } from './deps.js';
import { portalRoute, portalRoutes } from './route.js';
import { requestIdOf } from '../request-id.js';

const WebhookParams = z.object({ id: z.string().uuid() });

/**
 * The delivery log of a webhook endpoint and redelivery, in the portal's webhook settings: the same
 * services as the app API (`/api/v1/webhooks/:id/deliveries|redeliver`).
 */
export function createWebhookDeliveriesRouter(deps: PortalDeps): Router {
  const router = Router();
  const tags = ['Portal: settings'];
  const defaultDays = deps.config.RETENTION_WEBHOOK_DELIVERIES_DAYS;
  portalRoutes(router, deps, [
    portalRoute({
      method: 'get',
      path: '/settings/webhook-delivery-log',
      summary: 'How long the webhook delivery log is kept (the tenant’s own days, or the default)',
      tags,
      roles: ['admin', 'auditor'],
      response: DeliveryLogRetention,
      handler: async ({ tx, tenantId }) => ({ body: { days: await getDeliveryLogRetention(tx, tenantId), defaultDays } }),
    }),
    portalRoute({
      method: 'put',
      path: '/settings/webhook-delivery-log',
      summary: 'Keep the webhook delivery log this many days (null: the default); audited',
      tags,
      roles: ['admin'],
      body: DeliveryLogRetentionBody,
      response: DeliveryLogRetention,
      handler: async ({ tx, tenantId, actor, body, req }) => ({
        body: { days: await setDeliveryLogRetention(tx, { tenantId, actor, requestId: requestIdOf(req) }, body.days), defaultDays },
      }),
    }),
    portalRoute({
      method: 'get',
      path: '/settings/webhooks/:id/deliveries',
      summary: "An endpoint's delivery log, newest first: status, HTTP answer, latency, attempts, last error",
      tags,
      roles: ['admin', 'auditor'],
      params: WebhookParams,
      query: DeliveryLogQuery,
      response: DeliveryLogPage,
      handler: async ({ tx, tenantId, params, query }) => ({ body: await webhookDeliveryLog(tx, tenantId, { endpointId: params.id, query }) }),
    }),
    portalRoute({
      method: 'post',
      path: '/settings/webhooks/:id/redeliver',
      summary: 'Deliver one event, or a range of the feed (at most 500 per request), to this endpoint again; audited',
      tags,
      roles: ['admin'],
      params: WebhookParams,
      body: RedeliverBody,
      response: RedeliverResult,
      successStatus: 202,
      // Not a stream: the handler commits before it signals the delivery workflows.
      stream: true,
      handler: async ({ db, tenantId, actor, params, body, req }) => {
        if (!(await withTenant(db, tenantId, (tx) => webhookEndpointExists(tx, tenantId, params.id)))) throw new DomainError(404, 'not_found', 'no such webhook endpoint');
        const temporal = deps.temporal;
        if (!temporal) throw new DomainError(503, 'unavailable', 'redelivery needs the workflow engine, which is not configured');
        await sealEventFeed(db, tenantId);
        const plan = await withTenant(db, tenantId, (tx) => requestRedelivery(tx, { tenantId, actor, requestId: requestIdOf(req) }, { endpointId: params.id, body }));
        try {
          for (const subject of plan.subjects) {
            await temporal.withDeadline(Date.now() + 5_000, () => signalRedelivery(temporal, deps.config.TEMPORAL_TASK_QUEUE, { tenantId, ...subject }, params.id, subject.eventIds));
          }
        } catch {
          throw new DomainError(503, 'unavailable', 'The workflow engine did not take the redelivery; try again.');
        }
        return { status: 202, body: plan.result };
      },
    }),
  ]);
  return router;
}
