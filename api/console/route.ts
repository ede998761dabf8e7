// Route declarations in one array cannot each infer their schema types, so the context defaults to
// `any` for query/body/params; wrap a declaration in portalRoute()/consoleRoute() to keep its types.
/* eslint-disable @typescript-eslint/no-explicit-any */
import type { Request, RequestHandler, Response, Router } from 'express';
import type { z } from 'zod';
import type { Db } from '../../core/db/pool.js';
import type { Actor } from '../../core/repositories/audit.js';
import { type OperatorPrincipal, resolveOperator } from '../../core/portal-auth/operator-service.js';
import { csrfTokenFor, safeEqual } from '../../core/portal-auth/tokens.js';
import type { PortalDeps } from '../portal/deps.js';
import { sendApiError } from '../portal/errors.js';
import { declare, parseInput, type RouteDocs, type RouteResult, sendResult } from '../portal/route.js';
import { CONSOLE_COOKIE, cookieValue } from '../portal/session.js';

/** The console needs what the portal needs (its own cookie, its own sessions). */
export type ConsoleDeps = PortalDeps;

export interface ConsoleContext<Q = any, B = any, P = any> {
  /** The app pool. Operators act across tenants only through functions made for them. */
  db: Db;
  operator: { operatorId: string; email: string };
  principal: OperatorPrincipal;
  /** For audit rows in a tenant's log: `{ type: 'operator', id }`. */
  actor: Actor;
  params: P;
  query: Q;
  body: B;
  req: Request;
  res: Response;
  deps: ConsoleDeps;
}

export interface ConsoleRouteDef<Q = any, B = any, P = any> extends RouteDocs {
  query?: z.ZodType<Q, z.ZodTypeDef, unknown>;
  body?: z.ZodType<B, z.ZodTypeDef, unknown>;
  params?: z.ZodType<P, z.ZodTypeDef, unknown>;
  handler(ctx: ConsoleContext<Q, B, P>): Promise<RouteResult | void>;
}

export function consoleRoute<Q = Record<string, string>, B = undefined, P = Record<string, string>>(def: ConsoleRouteDef<Q, B, P>): ConsoleRouteDef<Q, B, P> {
  return def;
}

export interface ConsoleSession {
  principal: OperatorPrincipal;
  token: string;
  csrfToken: string;
}

export function consoleSessionOf(res: Response): ConsoleSession | undefined {
  return res.locals.consoleSession as ConsoleSession | undefined;
}

/** Resolves the `roster_console` cookie (a portal cookie is never looked at here). */
export function consoleSessionMiddleware(deps: ConsoleDeps): RequestHandler {
  return async (req, res, next) => {
    const token = cookieValue(req, CONSOLE_COOKIE);
    if (token) {
      const principal = await resolveOperator(deps.db, deps.config, token);
      if (principal) res.locals.consoleSession = { principal, token, csrfToken: csrfTokenFor(deps.secretKey, 'console', token) } satisfies ConsoleSession;
    }
    next();
  };
}

/**
 * Declares console routes: any signed-in operator may call them (401 `unauthenticated` without a
 * console session; 403 `csrf` on a non-GET without the session's CSRF token).
 */
export function consoleRoutes(router: Router, deps: ConsoleDeps, defs: readonly ConsoleRouteDef[]): void {
  for (const def of defs) {
    declare(router, { ...def, access: 'operator' });
    router[def.method](def.path, async (req: Request, res: Response) => {
      const session = consoleSessionOf(res);
      if (!session) {
        sendApiError(res, 401, 'unauthenticated', 'Sign in to the console to continue.');
        return;
      }
      if (def.method !== 'get') {
        const sent = req.get('x-csrf-token');
        if (!sent || !safeEqual(sent, session.csrfToken)) {
          sendApiError(res, 403, 'csrf', 'The request is missing its CSRF token: reload the page and try again.');
          return;
        }
      }
      const input = parseInput(def, req);
      const { operatorId, email } = session.principal;
      const result = await def.handler({
        db: deps.db,
        operator: { operatorId, email },
        principal: session.principal,
        actor: { type: 'operator', id: operatorId },
        ...input,
        req,
        res,
        deps,
      });
      sendResult(res, result);
    });
  }
}
