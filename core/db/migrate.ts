import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';

const migrationsDir = fileURLToPath(new URL('./migrations', import.meta.url));

/**
 * Applies pending migrations (plain SQL files under core/db/migrations) as the owner role, then
 * sets the app role's password when one is configured (production; local trust auth needs none).
 */
export async function migrate(options: {
  databaseUrl: string;
  appPassword?: string | undefined;
  log?: (message: string) => void;
}): Promise<void> {
  await ensureDatabase(options.databaseUrl);
  await runner({
    databaseUrl: options.databaseUrl,
    dir: migrationsDir,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    checkOrder: true,
    // Replicas starting together (ROSTER_ROLE) queue on the lock; the first applies, the rest find nothing to do.
    advisoryLockMode: 'wait',
    log: options.log ?? (() => {}),
    verbose: false,
  });
  if (options.appPassword) {
    const client = new pg.Client({ connectionString: options.databaseUrl });
    await client.connect();
    try {
      const quoted = await client.query<{ q: string }>('SELECT quote_literal($1) AS q', [options.appPassword]);
      await client.query(`ALTER ROLE roster_app PASSWORD ${quoted.rows[0]!.q}`);
    } finally {
      await client.end();
    }
  }
}

/** Creates the database named in the URL if it does not exist yet. */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!name) return;
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // created concurrently
      });
    }
  } finally {
    await client.end();
  }
}
