import { describe, expect, it } from 'vitest';
import { campaignScheduleSpec, scheduleNote, schedulePlan } from '../../core/campaigns/schedule-sync.js';
import { CAMPAIGN_SCHEDULE_PREFIX } from '../../worker/loops/campaign-reconciler.js';
import { campaignScheduleId } from '../../workflows/ids.js';

/** A definition's schedule → the Temporal Schedule the reconciler keeps (the pinned rules in the campaigns contract). */
describe('campaign schedule sync mapping', () => {
  const hourMs = 3_600_000;

  it('monthly: 00:00 UTC on day 1 of every month', () => {
    expect(campaignScheduleSpec({ kind: 'monthly' }, hourMs)).toEqual({
      calendars: [{ dayOfMonth: 1, hour: 0, minute: 0, second: 0, comment: 'monthly' }],
      timezone: 'UTC',
    });
  });

  it('quarterly: 00:00 UTC on day 1 of January, April, July and October', () => {
    expect(campaignScheduleSpec({ kind: 'quarterly' }, hourMs)).toEqual({
      calendars: [{ month: ['JANUARY', 'APRIL', 'JULY', 'OCTOBER'], dayOfMonth: 1, hour: 0, minute: 0, second: 0, comment: 'quarterly' }],
      timezone: 'UTC',
    });
  });

  it('cron: the expression in its timezone, UTC when none is given', () => {
    expect(campaignScheduleSpec({ kind: 'cron', cron: '0 6 * * 1', timezone: 'America/New_York' }, hourMs)).toEqual({ cronExpressions: ['0 6 * * 1'], timezone: 'America/New_York' });
    expect(campaignScheduleSpec({ kind: 'cron', cron: '0 6 * * 1' }, hourMs)).toEqual({ cronExpressions: ['0 6 * * 1'], timezone: 'UTC' });
  });

  it('interval: every everyHours campaign hours in milliseconds, phase 0', () => {
    expect(campaignScheduleSpec({ kind: 'interval', everyHours: 6 }, hourMs)).toEqual({ intervals: [{ every: 6 * hourMs, offset: 0 }] });
    expect(campaignScheduleSpec({ kind: 'interval', everyHours: 3 }, 250)).toEqual({ intervals: [{ every: 750, offset: 0 }] });
  });

  it('plan: deleted or unscheduled definitions have no Schedule; others are paused with the definition and noted with its revision', () => {
    const settings = { schedule: { kind: 'monthly' } };
    expect(schedulePlan({ settings, paused: false, deleted: true, revision: 3 }, hourMs)).toEqual({ kind: 'delete' });
    expect(schedulePlan({ settings: { schedule: null }, paused: false, deleted: false, revision: 3 }, hourMs)).toEqual({ kind: 'delete' });
    expect(schedulePlan({ settings: {}, paused: false, deleted: false, revision: 3 }, hourMs)).toEqual({ kind: 'delete' });
    expect(schedulePlan({ settings, paused: true, deleted: false, revision: 7 }, hourMs)).toEqual({
      kind: 'upsert',
      spec: campaignScheduleSpec({ kind: 'monthly' }, hourMs),
      paused: true,
      note: scheduleNote(7),
    });
    expect(scheduleNote(7)).not.toBe(scheduleNote(8));
  });

  it('plan: a stored schedule that breaks the contract is refused, not guessed at', () => {
    expect(() => schedulePlan({ settings: { schedule: { kind: 'weekly' } }, paused: false, deleted: false, revision: 1 }, hourMs)).toThrow();
  });

  it("the full pass finds campaign Schedules by their ids' prefix", () => {
    expect(campaignScheduleId('tenant', 'definition').startsWith(CAMPAIGN_SCHEDULE_PREFIX)).toBe(true);
  });
});
