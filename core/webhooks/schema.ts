import { z } from 'zod';
import { EventType } from '../events/schema.js';

/** Webhook endpoints of the vendor's app, as every surface shows them. Pure zod: the portal imports it. */

/** How long a rotated-out signing secret keeps signing beside its replacement, by default. */
export const DEFAULT_ROTATION_OVERLAP_SECONDS = 86_400;
export const MAX_ROTATION_OVERLAP_SECONDS = 7 * 86_400;

/** What an endpoint looks like to its tenant: never its secret. */
export const WebhookEndpointView = z.object({
  id: z.string().uuid(),
  url: z.string(),
  eventTypes: z.array(EventType).nullable().describe('null: every event type'),
  secretPrefix: z.string(),
  createdAt: z.string(),
  rotatedAt: z.string().nullable(),
  previousSecretExpiresAt: z.string().nullable(),
});
export type WebhookEndpointView = z.infer<typeof WebhookEndpointView>;

export const CreateWebhookBody = z
  .object({
    url: z.string().min(1).describe('https URL that receives POSTed events'),
    eventTypes: z.array(EventType).min(1).optional().describe('Only these event types; all when omitted'),
  })
  .strict();
export type CreateWebhookBody = z.infer<typeof CreateWebhookBody>;

export const RotateWebhookBody = z
  .object({
    overlapSeconds: z.number().int().min(0).max(MAX_ROTATION_OVERLAP_SECONDS).optional().describe('How long the old secret keeps signing beside the new one'),
  })
  .strict();
export type RotateWebhookBody = z.infer<typeof RotateWebhookBody>;

/** A created or rotated endpoint: `secret` is shown once (stored encrypted, to sign deliveries). */
export const WebhookWithSecret = WebhookEndpointView.extend({ secret: z.string().describe('Signing secret (whsec_…), shown once') });
export type WebhookWithSecret = z.infer<typeof WebhookWithSecret>;
