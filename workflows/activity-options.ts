import type { ActivityOptions } from '@temporalio/workflow';

/** Timeouts and retries, declared once per downstream system (style.md rule 4). */
export const databaseActivity: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
};
