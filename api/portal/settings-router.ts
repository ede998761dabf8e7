import { Router } from 'express';
import { withTenant } from '../../core/db/pool.js';
import { z } from 'zod';
import { HeldLeaver, ReleaseHeldBody, ReleaseResult, TenantSettings, UpdateTenantSettingsBody } from '../../core/tenants/schema.js';
import { getSettings, listHeldLeavers, updateSettings } from '../../core/tenants/service.js';
import { CreateWebhookBody, RotateWebhookBody, WebhookEndpointView, WebhookWithSecret } from '../../core/webhooks/schema.js';
import { checkWebhookUrl, listWebhooks } from '../../core/webhooks/service.js';
import { webhookTargets } from '../../core/config.js';
import { APPROVAL_NOTE, WAITS_FOR_APPROVAL, portalChangeSubmitter, resultString } from './change-requests.js';
import type { PortalDeps } from './deps.js';
import { portalRoute, portalRoutes } from './route.js';
import { requestIdOf } from '../request-id.js';

const WebhookParams = z.object({ id: z.string().uuid() });

/**
 * The tenant's settings (portal: reads for admins and auditors, changes for admins): deletion grace
 * period, mass-deprovisioning guard thresholds, held leavers, and the vendor app's webhook endpoints.
 * Webhook changes and releasing held leavers are approval requests (issue 8, `webhook.*`,
 * `guard.release`); a signing secret of a change that waited is collected from its request.
 */
export function createSettingsRouter(deps: PortalDeps): Router {
  const router = Router();
  const tags = ['Portal: settings'];
  const submit = portalChangeSubmitter(deps);
  const webhookPolicy = { allowHttpLoopback: deps.config.NODE_ENV !== 'production', targets: webhookTargets(deps.config) };
  /** The endpoint's view after an applied change, with the secret it produced (shown once). */
  const endpointWithSecret = async (tx: Parameters<typeof listWebhooks>[0], tenantId: string, endpointId: string, secret: string | undefined): Promise<WebhookWithSecret> => {
    const view = (await listWebhooks(tx, tenantId)).find((w) => w.id === endpointId);
    if (!view) throw new Error(`webhook endpoint ${endpointId} vanished after its change applied`);
    return { ...view, secret: secret ?? '' };
  };
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
      description: `${APPROVAL_NOTE} A release that waited reaches the workflows at their periodic re-check.`,
      otherResponses: WAITS_FOR_APPROVAL,
      tags,
      roles: ['admin'],
      body: ReleaseHeldBody,
      response: ReleaseResult,
      // Not a stream: declared so the engine owns its transactions (the change's verification
      // signals the released workflows after commit).
      stream: true,
      handler: async (ctx) => {
        const { db, tenantId, body } = ctx;
        // Releasing everyone when nobody is held changes nothing: no request for it.
        if (!body.userId && (await withTenant(db, tenantId, (tx) => listHeldLeavers(tx, tenantId))).length === 0) return { body: { released: [] } };
        return submit(ctx, { kind: 'guard.release', payload: body.userId ? { userId: body.userId } : {} }, (_tx, applied) => ({
          body: { released: Array.isArray(applied.result.released) ? (applied.result.released as string[]) : [] },
        }));
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
      description: APPROVAL_NOTE,
      otherResponses: WAITS_FOR_APPROVAL,
      tags,
      roles: ['admin'],
      body: CreateWebhookBody,
      response: WebhookWithSecret,
      successStatus: 201,
      stream: true,
      handler: async (ctx) => {
        // The SSRF guard before anything is requested, outside any transaction.
        await checkWebhookUrl(ctx.body.url, webhookPolicy);
        return submit(ctx, { kind: 'webhook.create', payload: { url: ctx.body.url, ...(ctx.body.eventTypes ? { eventTypes: ctx.body.eventTypes } : {}) } }, async (tx, applied) => ({
          status: 201,
          body: await endpointWithSecret(tx, ctx.tenantId, resultString(applied, 'endpointId'), applied.secret),
        }));
      },
    }),
    portalRoute({
      method: 'post',
      path: '/settings/webhooks/:id/rotate',
      summary: "Rotate an endpoint's signing secret (shown once); the old one keeps signing for the overlap",
      description: APPROVAL_NOTE,
      otherResponses: WAITS_FOR_APPROVAL,
      tags,
      roles: ['admin'],
      params: WebhookParams,
      body: RotateWebhookBody,
      response: WebhookWithSecret,
      stream: true,
      handler: async (ctx) =>
        submit(
          ctx,
          { kind: 'webhook.rotate', payload: { endpointId: ctx.params.id, ...(ctx.body.overlapSeconds !== undefined ? { overlapSeconds: ctx.body.overlapSeconds } : {}) } },
          async (tx, applied) => ({ body: await endpointWithSecret(tx, ctx.tenantId, ctx.params.id, applied.secret) }),
        ),
    }),
    portalRoute({
      method: 'delete',
      path: '/settings/webhooks/:id',
      summary: 'Delete a webhook endpoint',
      description: APPROVAL_NOTE,
      otherResponses: WAITS_FOR_APPROVAL,
      tags,
      roles: ['admin'],
      params: WebhookParams,
      stream: true,
      handler: async (ctx) => submit(ctx, { kind: 'webhook.delete', payload: { endpointId: ctx.params.id } }, () => ({ status: 204 })),
    }),
  ]);
  return router;
}
