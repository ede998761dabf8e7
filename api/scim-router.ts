import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQueryString } from 'node:querystring';
import { context, type Tracer } from '@opentelemetry/api';
import express from 'express';
import type { Db } from '../core/db/pool.js';
import { ScimError } from '../core/errors.js';
import type { Metrics } from '../core/metrics.js';
import { resourceTypeResource, type ScimLimits, schemaById, schemaResource, serviceProviderConfig } from '../core/scim/discovery.js';
import { isForbiddenName } from '../core/scim/resource.js';
import { allSchemas, URN } from '../core/scim/schema.js';
import type { ScimPaging } from '../core/scim/paging.js';
import * as scim from '../core/scim/service.js';
import type { ScimTokenCache } from '../core/scim-token-cache.js';
import type { ScimActivityRecorder } from '../core/connections/activity.js';
import { readBody, sendJson } from './node-http.js';
import { observeScimRequest } from './scim-metrics.js';
import { SCIM_CONTENT_TYPE, scimErrorSent, sendScimError, sendScimFailure, UNAUTHENTICATED } from './scim-errors.js';
import { parseScimParams, ScimListQuery, ScimProjectionQuery, ScimSearchRequest } from './scim-schemas.js';
import { startServerSpan } from './tracing.js';

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
  /** Prometheus metrics of this process; none recorded when absent. */
  metrics?: Metrics | undefined;
  /** A server span per request while tracing is on (api/tracing.ts). */
  tracer?: Tracer | undefined;
}

/** The mount point of the SCIM service. */
export const SCIM_PREFIX = '/scim/v2';

/** True for a request URL under /scim/v2 (case-insensitive, as the routes are). */
export function isScimUrl(url: string): boolean {
  if (url.length < SCIM_PREFIX.length || url.slice(0, SCIM_PREFIX.length).toLowerCase() !== SCIM_PREFIX) return false;
  const next = url.charCodeAt(SCIM_PREFIX.length);
  return Number.isNaN(next) || next === 0x2f /* / */ || next === 0x3f /* ? */;
}

/** One SCIM request as the operations see it: the request (headers, parsed body), query string, route parameters and tenant context. */
interface Exchange {
  req: IncomingMessage & { body?: unknown };
  query: string;
  params: Record<string, string>;
  ctx: scim.ScimContext;
}

type Operation = (x: Exchange) => Promise<scim.ScimResult> | scim.ScimResult;
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface Route {
  method: Method;
  /** Segments below /scim/v2; `:name` takes one segment as a parameter. */
  segments: readonly string[];
  literal: boolean;
  op: Operation;
}

/** Counts the answer once it is sent: no work before it, no database round trip for it. */
function recordActivity(activity: ScimActivityRecorder, req: IncomingMessage, res: ServerResponse, path: string, principal: { tenantId: string; connectionId: string }): void {
  res.once('finish', () => {
    const status = res.statusCode;
    if (status < 400) {
      activity.record({ tenantId: principal.tenantId, connectionId: principal.connectionId, status, method: req.method ?? '', path: '' });
      return;
    }
    const sent = scimErrorSent(res);
    activity.record({
      tenantId: principal.tenantId,
      connectionId: principal.connectionId,
      status,
      method: req.method ?? '',
      path: `${SCIM_PREFIX}${path}`,
      scimType: sent?.scimType,
      detail: sent?.detail,
    });
  });
}

/** Query string and `.search` bodies share one shape (RFC 7644 §3.4.3), validated at the edge. */
const listParams = (x: Exchange): scim.ListParams => parseScimParams(ScimListQuery, parseQueryString(x.query));
const projectionParams = (x: Exchange): scim.ListParams => parseScimParams(ScimProjectionQuery, parseQueryString(x.query));
const searchParams = (x: Exchange): scim.ListParams => parseScimParams(ScimSearchRequest, searchBody(x.req));

function preconditions(req: IncomingMessage): scim.Preconditions {
  return { ifMatch: req.headers['if-match'], ifNoneMatch: req.headers['if-none-match'] };
}

function isJsonish(req: { headers: Record<string, string | string[] | undefined> }): boolean {
  const raw = req.headers['content-type'];
  const type = Array.isArray(raw) ? raw[0] : raw;
  // Accept application/scim+json and application/json (Entra, Google, Okta's tests); a missing
  // type is tried as JSON too, since some IdPs omit it.
  return !type || /^application\/([\w.+-]*\+)?json\b/i.test(type) || /^text\/plain\b/i.test(type);
}

/** Writes an operation's result straight to node's response. */
function sendResult(res: ServerResponse, result: scim.ScimResult): void {
  if (result.headers) for (const k in result.headers) res.setHeader(k, result.headers[k]!);
  res.statusCode = result.status;
  if (result.body === undefined) {
    res.end();
    return;
  }
  sendJson(res, result.status, result.body, SCIM_CONTENT_TYPE);
}

