import { z } from 'zod';

/** The event types the vendor's app receives (webhooks and the events feed). Pure zod: the portal imports it. */
export const EVENT_TYPES = [
  'user.provisioned',
  'user.updated',
  'user.suspended',
  'user.reactivated',
  'user.deleted',
  'role.granted',
  'role.revoked',
  'approval.requested',
  'approval.decided',
  'change.applied',
] as const;
export const EventType = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof EventType>;
