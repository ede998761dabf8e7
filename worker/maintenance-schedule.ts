import { type Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { MaintenanceInput } from '../workflows/messages.js';
import { maintenanceScheduleId } from '../workflows/ids.js';

/**
 * Creates the maintenance schedule (workflows/maintenance.ts every `interval`) unless it exists.
 * Every worker replica calls this at start: the first creates it, the others find it
 * (ScheduleAlreadyRunning) and leave it, apart from bringing its interval in line with theirs. A
 * run still going when the next is due is skipped, so two runs never overlap.
 */
export async function ensureMaintenanceSchedule(client: Client, options: { taskQueue: string; interval: string; input?: MaintenanceInput }): Promise<'created' | 'exists'> {
  const scheduleId = maintenanceScheduleId(options.taskQueue);
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: options.interval }] },
      action: { type: 'startWorkflow', workflowType: 'maintenance', taskQueue: options.taskQueue, args: [options.input ?? {}], workflowId: `${scheduleId}/run` },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
    });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(scheduleId);
  const current = await handle.describe();
  const every = current.spec.intervals?.[0]?.every;
  if (every === undefined || Number(every) !== msOf(options.interval)) {
    await handle.update((prev) => ({ ...prev, spec: { intervals: [{ every: options.interval }] } }));
  }
  return 'exists';
}

function msOf(interval: string): number {
  const m = /^(\d+)([smhd])$/.exec(interval);
  if (!m) return Number.NaN;
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}
