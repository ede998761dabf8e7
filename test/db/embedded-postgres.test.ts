import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedPostgres, isPostgresReachable, startEmbeddedPostgres } from '../../core/db/embedded-postgres.js';

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('embedded PostgreSQL', { timeout: 120_000 }, () => {
  let dir: string;
  let server: EmbeddedPostgres | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'roster-embedded-pg-'));
    // mkdtemp makes 0700 directories; as root the server runs as `postgres` and must get through.
    await chmod(dir, 0o755);
    server = await startEmbeddedPostgres({ dataDir: join(dir, 'pg') });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('is a real PostgreSQL (15 or later) with roles, reachable at the returned URL', async () => {
    const { url, port } = server!;
    expect(url).toBe(`postgres://postgres@127.0.0.1:${port}/roster`);
    expect(await isPostgresReachable(url, 2000)).toBe(true);

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const version = await client.query<{ num: string; db: string }>(
        "SELECT current_setting('server_version_num') AS num, current_database() AS db",
      );
      expect(Number(version.rows[0]!.num)).toBeGreaterThanOrEqual(150000);
      expect(version.rows[0]!.db).toBe('roster');

      await client.query('CREATE ROLE embedded_probe LOGIN NOSUPERUSER NOBYPASSRLS');
      const role = await client.query<{ rolsuper: boolean; rolbypassrls: boolean }>(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'embedded_probe'",
      );
      expect(role.rows).toEqual([{ rolsuper: false, rolbypassrls: false }]);
    } finally {
      await client.end();
    }
  });

  it('picks another port when the preferred one is taken', async () => {
    const second = await startEmbeddedPostgres({ dataDir: join(dir, 'pg-second'), port: server!.port });
    try {
      expect(second.port).not.toBe(server!.port);
      expect(await isPostgresReachable(second.url, 2000)).toBe(true);
    } finally {
      await second.stop();
    }
  });

  it('reports an unreachable server as false instead of throwing', async () => {
    expect(await isPostgresReachable('postgres://postgres@127.0.0.1:1/roster', 500)).toBe(false);
  });

  it('closes its port on stop, and stop is idempotent', async () => {
    const { port, url } = server!;
    await server!.stop();
    await server!.stop();
    expect(await portAnswers(port)).toBe(false);
    expect(await isPostgresReachable(url, 500)).toBe(false);
  });
});
