import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import pino from 'pino';
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { appDatabaseUrl, loadConfig, webhookTargets } from '../../core/config.js';
import { createDatabasePool, type Db, withTenant } from '../../core/db/pool.js';
import { parseResolverList } from '../../core/domains/dns.js';
import { sealAuditChains, verifyAuditChain } from '../../core/repositories/audit.js';
import { loadSecretsKey } from '../../core/secret-box.js';
import { checkWebhookUrl, createWebhook } from '../../core/webhooks/service.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../scripts/lib/chaos/webhook-receiver.js';
import { createLifecycleWorker } from '../../worker/create-worker.js';
import { type BackgroundLoop, startBackgroundLoops } from '../../worker/outbox-relay.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/**
 * Issue 10: relays, sealers and Temporal workers stay correct when several run against one
 * database. Three worker instances (each its own pool, Temporal worker, outbox relay, audit and feed
 * sealers) on one task queue, plus sealers called in a tight loop from three more pools, while SCIM
 * writes pour in: no webhook event reaches the receiver twice, every outbox row is applied once,
 * and every tenant's audit chain is gapless and verifies.
 */
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const SMALL_CACHE = 8;
const n = z.object({ n: z.number() });

interface ExtraWorker {
  db: Db;
  worker: Worker;
  run: Promise<void>;
  loops: BackgroundLoop;
  close(): Promise<void>;
}

/** One more worker instance, as a replica process would run it (worker/runtime.ts), in this process. */
async function startExtraWorker(stack: TestStack, options: { maxCachedWorkflows?: number; stickyTimeoutMs?: number } = {}): Promise<ExtraWorker> {
  const db = await createDatabasePool(appDatabaseUrl(stack.config), { maximumPoolSize: 6 });
  const address = inject('temporalAddress');
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const nativeConnection = await NativeConnection.connect({ address });
  const worker = await createLifecycleWorker({
    connection: nativeConnection,
    client,
    namespace: 'default',
    taskQueue: stack.taskQueue,
    db,
    roles: stack.config.APP_ROLES,
    secretKey: loadSecretsKey(stack.config),
    webhookTargets: webhookTargets(stack.config),
    workflowBundle: { code: inject('workflowCode') },
    dnsServers: parseResolverList(stack.config.DNS_RESOLVER),
    approvalHourMs: stack.config.APPROVAL_HOUR_MS,
    ...options,
  });
  const run = worker.run();
  const loops = startBackgroundLoops({
    db,
    client,
    taskQueue: stack.taskQueue,
    logger: pino({ level: 'silent' }),
    pollMs: 20,
    batchSize: 10, // small batches: the relays interleave on the same streams
    streamConcurrency: stack.config.RELAY_STREAM_CONCURRENCY,
    defer: { ms: stack.config.RELAY_DEFER_MS, maxMs: stack.config.RELAY_DEFER_MAX_MS },
    listenUrl: appDatabaseUrl(stack.config),
  });
  return {
    db,
    worker,
    run,
    loops,
    async close() {
      await loops.stop();
      worker.shutdown();
      await run;
      await connection.close();
      await nativeConnection.close();
      await db.end();
    },
  };
}

let stack: TestStack;
let receiver: WebhookReceiver;
const extras: ExtraWorker[] = [];
const tenants: TestTenant[] = [];

beforeAll(async () => {
  stack = await startStack({ worker: true, env: { RELAY_BATCH_SIZE: '10' } });
  receiver = await startWebhookReceiver();
  const policy = { allowHttpLoopback: true, secretKey: loadSecretsKey(stack.config), targets: webhookTargets(stack.config) };
  for (let i = 0; i < 3; i++) {
    const tenant = await stack.createTenant();
    await stack.owner.query(sql.unsafe`UPDATE tenants SET guard_max_share = 1, guard_max_suspensions = 1000000 WHERE id = ${tenant.id}`);
    const url = await checkWebhookUrl(receiver.urlFor(tenant.id), policy);
    await withTenant(stack.owner, tenant.id, (tx) => createWebhook(tx, { tenantId: tenant.id, actor: { type: 'system', id: 'test' } }, policy, { url }));
    tenants.push(tenant);
  }
  // One replica with a tiny sticky cache (WORKER_MAX_CACHED_WORKFLOWS): most of its tasks then
  // replay the run's history first, as in a directory larger than the cache.
  extras.push(await startExtraWorker(stack, { maxCachedWorkflows: SMALL_CACHE, stickyTimeoutMs: 30_000 }), await startExtraWorker(stack));
});

