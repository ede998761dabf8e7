import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Client } from '@temporalio/client';
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { submitChange } from '../activities/approval-client.js';
import { type ApprovalDeps, collectSecret, getChangeRequest, listChangeRequests, type SubmitResult } from '../core/approvals/service.js';
import { type ChangeKind, ChangeRequestPage, ChangeRequestView, CollectedSecret, SubmitChangeBody, SubmittedChange } from '../core/approvals/schema.js';
import { type Db, withTenant } from '../core/db/pool.js';
import { DomainError } from '../core/errors.js';
import type { AppPrincipal } from '../core/repositories/app-keys.js';
import type { ServiceContext } from '../core/shared/service-context.js';
import { requireAppKey } from './app-auth.js';
import { appApiErrors, parseBody } from './app-api-support.js';
import { requestIdOf } from './request-id.js';

export interface ChangeRequestsRouterDeps {
  db: Db;
  /** Starts each request's approval workflow (absent: the worker's reconciler starts it). */
  temporal?: Client | undefined;
  approvals: ApprovalDeps;
}

const ListQuery = z.object({ cursor: z.string().max(400).optional(), limit: z.coerce.number().int().min(1).max(100).default(25) }).strict();


/** The app key's tenant and the actor its changes are recorded under. */
export function appContext(req: Request, res: Response): ServiceContext {
  const { tenantId, keyId } = res.locals.app as AppPrincipal;
  return { tenantId, actor: { type: 'system', id: `app-key:${keyId}` }, requestId: requestIdOf(req) };
}

/**
 * Submits a change for the app API (and answers it the way every rerouted app route does): 202
 * with the request while it waits for approval; when it applied at once, `onApplied` builds the
 * route's old answer.
 */
export async function submitForApp(
  deps: ChangeRequestsRouterDeps,
  ctx: ServiceContext,
  kind: ChangeKind,
  payload: unknown,
  res: Response,
  onApplied: (r: Required<Pick<SubmitResult, 'applied'>> & SubmitResult) => Promise<{ status: number; body: unknown }>,
): Promise<void> {
  const r = await submitChange(deps.db, deps.temporal, ctx, deps.approvals, { kind, payload });
  res.set('Cache-Control', 'no-store');
  if (!r.applied) {
    res.status(202).json({ request: r.request });
    return;
  }
  const answer = await onApplied({ ...r, applied: r.applied });
  if (answer.body === undefined) res.status(answer.status).end();
  else res.status(answer.status).json(answer.body);
}

const handle = (fn: (req: Request, res: Response) => Promise<void>) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).catch(next);
};

/**
 * Change requests for the vendor's app under /api/v1: list and read the tenant's requests, and
 * submit any kind, and collect (once) the secret a change the app requested produced. Decisions
 * are people's (the portal); the app only requests.
 */
export function createChangeRequestsRouter(deps: ChangeRequestsRouterDeps): Router {
  const router = Router();
  const auth = requireAppKey(deps.db);
  const json = express.json({ limit: '64kb', type: ['application/json', 'application/*+json'] });

  router.get(
    '/change-requests',
    auth,
    handle(async (req, res) => {
      const { tenantId } = appContext(req, res);
      const q = ListQuery.parse(req.query);
      res.json(await withTenant(deps.db, tenantId, (tx) => listChangeRequests(tx, tenantId, { box: 'history', userId: '', roles: [], cursor: q.cursor, limit: q.limit })));
    }),
  );

  router.get(
    '/change-requests/:id',
    auth,
    handle(async (req, res) => {
      const { tenantId } = appContext(req, res);
      const id = z.string().uuid().safeParse(req.params.id);
      if (!id.success) throw new DomainError(404, 'not_found', 'no such change request');
      res.json(await withTenant(deps.db, tenantId, (tx) => getChangeRequest(tx, tenantId, id.data)));
    }),
  );

  router.post(
    '/change-requests',
    auth,
    json,
    handle(async (req, res) => {
      const body = parseBody(SubmitChangeBody, req);
      const r = await submitChange(deps.db, deps.temporal, appContext(req, res), deps.approvals, body);
      res.set('Cache-Control', 'no-store');
      res.status(r.applied ? 201 : 202).json({ request: r.request, ...(r.applied?.secret ? { secret: r.applied.secret } : {}) });
    }),
  );

  router.post(
    '/change-requests/:id/collect-secret',
    auth,
    handle(async (req, res) => {
      const ctx = appContext(req, res);
      const id = z.string().uuid().safeParse(req.params.id);
      if (!id.success) throw new DomainError(404, 'not_found', 'no such change request');
      const collected = await withTenant(deps.db, ctx.tenantId, (tx) => collectSecret(tx, ctx, id.data, deps.approvals.secretKey));
      res.set('Cache-Control', 'no-store');
      res.json(collected);
    }),
  );

  router.use(appApiErrors);
  return router;
}

/** The 202 answer of every app route whose change waits for approval (OpenAPI). */
export const waitingForApproval = {
  202: { description: 'Waits for approval: the change request (GET /api/v1/change-requests/{id} follows it)', content: { 'application/json': { schema: z.object({ request: ChangeRequestView }) } } },
};

/** Adds the change-request routes to the OpenAPI document (same zod schemas). */
export function registerChangeRequestsApiPaths(registry: OpenAPIRegistry): void {
  const security = [{ appApiKey: [] }];
  const tags = ['Change requests'];
  const json = (schema: z.ZodTypeAny) => ({ 'application/json': { schema } });
  const errors = { 400: { description: 'invalid_request / unsupported_change_kind' }, 401: { description: 'invalid_token' }, 404: { description: 'not_found' } };
  const params = z.object({ id: z.string().uuid() });
  registry.registerPath({ method: 'get', path: '/api/v1/change-requests', tags, security, summary: "The tenant's change requests, newest first", request: { query: ListQuery }, responses: { 200: { description: 'A page', content: json(ChangeRequestPage) }, ...errors } });
  registry.registerPath({ method: 'get', path: '/api/v1/change-requests/{id}', tags, security, summary: 'One change request', request: { params }, responses: { 200: { description: 'The request', content: json(ChangeRequestView) }, ...errors } });
  registry.registerPath({
    method: 'post',
    path: '/api/v1/change-requests',
    tags,
    security,
    summary: 'Request a change of any kind; it applies at once only when the policy needs no approver',
    request: { body: { required: true, content: json(SubmitChangeBody) } },
    responses: { 201: { description: 'Applied at once (a produced secret is shown once)', content: json(SubmittedChange) }, 202: { description: 'Waits for approval', content: json(SubmittedChange) }, ...errors },
  });
  registry.registerPath({
    method: 'post',
    path: '/api/v1/change-requests/{id}/collect-secret',
    tags,
    security,
    summary: 'The secret a change this app requested produced: once',
    request: { params },
    responses: { 200: { description: 'The secret', content: json(CollectedSecret) }, 403: { description: 'not_requester' }, 409: { description: 'no_secret (not applied, or nothing to collect)' }, 410: { description: 'secret_collected' }, ...errors },
  });
}
