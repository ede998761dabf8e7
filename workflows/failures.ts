import { ActivityFailure, ApplicationFailure } from '@temporalio/common';

/**
 * Every ApplicationFailure `type` Roster's activities throw (style.md rule 5): workflows branch on
 * these, never on messages. `activities/to-failure.ts` turns errors into them at the Temporal
 * boundary.
 */
export const FAILURE_TYPES = [
  // Permanent: retrying the same input cannot succeed.
  /** A stream event the domain's rules refuse (DomainError, ScimError, an unknown event type). */
  'EventInvalid',
  /** An error nobody classified that kept failing past the attempt cap (a bug, corrupt data). */
  'Unexpected',
  /** Webhooks: the endpoint was deleted or disabled, or answered 410. */
  'EndpointGone',
  /** Webhooks: the event is no longer stored (past retention). */
  'EventGone',
  /** Campaigns: the campaign was cancelled (its row says so); its workflow ends. */
  'CampaignCancelled',
  // Retryable: Temporal retries these under the activity's retry policy.
  /** Webhooks: the receiver did not answer 2xx in time. */
  'WebhookDeliveryFailed',
] as const;
export type FailureType = (typeof FAILURE_TYPES)[number];

/** Failures after which an identity's stream parks (waits for `roster stream retry|skip`). */
export const PARKING_FAILURES: readonly FailureType[] = ['EventInvalid', 'Unexpected'];

/** Non-retryable failure types of webhook delivery. */
export const WEBHOOK_FAILURE_TYPES = ['EndpointGone', 'EventGone'] as const satisfies readonly FailureType[];
export type WebhookFailureType = (typeof WEBHOOK_FAILURE_TYPES)[number];

/** The typed, permanent failure behind an activity failure, or undefined for anything else. */
export function permanentFailure(err: unknown, types: readonly FailureType[]): { type: FailureType; message: string } | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof ApplicationFailure) || !cause.type) return undefined;
  const type = types.find((t) => t === cause.type);
  return type ? { type, message: cause.message } : undefined;
}
