import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { createDatabasePool, type Db, withTenant } from '../../core/db/pool.js';
import { insertConnectionWithToken } from '../../core/connections/queries.js';
import { createTenant } from '../../core/repositories/tenants.js';
import { freePort } from '../../scripts/lib/temporal-dev-server.js';
import { cloneDatabase, eventually } from '../helpers/stack.js';

/**
 * `npm start` as replicas: two API processes and a worker process (ROSTER_ROLE) against one
 * PostgreSQL and one Temporal, and SIGTERM under load. The load generator plays the load balancer:
 * a request refused by a stopped API goes to the other one.
 */
interface Replica {
  name: string;
  child: ChildProcess;
  out: string;
  url?: string;
  exited: Promise<number | null>;
}

const replicas: Replica[] = [];
let owner: Db;
let databaseUrl: string;
const taskQueue = `replicas-${randomBytes(4).toString('hex')}`;

async function startReplica(name: string, role: 'api' | 'worker', env: Record<string, string> = {}): Promise<Replica> {
  const port = role === 'api' ? await freePort() : 0;
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    env: { ...process.env, ROSTER_ROLE: role, PORT: String(port), DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_TASK_QUEUE: taskQueue, LOG_LEVEL: 'warn', DATA_DIR: `/tmp/${taskQueue}`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const replica: Replica = { name, child, out: '', exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
  child.stdout.on('data', (d: Buffer) => (replica.out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (replica.out += d.toString()));
  replicas.push(replica);
  await eventually(async () => replica.out.includes('Ctrl-C stops everything') || child.exitCode !== null, 120_000, 100);
  expect(child.exitCode, replica.out).toBeNull();
  expect(replica.out).toContain(`role: ${role}`);
  if (role === 'api') replica.url = `http://127.0.0.1:${port}`;
  return replica;
}

/** GET on a connection of its own (not a pooled keep-alive socket the draining server is closing). */
function statusOnFreshConnection(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).once('error', reject);
  });
}

beforeAll(async () => {
  databaseUrl = await cloneDatabase();
  owner = await createDatabasePool(databaseUrl, { maximumPoolSize: 2 });
});
afterAll(async () => {
  for (const r of replicas) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  await owner?.end();
});

