import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
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
