/**
 * The campaigns part of `npm run bench` (issue 9), through the real worker (worker/main.ts in its
 * own process, as npm start runs it):
 *
 * - Generation: a campaign over BENCH_CAMPAIGN_PEOPLE people (default 100,000) holding one role
 *   each (half of them from a group mapping, half with no source left), reviewers by manager (every
 *   person has one, half of the managers are portal users). The clock runs from starting the
 *   campaign workflow to the campaign's row committed `open` (every item written by the workflow's
 *   batch activities, counted and opened). Target: under 60 s. Also: the workflow's history events
 *   (all runs), and the worker's peak RSS during generation against its RSS just before.
 * - Revoke decisions: BENCH_CAMPAIGN_REVOKES (2,000) of the fallback reviewer's pending items revoked
 *   as the portal's decide route does it (the campaign service's decideItems, 500 items per
 *   request, each followed by the campaign's decided signal), then the worker's relay and identity
 *   workflows carry each out (the mover takes the role away). Two rates: decisions recorded per
 *   second, and decisions applied per second, until the last person's role is gone.
 *
 * The fixture is written with SQL (its generation is not measured) and ANALYZEd, as a database
 * that has lived would be; BENCH_CAMPAIGN_ANALYZE=0 measures generation on fresh statistics-less
 * tables instead (autovacuum off for the run), the case where a batch once took 30 s.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { sql } from 'slonik';
import { z } from 'zod';
import { notifyCampaignDecided, startCampaignWorkflow } from '../../activities/campaign-client.js';
import { launchCampaign } from '../../core/campaigns/launch.js';
import { decideItems } from '../../core/campaigns/service.js';
import { CampaignDefinitionInput } from '../../core/campaigns/schema.js';
import { loadConfig } from '../../core/config.js';
import { createDatabasePool, withTenant } from '../../core/db/pool.js';
import { createTenant } from '../../core/repositories/tenants.js';
import { campaignWorkflowId } from '../../workflows/ids.js';
import { workerPolling } from './bench-lifecycle.js';
import { type NodeProcess, startNodeProcess } from './bench-proc.js';

export interface CampaignsPartContext {
  ownerUrl: string;
  /** The owner's and app role's URLs, secrets key, Temporal address (the API's environment). */
  apiEnv: Record<string, string>;
  temporalAddress: string;
  env: NodeJS.ProcessEnv;
  say: (line?: string) => void;
  table: (rows: string[][]) => string;
  cleanups: (() => Promise<unknown>)[];
  waitForQuiet: () => Promise<void>;
}

