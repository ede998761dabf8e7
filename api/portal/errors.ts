import type { ErrorRequestHandler, Response } from 'express';
import { toDomainError } from '../../core/shared/db-errors.js';
import { ZodError } from 'zod';
import { retryAfterSeconds } from '../../core/db/pool.js';
import { DomainError } from '../../core/errors.js';

/**
 * The one mapping from errors to responses for the portal and console APIs: `{ error, message }`
 * with the domain error's status; zod failures are 400 `invalid_request` with their issues;
 * a contended or unreachable database is 503 with Retry-After; anything else a 500 without internals.
 */
export function sendApiError(res: Response, status: number, error: string, message?: string, extra: Record<string, unknown> = {}): void {
  res.status(status).json({ error, ...(message !== undefined ? { message } : {}), ...extra });
}

export function apiErrorBody(err: unknown): { status: number; body: Record<string, unknown>; retryAfter?: number } {
  // Constraint violations and the like speak as domain errors (core/shared/db-errors.ts).
  err = toDomainError(err) ?? err;
  if (err instanceof DomainError) {
    const retry = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    return { status: err.status, body: { error: err.code, message: err.message }, ...(typeof retry === 'number' ? { retryAfter: retry } : {}) };
  }
  if (err instanceof ZodError) {
    const issues = err.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    return { status: 400, body: { error: 'invalid_request', message: issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; '), issues } };
  }
  const e = err as { type?: unknown; status?: unknown; statusCode?: unknown };
  // body-parser's own errors (malformed JSON, too large, wrong charset) carry their status.
  if (e && typeof e.type === 'string' && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    return { status: e.status, body: { error: e.status === 413 ? 'payload_too_large' : 'invalid_request', message: e.status === 413 ? 'The request body is too large.' : 'The request body is not valid JSON.' } };
  }
  const retry = retryAfterSeconds(err);
  if (retry !== undefined) return { status: 503, body: { error: 'unavailable', message: 'The service is busy; try again shortly.' }, retryAfter: retry };
  return { status: 500, body: { error: 'internal', message: 'Something went wrong on our side.' } };
}

export const apiErrorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const mapped = apiErrorBody(err);
  if (mapped.status >= 500 && mapped.status !== 503) req.log?.error({ err, reqId: req.id }, 'portal api error');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (mapped.retryAfter !== undefined) res.setHeader('Retry-After', String(mapped.retryAfter));
  res.status(mapped.status).json(mapped.body);
};
