import { type ChildProcess, spawn } from 'node:child_process';

/**
 * The real worker process (worker/main.ts: Temporal worker, outbox relay, reconcilers) as a child,
 * so a crash test can kill it with SIGKILL mid-work and start another. Its stderr is kept (the
 * last 4,000 characters) and printed only when it exits on its own with an error.
 */
export function spawnWorkerProcess(options: { databaseUrl: string; temporalAddress: string; taskQueue: string; env?: Record<string, string> }): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      TEMPORAL_ADDRESS: options.temporalAddress,
      TEMPORAL_TASK_QUEUE: options.taskQueue,
      LOG_LEVEL: 'warn',
      ...options.env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  child.once('exit', (code, signal) => {
    if (code && code !== 0 && signal !== 'SIGKILL') console.error(`worker exited ${code}: ${err}`);
  });
  return child;
}

/** SIGKILL (no shutdown hooks run, as in a crash), resolved once the process is gone. */
export async function kill9(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}
