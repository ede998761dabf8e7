import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';

/** Timeouts and retries, declared once per downstream system (style.md rule 4). */
export const databaseActivity: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
};

/**
 * The lifecycle engine's own steps (PostgreSQL, plus signalling Temporal): short and idempotent, so
 * they run as local activities, in the worker that runs the workflow task. Each saves the two
 * server round trips and the activity task of a regular activity, which dominated joiner latency.
 */
export const databaseLocalActivity: LocalActivityOptions = {
  startToCloseTimeout: '30 seconds',
  // Past this, a retry waits on a durable timer instead of in the worker.
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
};

/**
 * Webhook delivery to the vendor's app: retried by Temporal over hours to days (1 s doubling to
 * at most an hour between attempts, for three days), each attempt bounded (the POST itself times
 * out after 10 s). Endpoints that are gone fail non-retryably (`WEBHOOK_FAILURE_TYPES`).
 */
export const webhookActivity: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '3 days',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 hour' },
};

/**
 * DNS lookups of domain challenges and the sweep's batches: each attempt bounded (a lookup times
 * out after a few seconds), retried briefly; a failed lookup is an outcome, not an error.
 */
export const dnsActivity: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
};

/**
 * Campaign steps (core/campaigns/engine.ts): a generation batch, a close that revokes in
 * transactions of 200 items, a sweep over a large campaign's items. An attempt may outlast the
 * database's 30 s, so the bound is generous; the activities heartbeat, so an attempt lost with its
 * worker is retried after the heartbeat timeout instead.
 */
export const campaignActivity: ActivityOptions = {
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
};