afterAll(async () => {
  for (const e of extras) await e.close();
  await stack?.close();
  await receiver?.close();
});

describe('several workers and sealers against one database', () => {
  it('no double delivery, every change applied once, every audit chain gapless and verified', async () => {
    // Sealers racing beyond the workers' own: three more pools sealing in a loop while writes land.
    const racers = await Promise.all([1, 2, 3].map(() => createDatabasePool(appDatabaseUrl(stack.config), { maximumPoolSize: 2 })));
    let writing = true;
    let racedSeals = 0;
    const sealers = racers.map(async (db) => {
      while (writing) racedSeals += await sealAuditChains(db);
    });

    const userIds = new Map<string, string[]>();
    await Promise.all(
      tenants.map(async (tenant) => {
        const group = await stack.scim(tenant, 'POST', '/Groups', { displayName: 'several-workers' });
        expect(group.status).toBe(201);
        const ids: string[] = [];
        for (let batch = 0; batch < 5; batch++) {
          const created = await Promise.all(Array.from({ length: 8 }, (_, i) => stack.scim(tenant, 'POST', '/Users', { userName: `sw-${batch}-${i}@example.com` })));
          for (const c of created) expect(c.status).toBe(201);
          ids.push(...created.map((c) => c.body.id as string));
        }
        // Joiners first (a user deactivated before its joiner ran is never provisioned, so has no leaver).
        await eventually(async () => (await stack.owner.oneFirst(sql.type(n)`
          SELECT count(*)::int AS n FROM users WHERE tenant_id = ${tenant.id} AND lifecycle_state = 'active'`)) === ids.length, 120_000, 250);
        const members = await stack.scim(tenant, 'PATCH', `/Groups/${group.body.id}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: ids.slice(0, 20).map((value) => ({ value })) }] });
        expect(members.status).toBeLessThan(300);
        const leavers = await Promise.all(ids.slice(10, 25).map((id) => stack.scim(tenant, 'PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] })));
        for (const l of leavers) expect(l.status).toBe(200);
        userIds.set(tenant.id, ids);
      }),
    );

    const tenantIds = sql.array(tenants.map((t) => t.id), 'uuid');
    await eventually(async () => {
      const pending = await stack.owner.oneFirst(sql.type(n)`
        SELECT ((SELECT count(*) FROM outbox WHERE tenant_id = ANY(${tenantIds}) AND delivered_at IS NULL)
              + (SELECT count(*) FROM users WHERE tenant_id = ANY(${tenantIds}) AND applied_seq <> event_seq)
              + (SELECT count(*) FROM events WHERE tenant_id = ANY(${tenantIds}) AND position IS NULL))::int AS n`);
      const events = await stack.owner.oneFirst(sql.type(n)`SELECT count(*)::int AS n FROM events WHERE tenant_id = ANY(${tenantIds})`);
      const leavers = await stack.owner.oneFirst(sql.type(n)`SELECT count(*)::int AS n FROM events WHERE tenant_id = ANY(${tenantIds}) AND type = 'user.suspended'`);
      return pending === 0 && leavers === 3 * 15 && new Set(receiver.received.map((r) => r.id)).size === events;
    }, 180_000, 250);
    writing = false;
    await Promise.all(sealers);
    await sealAuditChains(stack.app);
    for (const db of racers) await db.end();

    // Every event reached the receiver exactly once.
    const ids = receiver.received.map((r) => r.id);
    expect(ids.length).toBeGreaterThanOrEqual(3 * (40 + 15));
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);

    // Every outbox row of a user stream was applied once: one lifecycle audit row per (user, seq).
    const appliedOtherThanOnce = await stack.owner.any(sql.type(z.object({ stream_id: z.string(), seq: z.number(), n: z.number() }))`
      SELECT o.stream_id::text, o.seq::int, count(a.id)::int AS n
        FROM outbox o
        LEFT JOIN audit_events a ON a.tenant_id = o.tenant_id AND a.target_type = 'user' AND a.target_id = o.stream_id::text
                                AND a.action LIKE 'lifecycle.%' AND (a.data->>'seq')::bigint = o.seq
       WHERE o.tenant_id = ANY(${tenantIds}) AND o.stream_type = 'user'
       GROUP BY o.stream_id, o.seq HAVING count(a.id) <> 1`);
    expect(appliedOtherThanOnce).toEqual([]);
    const joiners = await stack.owner.oneFirst(sql.type(n)`
      SELECT count(*)::int AS n FROM audit_events WHERE tenant_id = ANY(${tenantIds}) AND action = 'lifecycle.active'`);
    expect(joiners).toBe(3 * 40);
    const suspended = await stack.owner.any(sql.type(z.object({ subject_id: z.string(), n: z.number() }))`
      SELECT subject_id::text, count(*)::int AS n FROM events WHERE tenant_id = ANY(${tenantIds}) AND type = 'user.suspended' GROUP BY 1`);
    expect(suspended).toHaveLength(3 * 15);
    expect(suspended.filter((s) => s.n !== 1)).toEqual([]);

    // The work was really shared: more than one relay and more than one sealer did some of it.
    expect(racedSeals).toBeGreaterThan(0);
    for (const tenant of tenants) {
      const chain = await verifyAuditChain(stack.owner, tenant.id);
      expect(chain.first_bad_seq, tenant.slug).toBeNull();
      const links = await stack.owner.one(sql.type(z.object({ rows: z.number(), sealed: z.number(), max: z.number() }))`
        SELECT count(*)::int AS rows, count(seq)::int AS sealed, coalesce(max(seq), 0)::int AS max FROM audit_events WHERE tenant_id = ${tenant.id}`);
      // Gapless and complete: no two sealers linked one head twice, none skipped a row.
      expect(links.sealed).toBe(links.rows);
      expect(links.max).toBe(links.rows);
      expect(chain.sealed).toBe(links.rows);
    }
  }, 300_000);

  it('a worker keeps as many runs in its sticky cache, and waits as long for their tasks, as the configuration says', () => {
    const config = loadConfig({ WORKER_MAX_CACHED_WORKFLOWS: '20000', WORKER_STICKY_TIMEOUT_MS: '120000' });
    expect([config.WORKER_MAX_CACHED_WORKFLOWS, config.WORKER_STICKY_TIMEOUT_MS]).toEqual([20_000, 120_000]);
    expect(() => loadConfig({ WORKER_STICKY_TIMEOUT_MS: '10' })).toThrow();
    expect(extras[0]!.worker.options.maxCachedWorkflows).toBe(SMALL_CACHE);
    expect(extras[0]!.worker.options.stickyQueueScheduleToStartTimeoutMs).toBe(30_000);
    // The defaults: the SDK's cache size (derived from the heap limit) and core/config.ts's timeout.
    const defaults = loadConfig({});
    expect(defaults.WORKER_MAX_CACHED_WORKFLOWS).toBe(0);
    expect(extras[1]!.worker.options.maxCachedWorkflows).toBeGreaterThan(SMALL_CACHE);
    expect(extras[1]!.worker.options.stickyQueueScheduleToStartTimeoutMs).toBe(defaults.WORKER_STICKY_TIMEOUT_MS);
  });
});
