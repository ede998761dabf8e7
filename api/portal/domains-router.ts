import { Router } from 'express';
import { z } from 'zod';
import { SubmittedChange } from '../../core/approvals/schema.js';
import { getDomain, listDomains } from '../../core/domains/service.js';
import { DomainView, RequestClaimBody } from '../../core/domains/schema.js';
import { RequestReasonBody } from '../../core/sso/schema.js';
import { answerWithRequest, portalChangeSubmitter } from './change-requests.js';
import type { PortalDeps } from './deps.js';
import { portalRoute, portalRoutes } from './route.js';

const DomainParams = z.object({ id: z.string().uuid() });

/**
 * Claimed domains (portal): admins, approvers and auditors see them with their TXT challenge and
 * verification state; claiming and removing are change requests (admins ask, approvers decide).
 */
export function createDomainsRouter(deps: PortalDeps): Router {
  const router = Router();
  const tags = ['Portal: domains'];
  const submit = portalChangeSubmitter(deps);
  portalRoutes(router, deps, [
    portalRoute({
      method: 'get',
      path: '/domains',
      summary: "The tenant's domains: live claims first, each with the TXT record to publish and its verification state",
      tags,
      roles: ['admin', 'approver', 'auditor'],
      response: z.object({ domains: z.array(DomainView) }),
      handler: async ({ tx, tenantId }) => ({ body: { domains: await listDomains(tx, tenantId) } }),
    }),
    portalRoute({
      method: 'get',
      path: '/domains/:id',
      summary: 'One domain with its TXT challenge and verification state',
      tags,
      roles: ['admin', 'approver', 'auditor'],
      params: DomainParams,
      response: DomainView,
      handler: async ({ tx, tenantId, params }) => ({ body: await getDomain(tx, tenantId, params.id) }),
    }),
    portalRoute({
      method: 'post',
      path: '/domains',
      summary: 'Request a domain claim (a change request; once applied, the TXT challenge is shown and verification starts)',
      tags,
      roles: ['admin'],
      body: RequestClaimBody,
      response: SubmittedChange,
      successStatus: 202,
      stream: true,
      handler: async ({ db, tenantId, actor, body, req, res }) => submit({ db, tenantId, actor, req, res }, { kind: 'domain.claim', payload: { name: body.name }, reason: body.reason }, answerWithRequest),
    }),
    portalRoute({
      method: 'delete',
      path: '/domains/:id',
      summary: 'Request the removal of a domain (a change request)',
      tags,
      roles: ['admin'],
      params: DomainParams,
      body: RequestReasonBody,
      response: SubmittedChange,
      successStatus: 202,
      stream: true,
      handler: async ({ db, tenantId, actor, params, body, req, res }) => submit({ db, tenantId, actor, req, res }, { kind: 'domain.remove', payload: { domainId: params.id }, reason: body.reason }, answerWithRequest),
    }),
  ]);
  return router;
}
