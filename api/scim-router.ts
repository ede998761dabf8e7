import express, { type NextFunction, type Request, type Response, Router } from 'express';
import type { Db } from '../core/db/pool.js';
import { ScimError } from '../core/errors.js';
import { resourceTypeResource, type ScimLimits, schemaById, schemaResource, serviceProviderConfig } from '../core/scim/discovery.js';
import { isForbiddenName } from '../core/scim/resource.js';
import { allSchemas, URN } from '../core/scim/schema.js';
import type { ScimPaging } from '../core/scim/paging.js';
import * as scim from '../core/scim/service.js';
import { methodNotAllowed } from './method-not-allowed.js';
import type { ScimTokenCache } from '../core/scim-token-cache.js';
import type { ScimActivityRecorder } from '../core/connections/activity.js';
import { SCIM_CONTENT_TYPE, type ScimErrorSent, scimErrorHandler, sendScimError, UNAUTHENTICATED } from './scim-errors.js';
import { parseScimParams, ScimListQuery, ScimProjectionQuery, ScimSearchRequest } from './scim-schemas.js';

export interface ScimRouterDeps {
  db: Db;
  /** Resolves bearer tokens (in memory, evicted by NOTIFY). */
  tokens: ScimTokenCache;
  limits: ScimLimits;
  /** Absolute URL of the API root, e.g. http://localhost:3000 */
  publicUrl: string;
  /** Cursor key and remembered list positions (core/scim/paging.ts), one per process. */
  paging: ScimPaging;
  /** Counts each connection's requests and errors in memory (flushed in batches); none: not recorded. */
  activity?: ScimActivityRecorder | undefined;
}

/** Counts the answer once it is sent: no work before it, no database round trip for it. */
function recordActivity(activity: ScimActivityRecorder, req: Request, res: Response, principal: { tenantId: string; connectionId: string }): void {
  res.once('finish', () => {
    const status = res.statusCode;
    if (status < 400) {
      activity.record({ tenantId: principal.tenantId, connectionId: principal.connectionId, status, method: req.method, path: '' });
      return;
    }
    const sent = res.locals.scimError as ScimErrorSent | undefined;
    const url = req.originalUrl;
    const q = url.indexOf('?');
    activity.record({
      tenantId: principal.tenantId,
      connectionId: principal.connectionId,
      status,
      method: req.method,
      path: q < 0 ? url : url.slice(0, q),
      scimType: sent?.scimType,
      detail: sent?.detail,
    });
  });
}

type Handler = (req: Request, res: Response) => Promise<scim.ScimResult> | scim.ScimResult;

/** Query string and `.search` bodies share one shape (RFC 7644 §3.4.3), validated at the edge. */
const listParams = (query: unknown): scim.ListParams => parseScimParams(ScimListQuery, query as Record<string, unknown>);
const projectionParams = (query: unknown): scim.ListParams => parseScimParams(ScimProjectionQuery, query as Record<string, unknown>);
const searchParams = (req: Request): scim.ListParams => parseScimParams(ScimSearchRequest, searchBody(req));

function preconditions(req: Request): scim.Preconditions {
  return { ifMatch: req.get('if-match'), ifNoneMatch: req.get('if-none-match') };
}

function isJsonish(req: { headers: Record<string, string | string[] | undefined> }): boolean {
  const raw = req.headers['content-type'];
  const type = Array.isArray(raw) ? raw[0] : raw;
  // Accept application/scim+json and application/json (Entra, Google, Okta's tests); a missing
  // type is tried as JSON too, since some IdPs omit it.
  return !type || /^application\/([\w.+-]*\+)?json\b/i.test(type) || /^text\/plain\b/i.test(type);
}

