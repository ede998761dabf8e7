import type { ScheduleSpec } from '@temporalio/client';
import { CampaignSchedule } from './schema.js';

// A campaign definition's schedule as the Temporal Schedule the worker's reconciler keeps
// (`campaign-schedule/<tenant>/<definition>`), by the rules the API's nextRunAt follows too:
// monthly at 00:00 UTC on day 1; quarterly at 00:00 UTC on day 1 of January, April, July and
// October; cron in its timezone (UTC when none); interval every everyHours campaign hours, phase 0
// (anchored at the Unix epoch). Pure: no Temporal client here, only its types.

const QUARTER_MONTHS = ['JANUARY', 'APRIL', 'JULY', 'OCTOBER'] as const;

export function campaignScheduleSpec(schedule: CampaignSchedule, hourMs: number): ScheduleSpec {
  switch (schedule.kind) {
    case 'monthly':
      return { calendars: [{ dayOfMonth: 1, hour: 0, minute: 0, second: 0, comment: 'monthly' }], timezone: 'UTC' };
    case 'quarterly':
      return { calendars: [{ month: [...QUARTER_MONTHS], dayOfMonth: 1, hour: 0, minute: 0, second: 0, comment: 'quarterly' }], timezone: 'UTC' };
    case 'cron':
      return { cronExpressions: [schedule.cron], timezone: schedule.timezone ?? 'UTC' };
    case 'interval':
      return { intervals: [{ every: schedule.everyHours * hourMs, offset: 0 }] };
  }
}

/** What the definition's row asks of its Schedule. */
export type SchedulePlan = { kind: 'delete' } | { kind: 'upsert'; spec: ScheduleSpec; paused: boolean; note: string };

/**
 * The Schedule a definition row wants: none when it is deleted or has no schedule; otherwise its
 * spec, paused with the definition, and a note carrying the row's revision (the full pass compares
 * it to find a Schedule that is behind without comparing specs).
 */
export function schedulePlan(row: { settings: Record<string, unknown>; paused: boolean; deleted: boolean; revision: number }, hourMs: number): SchedulePlan {
  const schedule = CampaignSchedule.nullable().default(null).parse(row.settings.schedule);
  if (row.deleted || schedule === null) return { kind: 'delete' };
  return { kind: 'upsert', spec: campaignScheduleSpec(schedule, hourMs), paused: row.paused, note: scheduleNote(row.revision) };
}

export const scheduleNote = (revision: number) => `roster campaign definition revision ${revision}`;
