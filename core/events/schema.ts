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
  'domain.verified',
  'approval.requested',
  'approval.decided',
  /** A request still waits: its approvers are reminded (data.approverIds), or it escalated to the tenant's admins. */
  'approval.reminded',
  'approval.escalated',
  /** Approved by fewer people than the policy asks (a single-admin tenant): applies at data.appliesAt unless cancelled. */
  'approval.cooling_off',
  /** Closed without applying: withdrawn, cancelled or expired (data.state). */
  'approval.closed',
  'change.applied',
] as const;
export const EventType = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof EventType>;
