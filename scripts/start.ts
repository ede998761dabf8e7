import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { portalDist } from '../api/app.js';
import { startHttpServer } from '../api/http-server.js';
import { appDatabaseUrl, loadConfig } from '../core/config.js';
import { type EmbeddedPostgres, isPostgresReachable, startEmbeddedPostgres } from '../core/db/embedded-postgres.js';
import { migrate } from '../core/db/migrate.js';
import { createDatabasePool, withTenant } from '../core/db/pool.js';
import { createConnection } from '../core/connections/service.js';
import { createMetrics, startMetricsServer } from '../core/metrics.js';
import { countTenants, createTenant } from '../core/repositories/tenants.js';
import { startWorkerRuntime } from '../worker/runtime.js';
import { lowerProcessPriority } from '../core/process-priority.js';
import { startTelemetry, telemetryServiceName } from '../core/telemetry.js';
import { ensurePortalBuilt, portalBuildIsStale } from './lib/portal-build.js';
import { type DevServer, freePort, startDevServer } from './lib/temporal-dev-server.js';
import { ensureTemporalCli } from './setup-temporal.mjs';

/**
 * `npm start`: the whole product on one machine. PostgreSQL from DATABASE_URL (or the local
 * server, or an embedded one), migrations, a Temporal dev server unless TEMPORAL_ADDRESS is set,
 * then the API and the worker in this process. Ctrl-C stops everything it started. SIGTERM is
 * graceful: readiness turns 503, in-flight requests and worker tasks finish, then it exits 0.
 * `ROSTER_ROLE=api|worker` runs one half only, as a replica of a running installation.
 */
const env = { ...process.env };
const config = loadConfig(env);
const logger = pino({ level: config.LOG_LEVEL, base: { service: 'roster' } });
const dataDir = resolve(config.DATA_DIR);
mkdirSync(dataDir, { recursive: true });
const say = (line: string) => process.stdout.write(`${line}\n`);

