import type { Tx } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { assertWebhookTarget, type WebhookTargetPolicy } from '../net/webhook-target.js';
import type { EventType } from '../events/schema.js';
import { appendAudit } from '../repositories/audit.js';
import { auditEntry, type ServiceContext } from '../shared/service-context.js';
import * as q from './queries.js';
import { DEFAULT_ROTATION_OVERLAP_SECONDS, MAX_ROTATION_OVERLAP_SECONDS, type WebhookEndpointView, type WebhookWithSecret } from './schema.js';

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

export async function listWebhooks(tx: Tx, tenantId: string): Promise<WebhookEndpointView[]> {
  return q.listWebhookEndpoints(tx, tenantId);
}

/** Adds an endpoint; the answer carries its signing secret, once. */
export async function createWebhook(
  tx: Tx,
  ctx: ServiceContext,
  policy: WebhookPolicy,
  input: { url: string; eventTypes?: readonly EventType[] | null | undefined },
): Promise<WebhookWithSecret> {
  const url = parseWebhookUrl(input.url, policy);
  await assertWebhookTarget(url, policy.targets);
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
