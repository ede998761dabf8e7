import { ScheduleNotFoundError } from '@temporalio/client';
import pino from 'pino';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CampaignDefinitionBody } from '../../core/campaigns/schema.js';
import { withTenant } from '../../core/db/pool.js';
import { campaignReconciler, syncCampaignSchedule } from '../../worker/loops/campaign-reconciler.js';
import { campaignScheduleId, campaignWorkflowId } from '../../workflows/ids.js';
import type { ScheduledCampaignResult } from '../../workflows/messages.js';
import { defineCampaign, launch, portalUser } from '../helpers/campaigns.js';
import { maybeRecordHistory } from '../helpers/histories.js';
import { eventually, startStack, type TestStack } from '../helpers/stack.js';

/**
 * Campaign definitions' Temporal Schedules, reconciled from their rows by the worker's campaign
 * reconciler (the stack runs it every 250 ms, with a full pass every second), against the real
 * dev server. A campaign hour is 2 s here, so an interval schedule of one hour fires every 2 s.
 */

const HOUR_MS = 2_000;
let stack: TestStack;

beforeAll(async () => {
  stack = await startStack({ worker: true, env: { CAMPAIGN_HOUR_MS: String(HOUR_MS), CAMPAIGN_SCHEDULE_FULL_PASS_MS: '1000', CAMPAIGN_RECONCILE_AFTER_SECONDS: '1' } });
});
afterAll(async () => {
  // The dev server outlives this file: its Schedules would go on firing at a task queue nobody polls.
  if (stack?.client) {
    for await (const s of stack.client.schedule.list()) {
      if (tenants.some((id) => s.scheduleId.startsWith(`campaign-schedule/${id}/`))) await stack.client.schedule.getHandle(s.scheduleId).delete().catch(() => undefined);
    }
  }
  await stack?.close();
});
const tenants: string[] = [];

const Id = z.object({ id: z.string() });

/** A tenant with one person holding `member` (so a launched campaign has an item and stays open) and two reviewers. */
async function tenantWithPerson() {
  const tenant = await stack.createTenant();
  tenants.push(tenant.id);
  await withTenant(stack.owner, tenant.id, async (tx) => {
    const id = await tx.oneFirst(sql.type(Id)`
      INSERT INTO users (tenant_id, user_name, user_name_key, emails, lifecycle_state) VALUES (${tenant.id}, 'pat', 'pat', '[]', 'active') RETURNING id`);
    await tx.query(sql.unsafe`INSERT INTO user_roles (tenant_id, user_id, role) VALUES (${tenant.id}, ${id}, 'member')`);
  });
  const reviewer = await portalUser(stack, tenant.id, `r-${tenant.slug}@example.com`, ['reviewer']);
  const fallback = await portalUser(stack, tenant.id, `f-${tenant.slug}@example.com`, ['reviewer']);
  return { tenant, reviewer, fallback };
}

function definition(t: { reviewer: string; fallback: string }, extra: Partial<CampaignDefinitionBody> = {}): CampaignDefinitionBody {
  return {
    name: 'Scheduled review',
    scope: [{ kind: 'all_roles' }],
    reviewers: { people: 'named', nonHuman: 'named', reviewerIds: [t.reviewer], fallbackReviewerId: t.fallback },
    schedule: { kind: 'interval', everyHours: 1 },
    ...extra,
  };
}

/** Changes the definition row the way the campaign service does: the change and a new revision, together. */
async function changeDefinition(tenantId: string, definitionId: string, change: ReturnType<typeof sql.fragment>) {
  await withTenant(stack.owner, tenantId, (tx) =>
    tx.query(sql.unsafe`UPDATE campaign_definitions SET ${change}, revision = revision + 1, updated_at = now() WHERE tenant_id = ${tenantId} AND id = ${definitionId}`),
  );
}

