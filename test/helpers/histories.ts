import { writeFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

/**
 * Saves a workflow's history as a replay fixture (test/fixtures/histories) when RECORD_HISTORIES=1.
 * Re-record only for a deliberate, unreleased change; otherwise version the workflow with patched().
 */
export async function maybeRecordHistory(client: Client, workflowId: string, name: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  writeFileSync(`test/fixtures/histories/${name}.json`, historyToJSON(history));
}
