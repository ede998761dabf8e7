import express, { type ErrorRequestHandler, type NextFunction, type Request, type Response, Router } from 'express';
import { ZodError, type z } from 'zod';
import { type Db, type Tx, withTenant } from '../core/db/pool.js';
import { DomainError } from '../core/errors.js';
import type { Actor } from '../core/repositories/audit.js';
import * as credentials from '../core/repositories/credentials.js';
import type { AppPrincipal } from '../core/repositories/app-keys.js';
import { requireAppKey } from './app-auth.js';
import {
  CreateOAuthGrantBody,
  CreatePersonalTokenBody,
  CreateServiceAccountBody,
  CreateServiceAccountTokenBody,
  CreateSessionBody,
  ListServiceAccountsQuery,
} from './app-api-schemas.js';

export interface AppApiDeps {
  /** The app-role pool: every request runs under row-level security for the key's tenant. */
  db: Db;
}

const BODY_LIMIT = '64kb';

/**
 * The one place app-facing errors become responses (`{ error, error_description }`, RFC 6749
 * style): domain errors keep their status, invalid bodies are 400, anything else is a 500 that
 * reveals nothing.
 */
export const appApiErrors: ErrorRequestHandler = (err: unknown, req, res, next) => {
  if (res.headersSent) {
    next(err);
    return;
  }
  if (err instanceof DomainError) {
    res.status(err.status).json({ error: err.code, error_description: err.message });
    return;
  }
  if (err instanceof ZodError) {
    const first = err.issues[0];
    const where = first?.path.length ? `${first.path.join('.')}: ` : '';
    res.status(400).json({ error: 'invalid_request', error_description: `${where}${first?.message ?? 'invalid body'}` });
    return;
  }
  const status = (err as { status?: unknown; statusCode?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // body-parser: malformed JSON (400), too large (413), unsupported charset (415).
    res.status(status).json({ error: 'invalid_request', error_description: status === 413 ? 'request body too large' : 'unreadable request body' });
    return;
  }
  req.log?.error({ err }, 'app API request failed');
  res.status(500).json({ error: 'server_error' });
};

type Handler = (ctx: { req: Request; tx: Tx; tenantId: string; actor: Actor }) => Promise<{ status: number; body: unknown }>;

/** Runs a handler in one transaction scoped to the app key's tenant. */
function route(db: Db, handler: Handler) {
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
const parseBody = <T extends z.ZodTypeAny>(schema: T, req: Request): z.infer<T> => schema.parse((req.body as unknown) ?? {}) as z.infer<T>;
const param = (req: Request, name: string): string => String(req.params[name]);

/**
 * The app-facing API under `/api/v1`, for the vendor's application (tenant-scoped app API key as
 * Bearer): issue, list and revoke the credentials Roster issues. Secrets appear only in the
 * response that creates them.
 */
export function createAppApiRouter(deps: AppApiDeps): Router {
  const { db } = deps;
  const router = Router();
  // Per route, not router.use: other routers share the /api/v1 prefix. Authenticate before
  // reading any body.
  const pre = [requireAppKey(db), express.json({ limit: BODY_LIMIT, strict: true })];

  router.post(
    '/users/:userId/sessions',
    ...pre,
    route(db, async ({ req, tx, tenantId, actor }) => {
      const body = parseBody(CreateSessionBody, req);
      const issued = await credentials.issueSession(tx, tenantId, { userId: param(req, 'userId'), ttlSeconds: body.ttlSeconds }, actor);
      return { status: 201, body: issued };
    }),
  );

  router.post(
    '/users/:userId/tokens',
    ...pre,
    route(db, async ({ req, tx, tenantId, actor }) => {
      const body = parseBody(CreatePersonalTokenBody, req);
      const issued = await credentials.issuePersonalToken(tx, tenantId, { userId: param(req, 'userId'), ...body }, actor);
      return { status: 201, body: issued };
    }),
  );

  router.post(
    '/users/:userId/oauth-grants',
    ...pre,
    route(db, async ({ req, tx, tenantId, actor }) => {
      const body = parseBody(CreateOAuthGrantBody, req);
      return { status: 201, body: await credentials.recordOAuthGrant(tx, tenantId, { userId: param(req, 'userId'), ...body }, actor) };
    }),
  );

  router.get(
    '/users/:userId/access',
    ...pre,
    route(db, async ({ req, tx, tenantId }) => ({ status: 200, body: await credentials.listUserAccess(tx, tenantId, param(req, 'userId')) })),
  );

  router.post(
    '/service-accounts',
    ...pre,
    route(db, async ({ req, tx, tenantId, actor }) => {
      const body = parseBody(CreateServiceAccountBody, req);
      return { status: 201, body: await credentials.createServiceAccount(tx, tenantId, body, actor) };
    }),
  );

  router.get(
    '/service-accounts',
    ...pre,
    route(db, async ({ req, tx, tenantId }) => {
      const query = ListServiceAccountsQuery.parse(req.query);
      const rows = await credentials.listServiceAccounts(tx, tenantId, query.orphaned === undefined ? {} : { orphaned: query.orphaned === 'true' });
      return { status: 200, body: { serviceAccounts: rows.map(credentials.serviceAccountView) } };
    }),
  );

  router.post(
    '/service-accounts/:id/tokens',
    ...pre,
    route(db, async ({ req, tx, tenantId, actor }) => {
      const body = parseBody(CreateServiceAccountTokenBody, req);
      const issued = await credentials.issueServiceAccountToken(tx, tenantId, { serviceAccountId: param(req, 'id'), ...body }, actor);
      return { status: 201, body: issued };
    }),
  );

  router.post(
    '/service-accounts/:id/disable',
    ...pre,
    route(db, async ({ req, tx, tenantId, actor }) => {
      const result = await credentials.disableServiceAccount(tx, tenantId, param(req, 'id'), {}, actor);
      return { status: 200, body: { serviceAccount: result.serviceAccount, revokedTokens: result.revokedTokens } };
    }),
  );

  router.delete(
    '/credentials/:id',
    ...pre,
    route(db, async ({ req, tx, tenantId, actor }) => {
      const result = await credentials.revokeCredential(tx, tenantId, param(req, 'id'), credentials.RevocationReason.revokedByApp, actor);
      return { status: 200, body: result };
    }),
  );

  router.delete(
    '/oauth-grants/:id',
    ...pre,
    route(db, async ({ req, tx, tenantId, actor }) => {
      const result = await credentials.revokeOAuthGrant(tx, tenantId, param(req, 'id'), credentials.RevocationReason.revokedByApp, actor);
      return { status: 200, body: result };
    }),
  );

  router.use(appApiErrors);
  return router;
}
