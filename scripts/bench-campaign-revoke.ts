/**
 * Campaign revoke decisions applied in bulk (core/campaigns/revoke.ts applyRevokes): what a
 * reviewer's bulk revoke in the portal and the no-response revoke at close both run, one
 * transaction per bulk.
 *
 *   npx tsx scripts/bench-campaign-revoke.ts [people] [bulks]
 *
 * Environment:
 *   CAMPAIGN_BENCH_DATABASE_URL  owner URL of the bench database (dropped and re-created! its name must contain "bench";
 *                                default roster_campaign_revoke_bench)
 *
 * Fixture: `people` people (default 2,500), each holding the four catalogue roles for four reasons
 * (viewer: the tenant default, member: a group mapping, admin: a direct grant, billing-admin:
 * held with no source left), one role item per person and role (4 × people items, one reviewer),
 * inserted in a shuffled order so a bulk mixes people and carries several roles of some of them.
 * Then, each a transaction:
 *   - `bulks` (default 4) bulks of 100 items and as many of 500, loaded FOR UPDATE and revoked
 *     (applyRevokes alone);
 *   - `bulks` reviewer decisions of 500 revokes through the campaign service (decideItems: what
 *     POST /campaigns/:id/decisions runs, less HTTP);
 *   - the close, whose no-response policy (revoke, cap 100 %) revokes every item left.
 * Reports ms per bulk, items per second and CPU per item: this process (Node) and the PostgreSQL
 * backend that ran the transactions (/proc/<pid>/stat of pg_backend_pid(); the server runs on this
 * machine).
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { sql } from 'slonik';
import { z } from 'zod';
import { appDatabaseUrl, loadConfig } from '../core/config.js';
import { closeCampaign } from '../core/campaigns/engine.js';
import { loadItemsForUpdate } from '../core/campaigns/queries.js';
import { applyRevokes } from '../core/campaigns/revoke.js';
import { decideItems } from '../core/campaigns/service.js';
import { migrate } from '../core/db/migrate.js';
import { createDatabasePool, withTenant } from '../core/db/pool.js';
import { createTenant } from '../core/repositories/tenants.js';

export interface RevokeBulkResult {
  /** applyRevokes, decideItems (a reviewer's bulk revoke), or close (the no-response revoke of what is left). */
  path: 'applyRevokes' | 'decideItems' | 'close';
  bulkSize: number;
  bulks: number;
  items: number;
  msPerBulk: number;
  itemsPerSecond: number;
  /** Node CPU (user + system) per item, microseconds. */
  nodeCpuUsPerItem: number;
  /** PostgreSQL backend CPU per item, microseconds (null where /proc is not readable). */
  pgCpuUsPerItem: number | null;
}

async function recreateDatabase(url: string, appPassword: string | undefined) {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.slice(1));
  if (!/bench/i.test(name)) throw new Error(`refusing to drop "${name}": the bench database's name must contain "bench"`);
  u.pathname = '/postgres';
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await c.end();
  }
  await migrate({ databaseUrl: url, appPassword });
}

/** utime + stime of a process, in microseconds (clock ticks of 100 Hz), or null. */
function processCpuUs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return null;
  }
}

