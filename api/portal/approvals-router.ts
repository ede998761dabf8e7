import { Router } from 'express';
import { z } from 'zod';
import { cancelChange, decideChange, editChange, submitChange, withdrawChange } from '../../activities/approval-client.js';
import { approvalDepsFromConfig, collectSecret, effectiveApprovalPolicy, getChangeRequest, listChangeRequests, pendingCount } from '../../core/approvals/service.js';
import {
  CancelChangeBody,
  ChangeOutcome,
  ChangeRequestPage,
  ChangeRequestView,
  CollectedSecret,
  DecisionBody,
  EditChangeBody,
  EffectiveApprovalPolicy,
  InboxQuery,
  PendingCounts,
  SubmitChangeBody,
  SubmittedChange,
} from '../../core/approvals/schema.js';
import { withTenant } from '../../core/db/pool.js';
import { DomainError } from '../../core/errors.js';
import { PORTAL_ROLES } from '../../core/portal-auth/schema.js';
import type { PortalDeps } from './deps.js';
import { portalRoute, portalRoutes, type RouteResult } from './route.js';
import { requestIdOf } from '../request-id.js';

const RequestParams = z.object({ id: z.string().uuid() });


/** Outcomes that changed something; every other outcome is a refusal (409, nothing changed). */
const ACCEPTED = new Set(['recorded', 'approved', 'rejected', 'edited', 'withdrawn', 'cancelled']);

function outcomeResult(r: { outcome: string; request: ChangeRequestView }): RouteResult {
  if (ACCEPTED.has(r.outcome)) return { body: r };
  return { status: 409, body: { error: r.outcome, message: REFUSALS[r.outcome] ?? r.outcome, ...r } };
}

const REFUSALS: Record<string, string> = {
  refused_requester: 'You requested this change: someone else must decide it.',
  refused_subject: 'This change is about you: someone else must decide it.',
  refused_not_eligible: 'You are not one of the approvers of this kind of change.',
  refused_already_decided_by_you: 'You already decided on this version of the request.',
  refused_stale_hash: 'The request changed since you looked at it: review it again.',
  already_closed: 'The request is already closed.',
  expired: 'The request expired.',
};

/**
 * The approvals inbox and decisions (issue 8). Everyone signed in sees the inbox (what waits for
 * them is filtered by the request's eligible roles and people); the workflow's validators decide
 * who may approve. Decisions, edits, withdrawals and cancellations are Updates of the request's
 * workflow: a refusal is 409 with its typed reason and nothing changed.
 */
