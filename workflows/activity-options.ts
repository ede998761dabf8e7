import type { ActivityOptions } from '@temporalio/workflow';

/** Timeouts and retries, declared once per downstream system (style.md rule 4). */
export const databaseActivity: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
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