export async function benchCampaignRevoke(ownerUrl: string, people: number, bulks: number, say: (line: string) => void = console.log): Promise<RevokeBulkResult[]> {
  await recreateDatabase(ownerUrl, process.env.APP_DATABASE_PASSWORD);
  const config = loadConfig({ ...process.env, DATABASE_URL: ownerUrl });
  const owner = await createDatabasePool(ownerUrl, { maximumPoolSize: 1, statementTimeoutMs: 600_000 });
  // One connection: every bulk runs on the backend whose CPU is read.
  const app = await createDatabasePool(appDatabaseUrl(config), { maximumPoolSize: 1 });
  try {
    const tenant = await createTenant(owner, { slug: `campaign-revoke-bench-${Date.now()}` });
    const Id = z.object({ id: z.string() });
    let reviewerId = '';
    const setupStarted = Date.now();
    const campaignId = await withTenant(owner, tenant.id, async (tx) => {
      await tx.query(sql.unsafe`UPDATE tenants SET default_role = 'viewer' WHERE id = ${tenant.id}`);
      reviewerId = await tx.oneFirst(sql.type(Id)`
        INSERT INTO portal_users (tenant_id, email, display_name, status) VALUES (${tenant.id}, 'reviewer@bench.example', 'Reviewer', 'active') RETURNING id`);
      const settings = {
        scope: [{ kind: 'all_roles' }],
        reviewers: { people: 'named', nonHuman: 'named', reviewerIds: [reviewerId], fallbackReviewerId: reviewerId },
        noResponse: { action: 'revoke', escalate: false, revokeCapPercent: 100 },
      };
      const group = await tx.oneFirst(sql.type(Id)`INSERT INTO groups (tenant_id, display_name, display_name_key) VALUES (${tenant.id}, 'Staff', 'staff') RETURNING id`);
      await tx.query(sql.unsafe`INSERT INTO role_mappings (tenant_id, group_id, role) VALUES (${tenant.id}, ${group}, 'member')`);
      await tx.query(sql.unsafe`
        WITH p AS (
          INSERT INTO users (tenant_id, user_name, user_name_key, lifecycle_state)
          SELECT ${tenant.id}, 'person' || i, 'person' || i, 'active' FROM generate_series(1, ${people}) i RETURNING id),
        r AS (INSERT INTO user_roles (tenant_id, user_id, role) SELECT ${tenant.id}, p.id, r FROM p, unnest(ARRAY['viewer', 'member', 'admin', 'billing-admin']) r),
        d AS (INSERT INTO direct_role_grants (tenant_id, user_id, role, granted_by) SELECT ${tenant.id}, id, 'admin', 'bench' FROM p)
        INSERT INTO group_members (tenant_id, group_id, user_id) SELECT ${tenant.id}, ${group}, id FROM p`);
      const id = await tx.oneFirst(sql.type(Id)`
        INSERT INTO campaigns (tenant_id, name, trigger, trigger_ref, settings, state, launched_by_type)
        VALUES (${tenant.id}, 'bench', 'manual', 'bench', ${sql.jsonb(settings)}, 'open', 'system') RETURNING id`);
      await tx.query(sql.unsafe`
        INSERT INTO campaign_items (tenant_id, campaign_id, access_kind, access_ref, user_id, reviewer_id, recommendation, recommendation_reason, assigned_by)
        SELECT ${tenant.id}, ${id}, 'role', ur.role, ur.user_id, ${reviewerId}, 'keep', 'bench', 'named'
          FROM user_roles ur WHERE ur.tenant_id = ${tenant.id} ORDER BY random()`);
      await tx.query(sql.unsafe`UPDATE campaigns SET items_total = ${people * 4} WHERE id = ${id}`);
      return id;
    });
    for (const table of ['users', 'user_roles', 'group_members', 'direct_role_grants', 'campaign_items']) await owner.query(sql.unsafe`ANALYZE ${sql.identifier([table])}`);
    say(`[revoke] fixture: ${people} people × 4 roles = ${people * 4} role items (${Date.now() - setupStarted} ms)`);

    const backendPid = await app.oneFirst(sql.type(z.object({ pid: z.number() }))`SELECT pg_backend_pid() AS pid`);
    const ctx = { tenantId: tenant.id, actor: { type: 'system' as const, id: 'bench' } };
    const deps = { catalogue: config.APP_ROLES };
    const pendingIds = async (limit: number) =>
      withTenant(app, tenant.id, (tx) =>
        tx.anyFirst(sql.type(z.object({ id: z.string() }))`
          SELECT id::text AS id FROM campaign_items WHERE tenant_id = ${tenant.id} AND campaign_id = ${campaignId} AND outcome = 'pending' ORDER BY id LIMIT ${limit}`),
      );
    const bulk = (ids: readonly string[]): Promise<number> =>
      withTenant(app, tenant.id, async (tx) => {
        const items = await loadItemsForUpdate(tx, tenant.id, campaignId, ids);
        const records = await applyRevokes(tx, ctx, deps, items, 'bench', 'revoked');
        if (records.some((r) => r.via !== 'identity_stream')) throw new Error(`a role still held was not revoked: ${JSON.stringify(records.find((r) => r.via !== 'identity_stream'))}`);
        return items.length;
      });

    const measure = async (path: RevokeBulkResult['path'], bulkSize: number, runs: number, run: () => Promise<number>) => {
      const pgBefore = processCpuUs(backendPid);
      const cpuBefore = process.cpuUsage();
      const started = process.hrtime.bigint();
      let items = 0;
      for (let n = 0; n < runs; n++) items += await run();
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const cpu = process.cpuUsage(cpuBefore);
      const pgAfter = processCpuUs(backendPid);
      const r: RevokeBulkResult = {
        path,
        bulkSize,
        bulks: runs,
        items,
        msPerBulk: Math.round(ms / runs),
        itemsPerSecond: Math.round((items * 1000) / ms),
        nodeCpuUsPerItem: Math.round((cpu.user + cpu.system) / items),
        pgCpuUsPerItem: pgBefore === null || pgAfter === null ? null : Math.round((pgAfter - pgBefore) / items),
      };
      say(
        `[revoke] ${path}${path === 'close' ? ` (${items} items left)` : `, bulks of ${bulkSize}`}: ${r.msPerBulk} ms per ${path === 'close' ? 'close' : 'bulk'}, ${r.itemsPerSecond} items/s, ` +
          `CPU per item: node ${r.nodeCpuUsPerItem} µs, postgres ${r.pgCpuUsPerItem ?? '?'} µs${path === 'close' ? '' : ` (${runs} bulks)`}`,
      );
      return r;
    };
    // The items of every bulk are chosen before any clock starts (pending, in id order).
    const chosen = [...(await pendingIds(20 + 1100 * bulks))];
    if (chosen.length < 20 + 1100 * bulks) throw new Error(`only ${chosen.length} items for ${bulks} bulks of each kind: more people`);
    const next = (size: number) => chosen.splice(0, size);

    // One small bulk first: the connection, the plans and the module code are warm for all paths.
    await bulk(next(20));
    const results: RevokeBulkResult[] = [];
    for (const size of [100, 500]) results.push(await measure('applyRevokes', size, bulks, () => bulk(next(size))));
    const reviewer = { tenantId: tenant.id, actor: { type: 'user' as const, id: reviewerId } };
    const serviceDeps = { catalogue: config.APP_ROLES, hourMs: config.CAMPAIGN_HOUR_MS };
    results.push(
      await measure('decideItems', 500, bulks, async () => {
        const itemIds = next(500);
        // The snapshot's sources are the fixture's '[]': every item reads as changed since, acknowledged.
        const r = await withTenant(app, tenant.id, (tx) => decideItems(tx, reviewer, serviceDeps, campaignId, { itemIds: [...itemIds], decision: 'revoke', reason: 'bench', acknowledgeChanges: true }));
        if (r.result.decided !== itemIds.length) throw new Error(`decideItems decided ${r.result.decided} of ${itemIds.length}: ${JSON.stringify(r.result.results.find((x) => x.result !== 'decided'))}`);
        return r.result.decided;
      }),
    );
    const left = (await pendingIds(1_000_000)).length;
    results.push(
      await measure('close', left, 1, async () => {
        const r = await closeCampaign(app, serviceDeps, { tenantId: tenant.id, campaignId });
        if (r.noResponseRevoked !== left) throw new Error(`the close revoked ${r.noResponseRevoked} of the ${left} items left`);
        return left;
      }),
    );
    return results;
  } finally {
    await app.end();
    await owner.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const people = Number(process.argv[2] ?? 2500);
  const bulks = Number(process.argv[3] ?? 4);
  const url = process.env.CAMPAIGN_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/roster_campaign_revoke_bench';
  benchCampaignRevoke(url, people, bulks).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