describe('replicas and graceful shutdown', () => {
  it('two APIs and a worker share one database and Temporal; SIGTERM under load loses no request and no event', async () => {
    const tenant = await createTenant(owner, { slug: 'replicas', name: 'Replicas' });
    const [apiBMetricsPort, workerMetricsPort, temporalMetricsPort] = [await freePort(), await freePort(), await freePort()];
    const { token } = await withTenant(owner, tenant.id, (tx) => insertConnectionWithToken(tx, tenant.id));
    const [apiA, apiB, worker1] = await Promise.all([startReplica('api-a', 'api', { SHUTDOWN_DELAY_MS: '1500' }), startReplica('api-b', 'api', { METRICS_PORT: String(apiBMetricsPort) }), startReplica('worker-1', 'worker')]);

    const live = new Set([apiA, apiB]);
    const statuses: number[] = [];
    /** One SCIM create through "the load balancer": a refused or reset connection goes to another API. */
    async function create(i: number): Promise<void> {
      const body = JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `replica-${i}@example.com`, active: true });
      for (let attempt = 0; attempt < 6; attempt++) {
        const targets = [...live];
        const api = targets[(i + attempt) % targets.length]!;
        try {
          const res = await fetch(`${api.url}/scim/v2/Users`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' }, body });
          await res.arrayBuffer();
          // A retried create whose first attempt did land answers 409: the user exists, as asked.
          statuses.push(res.status === 409 && attempt > 0 ? 201 : res.status);
          return;
        } catch {
          // Connection refused or reset: the API stopped listening (never mid-request).
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      statuses.push(0);
    }

    const total = 160;
    let next = 0;
    let sigtermApi: Promise<void> | undefined;
    let sigtermWorker: Promise<void> | undefined;
    const readyDuringDrain: number[] = [];
    async function lane(): Promise<void> {
      while (next < total) {
        const i = next++;
        if (i === 40) {
          sigtermApi = (async () => {
            apiA.child.kill('SIGTERM');
            readyDuringDrain.push(await statusOnFreshConnection(`${apiA.url}/readyz`));
            live.delete(apiA);
            expect(await apiA.exited, apiA.out).toBe(0);
          })();
        }
        if (i === 80) {
          sigtermWorker = (async () => {
            worker1.child.kill('SIGTERM');
            expect(await worker1.exited, worker1.out).toBe(0);
          })();
        }
        await create(i);
      }
    }
    await Promise.all(Array.from({ length: 10 }, lane));
    await Promise.all([sigtermApi, sigtermWorker]);

    expect(readyDuringDrain).toEqual([503]);
    expect(statuses.filter((s) => s !== 201)).toEqual([]);
    expect(statuses).toHaveLength(total);

    // The events the stopped worker left behind are applied by a new one, each exactly once.
    await startReplica('worker-2', 'worker', { METRICS_PORT: String(workerMetricsPort), TEMPORAL_METRICS_PORT: String(temporalMetricsPort) });
    const Count = z.object({ users: z.number(), active: z.number() });
    await eventually(async () => {
      const c = await owner.one(sql.type(Count)`
        SELECT count(*)::int AS users, count(*) FILTER (WHERE lifecycle_state = 'active' AND applied_seq = event_seq)::int AS active FROM users WHERE tenant_id = ${tenant.id}`);
      return c.users === total && c.active === total;
    }, 120_000, 250);
    const joiners = await owner.any(sql.type(z.object({ target_id: z.string(), n: z.number() }))`
      SELECT target_id, count(*)::int AS n FROM audit_events WHERE tenant_id = ${tenant.id} AND action = 'lifecycle.active' GROUP BY target_id`);
    expect(joiners).toHaveLength(total);
    expect(joiners.filter((j) => j.n !== 1)).toEqual([]);
    expect(await owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM outbox WHERE tenant_id = ${tenant.id} AND delivered_at IS NULL`)).toBe(0);

    // Prometheus: the API counts and times SCIM requests per tenant; the worker reports the relay,
    // the database-backed gauges and the Temporal SDK's own metrics.
    const apiMetrics = await (await fetch(`http://127.0.0.1:${apiBMetricsPort}/metrics`)).text();
    const created = new RegExp(`roster_scim_requests_total\\{tenant="${tenant.id}",resource="Users",method="POST",status="201",process="api"\\} (\\d+)`).exec(apiMetrics);
    expect(Number(created?.[1]), apiMetrics.slice(0, 2000)).toBeGreaterThan(total / 3);
    expect(apiMetrics).toMatch(/roster_scim_request_duration_seconds_bucket\{le="\+Inf",process="api",resource="Users",method="POST"\} [1-9]/);
    // Never on the public port (there the path is only the portal's fallback, if anything).
    expect(await (await fetch(`${apiB.url}/metrics`)).text()).not.toContain('roster_scim_requests_total');
    // worker-2's relay may have found nothing left to hand over (worker-1 can relay every create
    // while it drains): one more write gives it a signal of its own to count.
    const someone = await owner.oneFirst(sql.type(z.object({ id: z.string() }))`SELECT id FROM users WHERE tenant_id = ${tenant.id} LIMIT 1`);
    const renamed = await fetch(`${apiB.url}/scim/v2/Users/${someone}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
      body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: 'Renamed' }] }),
    });
    expect(renamed.status).toBe(200);
    const workerMetrics = await eventually(async () => {
      const text = await (await fetch(`http://127.0.0.1:${workerMetricsPort}/metrics`)).text();
      const delivered = /roster_relay_signals_total\{workflow_type="identityLifecycle",outcome="delivered",process="worker"\} [1-9]/.test(text);
      return delivered && /^roster_outbox_backlog\{process="worker"\} 0$/m.test(text) && text;
    });
    expect(workerMetrics).toMatch(/^roster_outbox_backlog\{process="worker"\} 0$/m);
    expect(workerMetrics).toMatch(/^roster_guard_holds\{process="worker"\} 0$/m);
    expect(workerMetrics).toMatch(/^roster_audit_sealer_lag_seconds\{process="worker"\} [\d.e+-]+$/m);
    const sdkMetrics = await (await fetch(`http://127.0.0.1:${temporalMetricsPort}/metrics`)).text();
    expect(sdkMetrics).toMatch(/temporal_workflow_task_execution_latency|temporal_request/);
  }, 300_000);
});
