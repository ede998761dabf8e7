import { CronExpressionParser } from 'cron-parser';
import type { CampaignSchedule } from './schema.js';

// When a campaign definition's schedule fires next, computed by the API for the definition's view.
// The worker builds the Temporal Schedule from the same definition (core/campaigns/schedule-sync.ts),
// so both follow the rules pinned for issue 9:
// - monthly: 00:00 UTC on day 1 of every month; quarterly: 00:00 UTC on 1 Jan, Apr, Jul and Oct;
// - cron: five fields, in `timezone` (IANA) or UTC;
// - interval: every everyHours × CAMPAIGN_HOUR_MS, phase 0 (Temporal's interval spec is anchored
//   at the Unix epoch, so the next run is the next multiple of the period).
//
// Cron expressions are read by cron-parser (a maintained parser with IANA time zones and DST
// handling) rather than by a parser of our own. Temporal reads the same string on the worker's
// side, and the two dialects differ at the edges: cron-parser ORs day of month with day of week
// when both are restricted, Temporal ANDs them; cron-parser knows L, W, #, ? and H, Temporal does
// not all of them; `5/10` and a day of week 7 are read differently across implementations. A
// definition is therefore refused unless its expression is in the subset both read the same way:
// numbers and three-letter names, `*`, ranges, lists and steps over `*` or a range, with at most one
// of the two day fields restricted.

export interface ScheduleIssue {
  /** Path inside the schedule object (`cron`, `timezone`). */
  path: string[];
  message: string;
}

interface FieldRule {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
  /** How the field's values are written, for the error message. */
  hint: string;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] as const;
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;

const FIELDS: readonly FieldRule[] = [
  { name: 'minute', min: 0, max: 59, hint: '0–59' },
  { name: 'hour', min: 0, max: 23, hint: '0–23' },
  { name: 'day of month', min: 1, max: 31, hint: '1–31' },
  { name: 'month', min: 1, max: 12, names: MONTHS, hint: '1–12 or JAN–DEC' },
  { name: 'day of week', min: 0, max: 6, names: DAYS, hint: '0–6 (Sunday is 0) or SUN–SAT' },
];

const PART = /^(?:(\*)|([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?)(?:\/([0-9]+))?$/;

/** The number a value names (`5`, `MON`), or null when it is not one of the field's. */
function valueOf(token: string, rule: FieldRule): number | null {
  if (/^\d{1,2}$/.test(token)) {
    const n = Number(token);
    return n >= rule.min && n <= rule.max ? n : null;
  }
  const i = rule.names?.indexOf(token.toUpperCase()) ?? -1;
  if (i < 0) return null;
  return rule === FIELDS[3] ? i + 1 : i;
}

/** Why one field is outside the shared subset, or null when it is in it. */
function fieldIssue(text: string, rule: FieldRule): string | null {
  const bad = (why: string) => `${rule.name} "${text}": ${why}`;
  for (const part of text.split(',')) {
    const m = PART.exec(part);
    if (!m) return bad(`use ${rule.hint}, *, ranges (a-b), lists (a,b) and steps (*/n or a-b/n)`);
    const [, star, from, to, step] = m;
    if (step !== undefined && (Number(step) < 1 || Number(step) > rule.max)) return bad(`a step must be between 1 and ${rule.max}`);
    if (star) continue;
    const a = valueOf(from!, rule);
    if (a === null) return bad(`"${from}" is not ${rule.hint}`);
    if (to === undefined) {
      if (step !== undefined) return bad(`a step needs * or a range (write ${from}-${rule.max}/${step})`);
      continue;
    }
    const b = valueOf(to, rule);
    if (b === null) return bad(`"${to}" is not ${rule.hint}`);
    if (b < a) return bad('a range must not run backwards');
  }
  return null;
}

/** Whether the time zone is one the runtime's IANA database knows (aliases like US/Pacific too). */
export function isKnownTimeZone(tz: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/.test(tz)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** What is wrong with a cron schedule (empty: nothing); monthly, quarterly and interval have no free text. */
export function scheduleIssues(schedule: CampaignSchedule): ScheduleIssue[] {
  if (schedule.kind !== 'cron') return [];
  const issues: ScheduleIssue[] = [];
  if (schedule.timezone !== undefined && !isKnownTimeZone(schedule.timezone)) {
    issues.push({ path: ['timezone'], message: `"${schedule.timezone}" is not an IANA time zone (e.g. Europe/Paris, America/New_York, UTC)` });
  }
  const fields = schedule.cron.trim().split(/\s+/);
  if (fields.length !== 5) {
    issues.push({ path: ['cron'], message: `a cron expression has five fields (minute hour day-of-month month day-of-week); this one has ${fields.length}` });
    return issues;
  }
  for (const [i, text] of fields.entries()) {
    const why = fieldIssue(text, FIELDS[i]!);
    if (why) {
      issues.push({ path: ['cron'], message: why });
      return issues;
    }
  }
  if (fields[2] !== '*' && fields[4] !== '*') {
    issues.push({ path: ['cron'], message: 'restrict the day of month or the day of week, not both (cron implementations disagree on what both mean)' });
    return issues;
  }
  if (issues.length === 0) {
    try {
      CronExpressionParser.parse(schedule.cron, { tz: schedule.timezone ?? 'UTC', currentDate: new Date() }).next();
    } catch (err) {
      issues.push({ path: ['cron'], message: `not a valid cron expression: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  return issues;
}

/**
 * When the schedule fires next, strictly after `now` (null without a schedule). An invalid cron
 * expression (refused before it is stored) answers null rather than failing a read.
 */
export function nextRunAt(schedule: CampaignSchedule | null, options: { now: Date; hourMs: number }): Date | null {
  if (!schedule) return null;
  const now = options.now.getTime();
  const at = new Date(now);
  switch (schedule.kind) {
    case 'monthly':
      return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
    case 'quarterly':
      return new Date(Date.UTC(at.getUTCFullYear(), Math.floor(at.getUTCMonth() / 3) * 3 + 3, 1));
    case 'interval': {
      const period = schedule.everyHours * options.hourMs;
      return new Date((Math.floor(now / period) + 1) * period);
    }
    case 'cron':
      if (scheduleIssues(schedule).length > 0) return null;
      return CronExpressionParser.parse(schedule.cron, { tz: schedule.timezone ?? 'UTC', currentDate: options.now }).next().toDate();
  }
}
