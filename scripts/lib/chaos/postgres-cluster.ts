import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../temporal-dev-server.js';

/**
 * A private PostgreSQL cluster in a temporary directory, started with the machine's own binaries
 * (Debian: /usr/lib/postgresql/15/bin), on a free port with its socket in that directory, so a
 * harness can restart it in immediate mode (crash recovery on the next start) without touching
 * the machine's PostgreSQL.
 */
export interface PrivateCluster {
  port: number;
  dir: string;
  /** A superuser URL (trust auth) for `database`. */
  url(database: string): string;
  /** `pg_ctl stop -m immediate`: every backend dies at once, no checkpoint; the next start replays WAL. */
  stopImmediate(): void;
  start(): void;
  /** Stops (fast) and removes the directory. */
  destroy(): void;
  log(): string;
}

export function startPrivateCluster(options: { binDir?: string; maxConnections?: number } = {}): Promise<PrivateCluster> {
  return (async () => {
    const bin = options.binDir ?? process.env.CHAOS_PG_BIN ?? '/usr/lib/postgresql/15/bin';
    const dir = mkdtempSync(join(tmpdir(), 'roster-chaos-pg-'));
    const data = join(dir, 'data');
    const logFile = join(dir, 'postgres.log');
    // initdb refuses to run as root: run the binaries as the `postgres` system user then.
    const runAs = process.getuid?.() === 0 ? systemUser('postgres') : undefined;
    if (runAs) chownSync(dir, runAs.uid, runAs.gid);
    const run = (cmd: string, args: string[]) => {
      const r = spawnSync(join(bin, cmd), args, { encoding: 'utf8', ...(runAs ?? {}), cwd: dir });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
    };
    run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    const port = await freePort();
    const serverOptions = [
      `-p ${port}`,
      `-k ${dir}`,
      '-c listen_addresses=127.0.0.1',
      `-c max_connections=${options.maxConnections ?? 300}`,
      // Crash safety against an OS crash is not what is tested here (an immediate stop keeps the
      // OS cache); WAL replay after the immediate stop still is.
      '-c fsync=off',
      '-c full_page_writes=off',
    ].join(' ');
    const cluster: PrivateCluster = {
      port,
      dir,
      url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
      stopImmediate: () => run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']),
      start: () => run('pg_ctl', ['-D', data, '-l', logFile, '-o', serverOptions, '-w', '-t', '120', 'start']),
      destroy: () => {
        spawnSync(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop'], { ...(runAs ?? {}), cwd: dir });
        rmSync(dir, { recursive: true, force: true });
      },
      log: () => {
        try {
          return readFileSync(logFile, 'utf8');
        } catch {
          return '';
        }
      },
    };
    try {
      cluster.start();
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return cluster;
  })();
}

function systemUser(name: string): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  return { uid, gid };
}
