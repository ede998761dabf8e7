import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { CronExpressionParser } from 'cron-parser';
import { nextRunAt, scheduleIssues } from '../../core/campaigns/cron.js';
import type { CampaignSchedule } from '../../core/campaigns/schema.js';
import { campaignScheduleSpec } from '../../core/campaigns/schedule-sync.js';

/**
 * The API shows when a definition's schedule fires next (core/campaigns/cron.ts); the worker builds
 * the Temporal Schedule that actually fires it (core/campaigns/schedule-sync.ts). Both must agree:
 * for each kind of schedule, the next three fire times the real Temporal server computes for the
 * worker's spec are the ones nextRunAt gives.
 */

const HOUR_MS = 3_600_000;
let connection: Connection;
let client: Client;
const created: string[] = [];

beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection });
});
afterAll(async () => {
  for (const id of created) await client.schedule.getHandle(id).delete().catch(() => undefined);
  await connection?.close();
});

const SCHEDULES: CampaignSchedule[] = [
  { kind: 'monthly' },
  { kind: 'quarterly' },
  { kind: 'interval', everyHours: 6 },
  { kind: 'interval', everyHours: 24 * 7 },
  { kind: 'cron', cron: '0 9 * * 1' },
  { kind: 'cron', cron: '30 6 1 */3 *', timezone: 'America/New_York' },
  { kind: 'cron', cron: '0 9 * * MON-FRI', timezone: 'Europe/Paris' },
  { kind: 'cron', cron: '15 3 10-20/5 JAN,JUL *' },
  { kind: 'cron', cron: '0 0,12 * * SUN', timezone: 'Asia/Kolkata' },
];

/** The next `n` times after now by the API's rule. */
function apiTimes(schedule: CampaignSchedule, n: number): string[] {
  const out: string[] = [];
  let now = new Date();
  for (let i = 0; i < n; i++) {
    const next = nextRunAt(schedule, { now, hourMs: HOUR_MS })!;
    out.push(next.toISOString());
    now = next;
  }
  return out;
}

describe('nextRunAt agrees with the Temporal Schedule the worker builds', () => {
  it.each(SCHEDULES.map((s) => [JSON.stringify(s), s] as const))('%s', async (_name, schedule) => {
    const scheduleId = `next-run-test/${randomBytes(6).toString('hex')}`;
    // Nothing polls this queue, and the schedule is deleted before any of these fire times.
    const handle = await client.schedule.create({
      scheduleId,
      spec: campaignScheduleSpec(schedule, HOUR_MS),
      action: { type: 'startWorkflow', workflowType: 'scheduledCampaign', taskQueue: `next-run-${randomBytes(4).toString('hex')}`, args: [{ tenantId: 'x', definitionId: 'y' }] },
    });
    created.push(scheduleId);
    const described = await handle.describe();
    const temporal = described.info.nextActionTimes.slice(0, 3).map((d) => d.toISOString());
    expect(temporal).toHaveLength(3);
    expect(apiTimes(schedule, 3)).toEqual(temporal);
  });
});

describe('why the API refuses a cron with both day fields restricted', () => {
  it('Temporal ANDs them (Friday the 13th), cron-parser ORs them (any 13th or any Friday)', async () => {
    const cron = '0 0 13 * 5';
    const scheduleId = `next-run-test/${randomBytes(6).toString('hex')}`;
    const handle = await client.schedule.create({
      scheduleId,
      spec: { cronExpressions: [cron], timezone: 'UTC' },
      action: { type: 'startWorkflow', workflowType: 'scheduledCampaign', taskQueue: `next-run-${randomBytes(4).toString('hex')}`, args: [{ tenantId: 'x', definitionId: 'y' }] },
    });
    created.push(scheduleId);
    const temporal = (await handle.describe()).info.nextActionTimes.slice(0, 3);
    for (const t of temporal) expect([t.getUTCDate(), t.getUTCDay()]).toEqual([13, 5]);
    const parser = CronExpressionParser.parse(cron, { tz: 'UTC', currentDate: new Date() });
    const ored = [parser.next().toDate(), parser.next().toDate(), parser.next().toDate()];
    expect(ored.some((t) => t.getUTCDate() !== 13 || t.getUTCDay() !== 5)).toBe(true);
    expect(scheduleIssues({ kind: 'cron', cron })[0]!.message).toContain('not both');
  });
});
