import { type Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import { fleetSweepScheduleId } from '../workflows/ids.js';
import type { FleetSweepInput } from '../workflows/messages.js';

/**
 * Creates the fleet's one sweep schedule if it does not exist yet (every worker calls this at
 * start; the first one creates it, the others find it). A sweep still running when the next is
 * due makes that one skip (no pile-up).
 */
export async function ensureFleetSweepSchedule(client: Client, options: { taskQueue: string; everyMinutes: number }): Promise<{ scheduleId: string; created: boolean }> {
  const scheduleId = fleetSweepScheduleId(options.taskQueue);
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: `${options.everyMinutes} minutes` }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'fleetSweep',
        taskQueue: options.taskQueue,
        args: [{} satisfies FleetSweepInput],
        workflowId: `${scheduleId}/run`,
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
    return { scheduleId, created: true };
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) return { scheduleId, created: false };
    throw err;
  }
}