export function createScimRouter(deps: ScimRouterDeps): Router {
  const router = Router({ caseSensitive: false });
  const baseUrl = `${deps.publicUrl.replace(/\/$/, '')}/scim/v2`;

  // Authentication (RFC 7644 §2): a bearer token per SCIM connection. It runs before the body is
  // read, so an unauthenticated client can make us neither parse nor answer about its body.
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const principal = match ? await deps.tokens.authenticate(match[1]!) : null;
    if (!principal) {
      res.set('WWW-Authenticate', 'Bearer realm="scim"');
      sendScimError(res, 401, UNAUTHENTICATED);
      return;
    }
    if (deps.activity) recordActivity(deps.activity, req, res, principal);
    res.locals.scim = {
      db: deps.db,
      tenantId: principal.tenantId,
      connectionId: principal.connectionId,
      tokenId: principal.tokenId,
      requestId: typeof req.id === 'string' || typeof req.id === 'number' ? String(req.id) : '',
      baseUrl,
      limits: deps.limits,
      paging: deps.paging,
    } satisfies scim.ScimContext;
    next();
  });

  // Bodies are read for the methods that take one: a GET, HEAD or DELETE body has no meaning here
  // (RFC 9110 §9.3) and is discarded unread, so the lookups IdPs send before every create skip
  // body-parser altogether.
  const json = express.json({ type: isJsonish, limit: deps.limits.maxBodyBytes, strict: true });
  router.use((req: Request, res: Response, next: NextFunction) => {
    if (BODILESS.has(req.method)) {
      next();
      return;
    }
    json(req, res, (err?: unknown) => {
      if (err) {
        next(err);
        return;
      }
      try {
        if (req.body !== undefined) assertStorableJson(req.body);
        next();
      } catch (e) {
        next(e);
      }
    });
  });

  const ctx = (res: Response) => res.locals.scim as scim.ScimContext;
  const body = (req: Request): unknown => {
    // body-parser answers {} for an empty body; a write without a body is a syntax error, not a
    // resource missing its required attributes.
    if (req.body === undefined || !hasBody(req)) throw ScimError.badRequest('invalidSyntax', 'a JSON request body is required');
    return req.body;
  };
  const route =
    (handler: Handler) =>
    async (req: Request, res: Response, next: NextFunction): Promise<void> => {
      try {
        const result = await handler(req, res);
        if (result.headers) for (const k in result.headers) res.setHeader(k, result.headers[k]!);
        res.statusCode = result.status;
        if (result.body === undefined) {
          res.end();
          return;
        }
        // Straight to node's response: express's send() would re-inspect the content type, copy
        // the string into a Buffer and run freshness checks we have already answered (If-None-Match).
        const json = JSON.stringify(result.body);
        res.setHeader('Content-Type', SCIM_CONTENT_TYPE);
        res.setHeader('Content-Length', Buffer.byteLength(json));
        res.end(json);
      } catch (err) {
        next(err);
      }
    };
  const id = (req: Request) => String(req.params.id);

  router.get('/Users', route((req, res) => scim.listUsersOp(ctx(res), listParams(req.query))));
  router.post('/Users/.search', route((req, res) => scim.listUsersOp(ctx(res), searchParams(req))));
  router.post('/Users', route((req, res) => scim.createUserOp(ctx(res), body(req))));
  router.get('/Users/:id', route((req, res) => scim.getUserOp(ctx(res), id(req), projectionParams(req.query), preconditions(req))));
  router.put('/Users/:id', route((req, res) => scim.replaceUserOp(ctx(res), id(req), body(req), preconditions(req))));
  router.patch('/Users/:id', route((req, res) => scim.patchUserOp(ctx(res), id(req), body(req), preconditions(req), projectionParams(req.query))));
  router.delete('/Users/:id', route((req, res) => scim.deleteUserOp(ctx(res), id(req), preconditions(req))));

  router.get('/Groups', route((req, res) => scim.listGroupsOp(ctx(res), listParams(req.query))));
  router.post('/Groups/.search', route((req, res) => scim.listGroupsOp(ctx(res), searchParams(req))));
  router.post('/Groups', route((req, res) => scim.createGroupOp(ctx(res), body(req))));
  router.get('/Groups/:id', route((req, res) => scim.getGroupOp(ctx(res), id(req), projectionParams(req.query), preconditions(req))));
  router.put('/Groups/:id', route((req, res) => scim.replaceGroupOp(ctx(res), id(req), body(req), preconditions(req))));
  router.patch('/Groups/:id', route((req, res) => scim.patchGroupOp(ctx(res), id(req), body(req), preconditions(req), projectionParams(req.query))));
  router.delete('/Groups/:id', route((req, res) => scim.deleteGroupOp(ctx(res), id(req), preconditions(req))));

  // Root-level search (RFC 7644 §3.4.3) over Users then Groups.
  router.post('/.search', route((req, res) => searchAll(ctx(res), searchParams(req))));

  // Discovery (RFC 7644 §4): read-only.
  router.get('/ServiceProviderConfig', route(() => ({ status: 200, body: serviceProviderConfig(baseUrl, deps.limits) })));
  router.get('/ResourceTypes', route(() => listOf([resourceTypeResource('User', baseUrl), resourceTypeResource('Group', baseUrl)])));
  router.get(
    '/ResourceTypes/:name',
    route((req) => {
      const name = ['User', 'Group'].find((n) => n.toLowerCase() === String(req.params.name).toLowerCase());
      if (!name) throw ScimError.notFound(`ResourceType ${String(req.params.name)} not found`);
      return { status: 200, body: resourceTypeResource(name as 'User' | 'Group', baseUrl) };
    }),
  );
  router.get('/Schemas', route(() => listOf(allSchemas.map((s) => schemaResource(s, baseUrl)))));
  router.get(
    '/Schemas/:urn',
    route((req) => {
      const schema = schemaById(String(req.params.urn));
      if (!schema) throw ScimError.notFound(`Schema ${String(req.params.urn)} not found`);
      return { status: 200, body: schemaResource(schema, baseUrl) };
    }),
  );
  // Any other method on an endpoint above: 405 with `Allow` read from the routes just registered
  // (RFC 7644 §3.2 leaves unsupported operations to HTTP; RFC 9110 §15.5.6 wants the Allow header).
  router.use(methodNotAllowed(() => [router], (res, allow) => sendScimError(res, 405, `method not allowed here; allowed: ${allow.join(', ')}`)));
  router.all(['/Me', '/Me/*rest'], (_req, res) => sendScimError(res, 501, '/Me is not supported: tokens belong to connections, not users'));
  router.all(['/Bulk', '/Bulk/*rest'], (_req, res) => sendScimError(res, 501, 'Bulk is not supported (see ServiceProviderConfig)'));
  router.use((_req, res) => sendScimError(res, 404, 'no such SCIM endpoint'));
  router.use(scimErrorHandler);
  return router;
}

