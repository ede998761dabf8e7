import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The portal is served by the API from portal/dist (api/app.ts); `npm start` builds it when its
// sources are newer than the build. `npm run dev` serves it with HMR and proxies every API path to
// the API server (PORT, default 3000), so cookies stay first-party on the dev origin.
const apiTarget = `http://127.0.0.1:${process.env.PORT ?? '3000'}`;
const apiPaths = ['/portal/api', '/console/api', '/scim', '/api', '/oauth2', '/healthz', '/readyz', '/openapi.json'];

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true },
  server: {
    port: Number(process.env.PORTAL_DEV_PORT ?? 5173),
    strictPort: false,
    proxy: Object.fromEntries(apiPaths.map((path) => [path, { target: apiTarget, changeOrigin: false, xfwd: true }])),
  },
});