const cleanups: (() => Promise<void>)[] = [];
let stopping = false;
async function shutdown(code = 0) {
  if (stopping) return;
  stopping = true;
  say('\nstopping…');
  for (const cleanup of cleanups.reverse()) {
    await cleanup().catch((err: unknown) => logger.warn({ err }, 'cleanup failed'));
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());

try {
  const role = config.ROSTER_ROLE;
  let embedded: EmbeddedPostgres | undefined;
  let temporal: DevServer | undefined;
  let temporalUi: string | undefined;
  let address = config.TEMPORAL_ADDRESS;
  if (role === 'all') {
    const probe = new URL(config.DATABASE_URL);
    probe.pathname = '/postgres';
    const useEmbedded =
      config.EMBEDDED_POSTGRES === 'always' ||
      (config.EMBEDDED_POSTGRES === 'auto' && !process.env.DATABASE_URL && !(await isPostgresReachable(probe.toString(), 1500)));
    if (useEmbedded) {
      say('starting an embedded PostgreSQL (no DATABASE_URL and nothing answering on the default address)');
      embedded = await startEmbeddedPostgres({ dataDir: join(dataDir, 'postgres') });
      cleanups.push(() => embedded!.stop());
      config.DATABASE_URL = embedded.url;
    }
  } else {
    // A replica joins what is already running: configured, or recorded by an `all` process.
    const recorded = readRuntime();
    if (!process.env.DATABASE_URL && recorded?.DATABASE_URL) config.DATABASE_URL = recorded.DATABASE_URL;
    address ??= recorded?.TEMPORAL_ADDRESS;
    if (!address) throw new Error(`ROSTER_ROLE=${role} needs TEMPORAL_ADDRESS (or a running \`npm start\` that recorded it in ${join(dataDir, 'runtime.json')})`);
  }
  // Every replica may run this: node-pg-migrate takes an advisory lock, so they apply it once.
  await migrate({ databaseUrl: config.DATABASE_URL, appPassword: config.APP_DATABASE_PASSWORD });
  if (!address) {
    const port = (await isPortFree(7233)) ? 7233 : await freePort();
    const uiPort = (await isPortFree(8233)) ? 8233 : await freePort();
    const dbFile = join(dataDir, 'temporal.sqlite');
    const cli = findOrInstallTemporalCli();
    if (cli) {
      // Like the worker it serves, the bundled server yields the cores to the API (WORKER_NICE).
      temporal = await startDevServer({ cli, port, uiPort, dbFile, nice: config.WORKER_NICE });
      cleanups.push(() => temporal!.stop());
      address = temporal.address;
    } else {
      // Last resort on a machine with internet and no Python: the SDK downloads the CLI itself.
      const { TestWorkflowEnvironment } = await import('@temporalio/testing');
      const env = await TestWorkflowEnvironment.createLocal({ server: { ip: '127.0.0.1', port, ui: true, uiPort, dbFilename: dbFile } });
      cleanups.push(() => env.teardown());
      address = env.address;
      temporalUi = `http://127.0.0.1:${uiPort}`;
    }
  }
  if (role === 'all') {
    // The CLI and api/worker replicas read this when DATABASE_URL / TEMPORAL_ADDRESS are unset,
    // so they find an embedded database and the dev server too.
    writeFileSync(join(dataDir, 'runtime.json'), JSON.stringify({ DATABASE_URL: config.DATABASE_URL, PORT: config.PORT, TEMPORAL_ADDRESS: address }, null, 2));
  }

  if (role !== 'worker' && portalBuildIsStale()) {
    say(existsSync(join(portalDist, 'index.html')) ? 'rebuilding the portal (its sources changed)…' : 'building the portal (first start)…');
    ensurePortalBuilt();
  }

  let demo: { slug: string; token: string } | undefined;
  if (role === 'all') {
    const owner = await createDatabasePool(config.DATABASE_URL, { maximumPoolSize: 2 });
    cleanups.push(() => owner.end());
    if ((await countTenants(owner)) === 0) {
      const tenant = await createTenant(owner, { slug: 'demo', name: 'Demo tenant' });
      const conn = await withTenant(owner, tenant.id, (tx) => createConnection(tx, { tenantId: tenant.id, actor: { type: 'system', id: 'start' } }, { name: 'default' }));
      demo = { slug: tenant.slug, token: conn.token };
    }
  }

  // A worker-only process runs no SCIM statements: slonik gets all its connections.
  const statementPoolSize = role === 'worker' ? 0 : config.DATABASE_STATEMENT_POOL_SIZE;
  const db = await createDatabasePool(appDatabaseUrl(config), { maximumPoolSize: config.DATABASE_POOL_SIZE, statementPoolSize });
  cleanups.push(() => db.end());
  // Traces (OTEL_EXPORTER_OTLP_ENDPOINT; off when unset), flushed once the worker and the API stopped.
  const telemetry = await startTelemetry({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: telemetryServiceName(config, role) });
  if (telemetry) cleanups.push(() => telemetry.shutdown());
  const metrics = config.METRICS_PORT === undefined ? undefined : createMetrics({ process: role });
  const metricsServer = metrics ? await startMetricsServer({ port: config.METRICS_PORT!, host: config.METRICS_HOST, registry: metrics.registry }) : undefined;
  if (metricsServer) cleanups.push(() => metricsServer.close());
  // A worker-only process yields the cores to a co-located API (core/config.ts WORKER_NICE).
  if (role === 'worker') lowerProcessPriority(config.WORKER_NICE);
  const worker = role === 'api' ? undefined : await startWorkerRuntime({ config, db, logger, address, ...(metrics ? { metrics } : {}), telemetry });
  if (worker) cleanups.push(() => worker.stop());
  let http: Awaited<ReturnType<typeof startHttpServer>> | undefined;
  if (role !== 'worker') {
    const { Connection } = await import('@temporalio/client');
    const temporalConnection = await Connection.connect({ address });
    cleanups.push(() => temporalConnection.close());
    http = await startHttpServer({ config, db, logger, temporal: temporalConnection, ...(metrics ? { metrics } : {}) });
    // Closed first on shutdown (cleanups run in reverse): requests drain before anything they use stops.
    cleanups.push(() => http!.close());
  }

  say('');
  say(role === 'all' ? 'Roster is running' : `Roster is running (role: ${role})`);
  if (http) {
    say(`  Portal         ${http.url}/`);
    say(`  API            ${http.url}   (SCIM: ${http.url}/scim/v2, OpenAPI: ${http.url}/openapi.json)`);
    say(`  health         ${http.url}/healthz  ${http.url}/readyz`);
  }
  if (worker) say(`  worker         task queue ${config.TEMPORAL_TASK_QUEUE}`);
  if (metricsServer) say(`  metrics        http://127.0.0.1:${metricsServer.port}/metrics${config.TEMPORAL_METRICS_PORT ? `   Temporal SDK: http://127.0.0.1:${config.TEMPORAL_METRICS_PORT}/metrics` : ''}`);
  say(`  PostgreSQL     ${redact(config.DATABASE_URL)}${embedded ? ' (embedded)' : ''}`);
  say(`  Temporal       ${address}${(temporal?.uiUrl ?? temporalUi) ? `   Web UI: ${temporal?.uiUrl ?? temporalUi}` : ''}`);
  if (demo && http) {
    say('');
    say(`  demo tenant "${demo.slug}" created. SCIM base URL: ${http.url}/scim/v2`);
    say(`  SCIM token (shown once, store it now): ${demo.token}`);
  }
  say('\nCtrl-C stops everything.');
  if (worker) {
    await worker.done;
    if (!stopping) await shutdown(1);
  }
} catch (err) {
  logger.error({ err }, 'start failed');
  await shutdown(1);
}

function readRuntime(): { DATABASE_URL?: string; TEMPORAL_ADDRESS?: string } | undefined {
  const file = join(dataDir, 'runtime.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { DATABASE_URL?: string; TEMPORAL_ADDRESS?: string }) : undefined;
}

/** The CLI from TEMPORAL_CLI_PATH / PATH / the project's virtualenv (installing it there if Python exists). */
function findOrInstallTemporalCli(): string | undefined {
  try {
    return ensureTemporalCli();
  } catch (err) {
    say(`no Temporal CLI (${err instanceof Error ? err.message : String(err)}); asking the Temporal SDK to download one`);
    return undefined;
  }
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

async function isPortFree(port: number): Promise<boolean> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
