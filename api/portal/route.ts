// Route declarations in one array cannot each infer their schema types, so the context defaults to
// `any` for query/body/params; wrap a declaration in portalRoute()/consoleRoute() to keep its types.
/* eslint-disable @typescript-eslint/no-explicit-any */
import type { Request, Response, Router } from 'express';
import type { z } from 'zod';
import { type Db, PreconditionFailed, type Tx, withTenant, withTenantChecked } from '../../core/db/pool.js';
import { sessionStillCurrent } from '../../core/portal-auth/queries.js';
import type { Actor } from '../../core/repositories/audit.js';
import type { PortalPrincipal } from '../../core/portal-auth/service.js';
import type { PortalRole } from '../../core/portal-auth/schema.js';
import { safeEqual } from '../../core/portal-auth/tokens.js';
import type { PortalDeps } from './deps.js';
import { sendApiError } from './errors.js';
import { isSameOrigin, type PortalSession, portalSessionOf } from './session.js';

/**
 * The one way to declare a portal endpoint. Each declaration names the roles allowed to call it,
 * so authorisation is checked here for every route (never by the feature), and the route table can
 * be enumerated by the authorisation-matrix test and by /openapi.json.
 */

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** What a handler answers; `void` means it wrote `res` itself (a stream). */
export interface RouteResult {
  status?: number;
  body?: unknown;
}

export interface RouteDocs {
  method: HttpMethod;
  /** Express path relative to the surface's base (`/members/:id`). */
  path: string;
  summary: string;
  description?: string;
  tags?: string[];
  query?: z.ZodTypeAny;
  body?: z.ZodTypeAny;
  params?: z.ZodTypeAny;
  /** The success body, for the OpenAPI description. */
  response?: z.ZodTypeAny;
  /** The success status for the OpenAPI description (default 200, or 204 without `response`). */
  successStatus?: number;
  /** Other success answers the route can give (a change that waits for approvers: 202). */
  otherResponses?: readonly { status: number; description: string; schema?: z.ZodTypeAny }[];
}

interface PortalCommon<Q, B, P> extends RouteDocs {
  roles: readonly PortalRole[];
  query?: z.ZodType<Q, z.ZodTypeDef, unknown>;
  body?: z.ZodType<B, z.ZodTypeDef, unknown>;
  params?: z.ZodType<P, z.ZodTypeDef, unknown>;
}

interface PortalBaseContext<Q, B, P> {
  tenantId: string;
  principal: PortalPrincipal;
  /** For audit rows: `{ type: 'user', id: userId }`. */
  actor: Actor;
  params: P;
  query: Q;
  body: B;
  req: Request;
  res: Response;
  deps: PortalDeps;
}

/** A normal route: the handler runs in one `withTenant` transaction scoped to the session's tenant. */
export interface PortalTxContext<Q = any, B = any, P = any> extends PortalBaseContext<Q, B, P> {
  tx: Tx;
}

/** A streamed route: no transaction is opened; use `db` (with withTenant) as the stream needs. */
export interface PortalStreamContext<Q = any, B = any, P = any> extends PortalBaseContext<Q, B, P> {
  db: Db;
}

export type PortalRouteDef<Q = any, B = any, P = any> =
  | (PortalCommon<Q, B, P> & { stream?: false; handler(ctx: PortalTxContext<Q, B, P>): Promise<RouteResult | void> })
  | (PortalCommon<Q, B, P> & { stream: true; handler(ctx: PortalStreamContext<Q, B, P>): Promise<RouteResult | void> });

/** Identity function that keeps one route's schema types (an array literal loses them). */
export function portalRoute<Q = Record<string, string>, B = undefined, P = Record<string, string>>(def: PortalRouteDef<Q, B, P>): PortalRouteDef<Q, B, P> {
  return def;
}

/** What the registry keeps of every declared route. */
export interface DeclaredRoute extends RouteDocs {
  /** `public`: no session (sign-in, setup); `operator`: any console operator; otherwise the portal roles allowed. */
  access: 'public' | 'operator' | readonly PortalRole[];
}

const declared = new WeakMap<Router, DeclaredRoute[]>();

/** The routes declared on a router with portalRoutes / portalPublicRoutes / consoleRoutes. */
export function declaredRoutes(router: Router): readonly DeclaredRoute[] {
  return declared.get(router) ?? [];
}

/** Records a route in its router's registry (what declaredRoutes returns). */
export function declareRoute(router: Router, def: RouteDocs & { access: DeclaredRoute['access'] }): void {
  const route: DeclaredRoute = { ...docsOf(def), access: def.access };
  const list = declared.get(router) ?? [];
  list.push(route);
  declared.set(router, list);
}

function docsOf(def: RouteDocs): RouteDocs {
  const { method, path, summary, description, tags, query, body, params, response, successStatus, otherResponses } = def;
  return { method, path, summary, description, tags, query, body, params, response, successStatus, otherResponses };
}

