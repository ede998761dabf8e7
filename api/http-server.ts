import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { appDatabaseUrl, type Config, publicUrl } from '../core/config.js';
import type { Db } from '../core/db/pool.js';
import type { ScimTokenCache } from '../core/scim-token-cache.js';
import { ScimActivityRecorder } from '../core/connections/activity.js';
import { createApp, scimTokenCache } from './app.js';

export interface HttpServer {
  server: Server;
  port: number;
  url: string;
  scimTokens: ScimTokenCache;
  scimActivity: ScimActivityRecorder;
  close(): Promise<void>;
}

/** Listens on config.PORT (0 = any free port) and serves the app. */
export async function startHttpServer(deps: { config: Config; db: Db; logger: Logger; temporal?: Connection | undefined }): Promise<HttpServer> {
  // SCIM filters travel in the query string; allow long ones (the filter limit is enforced inside).
  const server = createServer({ maxHeaderSize: 64 * 1024 });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(deps.config.PORT, deps.config.HOST, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const url = publicUrl(deps.config, port);
  // Each API process listens for SCIM token revocations on a connection of its own.
  const scimTokens = scimTokenCache(deps, appDatabaseUrl(deps.config));
  const scimActivity = new ScimActivityRecorder({ db: deps.db, flushIntervalMs: deps.config.SCIM_ACTIVITY_FLUSH_MS, logger: deps.logger });
  server.on('request', createApp({ ...deps, scimTokens, scimActivity, publicUrl: url }));
  return {
    server,
    port,
    url,
    scimTokens,
    scimActivity,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      });
      await scimTokens.close();
      await scimActivity.close();
    },
  };
}
