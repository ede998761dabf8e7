import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, stopChild } from '../temporal-dev-server.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** One `npm start` replica (`ROSTER_ROLE=api|worker`) as a real child process, so it can be killed with SIGKILL. */
export interface Replica {
  name: string;
  role: 'api' | 'worker';
  /** The API's base URL (api replicas): the same port across restarts. */
  url?: string;
  child: ChildProcess;
  output(): string;
  kill9(): Promise<void>;
  stop(): Promise<void>;
  /** A new process with the same name, role, port and environment (after kill9). */
  restart(): Promise<Replica>;
}

export interface ReplicaOptions {
  name: string;
  role: 'api' | 'worker';
  env: Record<string, string>;
  port?: number;
  readyTimeoutMs?: number;
}

/** Starts `node --import tsx scripts/start.ts` (Node directly, not the tsx wrapper: see docs/operations.md) and waits until it is serving. */
export async function startReplica(options: ReplicaOptions): Promise<Replica> {
  const port = options.role === 'api' ? (options.port ?? (await freePort())) : 0;
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: root,
    env: { ...process.env, ...options.env, ROSTER_ROLE: options.role, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const append = (d: Buffer) => (out = (out + d.toString()).slice(-20_000));
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const deadline = Date.now() + (options.readyTimeoutMs ?? 180_000);
  while (!out.includes('Ctrl-C stops everything')) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${options.name} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} not ready in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const replica: Replica = {
    name: options.name,
    role: options.role,
    ...(options.role === 'api' ? { url: `http://127.0.0.1:${port}` } : {}),
    child,
    output: () => out,
    kill9: () => stopChild(child, 'SIGKILL'),
    stop: () => stopChild(child, 'SIGTERM'),
    restart: () => startReplica({ ...options, port }),
  };
  return replica;
}