/**
 * The SCIM service (RFC 7644) on node's own request and response: IdPs send most of the API's
 * traffic (a lookup before every create, pushes of thousands of memberships), and express's
 * per-request machinery (prototype swaps on req and res, a router walk through every middleware
 * layer, its response helpers) cost as much CPU as the lookup itself (docs/benchmarks.md,
 * session 22). The surface is a fixed table of routes, so it is matched here directly: paths are
 * case-insensitive and a trailing slash is ignored, HEAD is answered wherever GET is, a method an
 * endpoint lacks is 405 with `Allow`, /Me and /Bulk are 501, anything else 404. Per request
 * (after createApp's request id, access log and drain check): server span, metrics, then
 * authentication before the body is read, then the body (for the methods that take one), then
 * the operation; every error becomes a SCIM error response in one place (sendScimFailure).
 */
export function createScimHandler(deps: ScimRouterDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const baseUrl = `${deps.publicUrl.replace(/\/$/, '')}${SCIM_PREFIX}`;
  const json = express.json({ type: isJsonish, limit: deps.limits.maxBodyBytes, strict: true });
  const routes: Route[] = [];
  const add = (method: Method, pattern: string, op: Operation) => {
    const segments = pattern.split('/').filter(Boolean).map((s) => (s.startsWith(':') ? s : s.toLowerCase()));
    routes.push({ method, segments, literal: !pattern.includes(':'), op });
  };
  const body = (x: Exchange): unknown => {
    // body-parser answers {} for an empty body; a write without a body is a syntax error, not a
    // resource missing its required attributes.
    if (x.req.body === undefined || !hasBody(x.req)) throw ScimError.badRequest('invalidSyntax', 'a JSON request body is required');
    return x.req.body;
  };
  const id = (x: Exchange) => x.params.id!;

  add('GET', '/Users', (x) => scim.listUsersOp(x.ctx, listParams(x)));
  add('POST', '/Users/.search', (x) => scim.listUsersOp(x.ctx, searchParams(x)));
  add('POST', '/Users', (x) => scim.createUserOp(x.ctx, body(x)));
  add('GET', '/Users/:id', (x) => scim.getUserOp(x.ctx, id(x), projectionParams(x), preconditions(x.req)));
  add('PUT', '/Users/:id', (x) => scim.replaceUserOp(x.ctx, id(x), body(x), preconditions(x.req)));
  add('PATCH', '/Users/:id', (x) => scim.patchUserOp(x.ctx, id(x), body(x), preconditions(x.req), projectionParams(x)));
  add('DELETE', '/Users/:id', (x) => scim.deleteUserOp(x.ctx, id(x), preconditions(x.req)));

  add('GET', '/Groups', (x) => scim.listGroupsOp(x.ctx, listParams(x)));
  add('POST', '/Groups/.search', (x) => scim.listGroupsOp(x.ctx, searchParams(x)));
  add('POST', '/Groups', (x) => scim.createGroupOp(x.ctx, body(x)));
  add('GET', '/Groups/:id', (x) => scim.getGroupOp(x.ctx, id(x), projectionParams(x), preconditions(x.req)));
  add('PUT', '/Groups/:id', (x) => scim.replaceGroupOp(x.ctx, id(x), body(x), preconditions(x.req)));
  add('PATCH', '/Groups/:id', (x) => scim.patchGroupOp(x.ctx, id(x), body(x), preconditions(x.req), projectionParams(x)));
  add('DELETE', '/Groups/:id', (x) => scim.deleteGroupOp(x.ctx, id(x), preconditions(x.req)));

  // Root-level search (RFC 7644 §3.4.3) over Users then Groups.
  add('POST', '/.search', (x) => searchAll(x.ctx, searchParams(x)));

  // Discovery (RFC 7644 §4): read-only.
  add('GET', '/ServiceProviderConfig', () => ({ status: 200, body: serviceProviderConfig(baseUrl, deps.limits) }));
  add('GET', '/ResourceTypes', () => listOf([resourceTypeResource('User', baseUrl), resourceTypeResource('Group', baseUrl)]));
  add('GET', '/ResourceTypes/:name', (x) => {
    const name = ['User', 'Group'].find((n) => n.toLowerCase() === x.params.name!.toLowerCase());
    if (!name) throw ScimError.notFound(`ResourceType ${x.params.name!} not found`);
    return { status: 200, body: resourceTypeResource(name as 'User' | 'Group', baseUrl) };
  });
  add('GET', '/Schemas', () => listOf(allSchemas.map((s) => schemaResource(s, baseUrl))));
  add('GET', '/Schemas/:urn', (x) => {
    const schema = schemaById(x.params.urn!);
    if (!schema) throw ScimError.notFound(`Schema ${x.params.urn!} not found`);
    return { status: 200, body: schemaResource(schema, baseUrl) };
  });

  /** The route answering `method` on `segments` (HEAD as GET), with its decoded parameters. */
  const find = (method: string, segments: readonly string[]): { route: Route; params: Record<string, string> } | undefined => {
    const asMethod = method === 'HEAD' ? 'GET' : method;
    for (const route of routes) {
      if (route.method !== asMethod) continue;
      const params = matchSegments(route.segments, segments);
      if (params) return { route, params };
    }
    return undefined;
  };

  /**
   * RFC 9110 §15.5.6: the methods the endpoint at `segments` answers (HEAD wherever GET is); a
   * literal endpoint (`/Users/.search`) is its own resource, not an instance of `/Users/:id`.
   */
  const allowed = (segments: readonly string[]): string[] => {
    const matching = routes.filter((r) => matchSegments(r.segments, segments));
    const resource = matching.some((r) => r.literal) ? matching.filter((r) => r.literal) : matching;
    return [...new Set(resource.flatMap((r) => (r.method === 'GET' ? ['GET', 'HEAD'] : [r.method])))];
  };

  /** The tenant each response was authenticated for (metrics label); gone with the response. */
  const tenants = new WeakMap<ServerResponse, string>();

  const serve = async (req: IncomingMessage & { body?: unknown }, res: ServerResponse, path: string, query: string): Promise<void> => {
    const segments = splitPath(path);
    const method = req.method ?? 'GET';
    // Authentication (RFC 7644 §2): a bearer token per SCIM connection. It runs before the body is
    // read, so an unauthenticated client can make us neither parse nor answer about its body.
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    const principal = match ? await deps.tokens.authenticate(match[1]!) : null;
    if (!principal) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="scim"');
      sendScimError(res, 401, UNAUTHENTICATED);
      return;
    }
    tenants.set(res, principal.tenantId);
    if (deps.activity) recordActivity(deps.activity, req, res, path, principal);
    const found = find(method, segments);
    if (!found) {
      const allow = allowed(segments);
      if (allow.length > 0) {
        res.setHeader('Allow', allow.join(', '));
        sendScimError(res, 405, `method not allowed here; allowed: ${allow.join(', ')}`);
      } else if (segments[0]?.toLowerCase() === 'me') sendScimError(res, 501, '/Me is not supported: tokens belong to connections, not users');
      else if (segments[0]?.toLowerCase() === 'bulk') sendScimError(res, 501, 'Bulk is not supported (see ServiceProviderConfig)');
      else sendScimError(res, 404, 'no such SCIM endpoint');
      return;
    }
    // Bodies are read for the methods that take one: a GET, HEAD or DELETE body has no meaning
    // here (RFC 9110 §9.3) and is discarded unread, so lookups skip body-parser altogether.
    if (!BODILESS.has(method)) {
      await readBody(json, req, res);
      if (req.body !== undefined) assertStorableJson(req.body);
    }
    const ctx: scim.ScimContext = {
      db: deps.db,
      tenantId: principal.tenantId,
      connectionId: principal.connectionId,
      tokenId: principal.tokenId,
      requestId: req.id,
      baseUrl,
      limits: deps.limits,
      paging: deps.paging,
    };
    sendResult(res, await found.route.op({ req, query, params: found.params, ctx }));
  };

  return (req, res) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url.slice(SCIM_PREFIX.length) : url.slice(SCIM_PREFIX.length, q);
    const query = q < 0 ? '' : url.slice(q + 1);
    if (deps.metrics) observeScimRequest(deps.metrics, req, res, path, () => tenants.get(res));
    const run = () =>
      serve(req, res, path, query).catch((err: unknown) => {
        sendScimFailure(err, req, res);
      });
    if (deps.tracer) {
      const active = startServerSpan(deps.tracer, req, res, { mount: SCIM_PREFIX, path, fullPath: `${SCIM_PREFIX}${path}` });
      void context.with(active, run);
    } else void run();
  };
}

/** `/Users/abc/` → ['Users', 'abc']: the trailing slash ignored (matchSegments compares literals case-insensitively). */
function splitPath(path: string): string[] {
  return path.split('/').filter((s, i, all) => s !== '' || (i > 0 && i < all.length - 1));
}

/** Parameters of `pattern` matched against `segments`, or null; literals compare case-insensitively. */
function matchSegments(pattern: readonly string[], segments: readonly string[]): Record<string, string> | null {
  if (pattern.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const s = segments[i]!;
    if (p.startsWith(':')) {
      if (s === '') return null;
      params[p.slice(1)] = decodeSegment(s);
    } else if (p !== s.toLowerCase()) return null;
  }
  return params;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw ScimError.badRequest('invalidValue', `path segment ${JSON.stringify(s)} is not valid percent-encoding`);
  }
}

const BODILESS = new Set(['GET', 'HEAD', 'DELETE']);

function hasBody(req: IncomingMessage): boolean {
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

function searchBody(req: IncomingMessage & { body?: unknown }): Record<string, unknown> {
  if (!hasBody(req)) throw ScimError.badRequest('invalidSyntax', 'a SearchRequest body is required');
  const b = req.body;
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