const BODILESS = new Set(['GET', 'HEAD', 'DELETE']);

function hasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = Number(req.headers['content-length']);
  return Number.isFinite(length) && length > 0;
}

// A lone UTF-16 surrogate: PostgreSQL rejects it in jsonb and the driver silently rewrites it to
// U+FFFD in text, so it can be neither stored nor round-tripped.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function assertStorableString(s: string, where: string): void {
  // NUL cannot be stored in PostgreSQL text or jsonb at all: without this it is a 500.
  if (s.includes('\u0000')) throw ScimError.badRequest('invalidValue', `${where}: must not contain NUL characters`);
  if (LONE_SURROGATE.test(s)) throw ScimError.badRequest('invalidValue', `${where}: is not well-formed Unicode`);
}

/**
 * Checks every key and string of a parsed body, without recursion (bodies may nest thousands of
 * levels before the resource validators reject them): no NUL, no lone surrogates, no keys that
 * reach Object.prototype (`__proto__`, `constructor`, … — also in PATCH envelopes and SearchRequests,
 * which the resource validators never see whole).
 */
function assertStorableJson(root: unknown): void {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') assertStorableString(value, 'value');
    else if (Array.isArray(value)) for (const item of value as unknown[]) stack.push(item);
    else if (value !== null && typeof value === 'object') {
      for (const [key, v] of Object.entries(value)) {
        assertStorableString(key, 'attribute name');
        if (isForbiddenName(key)) throw ScimError.badRequest('invalidValue', `${key}: attribute name not allowed`);
        stack.push(v);
      }
    }
  }
}

function searchBody(req: Request): Record<string, unknown> {
  if (!hasBody(req)) throw ScimError.badRequest('invalidSyntax', 'a SearchRequest body is required');
  const b = req.body as unknown;
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw ScimError.badRequest('invalidSyntax', 'a SearchRequest body is required');
  return b as Record<string, unknown>;
}

function listOf(resources: unknown[]): scim.ScimResult {
  return {
    status: 200,
    body: { schemas: [URN.listResponse], totalResults: resources.length, itemsPerPage: resources.length, startIndex: 1, Resources: resources },
  };
}

interface ListBody {
  totalResults: number;
  Resources: unknown[];
}

/**
 * Users first, then Groups, paged as one list. A filter naming an attribute one type lacks
 * simply matches nothing of that type.
 */
async function searchAll(ctx: scim.ScimContext, params: scim.ListParams): Promise<scim.ScimResult> {
  // A cursor would have to span two resource types; RFC 9865 leaves the choice of pagination
  // method per endpoint to the server, and this one pages by index only.
  if (params.cursor !== undefined) {
    throw ScimError.badRequest('invalidValue', 'cursor paging is offered on /Users and /Groups (and their .search); /.search pages by startIndex');
  }
  // Same parsing and caps as /Users and /Groups: the combined page is at most maxPageSize too.
  const { startIndex, count } = scim.pageOf(ctx, params);
  const tolerant = async (fn: () => Promise<scim.ScimResult>) => {
    try {
      return (await fn()).body as ListBody;
    } catch (err) {
      if (err instanceof ScimError && err.scimType === 'invalidFilter' && /attribute/i.test(err.detail)) return { totalResults: 0, Resources: [] };
      throw err;
    }
  };
  const users = await tolerant(() => scim.listUsersOp(ctx, { ...params, startIndex, count }));
  const userTotal = users.totalResults;
  const groupStart = Math.max(1, startIndex - userTotal);
  const remaining = Math.max(0, count - users.Resources.length);
  const groups = await tolerant(() => scim.listGroupsOp(ctx, { ...params, startIndex: groupStart, count: remaining }));
  const resources = [...users.Resources, ...groups.Resources];
  return {
    status: 200,
    body: { schemas: [URN.listResponse], totalResults: userTotal + groups.totalResults, itemsPerPage: resources.length, startIndex, Resources: resources },
  };
}
