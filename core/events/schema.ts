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
  /** An access review opened (data: campaignId, name, trigger, items, dueAt). */
  'campaign.started',
  /** A reviewer decided an item (data: campaignId, itemId, accessKind, access, decision, outcome). */
  'campaign.item.decided',
  /** Reviewers with pending items were reminded, or undecided items escalated to the fallback reviewer. */
  'campaign.reminded',
  'campaign.escalated',
  /** An access review closed (data: campaignId, summary counts, evidenceDigest). */
  'campaign.closed',
] as const;
export const EventType = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof EventType>;
