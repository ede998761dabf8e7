import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const portalDistIndex = join(root, 'portal', 'dist', 'index.html');

/** Newest modification time under `dir` (files matching `keep`), 0 when absent. */
function newestMtime(dir: string, keep: (name: string) => boolean): number {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules' || entry.name === 'dist') continue;
      newest = Math.max(newest, newestMtime(path, keep));
    } else if (keep(entry.name)) {
      newest = Math.max(newest, statSync(path).mtimeMs);
    }
  }
  return newest;
}

/**
 * True when portal/dist is missing or older than anything it is built from: portal/src, the
 * portal's index.html and vite config, and the zod schemas under core/ the portal imports.
 */
export function portalBuildIsStale(): boolean {
  if (!existsSync(portalDistIndex)) return true;
  const built = statSync(portalDistIndex).mtimeMs;
  const sources = Math.max(
    newestMtime(join(root, 'portal', 'src'), () => true),
    statSync(join(root, 'portal', 'index.html')).mtimeMs,
    statSync(join(root, 'portal', 'vite.config.ts')).mtimeMs,
    newestMtime(join(root, 'core'), (name) => name === 'schema.ts'),
  );
  return sources > built;
}

/** `vite build` of the portal into portal/dist (what npm start, the Dockerfile and tests serve). */
export function buildPortal(opts: { logLevel?: 'warn' | 'error' | 'info' } = {}): void {
  execFileSync(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', join(root, 'portal', 'vite.config.ts'), '--logLevel', opts.logLevel ?? 'warn'], {
    stdio: 'inherit',
    cwd: root,
    // Always the production build of React, even when called from vitest (NODE_ENV=test).
    env: { ...process.env, NODE_ENV: 'production' },
  });
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Builds portal/dist only when it is missing or stale, one process at a time: test files run in
 * parallel and a build empties portal/dist, which would break a browser test another process is
 * running against it. The lock is a directory (mkdir is atomic); a lock older than 5 minutes is
 * taken to be left over from a killed run.
 */
export function ensurePortalBuilt(): void {
  if (!portalBuildIsStale()) return;
  const lock = join(root, 'portal', '.build-lock');
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 300_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`portal build lock ${lock} held for too long`);
      sleepMs(250);
    }
  }
  try {
    if (portalBuildIsStale()) buildPortal({ logLevel: 'error' });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
