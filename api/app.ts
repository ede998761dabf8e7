import { existsSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, type ClientInterceptors, type Connection } from '@temporalio/client';
import express, { type Response } from 'express';
import type { Logger } from 'pino';
import { sql } from 'slonik';
import { type Config, publicUrl, webhookTargets } from '../core/config.js';
import type { Db } from '../core/db/pool.js';
import type { ScimLimits } from '../core/scim/discovery.js';
import { ScimTokenCache } from '../core/scim-token-cache.js';
import { PortalSessionCache } from '../core/portal-auth/session-cache.js';
import type { ScimActivityRecorder } from '../core/connections/activity.js';
import { loadSecretsKey } from '../core/secret-box.js';
import { createAppApiRouter } from './app-api-router.js';
import { createSsoRouter } from './sso-router.js';
import { createConsoleApi } from './console/router.js';
import { createPortalApi } from './portal/router.js';
import { createIntrospectionHandler, isIntrospectionUrl } from './introspect.js';
import { methodNotAllowed } from './method-not-allowed.js';
import { createEventsRouter } from './events-router.js';
import { buildOpenApiDocument } from './openapi.js';
import { createEntitlementsRouter } from './entitlements-router.js';
import { createScimHandler, isScimUrl } from './scim-router.js';
import { createScimPaging } from '../core/scim/paging.js';
import { startRequest } from './request-log.js';
import { serverSpans } from './tracing.js';
import { activeTracer } from '../core/telemetry.js';
import type { Metrics } from '../core/metrics.js';
import { approvalEngineDeps } from './approval-engine.js';
import { createChangeRequestsRouter } from './change-requests-router.js';
import { createCampaignsAppRouter } from './campaigns-app-router.js';

export const portalDist = fileURLToPath(new URL('../portal/dist', import.meta.url));

export interface AppDeps {
  config: Config;
  db: Db;
  logger: Logger;
  /**
   * Readiness, and the app's own Client: approval starts and Updates, campaign starts and signals,
   * webhook redeliveries, parked-stream decisions (lifecycle changes go through the outbox relay).
   */
  temporal?: Connection | undefined;
  /** That Client's interceptors: startHttpServer passes the tracing ones while tracing is on (activities/client-tracing.ts). */
  temporalInterceptors?: ClientInterceptors;
  /** SCIM token resolution; startHttpServer passes one with its NOTIFY listener (default: uncached). */
  scimTokens?: ScimTokenCache;
  /** Records SCIM connection activity; startHttpServer passes one and flushes it on close. */
  scimActivity?: ScimActivityRecorder;
  /** Overrides PUBLIC_URL / PORT when the listening port is only known after listen (tests). */
  publicUrl?: string;
  /** Prometheus metrics of this process (core/metrics.ts); none recorded when absent. */
  metrics?: Metrics;
  /** True once the process is shutting down: /readyz answers 503 and connections are not kept alive. */
  draining?: () => boolean;
  /** Portal session resolution; startHttpServer passes one with its NOTIFY listener (default: uncached). */
  portalSessions?: PortalSessionCache;
}

export function scimLimits(config: Config): ScimLimits {
  return {
    maxBodyBytes: config.SCIM_MAX_BODY_BYTES,
    maxFilterLength: config.SCIM_MAX_FILTER_LENGTH,
    maxFilterDepth: config.SCIM_MAX_FILTER_DEPTH,
    maxPatchOperations: config.SCIM_MAX_PATCH_OPERATIONS,
    maxPageSize: config.SCIM_MAX_PAGE_SIZE,
    defaultPageSize: config.SCIM_DEFAULT_PAGE_SIZE,
    cursorTimeoutSeconds: config.SCIM_CURSOR_TIMEOUT_SECONDS,
  };
}

function sendMethodNotAllowed(res: Response, allow: readonly string[]): void {
  res.status(405).json({ error: 'method_not_allowed', error_description: `allowed: ${allow.join(', ')}` });
}

/** The SCIM token cache for an API process; without `listenUrl` it caches nothing. */
export function scimTokenCache(deps: Pick<AppDeps, 'config' | 'db' | 'logger'>, listenUrl?: string): ScimTokenCache {
  return new ScimTokenCache({
    db: deps.db,
    listenUrl,
    ttlMs: deps.config.SCIM_TOKEN_CACHE_TTL_MS,
    maxEntries: deps.config.SCIM_TOKEN_CACHE_MAX_ENTRIES,
    touchIntervalMs: deps.config.SCIM_TOKEN_TOUCH_INTERVAL_MS,
    logger: deps.logger,
  });
}

/** The portal session cache for an API process; without `listenUrl` it caches nothing. */
export function portalSessionCache(deps: Pick<AppDeps, 'config' | 'db' | 'logger'>, listenUrl?: string): PortalSessionCache {
  return new PortalSessionCache({
    db: deps.db,
    listenUrl,
    ttlMs: deps.config.PORTAL_SESSION_CACHE_TTL_MS,
    maxEntries: deps.config.PORTAL_SESSION_CACHE_MAX_ENTRIES,
    idleSeconds: deps.config.PORTAL_SESSION_IDLE_SECONDS,
    touchIntervalMs: deps.config.PORTAL_SESSION_TOUCH_INTERVAL_MS,
    logger: deps.logger,
  });
}