const TARGET_MS = 60_000;
/** Items per decision request (DecideItemsBody's maximum). */
const DECISION_BULK = 500;
const Id = z.object({ id: z.string() });
const Count = z.object({ n: z.number() });

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const v = Number(env[name] ?? fallback);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer`);
  return v;
}

/** Resident set size of a process, bytes (Linux /proc; null elsewhere). */
function rssOf(pid: number): number | null {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : null;
  } catch {
    return null;
  }
}

const mib = (bytes: number | null) => (bytes === null ? '–' : `${Math.round(bytes / 1048576)} MiB`);

async function ownerExec(url: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

export async function campaignsPart(ctx: CampaignsPartContext) {
  const { say } = ctx;
  const people = positive(ctx.env, 'BENCH_CAMPAIGN_PEOPLE', 100_000);
  const revokes = positive(ctx.env, 'BENCH_CAMPAIGN_REVOKES', 2_000);
  const batchSize = ctx.env.BENCH_CAMPAIGN_BATCH ? positive(ctx.env, 'BENCH_CAMPAIGN_BATCH', 2_000) : undefined;
  const analyze = ctx.env.BENCH_CAMPAIGN_ANALYZE !== '0';
  say(`\n[campaigns] generation of a ${people}-person campaign through the worker, then ${revokes} revoke decisions carried out by the mover`);

  const owner = await createDatabasePool(ctx.ownerUrl, { maximumPoolSize: 2, statementTimeoutMs: 600_000 });
  ctx.cleanups.push(() => owner.end());
  const config = loadConfig({ ...ctx.env, DATABASE_URL: ctx.ownerUrl });
  const tenant = await createTenant(owner, { slug: `bench-campaigns-${randomBytes(3).toString('hex')}` });

  // --- fixture (SQL) ------------------------------------------------------------------------
  const seeded = Date.now();
  if (!analyze) {
    for (const t of ['users', 'user_roles', 'group_members', 'portal_users', 'campaign_items']) await ownerExec(ctx.ownerUrl, `ALTER TABLE ${t} SET (autovacuum_enabled = false)`);
  }
  const { definitionId, fallbackId } = await withTenant(owner, tenant.id, async (tx) => {
    const fallback = await tx.oneFirst(sql.type(Id)`
      INSERT INTO portal_users (tenant_id, email, display_name, status) VALUES (${tenant.id}, 'fallback@bench.example', 'Fallback', 'active') RETURNING id`);
    const managers = Math.max(1, Math.floor(people / 50));
    await tx.query(sql.unsafe`
      INSERT INTO users (tenant_id, user_name, user_name_key, emails, lifecycle_state)
      SELECT ${tenant.id}, 'mgr' || i, 'mgr' || i, jsonb_build_array(jsonb_build_object('value', 'mgr' || i || '@bench.example')), 'active'
        FROM generate_series(1, ${managers}) i`);
    await tx.query(sql.unsafe`
      INSERT INTO portal_users (tenant_id, email, status) SELECT ${tenant.id}, 'mgr' || i || '@bench.example', 'active' FROM generate_series(1, ${managers}, 2) i`);
    const group = await tx.oneFirst(sql.type(Id)`INSERT INTO groups (tenant_id, display_name, display_name_key) VALUES (${tenant.id}, 'Staff', 'staff') RETURNING id`);
    await tx.query(sql.unsafe`INSERT INTO role_mappings (tenant_id, group_id, role) VALUES (${tenant.id}, ${group}, 'member')`);
    await tx.query(sql.unsafe`
      WITH m AS (SELECT array_agg(id::text ORDER BY id) AS ids FROM users WHERE tenant_id = ${tenant.id}),
      p AS (
        INSERT INTO users (tenant_id, user_name, user_name_key, emails, enterprise, lifecycle_state)
        SELECT ${tenant.id}, 'person' || i, 'person' || i, jsonb_build_array(jsonb_build_object('value', 'person' || i || '@bench.example')),
               jsonb_build_object('manager', jsonb_build_object('value', m.ids[1 + i % ${managers}])), 'active'
          FROM generate_series(1, ${people}) i, m RETURNING id, user_name),
      r AS (INSERT INTO user_roles (tenant_id, user_id, role) SELECT ${tenant.id}, id, 'member' FROM p)
      INSERT INTO group_members (tenant_id, group_id, user_id) SELECT ${tenant.id}, ${group}, id FROM p WHERE substr(user_name, 7)::int % 2 = 0`);
    const { name, ...settings } = CampaignDefinitionInput.parse({
      name: 'Bench review',
      scope: [{ kind: 'all_roles' }],
      reviewers: { people: 'manager', nonHuman: 'owner', reviewerIds: [], fallbackReviewerId: fallback },
      durationHours: 24 * 14,
    });
    const id = await tx.oneFirst(sql.type(Id)`
      INSERT INTO campaign_definitions (tenant_id, name, settings, created_by_type) VALUES (${tenant.id}, ${name}, ${sql.jsonb(settings as never)}, 'system') RETURNING id`);
    return { definitionId: id, fallbackId: fallback };
  });
  if (analyze) for (const t of ['users', 'user_roles', 'group_members', 'portal_users', 'role_mappings']) await ownerExec(ctx.ownerUrl, `ANALYZE ${t}`);
  say(`[campaigns setup] ${people} people with one role each, ${Math.floor(people / 50)} managers (${Date.now() - seeded} ms)${analyze ? ', ANALYZEd' : ', no statistics (autovacuum off)'}`);

  // Earlier parts may leave an undelivered outbox; this part's worker would relay it mid-measurement.
  await ownerExec(ctx.ownerUrl, `UPDATE outbox SET delivered_at = now() WHERE delivered_at IS NULL`);

  // --- worker ---------------------------------------------------------------------------------
  const taskQueue = `roster-bench-campaigns-${randomBytes(4).toString('hex')}`;
  const worker: NodeProcess = await startNodeProcess({
    script: 'worker/main.ts',
    name: 'worker',
    env: { ...ctx.apiEnv, TEMPORAL_TASK_QUEUE: taskQueue, LOG_LEVEL: 'warn' },
    ready: () => workerPolling(ctx.temporalAddress, taskQueue),
    timeoutMs: 180_000,
    problemPattern: /\[(WARN|ERROR)\]|"level":(40|50|60)\b/,
  });
  ctx.cleanups.push(() => worker.stop());
  const connection = await Connection.connect({ address: ctx.temporalAddress });
  ctx.cleanups.push(() => connection.close());
  const client = new Client({ connection });
  const app = await createDatabasePool(ctx.apiEnv.APP_DATABASE_URL ?? ctx.ownerUrl, { maximumPoolSize: 2 });
  ctx.cleanups.push(() => app.end());
  say(`[campaigns setup] worker process pid ${worker.pid} (LOG_LEVEL=warn), task queue ${taskQueue}`);

  // --- generation -----------------------------------------------------------------------------
  // Launched just before its workflow starts: left unstarted longer, the worker's reconciler would start it.
  await ctx.waitForQuiet();
  const launched = await withTenant(owner, tenant.id, (tx) =>
    launchCampaign(tx, tenant.id, { definitionId, trigger: 'manual', triggerRef: `bench:${taskQueue}`, actor: { type: 'system', id: 'bench' } }),
  );
  if (launched.outcome !== 'launched') throw new Error(`campaign not launched: ${JSON.stringify(launched)}`);
  const campaignId = launched.campaignId;
  const rssBefore = rssOf(worker.pid);
  let rssPeak = rssBefore ?? 0;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssOf(worker.pid) ?? 0)), 100);
  const State = z.object({ state: z.string(), items_total: z.number() });
  const started = Date.now();
  await startCampaignWorkflow(app, client, taskQueue, { tenantId: tenant.id, campaignId, ...(batchSize ? { batchSize } : {}) });
  let row: z.infer<typeof State>;
  for (;;) {
    row = await withTenant(owner, tenant.id, (tx) => tx.one(sql.type(State)`SELECT state, items_total FROM campaigns WHERE tenant_id = ${tenant.id} AND id = ${campaignId}`));
    if (row.state !== 'generating') break;
    if (Date.now() - started > 30 * 60_000) throw new Error('campaign generation did not finish in 30 minutes');
    await new Promise((r) => setTimeout(r, 50));
  }
  const generationMs = Date.now() - started;
  clearInterval(sampler);
  rssPeak = Math.max(rssPeak, rssOf(worker.pid) ?? 0);
  if (row.state !== 'open') throw new Error(`campaign ended up ${row.state}`);
  if (row.items_total !== people) throw new Error(`campaign has ${row.items_total} items, expected ${people}`);

  const handle = client.workflow.getHandle(campaignWorkflowId(tenant.id, campaignId));
  // History events per run, walking back from the current run through continue-as-new.
  const runs: number[] = [];
  for (let runId: string | undefined = (await handle.describe()).runId; runId; ) {
    const history = await client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
    runs.unshift(history.events?.length ?? 0);
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  if (!analyze) {
    for (const t of ['users', 'user_roles', 'group_members', 'portal_users', 'campaign_items']) await ownerExec(ctx.ownerUrl, `ALTER TABLE ${t} RESET (autovacuum_enabled)`);
  }
  say(
    `[campaigns] generated ${row.items_total} items in ${(generationMs / 1000).toFixed(1)} s (${Math.round((row.items_total * 1000) / generationMs)}/s); history ${runs.join(' + ')} events in ${runs.length} run(s); worker RSS ${mib(rssBefore)} before, ${mib(rssPeak)} peak`,
  );

  // --- revoke decisions -----------------------------------------------------------------------
  // A reviewer's bulk decisions as the portal's decide route makes them: the service's decideItems
  // (bulks of 500, the most one request carries), then the signal that makes the workflow recount.
  await ctx.waitForQuiet();
  const reviewer = { tenantId: tenant.id, actor: { type: 'user' as const, id: fallbackId } };
  const PendingOfReviewer = z.object({ id: z.string(), user_id: z.string() });
  const chosen = await withTenant(owner, tenant.id, (tx) =>
    tx.any(sql.type(PendingOfReviewer)`
      SELECT id::text, user_id FROM campaign_items
       WHERE tenant_id = ${tenant.id} AND campaign_id = ${campaignId} AND reviewer_id = ${fallbackId} AND outcome = 'pending'
       ORDER BY id LIMIT ${revokes}`),
  );
  if (chosen.length < revokes) throw new Error(`only ${chosen.length} items for the fallback reviewer to revoke`);
  const revokedUsers = chosen.map((i) => i.user_id);
  const recordStarted = Date.now();
  for (let at = 0; at < chosen.length; at += DECISION_BULK) {
    const itemIds = chosen.slice(at, at + DECISION_BULK).map((i) => i.id);
    const r = await withTenant(app, tenant.id, (tx) =>
      decideItems(tx, reviewer, { catalogue: config.APP_ROLES, hourMs: config.CAMPAIGN_HOUR_MS }, campaignId, { itemIds, decision: 'revoke', reason: 'bench: no longer needed', acknowledgeChanges: false }),
    );
    if (r.result.decided !== itemIds.length) throw new Error(`decideItems decided ${r.result.decided} of ${itemIds.length}: ${JSON.stringify(r.result.results.find((x) => x.result !== 'decided'))}`);
    await notifyCampaignDecided(client, tenant.id, campaignId, r.result.decided);
  }
  const recordMs = Date.now() - recordStarted;
  const remaining = () =>
    withTenant(owner, tenant.id, (tx) =>
      tx.oneFirst(sql.type(Count)`
        SELECT count(*)::int AS n FROM user_roles WHERE tenant_id = ${tenant.id} AND role = 'member' AND user_id = ANY(${sql.array(revokedUsers, 'uuid')})`),
    );
  let left = await remaining();
  while (left > 0) {
    if (Date.now() - recordStarted > 30 * 60_000) throw new Error(`${left} revokes not applied after 30 minutes`);
    await new Promise((r) => setTimeout(r, 100));
    left = await remaining();
  }
  const appliedMs = Date.now() - recordStarted;
  const recordedPerSecond = Math.round((revokedUsers.length * 1000) / Math.max(1, recordMs));
  const appliedPerSecond = Math.round((revokedUsers.length * 1000) / Math.max(1, appliedMs));
  say(
    `[campaigns] ${revokedUsers.length} revoke decisions recorded in ${(recordMs / 1000).toFixed(1)} s (${recordedPerSecond}/s), every role gone through the mover after ${(appliedMs / 1000).toFixed(1)} s (${appliedPerSecond}/s)`,
  );

  const workerProblems = worker.problems();
  const workerTail = workerProblems.length ? worker.output() : '';
  await worker.stop();
  await connection.close();
  await app.end();
  await owner.end();
  ctx.cleanups.splice(-4);

  const met = generationMs < TARGET_MS;
  const rows: string[][] = [
    [`campaign generation, ${people} items, through the worker (items/s; total)`, String(Math.round((people * 1000) / generationMs)), `${(generationMs / 1000).toFixed(1)} s`, '–', '–', '–', '–', '–', `< 60 s: ${met ? 'met' : 'MISSED'}`],
    [`campaign revoke decisions applied by the mover, ${revokedUsers.length} (decisions/s; total)`, String(appliedPerSecond), `${(appliedMs / 1000).toFixed(1)} s`, '–', '–', '–', '–', '–', 'reported'],
  ];
  const details = () => {
    say('\nCampaigns');
    say(
      ctx.table([
        ['measure', 'value'],
        ['generation: workflow start → campaign open (every item written, counted)', `${(generationMs / 1000).toFixed(1)} s (${Math.round((people * 1000) / generationMs)} items/s)`],
        ['generation: workflow history events (per run)', `${runs.join(' + ')} (${runs.length} run${runs.length === 1 ? '' : 's'}; Temporal warns at 10,240, fails at 51,200)`],
        ['generation: worker RSS before → peak', `${mib(rssBefore)} → ${mib(rssPeak)}`],
        ['generation: table statistics', analyze ? 'ANALYZEd after seeding' : 'none (autovacuum off, no ANALYZE)'],
        [`revokes: ${revokedUsers.length} decisions recorded (decideItems, ${DECISION_BULK} per request, as the fallback reviewer)`, `${(recordMs / 1000).toFixed(1)} s (${recordedPerSecond}/s)`],
        ['revokes: recorded → every role gone (relay, identity workflows, mover)', `${(appliedMs / 1000).toFixed(1)} s (${appliedPerSecond}/s)`],
      ]),
    );
    say(`  worker output: ${workerProblems.length} warnings/errors${workerProblems.length ? ':' : ''}`);
    for (const line of workerProblems.slice(0, 5)) say(`    ${line}`);
    if (workerTail) say(`  the worker's last output:\n${workerTail}`);
    // Nothing here is a failed request: a missed target shows in the table.
    return false;
  };
  return {
    rows,
    details,
    json: {
      setup: { people, revokes: revokedUsers.length, batchSize: batchSize ?? 'workflow default (2000)', analyzed: analyze, taskQueue, worker: 'node --import tsx worker/main.ts (own process), LOG_LEVEL=warn' },
      generation: { ms: generationMs, items: people, itemsPerSecond: Math.round((people * 1000) / generationMs), targetMs: TARGET_MS, met, historyEventsPerRun: runs, workerRssBeforeBytes: rssBefore, workerRssPeakBytes: rssPeak },
      revokes: { decisions: revokedUsers.length, recordMs, recordedPerSecond, appliedMs, appliedPerSecond },
      workerWarnings: workerProblems,
    },
  };
}
