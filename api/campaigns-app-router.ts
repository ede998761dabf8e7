import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Client } from '@temporalio/client';
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { z } from 'zod';
import {
  CampaignDefinitionInput,
  CampaignDefinitionPage,
  CampaignDefinitionView,
  CampaignItemPage,
  CampaignListQuery,
  CampaignPage,
  CampaignView,
  DefinitionListQuery,
  ItemQuery,
  LaunchedCampaign,
} from '../core/campaigns/schema.js';
import {
  APP_CALLER,
  createDefinition,
  deleteDefinition,
  getCampaign,
  getDefinition,
  listCampaigns,
  listDefinitions,
  listItems,
  setDefinitionPaused,
  updateDefinition,
} from '../core/campaigns/service.js';
import type { Config } from '../core/config.js';
import { type Db, type Tx, withTenant } from '../core/db/pool.js';
import { DomainError } from '../core/errors.js';
import type { ServiceContext } from '../core/shared/service-context.js';
import { requireAppKey } from './app-auth.js';
import { appApiErrors, parseBody } from './app-api-support.js';
import { AppApiError } from './app-api-schemas.js';
import { type CampaignActionDeps, campaignServiceDeps, launchNow, sendEvidence } from './campaign-actions.js';
import { appContext } from './change-requests-router.js';

export interface CampaignsAppRouterDeps {
  db: Db;
  config: Config;
  /** Starts a launched campaign's workflow (absent: the worker's reconciler starts it). */
  temporal?: Client | undefined;
}

// Query schemas of the app surface: the portal's, strict (an unknown parameter is a 400), and the
// items always `all` (the app has no worklist of its own).
const DefinitionsQuery = DefinitionListQuery.strict();
const CampaignsQuery = CampaignListQuery.strict();
const ItemsQuery = ItemQuery.omit({ view: true }).strict();
const IdParam = z.object({ id: z.string().uuid() });

const handle = (fn: (req: Request, res: Response) => Promise<void>) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).catch(next);
};

/** The path's id, or 404 (an id that is not a uuid names nothing). */
function idOf(req: Request, what: string): string {
  const id = IdParam.safeParse(req.params);
  if (!id.success) throw new DomainError(404, 'not_found', `no such ${what} in this tenant`);
  return id.data.id;
}

/**
 * Access recertification campaigns for the vendor's application under /api/v1 (issue 9), with the
 * portal's shapes: definitions (CRUD, pause, resume, launch now), campaigns with live progress,
 * every item, and the evidence of closed campaigns. Decisions stay with people (the portal).
 */
export function createCampaignsAppRouter(deps: CampaignsAppRouterDeps): Router {
  const router = Router();
  const auth = requireAppKey(deps.db);
  const json = express.json({ limit: '256kb', strict: true, type: ['application/json', 'application/*+json'] });
  const service = campaignServiceDeps(deps.config);
  const actions: CampaignActionDeps = { db: deps.db, temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE, service };
  const inTenant = <T>(req: Request, res: Response, fn: (tx: Tx, ctx: ServiceContext) => Promise<T>) => {
    const ctx = appContext(req, res);
    return withTenant(deps.db, ctx.tenantId, (tx) => fn(tx, ctx));
  };
  const send = (res: Response, status: number, body?: unknown) => {
    res.set('Cache-Control', 'no-store');
    if (body === undefined) res.status(status).end();
    else res.status(status).json(body);
  };

  /**
   * A handler that reads its input from the request (a 400 or 404 before any transaction opens),
   * then answers `status` with what `answer` returns in the caller's tenant transaction.
   */
  const answerInTenant = <I>(status: number, input: (req: Request) => I, answer: (tx: Tx, ctx: ServiceContext, input: I) => Promise<unknown>) =>
    handle(async (req, res) => {
      const parsed = input(req);
      send(res, status, await inTenant(req, res, (tx, ctx) => answer(tx, ctx, parsed)));
    });
  const definitionId = (req: Request) => idOf(req, 'campaign definition');
  const campaignId = (req: Request) => idOf(req, 'campaign');

  router.get('/campaign-definitions', auth, answerInTenant(200, (req) => DefinitionsQuery.parse(req.query), (tx, ctx, query) => listDefinitions(tx, ctx.tenantId, service, query)));
  router.post('/campaign-definitions', auth, json, answerInTenant(201, (req) => parseBody(CampaignDefinitionInput, req), (tx, ctx, body) => createDefinition(tx, ctx, service, body)));
  router.get('/campaign-definitions/:id', auth, answerInTenant(200, definitionId, (tx, ctx, id) => getDefinition(tx, ctx.tenantId, service, id)));
  router.put(
    '/campaign-definitions/:id',
    auth,
    json,
    answerInTenant(200, (req) => ({ id: definitionId(req), body: parseBody(CampaignDefinitionInput, req) }), (tx, ctx, { id, body }) => updateDefinition(tx, ctx, service, id, body)),
  );
  router.delete('/campaign-definitions/:id', auth, answerInTenant(204, definitionId, (tx, ctx, id) => deleteDefinition(tx, ctx, id)));
  for (const [action, paused] of [['pause', true], ['resume', false]] as const) {
    router.post(`/campaign-definitions/:id/${action}`, auth, answerInTenant(200, definitionId, (tx, ctx, id) => setDefinitionPaused(tx, ctx, service, id, paused)));
  }
  router.post(
    '/campaign-definitions/:id/launch',
    auth,
    handle(async (req, res) => {
      const id = definitionId(req);
      const r = await launchNow(actions, appContext(req, res), id);
      send(res, r.status, r.status === 201 ? r.body : { error: r.body.error, error_description: r.body.message, campaignId: r.body.campaignId });
    }),
  );

  router.get('/campaigns', auth, answerInTenant(200, (req) => CampaignsQuery.parse(req.query), (tx, ctx, query) => listCampaigns(tx, ctx.tenantId, APP_CALLER, query)));
  router.get('/campaigns/:id', auth, answerInTenant(200, campaignId, (tx, ctx, id) => getCampaign(tx, ctx.tenantId, APP_CALLER, id)));
  router.get(
    '/campaigns/:id/items',
    auth,
    answerInTenant(200, (req) => ({ id: campaignId(req), query: ItemsQuery.parse(req.query) }), (tx, ctx, { id, query }) => listItems(tx, ctx.tenantId, APP_CALLER, id, { ...query, view: 'all' })),
  );
  for (const format of ['csv', 'json'] as const) {
    router.get(
      `/campaigns/:id/evidence.${format}`,
      auth,
      handle(async (req, res) => sendEvidence(actions, appContext(req, res), campaignId(req), format, res)),
    );
  }

  router.use(appApiErrors);
  return router;
}

