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
 * Fixture: `people` people (default 1,000), each holding the four catalogue roles for four reasons
 * (viewer: the tenant default, member: a group mapping, admin: a direct grant, billing-admin:
 * held with no source left), one role item per person and role (4 × people items), inserted in a
 * shuffled order so a bulk mixes people and carries several roles of some of them. Then `bulks`
 * (default 4) bulks of 100 items and as many of 500, each loaded FOR UPDATE and revoked in one
 * transaction. Reports ms per bulk, items per second and CPU per item: this process (Node) and
 * the PostgreSQL backend that ran the transactions (/proc/<pid>/stat of pg_backend_pid(); the
 * server runs on this machine).
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { sql } from 'slonik';
import { z } from 'zod';
import { appDatabaseUrl, loadConfig } from '../core/config.js';
import { loadItemsForUpdate } from '../core/campaigns/queries.js';
import { applyRevokes } from '../core/campaigns/revoke.js';
import { migrate } from '../core/db/migrate.js';
import { createDatabasePool, withTenant } from '../core/db/pool.js';
import { createTenant } from '../core/repositories/tenants.js';

export interface RevokeBulkResult {
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
    const setupStarted = Date.now();
    const campaignId = await withTenant(owner, tenant.id, async (tx) => {
      await tx.query(sql.unsafe`UPDATE tenants SET default_role = 'viewer' WHERE id = ${tenant.id}`);
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
        VALUES (${tenant.id}, 'bench', 'manual', 'bench', '{}'::jsonb, 'open', 'system') RETURNING id`);
      await tx.query(sql.unsafe`
        INSERT INTO campaign_items (tenant_id, campaign_id, access_kind, access_ref, user_id, recommendation, recommendation_reason, assigned_by)
        SELECT ${tenant.id}, ${id}, 'role', ur.role, ur.user_id, 'keep', 'bench', 'named'
          FROM user_roles ur WHERE ur.tenant_id = ${tenant.id} ORDER BY random()`);
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
    const bulk = (ids: readonly string[]) =>
      withTenant(app, tenant.id, async (tx) => {
        const items = await loadItemsForUpdate(tx, tenant.id, campaignId, ids);
        const records = await applyRevokes(tx, ctx, deps, items, 'bench', 'revoked');
        if (records.some((r) => r.via !== 'identity_stream')) throw new Error(`a role still held was not revoked: ${JSON.stringify(records.find((r) => r.via !== 'identity_stream'))}`);
        return items.length;
      });

    // One small bulk first: the connection, the plans and the module code are warm for both sizes.
    await bulk(await pendingIds(20));
    const results: RevokeBulkResult[] = [];
    for (const size of [100, 500]) {
      const batches: string[][] = [];
      for (let b = 0; b < bulks; b++) batches.push([]);
      const ids = await pendingIds(size * bulks);
      if (ids.length < size * bulks) throw new Error(`only ${ids.length} pending items left for ${bulks} bulks of ${size}: more people`);
      ids.forEach((id, i) => batches[Math.floor(i / size)]!.push(id));
      const pgBefore = processCpuUs(backendPid);
      const cpuBefore = process.cpuUsage();
      const started = process.hrtime.bigint();
      let items = 0;
      for (const ids of batches) items += await bulk(ids);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const cpu = process.cpuUsage(cpuBefore);
      const pgAfter = processCpuUs(backendPid);
      const r: RevokeBulkResult = {
        bulkSize: size,
        bulks,
        items,
        msPerBulk: Math.round(ms / bulks),
        itemsPerSecond: Math.round((items * 1000) / ms),
        nodeCpuUsPerItem: Math.round((cpu.user + cpu.system) / items),
        pgCpuUsPerItem: pgBefore === null || pgAfter === null ? null : Math.round((pgAfter - pgBefore) / items),
      };
      results.push(r);
      say(
        `[revoke] bulks of ${size}: ${r.msPerBulk} ms per bulk, ${r.itemsPerSecond} items/s, CPU per item: node ${r.nodeCpuUsPerItem} µs, ` +
          `postgres ${r.pgCpuUsPerItem ?? '?'} µs (${bulks} bulks)`,
      );
    }
    return results;
  } finally {
    await app.end();
    await owner.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const people = Number(process.argv[2] ?? 1000);
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
