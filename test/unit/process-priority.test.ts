import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { getPriority } from 'node:os';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs a Node child that lowers its priority, starts more threads, and reports every thread's nice. */
function childNices(nice: number): { changed: number; nices: number[] } {
  const script = `
    import { readdirSync, readFileSync } from 'node:fs';
    import { Worker } from 'node:worker_threads';
    import { lowerProcessPriority } from './core/process-priority.ts';
    const changed = lowerProcessPriority(${nice});
    // Threads created afterwards inherit it: a worker thread and libuv's pool (via a crypto call).
    const w = new Worker('setTimeout(() => {}, 300)', { eval: true });
    await new Promise((r) => w.once('online', r));
    await new Promise((r) => (globalThis.crypto.subtle.digest('SHA-256', new Uint8Array(1)).then(r)));
    const nices = readdirSync('/proc/self/task').map((t) => Number(readFileSync('/proc/self/task/' + t + '/stat', 'utf8').split(') ')[1].split(' ')[16]));
    await w.terminate();
    process.stdout.write(JSON.stringify({ changed, nices }));
  `;
  return JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' }));
}

describe.runIf(process.platform === 'linux')('lowerProcessPriority', () => {
  it('renices every thread of the process, and threads started later inherit it', () => {
    const target = Math.min(19, getPriority() + 3); // the child starts at this runner's niceness
    const { changed, nices } = childNices(target);
    expect(changed).toBeGreaterThan(1);
    expect(nices.length).toBeGreaterThan(changed); // the worker thread and friends came later
    expect(new Set(nices)).toEqual(new Set([target]));
  });

  it('leaves the process alone at 0', () => {
    const { changed, nices } = childNices(0);
    expect(changed).toBe(0);
    expect(new Set(nices)).toEqual(new Set([getPriority()]));
  });
});
