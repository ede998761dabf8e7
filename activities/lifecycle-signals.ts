import type { Client } from '@temporalio/client';
import { identityWorkflowId } from '../workflows/ids.js';
import { releaseHoldSignal } from '../workflows/messages.js';

/**
 * Tells released leavers' workflows at once. The database row is the durable release (a held
 * workflow re-checks it every minute), so a failed signal only costs that wait.
 */
export async function signalReleased(client: Client | undefined, tenantId: string, userIds: readonly string[], by: string): Promise<void> {
  if (!client) return;
  await Promise.allSettled(
    userIds.map((userId) =>
      client.withDeadline(Date.now() + 3_000, () => client.workflow.getHandle(identityWorkflowId(tenantId, userId)).signal(releaseHoldSignal, { releasedBy: by })),
    ),
  );
}