const Campaign = z.object({ id: z.string(), trigger: z.string(), trigger_ref: z.string(), state: z.string(), created_at: z.string() });
async function campaignsOf(tenantId: string, definitionId: string) {
  return withTenant(stack.owner, tenantId, (tx) =>
    tx.any(sql.type(Campaign)`
      SELECT id, trigger, trigger_ref, state, created_at::text FROM campaigns WHERE tenant_id = ${tenantId} AND definition_id = ${definitionId} ORDER BY created_at`),
  );
}

const Sync = z.object({ revision: z.number(), schedule_synced_revision: z.number() });
async function syncState(tenantId: string, definitionId: string) {
  return withTenant(stack.owner, tenantId, (tx) =>
    tx.one(sql.type(Sync)`SELECT revision, schedule_synced_revision FROM campaign_definitions WHERE tenant_id = ${tenantId} AND id = ${definitionId}`),
  );
}

const scheduleOf = (tenantId: string, definitionId: string) => stack.client!.schedule.getHandle(campaignScheduleId(tenantId, definitionId));

async function scheduleGone(tenantId: string, definitionId: string): Promise<boolean> {
  try {
    await scheduleOf(tenantId, definitionId).describe();
    return false;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return true;
    throw err;
  }
}

describe('campaign schedules', () => {
  it('an interval schedule fires on time and launches a campaign run whose workflow starts', async () => {
    const t = await tenantWithPerson();
    const definitionId = await defineCampaign(stack, t.tenant.id, definition(t));
    const synced = await eventually(async () => {
      const s = await syncState(t.tenant.id, definitionId);
      return s.schedule_synced_revision === s.revision && s;
    }, 60_000);
    expect(synced.revision).toBe(1);
    const described = await scheduleOf(t.tenant.id, definitionId).describe();
    expect(described.state.paused).toBe(false);
    expect(described.policies.overlap).toBe('SKIP');
    expect(described.info.nextActionTimes[0]!.getTime() % HOUR_MS).toBe(0);

    const [run] = await eventually(async () => {
      const runs = await campaignsOf(t.tenant.id, definitionId);
      return runs.length > 0 && runs;
    }, 60_000);
    expect(run!.trigger).toBe('schedule');
    const fired = await eventually(async () => (await scheduleOf(t.tenant.id, definitionId).describe()).info.recentActions[0], 60_000);
    expect(fired.scheduledAt.getTime() % HOUR_MS).toBe(0);
    expect(run!.trigger_ref).toBe(fired.action.workflow.workflowId);
    // On time: the run was recorded after its fire time and before the next one was due (a bound
    // of one period, not a latency target: those live in the bench).
    const lag = Date.parse(run!.created_at) - fired.scheduledAt.getTime();
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(HOUR_MS);
    await eventually(async () => (await campaignsOf(t.tenant.id, definitionId))[0]!.state === 'open', 60_000);
    const launch = stack.client!.workflow.getHandle(fired.action.workflow.workflowId);
    expect(await launch.result()).toEqual({ outcome: 'launched', campaignId: run!.id } satisfies ScheduledCampaignResult);
    await maybeRecordHistory(stack.client!, fired.action.workflow.workflowId, 'campaign-scheduled');
  });

  it('overlapping fires are skipped while a run of the definition is open', async () => {
    const t = await tenantWithPerson();
    const definitionId = await defineCampaign(stack, t.tenant.id, definition(t));
    await eventually(async () => (await scheduleOf(t.tenant.id, definitionId).describe()).info.numActionsTaken >= 3, 15_000, 250);
    const runs = await campaignsOf(t.tenant.id, definitionId);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.state).toBe('open');
    const actions = (await scheduleOf(t.tenant.id, definitionId).describe()).info.recentActions;
    const results = await Promise.all(actions.map((a) => stack.client!.workflow.getHandle(a.action.workflow.workflowId).result() as Promise<ScheduledCampaignResult>));
    expect(results[0]).toEqual({ outcome: 'launched', campaignId: runs[0]!.id });
    for (const r of results.slice(1)) expect(r).toEqual({ outcome: 'skipped', reason: 'overlap', campaignId: runs[0]!.id });
  });

  it('a paused definition does not fire; resumed, it fires again', async () => {
    const t = await tenantWithPerson();
    const definitionId = await defineCampaign(stack, t.tenant.id, definition(t), { paused: true });
    await eventually(async () => {
      const s = await syncState(t.tenant.id, definitionId);
      return s.schedule_synced_revision === s.revision;
    }, 60_000);
    expect((await scheduleOf(t.tenant.id, definitionId).describe()).state.paused).toBe(true);
    await new Promise((r) => setTimeout(r, 2 * HOUR_MS + 500));
    expect((await scheduleOf(t.tenant.id, definitionId).describe()).info.numActionsTaken).toBe(0);
    expect(await campaignsOf(t.tenant.id, definitionId)).toHaveLength(0);

    await changeDefinition(t.tenant.id, definitionId, sql.fragment`paused = false`);
    await eventually(async () => !(await scheduleOf(t.tenant.id, definitionId).describe()).state.paused, 60_000);
    const runs = await eventually(async () => {
      const r = await campaignsOf(t.tenant.id, definitionId);
      return r.length > 0 && r;
    }, 60_000);
    expect(runs[0]!.trigger).toBe('schedule');
  });

  it('a lost Schedule is recreated by the full pass; a deleted definition loses its Schedule', async () => {
    const t = await tenantWithPerson();
    const definitionId = await defineCampaign(stack, t.tenant.id, definition(t, { schedule: { kind: 'monthly' } }));
    await eventually(async () => !(await scheduleGone(t.tenant.id, definitionId)), 60_000);
    await scheduleOf(t.tenant.id, definitionId).delete();
    expect(await scheduleGone(t.tenant.id, definitionId)).toBe(true);
    await eventually(async () => !(await scheduleGone(t.tenant.id, definitionId)), 60_000);

    await changeDefinition(t.tenant.id, definitionId, sql.fragment`deleted_at = now()`);
    await eventually(() => scheduleGone(t.tenant.id, definitionId), 60_000);
    await eventually(async () => {
      const s = await syncState(t.tenant.id, definitionId);
      return s.schedule_synced_revision === s.revision;
    }, 60_000);
    // The full pass leaves a deleted definition alone.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await scheduleGone(t.tenant.id, definitionId)).toBe(true);
  });

  it('a definition whose schedule is removed loses its Schedule', async () => {
    const t = await tenantWithPerson();
    const definitionId = await defineCampaign(stack, t.tenant.id, definition(t, { schedule: { kind: 'quarterly' } }));
    await eventually(async () => !(await scheduleGone(t.tenant.id, definitionId)), 60_000);
    await changeDefinition(t.tenant.id, definitionId, sql.fragment`settings = jsonb_set(settings, '{schedule}', 'null')`);
    await eventually(() => scheduleGone(t.tenant.id, definitionId), 60_000);
  });

  it('monthly, quarterly and cron Schedules fire when the pinned rules say', async () => {
    const t = await tenantWithPerson();
    const monthly = await defineCampaign(stack, t.tenant.id, definition(t, { schedule: { kind: 'monthly' } }));
    const quarterly = await defineCampaign(stack, t.tenant.id, definition(t, { schedule: { kind: 'quarterly' } }));
    const cron = await defineCampaign(stack, t.tenant.id, definition(t, { schedule: { kind: 'cron', cron: '30 9 * * 1-5', timezone: 'Europe/Paris' } }));
    for (const id of [monthly, quarterly, cron]) await eventually(async () => !(await scheduleGone(t.tenant.id, id)), 60_000);

    const next = async (id: string) => (await scheduleOf(t.tenant.id, id).describe()).info.nextActionTimes.slice(0, 3);
    const now = new Date();
    const firstOfMonth = (monthsAhead: number) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + monthsAhead, 1));
    expect(await next(monthly)).toEqual([firstOfMonth(1), firstOfMonth(2), firstOfMonth(3)]);
    const quarters = (await next(quarterly)).map((d) => [d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes()]);
    for (const [month, day, hour, minute] of quarters) {
      expect([0, 3, 6, 9]).toContain(month);
      expect([day, hour, minute]).toEqual([1, 0, 0]);
    }
    expect((await next(quarterly))[0]!.getTime()).toBeLessThanOrEqual(firstOfMonth(3).getTime());
    const paris = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', weekday: 'short', hour: '2-digit', minute: '2-digit', hour12: false });
    for (const d of await next(cron)) {
      const parts = Object.fromEntries(paris.formatToParts(d).map((p) => [p.type, p.value]));
      expect(`${parts.hour}:${parts.minute}`).toBe('09:30');
      expect(['Mon', 'Tue', 'Wed', 'Thu', 'Fri']).toContain(parts.weekday);
    }
  });

  it('a campaign committed without its workflow (a crash between commit and start) is started by the reconciler', async () => {
    const t = await tenantWithPerson();
    const definitionId = await defineCampaign(stack, t.tenant.id, definition(t, { schedule: null }));
    const campaignId = await launch(stack, t.tenant.id, definitionId, { start: false });
    const Started = z.object({ state: z.string(), workflow_id: z.string().nullable() });
    const row = await eventually(async () => {
      const r = await withTenant(stack.owner, t.tenant.id, (tx) => tx.one(sql.type(Started)`SELECT state, workflow_id FROM campaigns WHERE id = ${campaignId}`));
      return r.state === 'open' && r;
    }, 60_000);
    expect(row.workflow_id).toBe(campaignWorkflowId(t.tenant.id, campaignId));
    expect((await stack.client!.workflow.getHandle(row.workflow_id!).describe()).status.name).toBe('RUNNING');
  });

  it('two reconcilers at once: each definition ends at its latest revision with one Schedule', async () => {
    const t = await tenantWithPerson();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await defineCampaign(stack, t.tenant.id, definition(t, { schedule: { kind: 'monthly' } }), { paused: true }));
    const deps = { db: stack.app, client: stack.client!, taskQueue: stack.taskQueue, logger: pino({ level: 'silent' }), hourMs: HOUR_MS, fullPassMs: 0, unstartedAfterSeconds: 30 };
    const a = campaignReconciler(deps);
    const b = campaignReconciler(deps);
    // Changes land while both reconcilers (and the stack's own) run; syncs of one definition take turns.
    const churn = (async () => {
      for (let round = 0; round < 4; round++) {
        for (const id of ids) await changeDefinition(t.tenant.id, id, sql.fragment`paused = ${round % 2 === 1}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const outcomes = await Promise.all([
      ...ids.map((id) => syncCampaignSchedule(deps, { tenantId: t.tenant.id, definitionId: id })),
      ...ids.map((id) => syncCampaignSchedule(deps, { tenantId: t.tenant.id, definitionId: id })),
      a(),
      b(),
      churn,
    ]);
    expect(outcomes.slice(0, 12).every((o) => ['created', 'updated', 'unchanged', 'busy'].includes(o as string))).toBe(true);
    await Promise.all([a(), b()]);
    for (const id of ids) {
      await eventually(async () => {
        const s = await syncState(t.tenant.id, id);
        const d = await scheduleOf(t.tenant.id, id).describe();
        return s.schedule_synced_revision === s.revision && d.state.note === `roster campaign definition revision ${s.revision}` && d.state.paused === true;
      }, 60_000);
    }
    const listed: string[] = [];
    for await (const s of stack.client!.schedule.list()) if (s.scheduleId.startsWith(`campaign-schedule/${t.tenant.id}/`)) listed.push(s.scheduleId);
    expect(new Set(listed).size).toBe(listed.length);
  });
});
