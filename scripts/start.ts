import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { portalDist } from '../api/app.js';
import { startHttpServer } from '../api/http-server.js';
import { appDatabaseUrl, loadConfig } from '../core/config.js';
import { type EmbeddedPostgres, isPostgresReachable, startEmbeddedPostgres } from '../core/db/embedded-postgres.js';
import { migrate } from '../core/db/migrate.js';
import { createDatabasePool, withTenant } from '../core/db/pool.js';
import { createScimConnection } from '../core/repositories/scim-tokens.js';
import { countTenants, createTenant } from '../core/repositories/tenants.js';
import { startWorkerRuntime } from '../worker/runtime.js';
import { ensurePortalBuilt, portalBuildIsStale } from './lib/portal-build.js';
import { type DevServer, freePort, startDevServer } from './lib/temporal-dev-server.js';
import { ensureTemporalCli } from './setup-temporal.mjs';

/**
 * `npm start`: the whole product on one machine. PostgreSQL from DATABASE_URL (or the local
 * server, or an embedded one), migrations, a Temporal dev server unless TEMPORAL_ADDRESS is set,
 * then the API and the worker in this process. Ctrl-C stops everything it started.
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
  let embedded: EmbeddedPostgres | undefined;
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
  await migrate({ databaseUrl: config.DATABASE_URL, appPassword: config.APP_DATABASE_PASSWORD });
  let temporal: DevServer | undefined;
  let temporalUi: string | undefined;
  let address = config.TEMPORAL_ADDRESS;
  if (!address) {
    const port = (await isPortFree(7233)) ? 7233 : await freePort();
    const uiPort = (await isPortFree(8233)) ? 8233 : await freePort();
    const dbFile = join(dataDir, 'temporal.sqlite');
    const cli = findOrInstallTemporalCli();
    if (cli) {
      temporal = await startDevServer({ cli, port, uiPort, dbFile });
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
  // The CLI reads this when DATABASE_URL / TEMPORAL_ADDRESS are unset, so `roster` finds an
  // embedded database and the dev server too.
  writeFileSync(join(dataDir, 'runtime.json'), JSON.stringify({ DATABASE_URL: config.DATABASE_URL, PORT: config.PORT, TEMPORAL_ADDRESS: address }, null, 2));

  if (portalBuildIsStale()) {
    say(existsSync(join(portalDist, 'index.html')) ? 'rebuilding the portal (its sources changed)…' : 'building the portal (first start)…');
    ensurePortalBuilt();
  }

  const owner = await createDatabasePool(config.DATABASE_URL, { maximumPoolSize: 2 });
  cleanups.push(() => owner.end());
  let demo: { slug: string; token: string } | undefined;
  if ((await countTenants(owner)) === 0) {
    const tenant = await createTenant(owner, { slug: 'demo', name: 'Demo tenant' });
    const conn = await withTenant(owner, tenant.id, (tx) => createScimConnection(tx, tenant.id));
    demo = { slug: tenant.slug, token: conn.token };
  }

  const db = await createDatabasePool(appDatabaseUrl(config), { maximumPoolSize: config.DATABASE_POOL_SIZE });
  cleanups.push(() => db.end());
  const worker = await startWorkerRuntime({ config, db, logger, address });
  cleanups.push(() => worker.stop());
  const { Connection } = await import('@temporalio/client');
  const temporalConnection = await Connection.connect({ address });
  cleanups.push(() => temporalConnection.close());
  const http = await startHttpServer({ config, db, logger, temporal: temporalConnection });
  cleanups.push(() => http.close());

  say('');
  say('Roster is running');
  say(`  Portal         ${http.url}/`);
  say(`  API            ${http.url}   (SCIM: ${http.url}/scim/v2, OpenAPI: ${http.url}/openapi.json)`);
  say(`  health         ${http.url}/healthz  ${http.url}/readyz`);
  say(`  PostgreSQL     ${redact(config.DATABASE_URL)}${embedded ? ' (embedded)' : ''}`);
  say(`  Temporal       ${address}${(temporal?.uiUrl ?? temporalUi) ? `   Web UI: ${temporal?.uiUrl ?? temporalUi}` : ''}`);
  if (demo) {
    say('');
    say(`  demo tenant "${demo.slug}" created. SCIM base URL: ${http.url}/scim/v2`);
    say(`  SCIM token (shown once, store it now): ${demo.token}`);
  }
  say('\nCtrl-C stops everything.');
  await worker.done;
  if (!stopping) await shutdown(1);
} catch (err) {
  logger.error({ err }, 'start failed');
  await shutdown(1);
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