/** Adds the campaign routes of the app API to the OpenAPI document (the same zod schemas). */
export function registerCampaignsApiPaths(registry: OpenAPIRegistry): void {
  const security = [{ appApiKey: [] }];
  const tags = ['Access reviews'];
  const json = (schema: z.ZodTypeAny) => ({ 'application/json': { schema } });
  const fail = (description: string) => ({ description, content: json(AppApiError) });
  const errors = { 400: fail('invalid_request (the field and why) / invalid_cursor'), 401: fail('invalid_token'), 404: fail('not_found: no such definition or campaign in this tenant') };
  const params = IdParam;
  const definition = { 200: { description: 'The definition', content: json(CampaignDefinitionView) }, ...errors };
  const body = { body: { required: true, content: json(CampaignDefinitionInput) } };
  const rules =
    'Reviewers and the fallback must be active portal users of the organisation, groups its own, a cron expression five fields with at most one of the two day fields restricted (no L, W, #, ? or H; day of week 0-6), and escalation before the deadline.';

  registry.registerPath({ method: 'get', path: '/api/v1/campaign-definitions', tags, security, summary: 'Campaign definitions, newest first', request: { query: DefinitionsQuery }, responses: { 200: { description: 'A page', content: json(CampaignDefinitionPage) }, ...errors } });
  registry.registerPath({ method: 'post', path: '/api/v1/campaign-definitions', tags, security, summary: 'Define a campaign', description: rules, request: body, responses: { 201: { description: 'Created', content: json(CampaignDefinitionView) }, ...errors } });
  registry.registerPath({ method: 'get', path: '/api/v1/campaign-definitions/{id}', tags, security, summary: 'One campaign definition', request: { params }, responses: definition });
  registry.registerPath({ method: 'put', path: '/api/v1/campaign-definitions/{id}', tags, security, summary: 'Replace a definition (its revision goes up; its schedule follows)', description: rules, request: { params, ...body }, responses: definition });
  registry.registerPath({ method: 'delete', path: '/api/v1/campaign-definitions/{id}', tags, security, summary: 'Delete a definition (its schedule is removed)', request: { params }, responses: { 204: { description: 'Deleted' }, ...errors } });
  registry.registerPath({ method: 'post', path: '/api/v1/campaign-definitions/{id}/pause', tags, security, summary: 'Pause the schedule', request: { params }, responses: definition });
  registry.registerPath({ method: 'post', path: '/api/v1/campaign-definitions/{id}/resume', tags, security, summary: 'Resume the schedule', request: { params }, responses: definition });
  registry.registerPath({
    method: 'post',
    path: '/api/v1/campaign-definitions/{id}/launch',
    tags,
    security,
    summary: 'Launch a campaign of this definition now',
    request: { params },
    responses: {
      201: { description: 'Launched', content: json(LaunchedCampaign) },
      409: { description: 'campaign_running: one campaign of a definition runs at a time', content: json(AppApiError.extend({ campaignId: z.string().uuid() })) },
      ...errors,
    },
  });
  registry.registerPath({ method: 'get', path: '/api/v1/campaigns', tags, security, summary: 'Campaigns, newest first', request: { query: CampaignsQuery }, responses: { 200: { description: 'A page', content: json(CampaignPage) }, ...errors } });
  registry.registerPath({ method: 'get', path: '/api/v1/campaigns/{id}', tags, security, summary: 'One campaign with live progress and, once closed, its signed summary', request: { params }, responses: { 200: { description: 'The campaign', content: json(CampaignView) }, ...errors } });
  registry.registerPath({ method: 'get', path: '/api/v1/campaigns/{id}/items', tags, security, summary: "A campaign's items, riskiest first", request: { params, query: ItemsQuery }, responses: { 200: { description: 'A page', content: json(CampaignItemPage) }, ...errors } });
  for (const format of ['csv', 'json'] as const) {
    registry.registerPath({
      method: 'get',
      path: `/api/v1/campaigns/{id}/evidence.${format}`,
      tags,
      security,
      summary: `The evidence of a closed campaign as ${format.toUpperCase()} (streamed attachment)`,
      request: { params },
      responses: {
        200: { description: 'Every item: subject, access, reviewer, decision, time, reason, how it was applied', content: { [format === 'csv' ? 'text/csv' : 'application/json']: { schema: format === 'csv' ? z.string() : z.array(z.record(z.unknown())) } } },
        409: fail('campaign_not_closed'),
        ...errors,
      },
    });
  }
}
