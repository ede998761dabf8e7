import { describe, expect, it } from 'vitest';
import { isKnownTimeZone, nextRunAt, scheduleIssues } from '../../core/campaigns/cron.js';
import type { CampaignSchedule } from '../../core/campaigns/schema.js';

const HOUR = 3_600_000;
const at = (iso: string) => new Date(iso);
const next = (schedule: CampaignSchedule | null, now: string, hourMs = HOUR) => nextRunAt(schedule, { now: at(now), hourMs })?.toISOString() ?? null;
const cron = (expr: string, timezone?: string): CampaignSchedule => ({ kind: 'cron', cron: expr, ...(timezone ? { timezone } : {}) });

describe('nextRunAt (the pinned schedule rules)', () => {
  it('no schedule: null', () => {
    expect(next(null, '2026-05-17T10:00:00Z')).toBeNull();
  });

  it('monthly: 00:00 UTC on day 1 of the next month, strictly after now', () => {
    expect(next({ kind: 'monthly' }, '2026-05-17T10:00:00Z')).toBe('2026-06-01T00:00:00.000Z');
    expect(next({ kind: 'monthly' }, '2026-12-31T23:59:59.999Z')).toBe('2027-01-01T00:00:00.000Z');
    expect(next({ kind: 'monthly' }, '2026-06-01T00:00:00.000Z')).toBe('2026-07-01T00:00:00.000Z');
  });

  it('quarterly: 00:00 UTC on 1 January, April, July and October', () => {
    expect(next({ kind: 'quarterly' }, '2026-01-01T00:00:00.000Z')).toBe('2026-04-01T00:00:00.000Z');
    expect(next({ kind: 'quarterly' }, '2026-03-31T23:59:59Z')).toBe('2026-04-01T00:00:00.000Z');
    expect(next({ kind: 'quarterly' }, '2026-05-17T10:00:00Z')).toBe('2026-07-01T00:00:00.000Z');
    expect(next({ kind: 'quarterly' }, '2026-11-02T00:00:00Z')).toBe('2027-01-01T00:00:00.000Z');
  });

  it('interval: the next multiple of everyHours × the hour length since the Unix epoch', () => {
    expect(next({ kind: 'interval', everyHours: 6 }, '2026-05-17T10:00:00Z')).toBe('2026-05-17T12:00:00.000Z');
    expect(next({ kind: 'interval', everyHours: 6 }, '2026-05-17T12:00:00Z')).toBe('2026-05-17T18:00:00.000Z');
    // Tests shorten the hour (CAMPAIGN_HOUR_MS): 2 "hours" of 1 s fire at every even second.
    expect(next({ kind: 'interval', everyHours: 2 }, '2026-05-17T10:00:01.500Z', 1000)).toBe('2026-05-17T10:00:02.000Z');
    // 7 days does not divide a week since 1970-01-01 (a Thursday) into Mondays: phase 0 is the epoch.
    expect(next({ kind: 'interval', everyHours: 24 * 7 }, '2026-05-17T10:00:00Z')).toBe('2026-05-21T00:00:00.000Z');
  });

  it('cron: five fields in UTC, or in the given IANA time zone (DST included)', () => {
    expect(next(cron('0 9 * * 1'), '2026-05-17T10:00:00Z')).toBe('2026-05-18T09:00:00.000Z');
    expect(next(cron('0 9 * * MON', 'Europe/Paris'), '2026-05-17T10:00:00Z')).toBe('2026-05-18T07:00:00.000Z');
    expect(next(cron('0 9 * * mon', 'Europe/Paris'), '2026-01-10T10:00:00Z')).toBe('2026-01-12T08:00:00.000Z');
    expect(next(cron('30 6 1 */3 *', 'America/New_York'), '2026-05-17T10:00:00Z')).toBe('2026-07-01T10:30:00.000Z');
    expect(next(cron('*/15 * * * *'), '2026-05-17T10:07:00Z')).toBe('2026-05-17T10:15:00.000Z');
    expect(next(cron('0 0 1 JAN,JUL *'), '2026-05-17T10:00:00Z')).toBe('2026-07-01T00:00:00.000Z');
  });
});

describe('scheduleIssues (cron expressions and time zones are checked before they are stored)', () => {
  it('monthly, quarterly and interval have nothing to check', () => {
    expect(scheduleIssues({ kind: 'monthly' })).toEqual([]);
    expect(scheduleIssues({ kind: 'interval', everyHours: 3 })).toEqual([]);
  });

  it('accepts the subset cron-parser and Temporal read alike', () => {
    for (const ok of ['0 0 * * *', '*/5 9-17 * * 1-5', '0 0 1,15 * *', '15 3 * JAN-MAR SUN', '0 12 10-20/5 * *', '59 23 31 12 *']) {
      expect(scheduleIssues(cron(ok)), ok).toEqual([]);
    }
  });

  it.each([
    ['0 0 * *', 'five fields'],
    ['0 0 0 * * *', 'five fields'],
    ['61 0 * * *', 'minute'],
    ['0 24 * * *', 'hour'],
    ['0 0 0 * *', 'day of month'],
    ['0 0 * 13 *', 'month'],
    ['0 0 * * 7', 'Sunday is 0'],
    ['0 0 * * MONDAY', 'day of week'],
    ['0 0 L * *', 'day of month'],
    ['0 0 * * 1#2', 'day of week'],
    ['0 0 ? * 1', 'day of month'],
    ['H 0 * * *', 'minute'],
    ['5/10 * * * *', 'a step needs'],
    ['*/0 * * * *', 'step'],
    ['0 0 20-10 * *', 'backwards'],
    ['0 0 1 * 1', 'not both'],
    ['@daily', 'five fields'],
  ])('refuses %s (%s)', (expr, why) => {
    const issues = scheduleIssues(cron(expr));
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toEqual(['cron']);
    expect(issues[0]!.message).toContain(why);
    expect(nextRunAt(cron(expr), { now: new Date(), hourMs: HOUR })).toBeNull();
  });

  it('refuses a time zone the IANA database does not know', () => {
    expect(scheduleIssues(cron('0 9 * * 1', 'Mars/Olympus_Mons'))).toEqual([{ path: ['timezone'], message: expect.stringContaining('not an IANA time zone') }]);
    expect(scheduleIssues(cron('0 9 * * 1', '+02:00'))[0]!.path).toEqual(['timezone']);
    expect(isKnownTimeZone('Europe/Paris')).toBe(true);
    expect(isKnownTimeZone('UTC')).toBe(true);
    expect(isKnownTimeZone('US/Pacific')).toBe(true);
    expect(isKnownTimeZone('../etc/passwd')).toBe(false);
  });
});
