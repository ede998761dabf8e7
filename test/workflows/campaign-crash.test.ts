import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { notifyCampaignDecided, startCampaignWorkflow } from '../../activities/campaign-client.js';
import { withTenant } from '../../core/db/pool.js';
import { campaignWorkflowId } from '../../workflows/ids.js';
import { campaignAudit, campaignInState, campaignRow, decideWithSql, defineCampaign, itemsOf, launch, membersWithSql, portalUser } from '../helpers/campaigns.js';
import { eventually, startStack, type TestStack } from '../helpers/stack.js';
import { kill9, spawnWorkerProcess } from '../helpers/worker-process.js';

/**
 * A campaign survives its worker: the campaign workflow runs in a real worker process
 * (worker/main.ts) that is killed with SIGKILL in the middle of generation, and while the campaign
 * is open; a new worker process carries on, and the campaign closes with every item written once.
 * The stack here has no worker of its own: only the child process polls the task queue.
 */

const HOUR_MS = 500;
const taskQueue = `campaign-crash-${randomBytes(4).toString('hex')}`;
let stack: TestStack;
let connection: Connection;
let client: Client;
let worker: ChildProcess | undefined;

const startWorker = () =>
  spawnWorkerProcess({
    databaseUrl: stack.databaseUrl,
    temporalAddress: inject('temporalAddress'),
    taskQueue,
    env: { DATA_DIR: stack.config.DATA_DIR, RELAY_POLL_MS: '50', CAMPAIGN_HOUR_MS: String(HOUR_MS) },
  });

beforeAll(async () => {
  stack = await startStack();
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection });
  worker = startWorker();
});
afterAll(async () => {
  await kill9(worker);
  await connection?.close();
  await stack?.close();
});


/** A tenant with `people` people holding `member` (SQL), a named reviewer and a fallback. */
async function tenantWithPeople(people: number) {
  const tenant = await stack.createTenant();
  await membersWithSql(stack, tenant.id, people);
  const reviewer = await portalUser(stack, tenant.id, `r-${tenant.slug}@example.com`, ['reviewer']);
  const fallback = await portalUser(stack, tenant.id, `f-${tenant.slug}@example.com`, ['reviewer']);
  return { tenant, reviewer, fallback };
}

const settings = (t: { reviewer: string; fallback: string }, durationHours: number) => ({
  name: 'Crash review',
  scope: [{ kind: 'all_roles' as const }],
  reviewers: { people: 'named' as const, nonHuman: 'named' as const, reviewerIds: [t.reviewer], fallbackReviewerId: t.fallback },
  durationHours,
  noResponse: { action: 'keep_and_flag' as const, escalate: false },
});

const Progress = z.object({ items_total: z.number(), generation_cursor: z.string().nullable(), n: z.number() });

describe('campaign workflow across worker crashes', () => {
  it('a worker killed mid-generation: the next worker finishes it, every item written once, and the campaign closes at its deadline', { timeout: 180_000 }, async () => {
    const people = 3_000;
    const t = await tenantWithPeople(people);
    const definitionId = await defineCampaign(stack, t.tenant.id, settings(t, 16));
    const campaignId = await launch(stack, t.tenant.id, definitionId, { start: false });
    // Small batches: generation takes long enough to be interrupted.
    await startCampaignWorkflow(stack.app, client, taskQueue, { tenantId: t.tenant.id, campaignId, batchSize: 25 });
    const midway = await eventually(async () => {
      const p = await withTenant(stack.owner, t.tenant.id, (tx) =>
        tx.one(sql.type(Progress)`
          SELECT c.items_total, c.generation_cursor, (SELECT count(*) FROM campaign_items i WHERE i.campaign_id = c.id)::int AS n
            FROM campaigns c WHERE c.id = ${campaignId}`),
      );
      return p.items_total > 200 && p;
    }, 90_000, 20);
    await kill9(worker);
    expect(midway.generation_cursor).not.toBe('done');
    const atKill = await campaignRow(stack, t.tenant.id, campaignId);
    expect(atKill.state).toBe('generating');
    expect(atKill.items_total).toBeLessThan(people);

    worker = startWorker();
    const opened = await campaignInState(stack, t.tenant.id, campaignId, 'open', 90_000);
    expect(opened.items_total).toBe(people);
    const items = await itemsOf(stack, t.tenant.id, campaignId);
    expect(items).toHaveLength(people);
    expect(new Set(items.map((i) => i.user_id)).size).toBe(people);

    const closed = await campaignInState(stack, t.tenant.id, campaignId, 'closed', 60_000);
    expect(closed.summary.progress).toMatchObject({ items: people, noResponseKept: people });
    const audit = await campaignAudit(stack, t.tenant.id, campaignId);
    expect(audit.filter((a) => a === 'campaign.started')).toHaveLength(1);
    expect(audit.filter((a) => a === 'campaign.closed')).toHaveLength(1);
    expect(await client.workflow.getHandle(campaignWorkflowId(t.tenant.id, campaignId)).result()).toBe('closed');
  });

  it('a worker killed while the campaign is open: decisions and the deadline are taken by the next worker, and it closes once', { timeout: 180_000 }, async () => {
    const t = await tenantWithPeople(4);
    const definitionId = await defineCampaign(stack, t.tenant.id, settings(t, 12)); // 6 s
    const campaignId = await launch(stack, t.tenant.id, definitionId, { start: false });
    await startCampaignWorkflow(stack.app, client, taskQueue, { tenantId: t.tenant.id, campaignId });
    await campaignInState(stack, t.tenant.id, campaignId, 'open', 60_000);

    await kill9(worker);
    const items = await itemsOf(stack, t.tenant.id, campaignId);
    await decideWithSql(stack, t.tenant.id, campaignId, [items[0]!.id, items[1]!.id], t.reviewer);
    // Signalled while no worker runs: the signal waits in the history.
    await notifyCampaignDecided(client, t.tenant.id, campaignId, 2);
    const row = await campaignRow(stack, t.tenant.id, campaignId);
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(row.due_at!) - Date.now()) + 500));
    expect((await campaignRow(stack, t.tenant.id, campaignId)).state).toBe('open');

    worker = startWorker();
    const closed = await campaignInState(stack, t.tenant.id, campaignId, 'closed', 90_000);
    expect(closed.summary.progress).toMatchObject({ items: 4, kept: 2, noResponseKept: 2 });
    const audit = await campaignAudit(stack, t.tenant.id, campaignId);
    expect(audit.filter((a) => a === 'campaign.closed')).toHaveLength(1);
    expect(await client.workflow.getHandle(campaignWorkflowId(t.tenant.id, campaignId)).result()).toBe('closed');
  });
});
