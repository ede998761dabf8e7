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

/** At most this many events per redelivery request; a larger range answers `hasMore` and the next `from`. */
export const REDELIVER_MAX_EVENTS = 500;

const FeedPosition = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const Instant = z.string().datetime({ offset: true });

/** One event again, or a range of the feed (positions, or times), inclusive, bounded per request. */
export const RedeliverBody = z.union([
  z.object({ eventId: z.string().uuid().describe('The event to deliver again (same id: receivers dedupe by it)') }).strict(),
  z
    .object({
      from: z.union([FeedPosition, Instant]).describe('First feed position, or a time (ISO 8601); inclusive'),
      to: z.union([FeedPosition, Instant]).describe('Last feed position, or a time; inclusive; the same kind as `from`'),
    })
    .strict()
    .superRefine((v, ctx) => {
      if (typeof v.from !== typeof v.to) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['to'], message: 'from and to: both positions or both times' });
      else if (typeof v.from === 'number' ? v.from > (v.to as number) : Date.parse(v.from) > Date.parse(v.to as string)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['to'], message: 'to must not be before from' });
      }
    }),
]);
export type RedeliverBody = z.infer<typeof RedeliverBody>;

export const RedeliverResult = z.object({
  endpointId: z.string().uuid(),
  eventIds: z.array(z.string().uuid()).describe('Queued again, in feed order'),
  hasMore: z.boolean().describe(`The range holds more than ${REDELIVER_MAX_EVENTS} events; continue with from = nextFrom`),
  nextFrom: z.number().int().nullable(),
});
export type RedeliverResult = z.infer<typeof RedeliverResult>;

export const DeliveryStatus = z.enum(['delivered', 'failing', 'pending']);
export type DeliveryStatus = z.infer<typeof DeliveryStatus>;

export const DeliveryLogEntry = z.object({
  eventId: z.string().uuid(),
  eventType: z.string(),
  status: DeliveryStatus.describe('delivered; failing (the last attempt failed); pending (not attempted since it was queued or redelivery asked)'),
  httpStatus: z.number().int().nullable().describe("The receiver's last answer (null: no answer)"),
  latencyMs: z.number().int().nullable().describe("The last attempt's round trip"),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  lastAttemptAt: z.string().nullable(),
  deliveredAt: z.string().nullable(),
  redeliveries: z.number().int(),
  redeliveryRequestedAt: z.string().nullable(),
  createdAt: z.string(),
});
export type DeliveryLogEntry = z.infer<typeof DeliveryLogEntry>;

export const DELIVERY_LOG_MAX_LIMIT = 200;
export const DeliveryLogQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(DELIVERY_LOG_MAX_LIMIT).default(50),
    before: z.string().max(200).optional().describe('nextCursor of the previous page'),
  })
  .strict();
export type DeliveryLogQuery = z.infer<typeof DeliveryLogQuery>;

export const DeliveryLogPage = z.object({
  data: z.array(DeliveryLogEntry).describe('Newest first'),
  nextCursor: z.string().nullable().describe('Pass as `before` for older deliveries; null on the last page'),
});
export type DeliveryLogPage = z.infer<typeof DeliveryLogPage>;

/** How long this tenant keeps its webhook delivery log; null: the operator's default. */
export const DeliveryLogRetentionBody = z
  .object({ days: z.number().int().min(1, 'at least one day').max(3650, 'at most 3650 days').nullable().describe("Days; null for the operator's default") })
  .strict();
export type DeliveryLogRetentionBody = z.infer<typeof DeliveryLogRetentionBody>;

export const DeliveryLogRetention = z.object({
  days: z.number().int().nullable().describe("The tenant's own retention (null: the default applies)"),
  defaultDays: z.number().int().describe("The operator's default (RETENTION_WEBHOOK_DELIVERIES_DAYS)"),
});
export type DeliveryLogRetention = z.infer<typeof DeliveryLogRetention>;
