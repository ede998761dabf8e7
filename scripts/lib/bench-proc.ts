import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { stopChild } from './temporal-dev-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface ApiProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Runs a TypeScript entry point of the repository in its own Node process. `node --import tsx` is
 * what `npx tsx` ends up running, minus two wrapper processes: the pid is the program itself,
 * which keeps signals and CPU accounting exact. `ready` is polled until it resolves true.
 */
export async function startNodeProcess(options: {
  script: string;
  env: Record<string, string>;
  /** Extra Node flags, e.g. --cpu-prof (not allowed in NODE_OPTIONS). */
  nodeArgs?: string[];
  ready: () => Promise<boolean>;
  name: string;
  timeoutMs?: number;
  /** Output lines matching this are counted (e.g. warnings and errors). */
  problemPattern?: RegExp;
}): Promise<NodeProcess> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', options.script], {
    cwd: root,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let lines = 0;
  let partial = '';
  const problems: string[] = [];
  const keep = (d: Buffer) => {
    const text = partial + d.toString();
    const complete = text.split('\n');
    partial = complete.pop() ?? '';
    for (const line of complete) {
      lines++;
      if (options.problemPattern?.test(line) && problems.length < 20) problems.push(line.slice(0, 500));
    }
    output = (output + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const stop = (signal?: NodeJS.Signals) => stopChild(child, signal);
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${options.name} exited (${child.exitCode}): ${output}`);
    let ok = false;
    try {
      ok = await options.ready();
    } catch {
      // not ready yet
    }
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} not ready after ${options.timeoutMs ?? 60_000} ms: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { pid: child.pid!, child, stop, output: () => output, outputLines: () => lines, problems: () => problems };
}

export interface NodeProcess {
  pid: number;
  child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** The last 4,000 characters the process wrote (stdout and stderr). */
  output(): string;
  /** Lines written so far. */
  outputLines(): number;
  /** The first 20 lines that matched `problemPattern`. */
  problems(): string[];
}

/** Runs api/server.ts in its own Node process (so the load generator never shares its event loop). */
export async function startApiProcess(options: {
  port: number;
  env: Record<string, string>;
  /** Extra Node flags, e.g. --cpu-prof (not allowed in NODE_OPTIONS). */
  nodeArgs?: string[];
  timeoutMs?: number;
}): Promise<ApiProcess> {
  const url = `http://127.0.0.1:${options.port}`;
  const proc = await startNodeProcess({
    script: 'api/server.ts',
    name: 'api',
    env: { ...options.env, PORT: String(options.port), HOST: '127.0.0.1' },
    ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    ready: async () => (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok,
  });
  return { url, pid: proc.pid, child: proc.child, stop: () => proc.stop() };
}

// ---------------------------------------------------------------------------------------------
// CPU accounting (Linux /proc; silently empty elsewhere): who used the 2 cores during a phase.

const CLK_TCK = 100;

/** utime + stime (fields 14, 15), plus cutime + cstime (16, 17) of reaped children when asked. */
function procTicks(pid: number | string, withChildren = false): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const own = Number(fields[11]) + Number(fields[12]);
  return withChildren ? own + Number(fields[13]) + Number(fields[14]) : own;
}

function postgresTicks(): number {
  let total = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
      // Backends that exit during a phase (a loop's clients disconnecting) land in the
      // postmaster's children time; counting it keeps the sum monotonic.
      total += procTicks(pid, true);
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

function machineTicks(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return { busy: total - idle, total };
}

export interface CpuSample {
  at: number;
  api: number;
  /** Further processes by name (worker, Temporal dev server), ticks. */
  extra: Record<string, number>;
  postgres: number;
  bench: number;
  machine: { busy: number; total: number };
}

/** Cores used (1.0 = one core fully busy) by each party between two samples. */
export interface CpuUsage {
  apiCores: number | null;
  postgresCores: number;
  benchCores: number;
  machineBusyPct: number;
  /** Busy cores nobody above accounts for: other processes on the machine (noise). */
  otherCores: number;
  /** Cores of the further processes passed to cpuSample (worker, Temporal dev server). */
  extraCores?: Record<string, number>;
}

export function cpuSample(apiPid?: number, extraPids: Record<string, number | undefined> = {}): CpuSample | null {
  try {
    const u = process.cpuUsage();
    const extra: Record<string, number> = {};
    for (const [name, pid] of Object.entries(extraPids)) if (pid) extra[name] = procTicks(pid);
    return {
      at: performance.now(),
      api: apiPid ? procTicks(apiPid) : 0,
      extra,
      postgres: postgresTicks(),
      bench: (u.user + u.system) / 1e6,
      machine: machineTicks(),
    };
  } catch {
    return null;
  }
}

export function cpuUsage(a: CpuSample | null, b: CpuSample | null, hasApi: boolean): CpuUsage | null {
  if (!a || !b) return null;
  const secs = (b.at - a.at) / 1000;
  // Three decimals: CPU per operation is derived from these, and 0.15 ± 0.005 core is ±3 %.
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const api = hasApi ? (b.api - a.api) / CLK_TCK / secs : 0;
  const postgres = (b.postgres - a.postgres) / CLK_TCK / secs;
  const bench = (b.bench - a.bench) / secs;
  const busyShare = (b.machine.busy - a.machine.busy) / Math.max(1, b.machine.total - a.machine.total);
  const extraCores: Record<string, number> = {};
  let extraSum = 0;
  for (const [name, ticks] of Object.entries(b.extra)) {
    if (a.extra[name] === undefined) continue;
    const cores = (ticks - a.extra[name]) / CLK_TCK / secs;
    extraCores[name] = round(cores);
    extraSum += cores;
  }
  return {
    apiCores: hasApi ? round(api) : null,
    postgresCores: round(postgres),
    benchCores: round(bench),
    machineBusyPct: Math.round(100 * busyShare),
    otherCores: round(Math.max(0, busyShare * cpus().length - api - postgres - bench - extraSum)),
    ...(Object.keys(extraCores).length ? { extraCores } : {}),
  };
}

/** Share of the machine busy over `ms` (a quiet machine is a precondition of a fair run). */
export async function machineBusyPct(ms = 1000): Promise<number | null> {
  try {
    const a = machineTicks();
    await new Promise((r) => setTimeout(r, ms));
    const b = machineTicks();
    return Math.round((100 * (b.busy - a.busy)) / Math.max(1, b.total - a.total));
  } catch {
    return null;
  }
}
