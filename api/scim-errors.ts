import type { IncomingMessage, ServerResponse } from 'node:http';
import { retryAfterSeconds, sqlState } from '../core/db/pool.js';
import { ScimError } from '../core/errors.js';
import { URN } from '../core/scim/schema.js';
import { domainErrorFromDatabase } from '../core/shared/db-errors.js';
import { sendJson } from './node-http.js';

export const SCIM_CONTENT_TYPE = 'application/scim+json; charset=utf-8';

/** The error each response carried, read by the connection activity recorder when it finishes. */
const sentErrors = new WeakMap<ServerResponse, ScimErrorSent>();

export function scimErrorSent(res: ServerResponse): ScimErrorSent | undefined {
  return sentErrors.get(res);
}

/** RFC 7644 §3.12 error body; `status` is a string there. */
export function sendScimError(res: ServerResponse, status: number, detail: string, scimType?: string): void {
  sentErrors.set(res, { detail, scimType });
  sendJson(res, status, { schemas: [URN.error], status: String(status), ...(scimType ? { scimType } : {}), detail }, SCIM_CONTENT_TYPE);
}

/** SQLSTATE of scim_token_tenant: the request's token was revoked or expired after it was authenticated. */
const TOKEN_NO_LONGER_CURRENT = 'RT401';
export const UNAUTHENTICATED = 'missing, invalid, expired or revoked bearer token';

export interface ScimErrorSent {
  detail: string;
  scimType: string | undefined;
}

interface BodyParserError {
  type?: string;
  status?: number;
  expose?: boolean;
}

/**
 * The one place SCIM errors become responses. Known client errors keep their detail; anything
 * else is logged and becomes a 500 that reveals nothing of the internals. A failure after the
 * response started (the client went away mid-answer) can only end the response.
 */
export function sendScimFailure(err: unknown, req: IncomingMessage, res: ServerResponse): void {
  if (res.headersSent) {
    req.log?.warn({ err, reqId: req.id }, 'SCIM request failed after its response started');
    if (!res.writableEnded) res.destroy();
    return;
  }
  if (err instanceof ScimError) {
    sendScimError(res, err.status, err.detail, err.scimType);
    return;
  }
  if (sqlState(err) === TOKEN_NO_LONGER_CURRENT) {
    // Authenticated from this process's cache, revoked or expired since (scim_token_tenant).
    res.setHeader('WWW-Authenticate', 'Bearer realm="scim"');
    sendScimError(res, 401, UNAUTHENTICATED);
    return;
  }
  const domain = domainErrorFromDatabase(err);
  if (domain) {
    // A constraint the request broke (a uniqueness race, a malformed value): the client's doing.
    sendScimError(res, domain.status === 409 ? 409 : 400, domain.message, domain.status === 409 ? 'uniqueness' : 'invalidValue');
    return;
  }
  const bp = err as BodyParserError;
  if (bp.type === 'entity.too.large') {
    sendScimError(res, 413, 'request body is larger than this server accepts (see ServiceProviderConfig)');
    return;
  }
  if (bp.type === 'entity.parse.failed' || err instanceof SyntaxError) {
    sendScimError(res, 400, 'request body is not valid JSON', 'invalidSyntax');
    return;
  }
  if (bp.type === 'encoding.unsupported' || bp.type === 'charset.unsupported') {
    sendScimError(res, 415, 'unsupported content encoding or charset');
    return;
  }
  if (err instanceof RangeError) {
    // JSON nested deeper than the engine's stack: a client error, not a crash.
    sendScimError(res, 400, 'request body is nested too deeply', 'invalidSyntax');
    return;
  }
  const retryAfter = retryAfterSeconds(err);
  if (retryAfter !== undefined) {
    // Contention that outlasted the retries, or a database restarting: nothing was written, and
    // IdPs retry a 503 that says when (RFC 7644 §3.12 lets any HTTP status carry the error schema).
    req.log?.warn({ err }, 'SCIM request failed transiently');
    res.setHeader('Retry-After', String(retryAfter));
    sendScimError(res, 503, 'the service is busy; retry this request after the Retry-After delay');
    return;
  }
  req.log?.error({ err, reqId: req.id }, 'unhandled SCIM error');
  sendScimError(res, 500, 'internal error');
}
