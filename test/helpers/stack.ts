import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, makeTelemetryFilterString, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import pg from 'pg';
import pino, { type Logger } from 'pino';
import { inject } from 'vitest';
import { startHttpServer } from '../../api/http-server.js';
import { appDatabaseUrl, type Config, loadConfig, webhookTargets } from '../../core/config.js';
import { createDatabasePool, type Db, withTenant } from '../../core/db/pool.js';
import { insertConnectionWithToken } from '../../core/connections/queries.js';
import { createTenant, setDeletionGrace } from '../../core/repositories/tenants.js';
import { loadSecretsKey } from '../../core/secret-box.js';
import { parseResolverList } from '../../core/domains/dns.js';
import { createLifecycleWorker } from '../../worker/create-worker.js';
import { type BackgroundLoop, startBackgroundLoops } from '../../worker/outbox-relay.js';
import { campaignLoopOptions } from '../../worker/runtime.js';
import type { Telemetry } from '../../core/telemetry.js';
import { tracingClientInterceptors } from '../../activities/client-tracing.js';

/** Clones the migrated template into a fresh database for one test file. */
export async function cloneDatabase(): Promise<string> {
  const admin = inject('pgAdminUrl');
  const template = inject('templateDatabase');
  const name = `${template}_c_${randomBytes(4).toString('hex')}`;
  for (let attempt = 0; ; attempt++) {
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
      break;
    } catch (err) {
      // Another file cloning at the same moment holds the template ("being accessed by other users").
      if ((err as { code?: string }).code !== '55006' || attempt > 50) throw err;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    } finally {
      await client.end();
    }
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface TestTenant {
  id: string;
  slug: string;
  token: string;
  connectionId: string;
}

export interface TestStack {
  config: Config;
  url: string;
  scimUrl: string;
  owner: Db;
  app: Db;
  databaseUrl: string;
  client?: Client;
  taskQueue: string;
  /** Starts a deferred worker (`deferWorker`); a no-op otherwise. */
  runWorker(): void;
  /** Starts a deferred relay (`deferRelay`); a no-op otherwise. */
  runRelay(): void;
  createTenant(options?: { graceSeconds?: number }): Promise<TestTenant>;
  /** fetch against the SCIM API with the tenant's bearer token. */
  scim(tenant: TestTenant | string, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ScimResponse>;
  close(): Promise<void>;
}

export interface ScimResponse {
  status: number;
  headers: Headers;
  body: any;
}

export async function scimFetch(url: string, token: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<ScimResponse> {
  const res = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/**
 * A real stack for one test file: its own database (cloned from the migrated template), the real
 * express app on an ephemeral port, and optionally a Temporal worker + outbox relay on a unique
 * task queue against the run's shared dev server.
 */
export interface StackOptions {
  worker?: boolean;
  /**
   * The worker is created but polls only once `runWorker()` is called (the relay runs from the
   * start): signals pile up in Temporal as they would behind a backlog.
   */
  deferWorker?: boolean;
  /** The relay (and the other background loops) start only once `runRelay()` is called. */
  deferRelay?: boolean;
  env?: Record<string, string>;
  temporalAddress?: string;
  /** Where the app and relay log (default: silent). */
  logger?: Logger;
  /** The relay's fallback poll (default 20 ms); NOTIFY at commit wakes it regardless. */
  relayPollMs?: number;
  /**
   * Traces (started by the caller before the stack): the test's and worker's client carries the
   * trace context (the app's own client does too: it sees the process-wide tracer), and the worker
   * bundles workflows itself with the OpenTelemetry interceptor modules.
   */
  telemetry?: Telemetry;
}

export async function startStack(options: StackOptions = {}): Promise<TestStack> {
  const databaseUrl = await cloneDatabase();
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent', RELAY_POLL_MS: '20', CAMPAIGN_RECONCILE_MS: '250', ...options.env });
  const owner = await createDatabasePool(databaseUrl, { maximumPoolSize: 4 });
  // Slonik keeps its 10; two more for the SCIM statements (core/db/statement.ts), as an API process has.
  const appDb = await createDatabasePool(appDatabaseUrl(config), { maximumPoolSize: 12, statementPoolSize: 2 });
  const logger = options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const taskQueue = `test-${randomBytes(6).toString('hex')}`;
  const temporalAddress = options.temporalAddress ?? inject('temporalAddress');

  let client: Client | undefined;
  let worker: Worker | undefined;
  let workerRun: Promise<void> | undefined;
  let loops: BackgroundLoop | undefined;
  let startLoops: (() => void) | undefined;
  let nativeConnection: NativeConnection | undefined;
  let connection: Connection | undefined;
  if (options.worker) {
    quietTemporalRuntime();
    connection = await Connection.connect({ address: temporalAddress });
    nativeConnection = await NativeConnection.connect({ address: temporalAddress });
    // As in the worker process (worker/runtime.ts): the worker's client (relay, activities) goes
    // through the native connection; the API's below through its own.
    const interceptors = await tracingClientInterceptors(options.telemetry?.tracer);
    client = new Client({ connection: nativeConnection, ...(interceptors ? { interceptors } : {}) });
    worker = await createLifecycleWorker({
      connection: nativeConnection,
      client,
      namespace: 'default',
      taskQueue,
      db: appDb,
      roles: config.APP_ROLES,
      secretKey: loadSecretsKey(config),
      webhookTargets: webhookTargets(config),
      ...(options.telemetry ? { telemetry: options.telemetry } : { workflowBundle: { code: inject('workflowCode') } }),
      dnsServers: parseResolverList(config.DNS_RESOLVER),
      approvalHourMs: config.APPROVAL_HOUR_MS,
      campaignHourMs: config.CAMPAIGN_HOUR_MS,
    });
    if (!options.deferWorker) workerRun = worker.run();
    const relayClient = client;
    startLoops = () => (loops ??= startBackgroundLoops({
      db: appDb,
      client: relayClient,
      taskQueue,
      logger,
      pollMs: options.relayPollMs ?? 20,
      batchSize: config.RELAY_BATCH_SIZE,
      streamConcurrency: config.RELAY_STREAM_CONCURRENCY,
      defer: { ms: config.RELAY_DEFER_MS, maxMs: config.RELAY_DEFER_MAX_MS },
      listenUrl: appDatabaseUrl(config),
      approvals: { hourMs: config.APPROVAL_HOUR_MS, reconcileAfterSeconds: config.APPROVAL_RECONCILE_AFTER_SECONDS },
      campaigns: campaignLoopOptions(config),
    }));
    if (!options.deferRelay) startLoops();
  }

  // The app starts approval workflows on the worker's queue (TEMPORAL_TASK_QUEUE).
  const http = await startHttpServer({ config: { ...config, PORT: 0, HOST: '127.0.0.1', TEMPORAL_TASK_QUEUE: options.env?.TEMPORAL_TASK_QUEUE ?? taskQueue }, db: appDb, logger, temporal: connection });
  const url = http.url;
  const scimUrl = `${url}/scim/v2`;

  const tenants: TestTenant[] = [];
  return {
    config,
    url,
    scimUrl,
    owner,
    app: appDb,
    databaseUrl,
    client,
    taskQueue,
    runWorker() {
      if (worker && !workerRun) workerRun = worker.run();
    },
    runRelay() {
      startLoops?.();
    },
    async createTenant(opts = {}) {
      const slug = `t-${randomBytes(5).toString('hex')}`;
      const tenant = await createTenant(owner, { slug });
      if (opts.graceSeconds !== undefined) await setDeletionGrace(owner, tenant.id, opts.graceSeconds);
      const conn = await withTenant(owner, tenant.id, (tx) => insertConnectionWithToken(tx, tenant.id));
      const t = { id: tenant.id, slug, token: conn.token, connectionId: conn.connectionId };
      tenants.push(t);
      return t;
    },
    scim(tenant, method, path, body, headers) {
      const token = typeof tenant === 'string' ? tenant : tenant.token;
      return scimFetch(`${scimUrl}${path}`, token, method, body, headers);
    },
    async close() {
      await http.close();
      await loops?.stop();
      if (worker) {
        // A deferred worker that never ran still holds the native connection until it has run.
        workerRun ??= worker.run();
        worker.shutdown();
        await workerRun;
      }
      await connection?.close();
      await nativeConnection?.close();
      await appDb.end();
      await owner.end();
    },
  };
}

let runtimeInstalled = false;
/** The SDK logs every worker state change at INFO; tests only want warnings. Once per process. */
function quietTemporalRuntime() {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    const level = process.env.TEST_TEMPORAL_LOG_LEVEL === 'INFO' ? 'INFO' : 'WARN';
    // Core (Rust) logs go through the same logger; outage tests would otherwise print every retry.
    Runtime.install({
      logger: new DefaultLogger(level),
      telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: level === 'INFO' ? 'INFO' : 'ERROR', other: 'ERROR' }) } },
    });
  } catch {
    // already installed by another helper in this process
  }
}

/** Polls `check` until it returns a truthy value or the timeout passes. */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