export function createApprovalsRouter(deps: PortalDeps): Router {
  const router = Router();
  const tags = ['Portal: approvals'];
  const engine = approvalDepsFromConfig(deps.config, deps.secretKey);
  /** The workflow client, once the request is known to be this tenant's (404 comes first). */
  const temporal = async (tenantId: string, requestId: string) => {
    await withTenant(deps.db, tenantId, (tx) => getChangeRequest(tx, tenantId, requestId));
    if (!deps.temporal) throw new DomainError(503, 'unavailable', 'Approvals need the workflow service, which is not configured.');
    return deps.temporal;
  };
  const everyone = PORTAL_ROLES;
  portalRoutes(router, deps, [
    portalRoute({
      method: 'get',
      path: '/approvals',
      summary: 'The approvals inbox: requests waiting for my decision, mine, or the history, newest first',
      tags,
      roles: everyone,
      query: InboxQuery,
      response: ChangeRequestPage,
      handler: async ({ tx, tenantId, principal, query }) => ({
        body: await listChangeRequests(tx, tenantId, { box: query.box, userId: principal.userId, roles: principal.roles, cursor: query.cursor, limit: query.limit }),
      }),
    }),
    portalRoute({
      method: 'get',
      path: '/approvals/counts',
      summary: 'Badges: how many requests wait for my decision, and my own open requests',
      tags,
      roles: everyone,
      response: PendingCounts,
      handler: async ({ tx, tenantId, principal }) => ({ body: await pendingCount(tx, tenantId, principal.userId, principal.roles) }),
    }),
    portalRoute({
      method: 'get',
      path: '/approvals/policy',
      summary: "The tenant's approval policy and every change kind's effective rule",
      tags,
      roles: everyone,
      response: EffectiveApprovalPolicy,
      handler: async ({ tx, tenantId }) => ({ body: await effectiveApprovalPolicy(tx, tenantId) }),
    }),
    portalRoute({
      method: 'get',
      path: '/approvals/:id',
      summary: 'One change request: the exact before/after, what it will do, its decisions',
      tags,
      roles: everyone,
      params: RequestParams,
      response: ChangeRequestView,
      handler: async ({ tx, tenantId, params }) => ({ body: await getChangeRequest(tx, tenantId, params.id) }),
    }),
    portalRoute({
      method: 'post',
      path: '/approvals',
      summary: 'Request a change (any kind); it applies at once when its policy needs no approver',
      tags,
      roles: ['admin'],
      body: SubmitChangeBody,
      response: SubmittedChange,
      successStatus: 202,
      stream: true,
      handler: async ({ db, tenantId, actor, body, req, res }) => {
        const r = await submitChange(db, deps.temporal, { tenantId, actor, requestId: requestIdOf(req) }, engine, body);
        res.set('Cache-Control', 'no-store');
        return { status: r.applied ? 201 : 202, body: { request: r.request, ...(r.applied?.secret ? { secret: r.applied.secret } : {}) } };
      },
    }),
    portalRoute({
      method: 'post',
      path: '/approvals/:id/decide',
      summary: 'Approve or reject (a rejection needs a comment); bound to the change hash you reviewed',
      tags,
      roles: everyone,
      params: RequestParams,
      body: DecisionBody,
      response: ChangeOutcome,
      stream: true,
      handler: async ({ db, tenantId, principal, params, body }) =>
        outcomeResult(await decideChange(await temporal(tenantId, params.id), { tenantId, requestId: params.id, userId: principal.userId, roles: principal.roles, body }, db)),
    }),
    portalRoute({
      method: 'post',
      path: '/approvals/:id/edit',
      summary: 'Change my request: earlier approvals are void and approvers are asked again',
      tags,
      roles: everyone,
      params: RequestParams,
      body: EditChangeBody,
      response: ChangeOutcome,
      stream: true,
      handler: async ({ db, tenantId, actor, params, body, req }) =>
        outcomeResult(await editChange(db, await temporal(tenantId, params.id), { tenantId, actor, requestId: requestIdOf(req) }, engine, { requestId: params.id, payload: body.payload, reason: body.reason })),
    }),
    portalRoute({
      method: 'post',
      path: '/approvals/:id/withdraw',
      summary: 'Withdraw my request while it is open',
      tags,
      roles: everyone,
      params: RequestParams,
      response: ChangeOutcome,
      stream: true,
      handler: async ({ db, tenantId, principal, params }) => outcomeResult(await withdrawChange(db, await temporal(tenantId, params.id), { tenantId, requestId: params.id, userId: principal.userId })),
    }),
    portalRoute({
      method: 'post',
      path: '/approvals/:id/cancel',
      summary: 'Stop a change that is cooling off (an eligible approver or an admin)',
      tags,
      roles: everyone,
      params: RequestParams,
      body: CancelChangeBody,
      response: ChangeOutcome,
      stream: true,
      handler: async ({ db, tenantId, principal, params, body }) =>
        outcomeResult(await cancelChange(db, await temporal(tenantId, params.id), { tenantId, requestId: params.id, userId: principal.userId, roles: principal.roles, comment: body.comment })),
    }),
    portalRoute({
      method: 'post',
      path: '/approvals/:id/collect-secret',
      summary: 'The secret the applied change produced (a SCIM token, a webhook secret): once, for the requester',
      tags,
      roles: everyone,
      params: RequestParams,
      response: CollectedSecret,
      stream: true,
      handler: async ({ db, tenantId, actor, params, req, res }) => {
        res.set('Cache-Control', 'no-store');
        return { body: await withTenant(db, tenantId, (tx) => collectSecret(tx, { tenantId, actor, requestId: requestIdOf(req) }, params.id, deps.secretKey)) };
      },
    }),
  ]);
  return router;
}
