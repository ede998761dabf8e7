import { bundleWorkflowCode } from '@temporalio/worker';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../core/db/migrate.js';
import { ensureTemporalCli } from '../scripts/setup-temporal.mjs';
import { workflowsPath } from '../worker/create-worker.js';
import { startDevServer } from '../scripts/lib/temporal-dev-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalCli: string;
    pgAdminUrl: string;
    templateDatabase: string;
    workflowCode: string;
  }
}

/**
 * One Temporal dev server, one migrated template database and one workflow bundle per run;
 * test files clone the template and use their own task queues.
 */
export default async function setup(project: TestProject) {
  const pgAdminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const templateDatabase = `roster_test_tpl_${process.pid}`;
  const templateUrl = new URL(pgAdminUrl);
  templateUrl.pathname = `/${templateDatabase}`;

  const cli = ensureTemporalCli({ quiet: true });
  const [server, bundle] = await Promise.all([
    startDevServer({ cli }),
    bundleWorkflowCode({ workflowsPath, logger: { log() {}, info() {}, warn() {}, error: console.error, debug() {}, trace() {} } }),
    (async () => {
      const admin = new pg.Client({ connectionString: pgAdminUrl });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${templateDatabase} WITH (FORCE)`);
      await admin.end();
      await migrate({ databaseUrl: templateUrl.toString() });
    })(),
  ]);

  project.provide('temporalAddress', server.address);
  project.provide('temporalCli', cli);
  project.provide('pgAdminUrl', pgAdminUrl);
  project.provide('templateDatabase', templateDatabase);
  project.provide('workflowCode', bundle.code);

  return async () => {
    await server.stop();
    const admin = new pg.Client({ connectionString: pgAdminUrl });
    await admin.connect();
    const leftovers = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2`,
      [templateDatabase, `${templateDatabase}_c_%`],
    );
    for (const { datname } of leftovers.rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    await admin.end();
  };
}
