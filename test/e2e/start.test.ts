import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../scripts/lib/temporal-dev-server.js';
import { eventually, scimFetch } from '../helpers/stack.js';

let child: ChildProcess | undefined;
let dir: string | undefined;
afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function processesMentioning(text: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', text], { encoding: 'utf8' }).trim().split('\n').filter((l) => l && !l.includes('pgrep'));
  } catch {
    return [];
  }
}

describe('npm start on a fresh machine', () => {
  it('falls back to an embedded PostgreSQL, starts its own Temporal, serves SCIM, and Ctrl-C stops everything', async () => {
    dir = mkdtempSync(join(tmpdir(), 'roster-start-'));
    chmodSync(dir, 0o755); // the embedded server runs as the OS user "postgres"
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), DATA_DIR: dir, EMBEDDED_POSTGRES: 'always', LOG_LEVEL: 'warn', TEMPORAL_CLI_PATH: inject('temporalCli') };
    delete env.DATABASE_URL;
    delete env.TEMPORAL_ADDRESS;
    child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(async () => out.includes('Ctrl-C stops everything') || child!.exitCode !== null, 150_000, 200);
    expect(child.exitCode, out).toBeNull();
    expect(out).toContain('(embedded)');
    expect(out).toMatch(/Web UI: http:\/\/127\.0\.0\.1:\d+/);
    const token = /SCIM token \(shown once[^)]*\): (roster_scim_\S+)/.exec(out)?.[1];
    expect(token, out).toBeDefined();

    const base = `http://localhost:${port}`;
    const created = await scimFetch(`${base}/scim/v2/Users`, token!, 'POST', { userName: 'first@example.com' });
    expect(created.status).toBe(201);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await (await fetch(`${base}/openapi.json`)).json()).openapi).toBe('3.0.3');

    // The joiner ran through the worker and the dev server that npm start launched.
    const { DATABASE_URL } = JSON.parse(readFileSync(join(dir, 'runtime.json'), 'utf8')) as { DATABASE_URL: string };
    expect(DATABASE_URL).not.toContain(':5432/');
    const db = new pg.Client({ connectionString: DATABASE_URL });
    await db.connect();
    await eventually(async () => (await db.query(`SELECT lifecycle_state FROM users WHERE id = $1`, [created.body.id])).rows[0]?.lifecycle_state === 'active', 60_000);
    await db.end();
    expect(processesMentioning(dir).length).toBeGreaterThan(0);

    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    // No orphans: neither the Temporal dev server nor PostgreSQL outlive npm start.
    await eventually(async () => processesMentioning(dir!).length === 0, 20_000);
  });
});
