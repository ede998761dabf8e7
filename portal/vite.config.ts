import react from '@vitejs/plugin-react';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

// The portal is served by the API from portal/dist (api/app.ts); `npm start` builds it when its
// sources are newer than the build. `npm run dev` serves it with HMR and proxies every API path to
// the API server (PORT, default 3000), so cookies stay first-party on the dev origin.
const apiTarget = `http://127.0.0.1:${process.env.PORT ?? '3000'}`;
const apiPaths = ['/portal/api', '/console/api', '/scim', '/api', '/oauth2', '/healthz', '/readyz', '/openapi.json'];

/**
 * portal/dist is not emptied before a build (a running server, or a browser test in another
 * process, keeps finding the files it serves; content-hashed names make a rebuild of the same
 * sources write the same files); assets of older builds are removed once the new ones are written.
 */
function pruneOldAssets(): Plugin {
  return {
    name: 'roster-prune-old-assets',
    apply: 'build',
    writeBundle(options, bundle) {
      const dir = join(options.dir ?? 'dist', 'assets');
      const current = new Set(Object.keys(bundle).map((name) => name.replace(/^assets\//, '')));
      let files: string[] = [];
      try {
        files = readdirSync(dir);
      } catch {
        return;
      }
      for (const file of files) if (!current.has(file)) rmSync(join(dir, file), { force: true });
    },
  };
}

export default defineConfig(({ command }) => {
  // A build is always the production build (React, JSX runtime), also when NODE_ENV says otherwise
  // (vitest sets `test`): every build of the same sources is then byte-identical.
  if (command === 'build') process.env.NODE_ENV = 'production';
  return {
    root: fileURLToPath(new URL('.', import.meta.url)),
    base: '/',
    plugins: [react(), pruneOldAssets()],
    build: { outDir: 'dist', emptyOutDir: false },
    server: {
      port: Number(process.env.PORTAL_DEV_PORT ?? 5173),
      strictPort: false,
      proxy: Object.fromEntries(apiPaths.map((path) => [path, { target: apiTarget, changeOrigin: false, xfwd: true }])),
    },
  };
});
