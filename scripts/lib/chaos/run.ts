import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, webhookTargets } from '../../../core/config.js';
import { insertConnectionWithToken } from '../../../core/connections/queries.js';
import { migrate } from '../../../core/db/migrate.js';
import { createDatabasePool, withTenant } from '../../../core/db/pool.js';
import { createTenant } from '../../../core/repositories/tenants.js';
import { loadSecretsKey } from '../../../core/secret-box.js';
import { checkWebhookUrl, createWebhook } from '../../../core/webhooks/service.js';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { sql } from 'slonik';
import { ensurePortalBuilt } from '../portal-build.js';
import { type DevServer, startDevServer } from '../temporal-dev-server.js';
import { type LoadStats, runLoad, type TenantModel } from './load.js';
import { startPrivateCluster } from './postgres-cluster.js';
import { type Replica, startReplica } from './replicas.js';
import { type ChaosVerification, verifyChaosRun } from './verify.js';
import { startWebhookReceiver } from './webhook-receiver.js';

export interface ChaosOptions {
  writes: number;
  connections: number;
  tenants: number;
  temporalCli: string;
  groupsPerTenant?: number;
  /** How long PostgreSQL stays down between its immediate stop and its start. */
  pgDownMs?: number;
  settleTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface FaultRecord {
  fault: string;
  atWrite: number;
  startedAt: number;
  /** From the fault to the process (or server) serving again. */
  recoveredMs: number;
}

export interface ChaosReport {
  options: Omit<ChaosOptions, 'log' | 'temporalCli'>;
  load: LoadStats;
  /** When the load began (ms since the epoch). */
  startedAt: number;
  loadMs: number;
  faults: FaultRecord[];
  verification: ChaosVerification;
  /** Every broken promise, in words; empty when the run proved what it should. */
  violations: string[];
  serverErrors: string[];
}

/**
 * The chaos run (issue 10): a private PostgreSQL cluster, a persisted Temporal dev server, 2 API and
 * 2 worker processes of `npm start`, a webhook receiver, `tenants` tenants with a SCIM token and a
 * webhook each, a mixed SCIM load, and on its way: kill -9 a worker, restart PostgreSQL in immediate
 * mode, kill -9 an API, kill -9 and restart Temporal. Each fault waits for a share of the writes
 * and the load waits (at the next step's share) until the previous fault recovered, so every fault
 * happens under load whatever the machine's speed.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'roster-chaos-'));
  const cleanups: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const cleanUp = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => {});
  };
  running.add(cleanUp);
  try {
    log('private PostgreSQL cluster…');
    const cluster = await startPrivateCluster();
    cleanups.push(() => cluster.destroy());
    const databaseUrl = cluster.url('roster');
    await migrate({ databaseUrl });
    log(`  port ${cluster.port}, migrated`);

    let temporal: DevServer = await startDevServer({ cli: options.temporalCli, dbFile: join(dir, 'temporal.sqlite') });
    cleanups.push(() => temporal.stop('SIGKILL'));
    log(`Temporal dev server on ${temporal.address} (persisted)`);

    const receiver = await startWebhookReceiver();
    cleanups.push(() => receiver.close());

    const secretsKey = randomBytes(32).toString('base64');
    const taskQueue = `chaos-${randomBytes(4).toString('hex')}`;
    const env = {
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      SECRETS_ENCRYPTION_KEY: secretsKey,
      LOG_LEVEL: 'error',
      NODE_ENV: 'development',
      DATA_DIR: join(dir, 'data'),
      RELAY_POLL_MS: '100',
      DATABASE_POOL_SIZE: '20',
    };

    const tenants = await createTenants({ databaseUrl, count: options.tenants, secretsKey, urlFor: (endpoint) => receiver.urlFor(endpoint) });
    log(`${tenants.length} tenants with a SCIM token and a webhook each`);

    ensurePortalBuilt(); // once here, not raced by two API processes
    const replicas: Replica[] = [];
    const everStarted: Replica[] = [];
    cleanups.push(async () => {
      for (const r of replicas) await r.kill9();
    });
    const start = async (name: string, role: 'api' | 'worker') => {
      const r = await startReplica({ name, role, env });
      replicas.push(r);
      everStarted.push(r);
      return r;
    };
    const restart = async (r: Replica) => {
      await r.kill9();
      const again = await r.restart();
      replicas[replicas.indexOf(r)] = again;
      everStarted.push(again);
      return again;
    };
    log('2 API and 2 worker processes…');
    const [api1, api2, worker1] = await Promise.all([start('api-1', 'api'), start('api-2', 'api'), start('worker-1', 'worker')]);
    await start('worker-2', 'worker');
    const apis = [api1.url!, api2.url!];
    const liveApis = new Set(apis);

    // Groups for the group pushes, before any fault.
    for (const t of tenants) {
      for (let g = 0; g < (options.groupsPerTenant ?? 3); g++) {
        const res = await fetch(`${apis[0]}/scim/v2/Groups`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/scim+json' },
          body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: `chaos-group-${g}` }),
        });
        const body = (await res.json()) as { id: string };
        if (res.status !== 201) throw new Error(`group create: ${res.status} ${JSON.stringify(body)}`);
        t.groups.push(body.id);
      }
    }

    // The fault timeline.
    const faults: FaultRecord[] = [];
    let issued = 0;
    let pgDown = false;
    const pgInFlight = { n: 0 };
    const waiters: { at: number; resolve: () => void }[] = [];
    const reached = (at: number) => new Promise<void>((resolve) => (issued >= at ? resolve() : waiters.push({ at, resolve })));
    const gates: { at: number; done: Promise<void> }[] = [];
    const share = (f: number) => Math.floor(options.writes * f);
    const step = async (at: number, fault: string, run: () => Promise<void>) => {
      await reached(at);
      log(`  fault at write ${issued}: ${fault}`);
      const began = Date.now();
      await run();
      faults.push({ fault, atWrite: at, startedAt: began, recoveredMs: Date.now() - began });
      log(`  recovered after ${Date.now() - began} ms: ${fault}`);
    };
    const timeline = [
      { at: share(0.1), gate: share(0.3), fault: 'kill -9 worker-1, start it again', run: async () => {
        await restart(worker1);
      } },
      { at: share(0.3), gate: share(0.45), fault: 'PostgreSQL stopped in immediate mode, started again', run: async () => {
        pgDown = true;
        cluster.stopImmediate();
        await new Promise((r) => setTimeout(r, options.pgDownMs ?? 3_000));
        cluster.start();
        // Pools notice broken connections on their next use: count the next second as the restart too.
        await new Promise((r) => setTimeout(r, 1_000));
        pgDown = false;
        // Recovered once the requests sent during the restart are answered (they may still be
        // retrying inside an API): the next fault kills an API, which must not cut them off.
        const settleBy = Date.now() + 30_000;
        while (pgInFlight.n > 0 && Date.now() < settleBy) await new Promise((r) => setTimeout(r, 50));
      } },
      { at: share(0.45), gate: share(0.65), fault: 'kill -9 api-1 (the load balancer sends to api-2), start it again', run: async () => {
        liveApis.delete(api1.url!);
        await restart(api1);
        liveApis.add(api1.url!);
      } },
      { at: share(0.65), gate: share(0.85), fault: 'kill -9 the Temporal server, start it again on its database file', run: async () => {
        await temporal.stop('SIGKILL');
        temporal = await startDevServer({ cli: options.temporalCli, dbFile: join(dir, 'temporal.sqlite'), port: temporal.port });
      } },
    ];
    const director = (async () => {
      for (const t of timeline) {
        const done = step(t.at, t.fault, t.run);
        gates.push({ at: t.gate, done });
        await done;
      }
    })();
    director.catch(() => {});

    log(`load: ${options.writes} writes at ${options.connections} connections over ${tenants.length} tenants`);
    const loadStarted = Date.now();
    const load = await runLoad({
      tenants,
      writes: options.writes,
      connections: options.connections,
      // A killed API refuses connections; the load balancer stops sending to it until it is back.
      apis: () => apis.filter((a) => liveApis.has(a)),
      pgDown: () => pgDown,
      pgInFlight,
      async beforeWrite(i) {
        issued = Math.max(issued, i + 1);
        for (const w of waiters.splice(0).filter((w) => (issued >= w.at ? (w.resolve(), false) : true))) waiters.push(w);
        for (const g of gates) if (i >= g.at) await g.done;
      },
    });
    const loadMs = Date.now() - loadStarted;
    await director;
    log(`load done in ${(loadMs / 1000).toFixed(1)} s; waiting for every change to flow through…`);

    const verification = await verifyChaosRun({ databaseUrl, tenants, received: receiver.received, settleTimeoutMs: options.settleTimeoutMs ?? 300_000, log });
    const violations: string[] = [];
    if (load.responses500 > 0) violations.push(`${load.responses500} responses were 500`);
    if (load.responses503 !== load.responses503WithRetryAfter) violations.push(`${load.responses503 - load.responses503WithRetryAfter} 503s without Retry-After`);
    for (const [status, n] of Object.entries(load.pgWindow.status)) {
      if (status !== '503+Retry-After' && !status.startsWith('2')) violations.push(`${n} answers '${status}' during the PostgreSQL restart`);
    }
    if (load.pgWindow.writesRetried !== load.pgWindow.writesRetriedSucceeded) violations.push(`${load.pgWindow.writesRetried - load.pgWindow.writesRetriedSucceeded} writes retried after the PostgreSQL restart never succeeded`);
    if (load.unexpected.length) violations.push(`${load.unexpected.length} unexpected answers, e.g. ${load.unexpected[0]}`);
    if (load.failed > 0) violations.push(`${load.failed} writes never got a 2xx`);
    if (faults.length !== timeline.length) violations.push(`only ${faults.length} of ${timeline.length} faults ran`);
    if (!verification.settled) violations.push(`not settled after ${verification.settleMs} ms`);
    if (verification.stateMismatches.length) violations.push(`${verification.stateMismatches.length} state mismatches, e.g. ${verification.stateMismatches[0]}`);
    if (verification.phantomUsers) violations.push(`${verification.phantomUsers} users no create explains`);
    if (verification.exactlyOnceViolations.length) violations.push(`${verification.exactlyOnceViolations.length} exactly-once violations, e.g. ${verification.exactlyOnceViolations[0]}`);
    if (verification.streamOrderViolations.length) violations.push(`${verification.streamOrderViolations.length} stream order violations, e.g. ${verification.streamOrderViolations[0]}`);
    if (verification.duplicateWebhookIds) violations.push(`${verification.duplicateWebhookIds} webhook event ids delivered more than once`);
    if (verification.undeliveredWebhooks) violations.push(`${verification.undeliveredWebhooks} webhook events never received`);
    if (verification.auditChainsBroken.length) violations.push(`audit chains not verified: ${verification.auditChainsBroken.join('; ')}`);
    if (verification.exactlyOnceViolations.length) log(await traceIdentities(databaseUrl, temporal.address, verification.exactlyOnceViolations));
    // What the API processes logged for their 500s (the first few), to say why.
    const serverErrors = everStarted.flatMap((r) => r.output().split('\n').filter((line) => line.includes('unhandled')).map((line) => `${r.name}: ${line.slice(0, 3000)}`)).slice(0, 3);
    const { log: _log, temporalCli: _cli, ...rest } = options;
    return { options: rest, load, startedAt: loadStarted, loadMs, faults, verification, violations, serverErrors };
  } finally {
    running.delete(cleanUp);
    await cleanUp();
  }
}

const running = new Set<() => Promise<void>>();

/** Stops what every unfinished run started (its processes, the Temporal server, the PostgreSQL cluster): for Ctrl-C. */
export async function abortChaosRuns(): Promise<void> {
  await Promise.all([...running].map((cleanUp) => cleanUp()));
}

async function createTenants(input: { databaseUrl: string; count: number; secretsKey: string; urlFor: (endpoint: string) => string }): Promise<TenantModel[]> {
  const owner = await createDatabasePool(input.databaseUrl, { maximumPoolSize: 2 });
  try {
    const config = loadConfig({ NODE_ENV: 'development', DATABASE_URL: input.databaseUrl, SECRETS_ENCRYPTION_KEY: input.secretsKey });
    const policy = { allowHttpLoopback: true, secretKey: loadSecretsKey(config), targets: webhookTargets(config) };
    const tenants: TenantModel[] = [];
    for (let index = 0; index < input.count; index++) {
      const tenant = await createTenant(owner, { slug: `chaos-${index}`, name: `Chaos ${index}` });
      // Deactivations and deletes are a quarter of the load: the mass-deprovisioning guard would hold them.
      await owner.query(sql.unsafe`UPDATE tenants SET guard_max_share = 1, guard_max_suspensions = 1000000 WHERE id = ${tenant.id}`);
      const url = await checkWebhookUrl(input.urlFor(String(index)), policy);
      const token = await withTenant(owner, tenant.id, async (tx) => {
        const conn = await insertConnectionWithToken(tx, tenant.id);
        await createWebhook(tx, { tenantId: tenant.id, actor: { type: 'system', id: 'chaos' } }, policy, { url });
        return conn.token;
      });
      tenants.push({ index, id: tenant.id, token, groups: [], users: new Map(), unknownCreates: new Set() });
    }
    return tenants;
  } finally {
    await owner.end();
  }
}

/** The report as the lines `npm run chaos` prints. */
export function formatChaosReport(r: ChaosReport): string[] {
  const v = r.verification;
  const l = r.load;
  return [
    `writes sent                      ${l.writes} (${Object.entries(l.byKind).map(([k, n]) => `${k} ${n}`).join(', ')}) in ${(r.loadMs / 1000).toFixed(1)} s, ${l.attempts} requests`,
    `writes answered 2xx              ${l.ok}`,
    `503s with Retry-After            ${l.responses503WithRetryAfter} (of ${l.responses503} 503s)`,
    `500s                             ${l.responses500}`,
    `connection errors (killed API)   ${l.connectionErrors}`,
    `retries succeeded                ${l.retriesSucceeded}`,
    `writes without a 2xx             ${l.failed} (${l.unknownOutcome} with unknown outcome)`,
    `during the PostgreSQL restart    ${l.pgWindow.requests} requests: ${JSON.stringify(l.pgWindow.status)}; ${l.pgWindow.writesRetriedSucceeded}/${l.pgWindow.writesRetried} retried writes succeeded`,
    `faults                           ${r.faults.map((f) => `${f.fault} (at write ${f.atWrite}, back in ${(f.recoveredMs / 1000).toFixed(1)} s)`).join('; ')}`,
    `settled after                    ${(v.settleMs / 1000).toFixed(1)} s${v.settled ? '' : ' (NOT settled)'}`,
    `users checked                    ${v.usersChecked}`,
    `state mismatches                 ${v.stateMismatches.length}`,
    `phantom users                    ${v.phantomUsers}`,
    `exactly-once violations          ${v.exactlyOnceViolations.length}`,
    `stream order violations          ${v.streamOrderViolations.length}`,
    `webhook events / received        ${v.webhookEvents} / ${v.webhooksReceived} deliveries`,
    `duplicate webhook ids            ${v.duplicateWebhookIds}${v.duplicates.length ? ` (${v.duplicates.slice(0, 5).map((d) => `${d.type} ${d.at.map((t) => `+${((t - r.startedAt) / 1000).toFixed(1)}s`).join('/')}`).join(', ')}; faults began at ${r.faults.map((f) => `+${((f.startedAt - r.startedAt) / 1000).toFixed(1)}s`).join(', ')})` : ''}`,
    `undelivered webhook events       ${v.undeliveredWebhooks}`,
    `audit chains verified            ${v.auditChainsVerified} of ${r.options.tenants} (${v.auditRowsSealed} rows sealed)`,
    ...(r.serverErrors.length ? [`server errors logged:\n  ${r.serverErrors.join('\n  ')}`] : []),
    r.violations.length ? `VIOLATIONS:\n  ${r.violations.join('\n  ')}` : 'no violations',
  ];
}

/**
 * What the run left for the first few identities an exactly-once check flagged, to say why: the
 * stream (outbox), the lifecycle audit rows, the events, and the identity workflow's runs.
 */
async function traceIdentities(databaseUrl: string, temporalAddress: string, violations: readonly string[]): Promise<string> {
  const ids = [...new Set(violations.map((v) => /user ([0-9a-f-]{36})/.exec(v)?.[1]).filter((id): id is string => !!id))].slice(0, 3);
  const db = new pg.Client({ connectionString: databaseUrl });
  const connection = await Connection.connect({ address: temporalAddress }).catch(() => undefined);
  const client = connection && new Client({ connection });
  const lines: string[] = [];
  try {
    await db.connect();
    for (const id of ids) {
      const q = async (text: string) => (await db.query(text, [id])).rows.map((r) => JSON.stringify(r));
      lines.push(`identity ${id}:`);
      lines.push('  stream', ...(await q(`SELECT seq, event_type, created_at, delivered_at FROM outbox WHERE stream_id = $1 ORDER BY seq`)).map((l) => `    ${l}`));
      lines.push('  audit', ...(await q(`SELECT action, data, occurred_at FROM audit_events WHERE target_id = $1::text AND action LIKE 'lifecycle.%' ORDER BY occurred_at`)).map((l) => `    ${l}`));
      lines.push('  events', ...(await q(`SELECT id, type, data, created_at FROM events WHERE subject_id = $1 ORDER BY created_at`)).map((l) => `    ${l}`));
      lines.push('  user', ...(await q(`SELECT lifecycle_state, active, applied_seq, event_seq, scim_deleted_at FROM users WHERE id = $1`)).map((l) => `    ${l}`));
      if (client) {
        const tenant = (await db.query<{ tenant_id: string }>(`SELECT tenant_id::text FROM outbox WHERE stream_id = $1 LIMIT 1`, [id])).rows[0]?.tenant_id;
        for await (const run of client.workflow.list({ query: `WorkflowId = 'identity/${tenant}/${id}'` })) {
          lines.push(`  run ${run.runId}: ${run.status.name}, started ${run.startTime.toISOString()}, closed ${run.closeTime?.toISOString() ?? '-'}, history ${run.historyLength}`);
        }
      }
    }
  } catch (err) {
    lines.push(`(trace failed: ${String(err)})`);
  } finally {
    await db.end().catch(() => {});
    await connection?.close().catch(() => {});
  }
  return lines.join('\n');
}
