import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { type Db, withRetry } from '../core/db/pool.js';
import { DomainError } from '../core/errors.js';
import { introspect } from '../core/repositories/credentials.js';
import type { AppPrincipal } from '../core/repositories/app-keys.js';
import { requireAppKey } from './app-auth.js';
import { appApiErrors } from './app-api-support.js';
import { IntrospectionRequest } from './app-api-schemas.js';

/**
 * `POST /oauth2/introspect` (RFC 7662) for the vendor's application, authenticated with its app
 * API key. A token of another tenant, or one that is unknown, revoked, expired or whose principal
 * is suspended, answers `{ active: false }` with 200 — never which of these it was.
 */
export function createIntrospectionRouter(deps: { db: Db }): Router {
  const router = Router();
  router.post(
    '/oauth2/introspect',
    requireAppKey(deps.db),
    // RFC 7662 §2.1 says form-encoded; JSON is accepted too, for clients that only speak JSON.
    // Room for the longest token IntrospectionRequest admits, percent-encoded (3 bytes a character):
    // a too-long token is then a 400 from the schema, not a 413 from the parser.
    express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 10 }),
    express.json({ limit: '32kb' }),
    async (req: Request, res: Response, next: NextFunction) => {
      try {
        const parsed = IntrospectionRequest.safeParse(req.body ?? {});
        if (!parsed.success) throw new DomainError(400, 'invalid_request', 'a "token" parameter is required');
        const { tenantId } = res.locals.app as AppPrincipal;
        const answer = await withRetry(() => introspect(deps.db.statements, tenantId, parsed.data.token));
        res.set('Cache-Control', 'no-store');
        res.set('Pragma', 'no-cache');
        res.status(200).json(answer);
      } catch (err) {
        next(err);
      }
    },
    appApiErrors,
  );
  return router;
}
