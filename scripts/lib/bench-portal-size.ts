import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildPortal, ensurePortalBuilt } from './portal-build.js';

export interface PortalSizeResult {
  /** JavaScript the browser fetches before the first page renders (entry + its static imports). */
  initialJs: { file: string; bytes: number; gzipBytes: number }[];
  initialJsGzipBytes: number;
  initialCssGzipBytes: number;
  limitGzipBytes: number;
  ok: boolean;
}

export const FIRST_LOAD_LIMIT_GZIP = 250 * 1024;

/** Relative static imports of a built chunk (`import{x}from"./a.js"`, `import"./b.js"`), not import(). */
function staticImports(code: string): string[] {
  const found = new Set<string>();
  const re = /\bimport\s*(?:[\w$*{}\s,]+?\s*from\s*)?["'](\.{1,2}\/[^"']+\.js)["']/g;
  for (const match of code.matchAll(re)) if (match[1]) found.add(match[1]);
  return [...found];
}

/**
 * Builds the portal (vite build → portal/dist) and sums the gzip sizes of the JavaScript its
 * index.html loads initially: module scripts, modulepreload links, and everything they import
 * statically. Lazy pages (dynamic import()) are not part of the first load.
 */
export function measurePortalFirstLoad(opts: { build?: boolean | 'if-stale'; dist?: string } = {}): PortalSizeResult {
  const dist = opts.dist ?? join(import.meta.dirname, '..', '..', 'portal', 'dist');
  if (opts.build === 'if-stale') ensurePortalBuilt();
  else if (opts.build !== false) buildPortal({ logLevel: 'error' });
  const html = readFileSync(join(dist, 'index.html'), 'utf8');
  const queue: string[] = [];
  for (const m of html.matchAll(/<script[^>]*type="module"[^>]*src="([^"]+)"/g)) if (m[1]) queue.push(m[1]);
  for (const m of html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g)) if (m[1]) queue.push(m[1]);
  const seen = new Map<string, { file: string; bytes: number; gzipBytes: number }>();
  while (queue.length > 0) {
    const url = queue.shift()!;
    const file = url.replace(/^\//, '');
    if (seen.has(file)) continue;
    const code = readFileSync(join(dist, file));
    seen.set(file, { file, bytes: code.length, gzipBytes: gzipSync(code).length });
    const dir = file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '';
    for (const rel of staticImports(code.toString('utf8'))) queue.push(join(dir, rel));
  }
  let css = 0;
  for (const m of html.matchAll(/<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"/g)) if (m[1]) css += gzipSync(readFileSync(join(dist, m[1].replace(/^\//, '')))).length;
  const initialJs = [...seen.values()].sort((a, b) => b.gzipBytes - a.gzipBytes);
  const total = initialJs.reduce((sum, f) => sum + f.gzipBytes, 0);
  return { initialJs, initialJsGzipBytes: total, initialCssGzipBytes: css, limitGzipBytes: FIRST_LOAD_LIMIT_GZIP, ok: total <= FIRST_LOAD_LIMIT_GZIP };
}
