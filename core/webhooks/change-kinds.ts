import { z } from 'zod';
import { changeKind } from '../approvals/kinds.js';
import { withTenant } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { EventType } from '../events/schema.js';
import { listWebhookEndpoints } from './queries.js';
import { MAX_ROTATION_OVERLAP_SECONDS } from './schema.js';
import { checkWebhookUrl, createWebhook, deleteWebhook, parseWebhookUrl, rotateWebhook } from './service.js';

/**
 * Webhook endpoint changes as approval requests: an endpoint receives the tenant's events, so
 * adding or replacing one is a change of where the directory's data goes. A signing secret an
 * applied change produces reaches the requester once (AppliedChange.secret).
 */

const CreatePayload = z.object({ url: z.string().min(1).max(2048), eventTypes: z.array(EventType).min(1).nullable().optional() }).strict();
const RotatePayload = z.object({ endpointId: z.string().uuid(), overlapSeconds: z.number().int().min(0).max(MAX_ROTATION_OVERLAP_SECONDS).optional() }).strict();
const DeletePayload = z.object({ endpointId: z.string().uuid() }).strict();

async function endpoint(tx: Parameters<typeof listWebhookEndpoints>[0], tenantId: string, endpointId: string) {
  const found = (await listWebhookEndpoints(tx, tenantId)).find((e) => e.id === endpointId);
  if (!found) throw new DomainError(404, 'not_found', 'no such webhook endpoint');
  return found;
}

export const webhookChangeKinds = [
  changeKind({
    kind: 'webhook.create',
    payload: CreatePayload,
    async describe(tx, ctx, deps, p) {
      const url = parseWebhookUrl(p.url, deps.webhooks);
      const existing = (await listWebhookEndpoints(tx, ctx.tenantId)).map((e) => e.url).sort();
      return {
        summary: `Send ${p.eventTypes?.length ? p.eventTypes.join(', ') : 'every'} event to ${new URL(url).origin}`,
        before: { endpoints: existing },
        after: { endpoints: [...existing, url].sort(), created: { url, eventTypes: p.eventTypes ?? null } },
        subjectUserIds: [],
      };
    },
    async apply(tx, ctx, deps, p) {
      // The SSRF check again at apply time (the name may resolve elsewhere by now). It runs inside the
      // engine's transaction here: once per approved change, not on the request path. The surfaces
      // check before submitting, so a bad URL never becomes a request.
      const url = await checkWebhookUrl(p.url, deps.webhooks);
      const created = await createWebhook(tx, ctx, deps.webhooks, { url, eventTypes: p.eventTypes ?? null });
      const { secret, ...view } = created;
      return { result: { endpointId: view.id, secretPrefix: view.secretPrefix }, secret };
    },
    async verify(db, ctx, _deps, _p, applied) {
      const ok = (await withTenant(db, ctx.tenantId, (tx) => listWebhookEndpoints(tx, ctx.tenantId))).some((e) => e.id === applied.endpointId);
      return { ok, checks: [{ name: 'the endpoint is live', ok }] };
    },
  }),
  changeKind({
    kind: 'webhook.rotate',
    payload: RotatePayload,
    async describe(tx, ctx, _deps, p) {
      const e = await endpoint(tx, ctx.tenantId, p.endpointId);
      return {
        summary: `Rotate the signing secret of the webhook to ${new URL(e.url).origin}`,
        before: { endpointId: e.id, url: e.url, secretPrefix: e.secretPrefix },
        after: { endpointId: e.id, url: e.url, secretPrefix: '(new secret)', previousSecretSignsForSeconds: p.overlapSeconds ?? null },
        subjectUserIds: [],
      };
    },
    async apply(tx, ctx, deps, p) {
      const rotated = await rotateWebhook(tx, ctx, deps.webhooks, { endpointId: p.endpointId, overlapSeconds: p.overlapSeconds });
      return { result: { endpointId: rotated.id, secretPrefix: rotated.secretPrefix, previousSecretExpiresAt: rotated.previousSecretExpiresAt }, secret: rotated.secret };
    },
    async verify(db, ctx, _deps, p, applied) {
      const e = (await withTenant(db, ctx.tenantId, (tx) => listWebhookEndpoints(tx, ctx.tenantId))).find((x) => x.id === p.endpointId);
      const ok = e?.secretPrefix === applied.secretPrefix;
      return { ok, checks: [{ name: 'the endpoint signs with the new secret', ok }] };
    },
  }),
  changeKind({
    kind: 'webhook.delete',
    payload: DeletePayload,
    async describe(tx, ctx, _deps, p) {
      const e = await endpoint(tx, ctx.tenantId, p.endpointId);
      return {
        summary: `Delete the webhook to ${new URL(e.url).origin}`,
        before: { endpointId: e.id, url: e.url, eventTypes: e.eventTypes },
        after: { endpointId: e.id, deleted: true },
        subjectUserIds: [],
      };
    },
    async apply(tx, ctx, _deps, p) {
      await deleteWebhook(tx, ctx, { endpointId: p.endpointId });
      return { result: { endpointId: p.endpointId } };
    },
    async verify(db, ctx, _deps, p) {
      const ok = !(await withTenant(db, ctx.tenantId, (tx) => listWebhookEndpoints(tx, ctx.tenantId))).some((e) => e.id === p.endpointId);
      return { ok, checks: [{ name: 'the endpoint receives nothing more', ok }] };
    },
  }),
];