/** Builds the HTTP application, SCIM beside express; never listens (http-server.ts does). */
export function createApp(deps: AppDeps): RequestListener {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', false);
  const base = deps.publicUrl ?? publicUrl(deps.config);

  const secretKey = loadSecretsKey(deps.config);
  // Traces (core/telemetry.ts): server spans mounted only while tracing is on, so requests pay nothing when off.
  const tracer = activeTracer();
  // SCIM does not run through express (api/scim-router.ts): IdPs send most of the traffic, and
  // express's per-request machinery cost as much as a lookup itself.
  const scimHandler = createScimHandler({
    db: deps.db,
    tokens: deps.scimTokens ?? scimTokenCache(deps),
    limits: scimLimits(deps.config),
    publicUrl: base,
    paging: createScimPaging(secretKey),
    activity: deps.scimActivity,
    metrics: deps.metrics,
    tracer,
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    if (deps.draining?.()) {
      res.status(503).json({ status: 'draining', checks: {} });
      return;
    }
    const checks: Record<string, string> = {};
    try {
      await deps.db.oneFirst(sql.unsafe`SELECT 1`);
      checks.database = 'ok';
    } catch (err) {
      checks.database = err instanceof Error ? err.name : 'error';
    }
    if (deps.temporal) {
      try {
        await deps.temporal.withDeadline(Date.now() + 2000, () => deps.temporal!.workflowService.getSystemInfo({}));
        checks.temporal = 'ok';
      } catch (err) {
        checks.temporal = err instanceof Error ? err.name : 'error';
      }
    } else {
      checks.temporal = 'not configured';
    }
    const ready = Object.values(checks).every((v) => v === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks });
  });

  const temporalClient = deps.temporal
    ? new Client({ connection: deps.temporal, namespace: deps.config.TEMPORAL_NAMESPACE, ...(deps.temporalInterceptors ? { interceptors: deps.temporalInterceptors } : {}) })
    : undefined;
  // The tenant portal and the operator console: separate APIs, cookies and sessions.
  const surfaceDeps = { db: deps.db, config: deps.config, secretKey, publicUrl: base, temporal: temporalClient };
  const portalApi = createPortalApi({ ...surfaceDeps, sessions: deps.portalSessions });
  const consoleApi = createConsoleApi(surfaceDeps);

  const openapi = buildOpenApiDocument(base, {
    roles: deps.config.APP_ROLES,
    surfaces: [
      { base: '/portal/api', cookie: 'roster_portal', tag: 'Portal', routes: portalApi.routes },
      { base: '/console/api', cookie: 'roster_console', tag: 'Console', routes: consoleApi.routes },
    ],
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  if (tracer) for (const mount of ['/portal/api', '/console/api', '/api/v1']) app.use(mount, serverSpans(tracer, mount, { byRoute: true }));
  app.use('/portal/api', portalApi);
  app.use('/console/api', consoleApi);
  // Several routers share /api/v1; a method none of them answers on a path one of them has is 405.
  const changes = { db: deps.db, temporal: temporalClient, approvals: approvalEngineDeps(deps.config, secretKey, temporalClient) };
  const v1 = [
    createEventsRouter({ db: deps.db, secretKey, allowHttpLoopback: deps.config.NODE_ENV !== 'production', webhookTargets: webhookTargets(deps.config), changes, temporal: temporalClient, taskQueue: deps.config.TEMPORAL_TASK_QUEUE }),
    createEntitlementsRouter({ db: deps.db, roles: deps.config.APP_ROLES, temporal: temporalClient, changes }),
    createAppApiRouter({ db: deps.db }),
    createSsoRouter({ db: deps.db }),
    createChangeRequestsRouter(changes),
    createCampaignsAppRouter({ db: deps.db, config: deps.config, temporal: temporalClient }),
  ];
  app.use('/api/v1', ...v1, methodNotAllowed(() => v1, sendMethodNotAllowed));

  // The portal (built by Vite into portal/dist): static assets, and index.html for its routes.
  if (existsSync(join(portalDist, 'index.html'))) {
    app.use(express.static(portalDist, { index: 'index.html', maxAge: '1h' }));
    app.get(/^\/(?!api\/|scim\/|oauth2\/|portal\/api(?:\/|$)|console\/api(?:\/|$))[^.]*$/, (_req, res) => {
      res.sendFile(join(portalDist, 'index.html'));
    });
  }

  app.use(methodNotAllowed(() => [app.router], sendMethodNotAllowed));
  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found' });
  });
  // Token introspection, asked once per request the vendor's product serves: also without express.
  const introspection = createIntrospectionHandler({ db: deps.db });
  // Every surface: a request id and access log line; while draining, each response closes its
  // connection, so clients reconnect to another replica.
  const begin = startRequest(deps.logger);
  const draining = deps.draining;
  return (req, res) => {
    begin(req, res);
    if (draining?.()) res.setHeader('Connection', 'close');
    const url = req.url ?? '';
    if (isScimUrl(url)) scimHandler(req, res);
    else if (isIntrospectionUrl(url)) introspection(req, res);
    else app(req, res);
  };
}
