import { Router } from 'express';
import { z } from 'zod';
import {
  CampaignDefinitionInput,
  CampaignDefinitionPage,
  CampaignDefinitionView,
  CampaignItemPage,
  CampaignListQuery,
  CampaignPage,
  CampaignView,
  CloseNowResult,
  ConfirmNoResponseBody,
  ConfirmNoResponseResult,
  DecideItemsBody,
  DecideItemsResult,
  DefinitionListQuery,
  GroupOptions,
  ItemQuery,
  LaunchedCampaign,
  PickerQuery,
  ReassignBody,
  ReassignResult,
  ReviewerOptions,
} from '../../core/campaigns/schema.js';
import {
  answerNoResponse,
  createDefinition,
  deleteDefinition,
  getCampaign,
  getDefinition,
  groupPicker,
  listCampaigns,
  listDefinitions,
  listItems,
  portalCaller,
  reassignItems,
  reviewerPicker,
  setDefinitionPaused,
  updateDefinition,
} from '../../core/campaigns/service.js';
import { PORTAL_ROLES, type PortalRole } from '../../core/portal-auth/schema.js';
import type { ServiceContext } from '../../core/shared/service-context.js';
import { type CampaignActionDeps, campaignServiceDeps, closeNow, decide, launchNow, sendEvidence } from '../campaign-actions.js';
import { requestIdOf } from '../request-id.js';
import type { PortalDeps } from './deps.js';
import { portalRoute, portalRoutes } from './route.js';

const IdParams = z.object({ id: z.string().uuid() });
const ApiRefusal = z.object({ error: z.string(), message: z.string() });

/** Security users define, launch, steer and close campaigns; auditors read; everyone reviews their own items. */
const SECURITY: readonly PortalRole[] = ['admin', 'reviewer'];
const READERS: readonly PortalRole[] = ['admin', 'reviewer', 'auditor'];
const EVERYONE = PORTAL_ROLES;

const CLOSE_REFUSALS: Record<string, string> = {
  already_closed: 'The campaign is already closed.',
  still_generating: 'The campaign is still collecting its items: close it once it is open.',
};

/**
 * Access recertification campaigns (issue 9) in the portal: definitions and their schedules, launch
 * now, the campaign list with live progress, reviewers' worklists and decisions, reassignment,
 * close now, the answer to held no-response revokes and the evidence downloads. The rules are
 * core/campaigns/service.ts; Temporal calls after commit are api/campaign-actions.ts.
 */
