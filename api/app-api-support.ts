import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorRequestHandler, NextFunction, Request, Response } from 'express';
import { ZodError, type z } from 'zod';
import { type Db, retryAfterSeconds, type Tx, withTenant } from '../core/db/pool.js';
import { toDomainError } from '../core/shared/db-errors.js';
import { sendJson } from './node-http.js';
import type { AppPrincipal } from '../core/repositories/app-keys.js';
import type { Actor } from '../core/repositories/audit.js';

// What every router of the app-facing surface (/api/v1, /oauth2) shares: the error mapping, the
// tenant-scoped transaction per request and body parsing at the edge.

/**
 * The one place app-facing errors become responses (`{ error, error_description }`, RFC 6749
 * style): domain errors keep their status, invalid bodies are 400, anything else is a 500 that
 * reveals nothing. On node's own response, so the introspection endpoint (served without
 * express, api/introspect.ts) shares it.
 */
export function sendAppApiError(err: unknown, req: IncomingMessage, res: ServerResponse): void {
  const domain = toDomainError(err);
  if (domain) {
    sendJson(res, domain.status, { error: domain.code, error_description: domain.message });
    return;
  }
  if (err instanceof ZodError) {
    const first = err.issues[0];
    const where = first?.path.length ? `${first.path.join('.')}: ` : '';
    sendJson(res, 400, { error: 'invalid_request', error_description: `${where}${first?.message ?? 'invalid body'}` });
    return;
  }
  const status = (err as { status?: unknown; statusCode?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // body-parser: malformed JSON (400), too large (413), unsupported charset (415).
    sendJson(res, status, { error: 'invalid_request', error_description: status === 413 ? 'request body too large' : 'unreadable request body' });
    return;
  }
  const retryAfter = retryAfterSeconds(err);
  if (retryAfter !== undefined) {
    req.log?.warn({ err }, 'app API request failed transiently');
    res.setHeader('Retry-After', String(retryAfter));
    sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'retry after the Retry-After delay' });
    return;
  }
  req.log?.error({ err, reqId: req.id }, 'app API request failed');
  sendJson(res, 500, { error: 'server_error' });
}

/** `sendAppApiError` as express's error handler. */
export const appApiErrors: ErrorRequestHandler = (err: unknown, req, res, next) => {
  if (res.headersSent) {
    next(err);
    return;
  }
  sendAppApiError(err, req, res);
};

export type AppHandler = (ctx: { req: Request; tx: Tx; tenantId: string; actor: Actor }) => Promise<{ status: number; body: unknown }>;

/** Runs a handler in one transaction scoped to the app key's tenant. */
export function appRoute(db: Db, handler: AppHandler) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    try {
      const principal = res.locals.app as AppPrincipal;
      const actor: Actor = { type: 'system', id: `app-key:${principal.keyId}` };
      const result = await withTenant(db, principal.tenantId, (tx) => handler({ req, tx, tenantId: principal.tenantId, actor }));
      res.set('Cache-Control', 'no-store');
      res.status(result.status).json(result.body);
    } catch (err) {
      next(err);
    }
  };
}

/** Parses the JSON body at the edge; an absent body is `{}` (every field of it may be optional). */
export const parseBody = <T extends z.ZodTypeAny>(schema: T, req: Request): z.infer<T> => schema.parse((req.body as unknown) ?? {}) as z.infer<T>;
export const param = (req: Request, name: string): string => String(req.params[name]);