/** Parses params, query and body with the route's schemas (a ZodError becomes 400 invalid_request). */
export function parseInput(def: RouteDocs, req: Request): { params: any; query: any; body: any } {
  return {
    params: def.params ? def.params.parse(req.params) : { ...req.params },
    query: def.query ? def.query.parse(req.query) : {},
    body: def.body ? def.body.parse(req.body ?? {}) : undefined,
  };
}

export function sendResult(res: Response, result: RouteResult | void): void {
  if (result === undefined) return; // the handler wrote the response itself
  if (res.headersSent) return;
  const status = result.status ?? (result.body === undefined ? 204 : 200);
  if (result.body === undefined) res.status(status).end();
  else res.status(status).json(result.body);
}

const CSRF_HEADER = 'x-csrf-token';

/**
 * Declares portal routes on `router` (mounted after the session middleware). Order of checks: no
 * session → 401 `unauthenticated`; a role not allowed → 403 `forbidden`; a non-GET without the
 * session's CSRF token → 403 `csrf`; invalid input → 400 `invalid_request`.
 */
export function portalRoutes(router: Router, deps: PortalDeps, defs: readonly PortalRouteDef[]): void {
  for (const def of defs) {
    declareRoute(router, { ...def, access: def.roles });
    router[def.method](def.path, async (req: Request, res: Response) => {
      let session = portalSessionOf(res);
      // A streamed route has no transaction to re-check a cached session in: read it afresh.
      if (session?.fromCache && def.stream) session = await refreshed(deps, session);
      try {
        await serve(def, deps, req, res, session);
      } catch (err) {
        // The cached session was revoked, its person removed or their roles changed (on any API
        // process) and the notification had not arrived yet: authorise again from the database.
        if (!(err instanceof PreconditionFailed) || !session?.fromCache) throw err;
        await serve(def, deps, req, res, await refreshed(deps, session));
      }
    });
  }
}

async function refreshed(deps: PortalDeps, session: PortalSession): Promise<PortalSession | undefined> {
  const principal = await deps.sessions?.refresh(session.token);
  return principal ? { ...session, principal, fromCache: false } : undefined;
}

async function serve(def: PortalRouteDef, deps: PortalDeps, req: Request, res: Response, session: PortalSession | undefined): Promise<void> {
  if (!session) {
    sendApiError(res, 401, 'unauthenticated', 'Sign in to continue.');
    return;
  }
  const { principal } = session;
  if (!principal.roles.some((r) => def.roles.includes(r))) {
    sendApiError(res, 403, 'forbidden', 'Your role does not allow this.');
    return;
  }
  if (def.method !== 'get') {
    const sent = req.get(CSRF_HEADER);
    if (!sent || !safeEqual(sent, session.csrfToken)) {
      sendApiError(res, 403, 'csrf', 'The request is missing its CSRF token: reload the page and try again.');
      return;
    }
  }
  const input = parseInput(def, req);
  const base = { tenantId: principal.tenantId, principal, actor: { type: 'user' as const, id: principal.userId }, ...input, req, res, deps };
  const inTenant = <T>(fn: (tx: Tx) => Promise<T>) =>
    session.fromCache
      ? withTenantChecked(deps.db, principal.tenantId, sessionStillCurrent(principal.sessionId, principal.userId, principal.roles), fn)
      : withTenant(deps.db, principal.tenantId, fn);
  const result = def.stream ? await def.handler({ ...base, db: deps.db }) : await inTenant((tx) => def.handler({ ...base, tx }));
  sendResult(res, result);
}

export interface PublicContext<Q = any, B = any, P = any> {
  db: Db;
  params: P;
  query: Q;
  body: B;
  req: Request;
  res: Response;
}

export interface PublicRouteDef<Q = any, B = any, P = any> extends RouteDocs {
  query?: z.ZodType<Q, z.ZodTypeDef, unknown>;
  body?: z.ZodType<B, z.ZodTypeDef, unknown>;
  params?: z.ZodType<P, z.ZodTypeDef, unknown>;
  handler(ctx: PublicContext<Q, B, P>): Promise<RouteResult | void>;
}

export function publicRoute<Q = Record<string, string>, B = undefined, P = Record<string, string>>(def: PublicRouteDef<Q, B, P>): PublicRouteDef<Q, B, P> {
  return def;
}

/**
 * Routes that need no session (sign-in, setup links), portal or console. They carry no CSRF token,
 * so a non-GET with an `Origin` header must come from our own origin (a cross-site form cannot
 * sign someone into an attacker's account).
 */
export function publicRoutes(router: Router, deps: { db: Db; publicUrl: string }, defs: readonly PublicRouteDef[]): void {
  for (const def of defs) {
    declareRoute(router, { ...def, access: 'public' });
    router[def.method](def.path, async (req: Request, res: Response) => {
      if (def.method !== 'get' && !isSameOrigin(req, deps.publicUrl)) {
        sendApiError(res, 403, 'csrf', 'Cross-origin request refused.');
        return;
      }
      const input = parseInput(def, req);
      sendResult(res, await def.handler({ db: deps.db, ...input, req, res }));
    });
  }
}
