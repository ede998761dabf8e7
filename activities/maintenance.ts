import type { Db } from '../core/db/pool.js';
import { pruneExpired, refreshAuditSizes } from '../core/maintenance/queries.js';
import type { PruneKind } from '../core/maintenance/schema.js';
import type { Metrics } from '../core/metrics.js';

export interface MaintenanceActivityDeps {
  /** The app-role pool: deletes go through SECURITY DEFINER functions only. */
  db: Db;
  /** Days per kind (core/config.ts `retentionDays`). */
  retention: Record<PruneKind, number>;
  /** Rows per statement (MAINTENANCE_BATCH_SIZE). */
  batchSize: number;
  metrics?: Metrics | undefined;
}

/** Thin adapters for the maintenance schedule: one batch of deletes, or one audit-size pass. */
export function createMaintenanceActivities({ db, retention, batchSize, metrics }: MaintenanceActivityDeps) {
  return {
    /** Deletes one batch of `kind` past its retention; `more` when the batch was full. Idempotent: a retry deletes the next rows. */
    async pruneBatch(input: { kind: PruneKind }): Promise<{ deleted: number; more: boolean }> {
      const deleted = await pruneExpired(db, input.kind, retention[input.kind], batchSize);
      if (deleted > 0) metrics?.prunedRows.inc({ kind: input.kind }, deleted);
      return { deleted, more: deleted >= batchSize };
    },

    /** Adds newly sealed audit rows to each tenant's size. */
    async refreshAuditSizes(): Promise<{ tenants: number }> {
      return { tenants: await refreshAuditSizes(db) };
    },
  };
}

export type MaintenanceActivities = ReturnType<typeof createMaintenanceActivities>;
