import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { Db } from '../core/db/pool.js';
import { type AppPrincipal, authenticateAppKey } from '../core/repositories/app-keys.js';
import { sendJson } from './node-http.js';

declare module 'express-serve-static-core' {
  interface Locals {
    app?: AppPrincipal;
  }
}

/** The app key an `Authorization: Bearer` header carries, authenticated; null when absent or not valid. */
export async function authenticateAppRequest(db: Db, req: IncomingMessage): Promise<AppPrincipal | null> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match ? authenticateAppKey(db, match[1]!) : null;
}

/** RFC 6750's answer to a missing, invalid or revoked app key. */
export function sendInvalidAppKey(res: ServerResponse): void {
  res.setHeader('WWW-Authenticate', 'Bearer realm="roster", error="invalid_token"');
  sendJson(res, 401, { error: 'invalid_token', error_description: 'missing, invalid or revoked app API key' });
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
      const principal = await authenticateAppRequest(db, req);
      if (!principal) {
        sendInvalidAppKey(res);
        return;
      }
      res.locals.app = principal;
      next();
    } catch (err) {
      next(err);
    }
  };
}
