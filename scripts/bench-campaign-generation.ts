/**
 * Issue 9 bench: time to generate a campaign of N role items (default 100,000; target under 60 s),
 * through the engine's own generateItemsBatch as the campaign workflow's activity calls it.
 *
 *   npx tsx scripts/bench-campaign-generation.ts [items]
 *
 * Environment:
 *   CAMPAIGN_BENCH_DATABASE_URL  owner URL of the bench database (dropped and re-created! its name must contain "bench")
 *   CAMPAIGN_BENCH_BATCH         people per batch (default 2000)
 *   CAMPAIGN_BENCH_REVOKES       revoke decisions applied after generation (default 2000), to report revokes per second
 *
 * Fixture (SQL, one statement each): N people (a third suspended-free, every one with a manager
 * given by id, half of the managers with a portal user), one role each (a group mapping grants it
 * to half of them, the rest hold it with no source: source_gone), a named fallback reviewer.
 * `benchCampaignGeneration` is exported for scripts/bench.ts.
 */
import pg from 'pg';
import { sql } from 'slonik';
import { z } from 'zod';
import { appDatabaseUrl, loadConfig } from '../core/config.js';
import { generateItemsBatch, openCampaign } from '../core/campaigns/engine.js';
import { ITEM_COLUMNS, ItemRow } from '../core/campaigns/queries.js';
import { applyRevokes } from '../core/campaigns/revoke.js';
import { migrate } from '../core/db/migrate.js';
import { createDatabasePool, withTenant } from '../core/db/pool.js';
import { createTenant } from '../core/repositories/tenants.js';

export interface CampaignGenerationResult {
  items: number;
  batches: number;
  ms: number;
  itemsPerSecond: number;
  peakRssMb: number;
  /** Revoke decisions applied (applyRevokes, role items, transactions of 200) per second. */
  revokesPerSecond: number;
  revokes: number;
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

export async function benchCampaignGeneration(
  ownerUrl: string,
  n: number,
  batchSize = 2000,
  say: (line: string) => void = console.log,
  revokes = 2000,
): Promise<CampaignGenerationResult> {
  await recreateDatabase(ownerUrl, process.env.APP_DATABASE_PASSWORD);
  const config = loadConfig({ ...process.env, DATABASE_URL: ownerUrl });
  const owner = await createDatabasePool(ownerUrl, { maximumPoolSize: 2, statementTimeoutMs: 600_000 });
  const app = await createDatabasePool(appDatabaseUrl(config), { maximumPoolSize: 2 });
  try {
    const tenant = await createTenant(owner, { slug: `campaign-bench-${Date.now()}` });
    const Id = z.object({ id: z.string() });
    const setupStarted = Date.now();
    const campaignId = await withTenant(owner, tenant.id, async (tx) => {
      const fallback = await tx.oneFirst(sql.type(Id)`
        INSERT INTO portal_users (tenant_id, email, display_name, status) VALUES (${tenant.id}, 'fallback@bench.example', 'Fallback', 'active') RETURNING id`);
      const managers = Math.max(1, Math.floor(n / 50));
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
            FROM generate_series(1, ${n}) i, m RETURNING id, user_name),
        r AS (INSERT INTO user_roles (tenant_id, user_id, role) SELECT ${tenant.id}, id, 'member' FROM p)
        INSERT INTO group_members (tenant_id, group_id, user_id) SELECT ${tenant.id}, ${group}, id FROM p WHERE substr(user_name, 7)::int % 2 = 0`);
      await tx.query(sql.unsafe`ANALYZE users`);
      const settings = { scope: [{ kind: 'all_roles' }], reviewers: { people: 'manager', nonHuman: 'owner', reviewerIds: [], fallbackReviewerId: fallback } };
      return tx.oneFirst(sql.type(Id)`
        INSERT INTO campaigns (tenant_id, name, trigger, trigger_ref, settings, state, launched_by_type)
        VALUES (${tenant.id}, 'bench', 'manual', 'bench', ${sql.jsonb(settings)}, 'generating', 'system') RETURNING id`);
    });
    for (const table of ['users', 'user_roles', 'group_members', 'portal_users']) await owner.query(sql.unsafe`ANALYZE ${sql.identifier([table])}`);
    say(`[campaign] fixture: ${n} people with one role each (${Date.now() - setupStarted} ms)`);

    const deps = { catalogue: config.APP_ROLES, hourMs: config.CAMPAIGN_HOUR_MS };
    let peakRss = process.memoryUsage().rss;
    const started = Date.now();
    let items = 0;
    let batches = 0;
    for (;;) {
      const r = await generateItemsBatch(app, deps, { tenantId: tenant.id, campaignId, batchSize });
      batches++;
      items += r.inserted;
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      if (r.done) break;
    }
    const opened = await openCampaign(app, deps, { tenantId: tenant.id, campaignId });
    const ms = Date.now() - started;
    if (opened.itemsTotal !== items) throw new Error(`items_total ${opened.itemsTotal} <> inserted ${items}`);
    say(`[campaign] generated ${items} items in ${batches} batches: ${(ms / 1000).toFixed(1)} s (${Math.round((items * 1000) / ms)}/s), peak RSS ${Math.round(peakRss / 1048576)} MB`);

    // Revoke decisions: each an exclusion, the direct grant removed, a stream event, the item and its audit row.
    const ctx = { tenantId: tenant.id, actor: { type: 'system' as const, id: 'bench' } };
    const revokeStarted = Date.now();
    let revoked = 0;
    while (revoked < Math.min(revokes, items)) {
      revoked += await withTenant(app, tenant.id, async (tx) => {
        const rows = await tx.any(sql.type(ItemRow)`
          SELECT ${ITEM_COLUMNS} FROM campaign_items i WHERE i.tenant_id = ${tenant.id} AND i.campaign_id = ${campaignId} AND i.outcome = 'pending'
           ORDER BY i.id LIMIT 200 FOR UPDATE`);
        await applyRevokes(tx, ctx, deps, rows, 'bench', 'revoked');
        return rows.length;
      });
    }
    const revokeMs = Date.now() - revokeStarted;
    const revokesPerSecond = Math.round((revoked * 1000) / Math.max(1, revokeMs));
    say(`[campaign] applied ${revoked} revoke decisions in ${(revokeMs / 1000).toFixed(1)} s (${revokesPerSecond}/s)`);
    return { items, batches, ms, itemsPerSecond: Math.round((items * 1000) / ms), peakRssMb: Math.round(peakRss / 1048576), revokesPerSecond, revokes: revoked };
  } finally {
    await app.end();
    await owner.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? 100_000);
  const url = process.env.CAMPAIGN_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/roster_campaign_bench';
  benchCampaignGeneration(url, n, Number(process.env.CAMPAIGN_BENCH_BATCH ?? 2000), console.log, Number(process.env.CAMPAIGN_BENCH_REVOKES ?? 2000)).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