export function createCampaignsRouter(deps: PortalDeps): Router {
  const router = Router();
  const tags = ['Portal: access reviews'];
  const service = campaignServiceDeps(deps.config);
  const actions: CampaignActionDeps = { db: deps.db, temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE, service };
  const ctxOf = (c: { tenantId: string; actor: ServiceContext['actor']; req: { id?: unknown } }): ServiceContext => ({ tenantId: c.tenantId, actor: c.actor, requestId: requestIdOf(c.req) });

  portalRoutes(router, deps, [
    // ---- definitions ----
    portalRoute({
      method: 'get',
      path: '/campaign-definitions',
      summary: 'Campaign definitions, newest first, with their next scheduled run and the campaign running now',
      tags,
      roles: READERS,
      query: DefinitionListQuery,
      response: CampaignDefinitionPage,
      handler: async ({ tx, tenantId, query }) => ({ body: await listDefinitions(tx, tenantId, service, query) }),
    }),
    portalRoute({
      method: 'post',
      path: '/campaign-definitions',
      summary: 'Define a campaign: scope, reviewer rule, durations, no-response policy and an optional schedule',
      description: 'Reviewers and the fallback must be active portal users, groups this organisation\'s, a cron expression one both the API and Temporal read alike. Each refusal is 400 invalid_request with the field\'s path in `issues`.',
      tags,
      roles: SECURITY,
      body: CampaignDefinitionInput,
      response: CampaignDefinitionView,
      successStatus: 201,
      handler: async (c) => ({ status: 201, body: await createDefinition(c.tx, ctxOf(c), service, c.body) }),
    }),
    portalRoute({
      method: 'get',
      path: '/campaign-definitions/:id',
      summary: 'One campaign definition',
      tags,
      roles: READERS,
      params: IdParams,
      response: CampaignDefinitionView,
      handler: async ({ tx, tenantId, params }) => ({ body: await getDefinition(tx, tenantId, service, params.id) }),
    }),
    portalRoute({
      method: 'put',
      path: '/campaign-definitions/:id',
      summary: 'Replace a definition (the whole body); its revision goes up and its schedule follows',
      tags,
      roles: SECURITY,
      params: IdParams,
      body: CampaignDefinitionInput,
      response: CampaignDefinitionView,
      handler: async (c) => ({ body: await updateDefinition(c.tx, ctxOf(c), service, c.params.id, c.body) }),
    }),
    portalRoute({
      method: 'delete',
      path: '/campaign-definitions/:id',
      summary: 'Delete a definition (its schedule is removed; campaigns it launched stay)',
      tags,
      roles: SECURITY,
      params: IdParams,
      handler: async (c) => {
        await deleteDefinition(c.tx, ctxOf(c), c.params.id);
        return { status: 204 };
      },
    }),
    portalRoute({
      method: 'post',
      path: '/campaign-definitions/:id/pause',
      summary: 'Pause the schedule (launching now stays possible)',
      tags,
      roles: SECURITY,
      params: IdParams,
      response: CampaignDefinitionView,
      handler: async (c) => ({ body: await setDefinitionPaused(c.tx, ctxOf(c), service, c.params.id, true) }),
    }),
    portalRoute({
      method: 'post',
      path: '/campaign-definitions/:id/resume',
      summary: 'Resume the schedule',
      tags,
      roles: SECURITY,
      params: IdParams,
      response: CampaignDefinitionView,
      handler: async (c) => ({ body: await setDefinitionPaused(c.tx, ctxOf(c), service, c.params.id, false) }),
    }),
    portalRoute({
      method: 'post',
      path: '/campaign-definitions/:id/launch',
      summary: 'Launch a campaign of this definition now',
      description: 'One campaign of a definition runs at a time: 409 campaign_running (with its `campaignId`) while one is collecting items or open.',
      tags,
      roles: SECURITY,
      params: IdParams,
      response: LaunchedCampaign,
      successStatus: 201,
      otherResponses: [{ status: 409, description: 'campaign_running: a campaign of this definition runs (campaignId)', schema: ApiRefusal.extend({ campaignId: z.string().uuid() }) }],
      stream: true,
      handler: async (c) => launchNow(actions, ctxOf(c), c.params.id),
    }),

    // ---- campaigns ----
    portalRoute({
      method: 'get',
      path: '/campaigns',
      summary: 'Campaigns, newest first, with decided counts and my pending items (`mine`)',
      description: 'Security users and auditors see every campaign; anyone else the campaigns with items assigned to them.',
      tags,
      roles: EVERYONE,
      query: CampaignListQuery,
      response: CampaignPage,
      handler: async ({ tx, tenantId, principal, query }) => ({ body: await listCampaigns(tx, tenantId, portalCaller(principal.userId, principal.roles), query) }),
    }),
    portalRoute({
      method: 'get',
      path: '/campaigns/:id',
      summary: 'One campaign with live progress (decided, revoked, overdue, per reviewer) and, once closed, its signed summary',
      tags,
      roles: EVERYONE,
      params: IdParams,
      response: CampaignView,
      handler: async ({ tx, tenantId, principal, params }) => ({ body: await getCampaign(tx, tenantId, portalCaller(principal.userId, principal.roles), params.id) }),
    }),
    portalRoute({
      method: 'get',
      path: '/campaigns/:id/items',
      summary: "A campaign's items, riskiest first: mine (default) or all (security users and auditors)",
      tags,
      roles: EVERYONE,
      params: IdParams,
      query: ItemQuery,
      response: CampaignItemPage,
      handler: async ({ tx, tenantId, principal, params, query }) => ({ body: await listItems(tx, tenantId, portalCaller(principal.userId, principal.roles), params.id, query) }),
    }),
    portalRoute({
      method: 'post',
      path: '/campaigns/:id/decisions',
      summary: 'Keep or revoke items assigned to me (a reason is required to revoke); per-item refusals in the answer',
      description: 'Revokes apply now: a role through the person\'s lifecycle (the credentials that required it stop working), a token, service account or OAuth grant directly.',
      tags,
      roles: EVERYONE,
      params: IdParams,
      body: DecideItemsBody,
      response: DecideItemsResult,
      stream: true,
      handler: async (c) => ({ body: await decide(actions, ctxOf(c), c.params.id, c.body) }),
    }),
    portalRoute({
      method: 'post',
      path: '/campaigns/:id/reassign',
      summary: "Move pending items (named, or all of one reviewer's) to another reviewer",
      tags,
      roles: SECURITY,
      params: IdParams,
      body: ReassignBody,
      response: ReassignResult,
      handler: async (c) => ({ body: await reassignItems(c.tx, ctxOf(c), c.params.id, c.body) }),
    }),
    portalRoute({
      method: 'post',
      path: '/campaigns/:id/close',
      summary: 'Close the campaign now (the no-response policy applies to what is still pending)',
      tags,
      roles: SECURITY,
      params: IdParams,
      response: CloseNowResult,
      stream: true,
      handler: async (c) => {
        const outcome = await closeNow(actions, ctxOf(c), c.params.id);
        if (outcome === 'closing') return { body: { outcome } };
        return { status: 409, body: { error: outcome, message: CLOSE_REFUSALS[outcome] ?? outcome } };
      },
    }),
    portalRoute({
      method: 'post',
      path: '/campaigns/:id/no-response',
      summary: 'Confirm (revoke) or decline (keep) the no-response revokes held back by the cap',
      tags,
      roles: SECURITY,
      params: IdParams,
      body: ConfirmNoResponseBody,
      response: ConfirmNoResponseResult,
      handler: async (c) => ({ body: await answerNoResponse(c.tx, ctxOf(c), service, c.params.id, c.body) }),
    }),
    ...(['csv', 'json'] as const).map((format) =>
      portalRoute({
        method: 'get',
        path: `/campaigns/:id/evidence.${format}`,
        summary: `The evidence of a closed campaign as ${format.toUpperCase()}: every item, its reviewer, decision, time, reason and how it was applied`,
        description: 'A streamed attachment; 409 campaign_not_closed before the campaign closes. The summary (GET /campaigns/{id}) carries its sha256 digest and the audit chain position it is anchored at.',
        tags,
        roles: READERS,
        params: IdParams,
        successStatus: 200,
        stream: true,
        handler: async (c) => sendEvidence(actions, ctxOf(c), c.params.id, format, c.res),
      }),
    ),

    // ---- pickers for the definition form ----
    portalRoute({
      method: 'get',
      path: '/campaign-reviewers',
      summary: 'Active portal users, for the named reviewers and the fallback reviewer',
      tags,
      roles: SECURITY,
      query: PickerQuery,
      response: ReviewerOptions,
      handler: async ({ tx, tenantId, query }) => ({ body: await reviewerPicker(tx, tenantId, query.search) }),
    }),
    portalRoute({
      method: 'get',
      path: '/campaign-groups',
      summary: "The organisation's groups with their member counts, for a groups scope",
      tags,
      roles: SECURITY,
      query: PickerQuery,
      response: GroupOptions,
      handler: async ({ tx, tenantId, query }) => ({ body: await groupPicker(tx, tenantId, query.search) }),
    }),
  ]);
  return router;
}
