import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import { type Db, withRetry } from '../core/db/pool.js';
import { DomainError } from '../core/errors.js';
import { introspect } from '../core/repositories/credentials.js';
import { authenticateAppRequest, sendInvalidAppKey } from './app-auth.js';
import { sendAppApiError } from './app-api-support.js';
import { type BodyParser, readBody, sendJson } from './node-http.js';
import { IntrospectionRequest } from './app-api-schemas.js';

/** The endpoint's path; matched case-insensitively and with or without a trailing slash, as express would. */
const INTROSPECT_PATH = '/oauth2/introspect';

/** True for a request to the introspection endpoint, whatever its method or query. */
export function isIntrospectionUrl(url: string): boolean {
  const q = url.indexOf('?');
  const path = (q < 0 ? url : url.slice(0, q)).toLowerCase();
  return path === INTROSPECT_PATH || path === `${INTROSPECT_PATH}/`;
}

/**
 * `POST /oauth2/introspect` (RFC 7662) for the vendor's application, authenticated with its app
 * API key. A token of another tenant, or one that is unknown, revoked, expired or whose principal
 * is suspended, answers `{ active: false }` with 200 — never which of these it was.
 *
 * The vendor's product asks this once per request it serves, and time to revoke is a PATCH plus
 * one of these; like SCIM (api/scim-router.ts) it is served on node's own request and response,
 * without express's per-request machinery: key check, body, one statement, answer. Any other
 * method is 405 with `Allow: POST`.
 */
export function createIntrospectionHandler(deps: { db: Db }): (req: IncomingMessage, res: ServerResponse) => void {
  // RFC 7662 §2.1 says form-encoded; JSON is accepted too, for clients that only speak JSON.
  // Room for the longest token IntrospectionRequest admits, percent-encoded (3 bytes a character):
  // a too-long token is then a 400 from the schema, not a 413 from the parser.
  const form = express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 10 }) as BodyParser;
  const json = express.json({ limit: '32kb' }) as BodyParser;

  const serve = async (req: IncomingMessage & { body?: unknown }, res: ServerResponse): Promise<void> => {
    const principal = await authenticateAppRequest(deps.db, req);
    if (!principal) {
      sendInvalidAppKey(res);
      return;
    }
    await readBody(form, req, res);
    await readBody(json, req, res);
    const parsed = IntrospectionRequest.safeParse(req.body ?? {});
    if (!parsed.success) throw new DomainError(400, 'invalid_request', 'a "token" parameter is required');
    const answer = await withRetry(() => introspect(deps.db.statements, principal.tenantId, parsed.data.token));
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Pragma', 'no-cache');
    sendJson(res, 200, answer);
  };

  return (req, res) => {
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      sendJson(res, 405, { error: 'method_not_allowed', error_description: 'allowed: POST' });
      return;
    }
    serve(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        req.log.warn({ err, reqId: req.id }, 'introspection failed after its response started');
        if (!res.writableEnded) res.destroy();
        return;
      }
      sendAppApiError(err, req, res);
    });
  };
}
