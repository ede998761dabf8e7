import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Connection } from '@temporalio/client';

/** Signals a child (default SIGTERM), escalates to SIGKILL after 10 s, resolves when it has exited. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  port: number;
  process: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `temporal server start-dev` and waits until its frontend answers (the SDK's own wait is
 * only 5 s, too short on a busy 2-core machine). `dbFile` persists state across restarts.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  // Free ports are only free until someone takes them: retry a start that lost a port race.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDevServerOnce(options);
    } catch (err) {
      if (attempt >= 4 || !/address already in use/i.test(String(err))) throw err;
    }
  }
}

export interface DevServerOptions {
  cli: string;
  port?: number;
  /** Web UI port; headless when absent. */
  uiPort?: number;
  dbFile?: string;
  timeoutMs?: number;
  /**
   * CPU niceness for the server (0 or absent: inherit). Set where the server shares the machine
   * with a latency-critical API: like the worker it serves, it is background lifecycle machinery.
   */
  nice?: number;
}

/** Measured: signal-with-start 145/s default, 245/s with these (32 in flight, idle 2-core machine). */
const SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=NORMAL'];

async function startDevServerOnce(options: DevServerOptions): Promise<DevServer> {
  const port = options.port ?? (await freePort());
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'error'];
  args.push(...(options.uiPort ? ['--ui-port', String(options.uiPort)] : ['--headless']));
  args.push('--http-port', String(await freePort()), '--metrics-port', String(await freePort()));
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  // A persisted store in WAL mode with synchronous=NORMAL: a commit is durable once in the WAL, so
  // a killed server (kill -9, the chaos harness) loses nothing; only an OS crash may lose the last
  // commits. The CLI's default (rollback journal, fsync per commit) signals ~1.7x slower here.
  if (options.dbFile) for (const pragma of SQLITE_PRAGMAS) args.push('--sqlite-pragma', pragma);
  // Through nice(1), so every thread and child of the server starts at that priority.
  const niced = options.nice && options.nice > 0 && process.platform === 'linux';
  const child = niced
    ? spawn('nice', ['-n', String(options.nice), options.cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn(options.cli, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`temporal dev server exited (${child.exitCode}): ${stderr}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`temporal dev server not ready on ${address}: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    address,
    ...(options.uiPort ? { uiUrl: `http://127.0.0.1:${options.uiPort}` } : {}),
    port,
    process: child,
    stop: (signal?: NodeJS.Signals) => stopChild(child, signal),
  };
}
