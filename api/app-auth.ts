import type { NextFunction, Request, Response } from 'express';
import type { Db } from '../core/db/pool.js';
import { type AppPrincipal, authenticateAppKey } from '../core/repositories/app-keys.js';

declare module 'express-serve-static-core' {
  interface Locals {
    app?: AppPrincipal;
  }
}

/**
 * Authenticates the vendor's application by its tenant-scoped app API key (Bearer). Sets
 * `res.locals.app`; answers 401 (RFC 6750) otherwise.
 */
export function requireAppKey(db: Db) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    // Several /api/v1 routers share this guard: the key is checked once per request.
    if (res.locals.app) {
      next();
      return;
    }
    try {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
      const principal = match ? await authenticateAppKey(db, match[1]!) : null;
      if (!principal) {
        res.set('WWW-Authenticate', 'Bearer realm="roster", error="invalid_token"');
        res.status(401).json({ error: 'invalid_token', error_description: 'missing, invalid or revoked app API key' });
        return;
      }
      res.locals.app = principal;
      next();
    } catch (err) {
      next(err);
    }
  };
}
