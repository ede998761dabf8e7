import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/**
 * Lowers this process's CPU priority to `nice` (never raises it). On Linux niceness belongs to each
 * thread and a new thread inherits its creator's, so every thread that exists now is reniced (V8's
 * helpers, the module loader's); threads started later (the Temporal SDK's, libuv's pool) inherit
 * it. Returns the threads changed; a platform or sandbox that refuses leaves priority as it was.
 */
export function lowerProcessPriority(nice: number): number {
  if (nice <= 0) return 0;
  let tids: number[];
  try {
    tids = readdirSync('/proc/self/task').map(Number);
  } catch {
    tids = [0]; // not Linux: the process as a whole
  }
  let changed = 0;
  for (const tid of tids) {
    try {
      if (getPriority(tid) >= nice) continue;
      setPriority(tid, nice);
      changed++;
    } catch {
      // A thread that exited meanwhile, or a platform without per-thread priority.
    }
  }
  return changed;
}
