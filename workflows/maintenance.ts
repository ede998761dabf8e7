import { proxyActivities } from '@temporalio/workflow';
import type { MaintenanceActivities } from '../activities/maintenance.js';
import { PRUNE_KINDS } from '../core/maintenance/kinds.js';
import { databaseActivity } from './activity-options.js';
import type { MaintenanceInput, MaintenanceResult } from './messages.js';

const maintenanceActivities = proxyActivities<MaintenanceActivities>(databaseActivity);

/**
 * One run of the maintenance schedule (worker/maintenance-schedule.ts): for each kind of prunable
 * row, delete in batches (each its own short transaction) until a batch comes back short or the
 * run's budget is spent, then bring the audit-size counts up to date. The audit log is never pruned.
 */
export async function maintenance(input: MaintenanceInput = {}): Promise<MaintenanceResult> {
  const maxBatches = input.maxBatchesPerKind ?? 100;
  const deleted: MaintenanceResult = {};
  for (const kind of PRUNE_KINDS) {
    deleted[kind] = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      const r = await maintenanceActivities.pruneBatch({ kind });
      deleted[kind] += r.deleted;
      if (!r.more) break;
    }
  }
  await maintenanceActivities.refreshAuditSizes();
  return deleted;
}
