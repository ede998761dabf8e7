import { webhookTargets } from '../../core/config.js';
import { Router } from 'express';
import { z } from 'zod';
import { signalReleased } from '../../activities/lifecycle-signals.js';
import { withTenant } from '../../core/db/pool.js';
import { HeldLeaver, ReleaseHeldBody, ReleaseResult, TenantSettings, UpdateTenantSettingsBody } from '../../core/tenants/schema.js';
import { getSettings, listHeldLeavers, releaseHeldLeavers, updateSettings } from '../../core/tenants/service.js';
import { CreateWebhookBody, RotateWebhookBody, WebhookEndpointView, WebhookWithSecret } from '../../core/webhooks/schema.js';
import { checkWebhookUrl, createWebhook, deleteWebhook, listWebhooks, rotateWebhook } from '../../core/webhooks/service.js';
import type { PortalDeps } from './deps.js';
import { portalRoute, portalRoutes } from './route.js';

const WebhookParams = z.object({ id: z.string().uuid() });
const requestIdOf = (req: { id?: unknown }) => (typeof req.id === 'string' || typeof req.id === 'number' ? String(req.id) : undefined);

/**
 * The tenant's settings (portal: reads for admins and auditors, changes for admins): deletion grace
 * period, mass-deprovisioning guard thresholds, held leavers, and the vendor app's webhook endpoints.
 */
export function createSettingsRouter(deps: PortalDeps): Router {
  const router = Router();
  const tags = ['Portal: settings'];
  const webhookPolicy = { secretKey: deps.secretKey, allowHttpLoopback: deps.config.NODE_ENV !== 'production', targets: webhookTargets(deps.config) };
  portalRoutes(router, deps, [
    portalRoute({
      method: 'get',
      path: '/settings',
      summary: 'Deletion grace period and guard thresholds',
      tags,
      roles: ['admin', 'auditor'],
      response: TenantSettings,
      handler: async ({ tx, tenantId }) => ({ body: await getSettings(tx, tenantId) }),
    }),
    portalRoute({
      method: 'patch',
      path: '/settings',
      summary: 'Change the grace period or guard thresholds (what is left out stays); audited with before and after',
      tags,
      roles: ['admin'],
      body: UpdateTenantSettingsBody,
      response: TenantSettings,
      handler: async ({ tx, tenantId, actor, body, req }) => ({ body: await updateSettings(tx, { tenantId, actor, requestId: requestIdOf(req) }, body) }),
    }),
    portalRoute({
      method: 'get',
      path: '/settings/held-leavers',
      summary: 'Leavers the mass-deprovisioning guard holds',
      tags,
      roles: ['admin', 'auditor'],
      response: z.object({ data: z.array(HeldLeaver) }),
      handler: async ({ tx, tenantId }) => ({ body: { data: await listHeldLeavers(tx, tenantId) } }),
    }),
    portalRoute({
      method: 'post',
      path: '/settings/held-leavers/release',
      summary: 'Let held leavers proceed (all, or one): their workflows are signalled at once',
      tags,
      roles: ['admin'],
      body: ReleaseHeldBody,
      response: ReleaseResult,
      // Not a stream: declared so the handler owns its transaction and can signal after commit.
      stream: true,
      handler: async ({ db, tenantId, actor, body, req }) => {
        const released = await withTenant(db, tenantId, (tx) => releaseHeldLeavers(tx, { tenantId, actor, requestId: requestIdOf(req) }, { userId: body.userId }));
        // The database row is the durable release; the signal only spares the workflows their re-check.
        await signalReleased(deps.temporal, tenantId, released, `user:${actor.id}`);
        return { body: { released } };
      },
    }),
    portalRoute({
      method: 'get',
      path: '/settings/webhooks',
      summary: "The vendor app's webhook endpoints (never their secrets)",
      tags,
      roles: ['admin', 'auditor'],
      response: z.object({ data: z.array(WebhookEndpointView) }),
      handler: async ({ tx, tenantId }) => ({ body: { data: await listWebhooks(tx, tenantId) } }),
    }),
    portalRoute({
      method: 'post',
      path: '/settings/webhooks',
      summary: 'Add a webhook endpoint; its signing secret is shown once',
      tags,
      roles: ['admin'],
      body: CreateWebhookBody,
      response: WebhookWithSecret,
      successStatus: 201,
      stream: true, // not a stream: the URL's DNS check runs before the transaction
      handler: async ({ db, tenantId, actor, body, req, res }) => {
        const url = await checkWebhookUrl(body.url, webhookPolicy);
        res.set('Cache-Control', 'no-store');
        return { status: 201, body: await withTenant(db, tenantId, (tx) => createWebhook(tx, { tenantId, actor, requestId: requestIdOf(req) }, webhookPolicy, { ...body, url })) };
      },
    }),
    portalRoute({
      method: 'post',
      path: '/settings/webhooks/:id/rotate',
      summary: "Rotate an endpoint's signing secret (shown once); the old one keeps signing for the overlap",
      tags,
      roles: ['admin'],
      params: WebhookParams,
      body: RotateWebhookBody,
      response: WebhookWithSecret,
      handler: async ({ tx, tenantId, actor, params, body, req, res }) => {
        res.set('Cache-Control', 'no-store');
        return { body: await rotateWebhook(tx, { tenantId, actor, requestId: requestIdOf(req) }, webhookPolicy, { endpointId: params.id, overlapSeconds: body.overlapSeconds }) };
      },
    }),
    portalRoute({
      method: 'delete',
      path: '/settings/webhooks/:id',
      summary: 'Delete a webhook endpoint',
      tags,
      roles: ['admin'],
      params: WebhookParams,
      handler: async ({ tx, tenantId, actor, params, req }) => {
        await deleteWebhook(tx, { tenantId, actor, requestId: requestIdOf(req) }, { endpointId: params.id });
        return { status: 204 };
      },
    }),
  ]);
  return router;
}
