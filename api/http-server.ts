import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { appDatabaseUrl, type Config, publicUrl } from '../core/config.js';
import type { Db } from '../core/db/pool.js';
import type { Metrics } from '../core/metrics.js';
import type { ScimTokenCache } from '../core/scim-token-cache.js';
import { ScimActivityRecorder } from '../core/connections/activity.js';
import type { PortalSessionCache } from '../core/portal-auth/session-cache.js';
import { activeTracer } from '../core/telemetry.js';
import { tracingClientInterceptors } from '../activities/client-tracing.js';
import { createApp, portalSessionCache, scimTokenCache } from './app.js';

export interface HttpServer {
  server: Server;
  port: number;
  url: string;
  scimTokens: ScimTokenCache;
  scimActivity: ScimActivityRecorder;
  portalSessions: PortalSessionCache;
  /**
   * Graceful stop: /readyz turns 503 (for SHUTDOWN_DELAY_MS), the listener closes, in-flight
   * requests finish (up to SHUTDOWN_TIMEOUT_MS, then their connections are cut), idle keep-alive
   * connections close as soon as they are idle; then the SCIM activity counts are flushed.
   */
  close(): Promise<void>;
}

/** Listens on config.PORT (0 = any free port) and serves the app. */
export async function startHttpServer(deps: { config: Config; db: Db; logger: Logger; temporal?: Connection | undefined; metrics?: Metrics }): Promise<HttpServer> {
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
  // ... and for portal session revocations (sign-out, removal, role changes).
  const portalSessions = portalSessionCache(deps, appDatabaseUrl(deps.config));
  const scimActivity = new ScimActivityRecorder({ db: deps.db, flushIntervalMs: deps.config.SCIM_ACTIVITY_FLUSH_MS, logger: deps.logger });
  // Traces: the app's Temporal client carries the request's trace into its starts, signals and Updates.
  const temporalInterceptors = deps.temporal ? await tracingClientInterceptors(activeTracer()) : undefined;
  let draining = false;
  server.on('request', createApp({ ...deps, scimTokens, scimActivity, portalSessions, publicUrl: url, draining: () => draining, ...(temporalInterceptors ? { temporalInterceptors } : {}) }));
  return {
    server,
    port,
    url,
    scimTokens,
    scimActivity,
    portalSessions,
    close: async () => {
      draining = true;
      if (deps.config.SHUTDOWN_DELAY_MS > 0) await new Promise((r) => setTimeout(r, deps.config.SHUTDOWN_DELAY_MS));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A keep-alive connection becomes idle when its response is sent: close it then.
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        server.closeIdleConnections();
        const cut = setTimeout(() => server.closeAllConnections(), deps.config.SHUTDOWN_TIMEOUT_MS);
        server.once('close', () => {
          clearInterval(sweep);
          clearTimeout(cut);
        });
      });
      await scimTokens.close();
      await portalSessions.close();
      await scimActivity.close();
    },
  };
}
