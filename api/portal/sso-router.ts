import { Router } from 'express';
import { z } from 'zod';
import { SubmittedChange } from '../../core/approvals/schema.js';
import { getSsoConnection, listSsoConnections } from '../../core/sso/service.js';
import { RequestReasonBody, RequestSsoCreateBody, RequestSsoUpdateBody, SsoConnectionList, SsoConnectionView } from '../../core/sso/schema.js';
import { answerWithRequest, portalChangeSubmitter } from './change-requests.js';
import type { PortalDeps } from './deps.js';
import { portalRoute, portalRoutes } from './route.js';

const ConnectionParams = z.object({ id: z.string().uuid() });

/**
 * SSO connections (portal): read by admins, approvers and auditors (OIDC endpoints, SAML entity id,
 * SSO URL, certificates and their expiry); creating, changing and deleting are privileged change
 * requests (two approvers by default).
 */
export function createSsoConnectionsRouter(deps: PortalDeps): Router {
  const router = Router();
  const tags = ['Portal: SSO'];
  const submit = portalChangeSubmitter(deps);
  portalRoutes(router, deps, [
    portalRoute({
      method: 'get',
      path: '/sso-connections',
      summary: "The tenant's SSO connections",
      tags,
      roles: ['admin', 'approver', 'auditor'],
      response: SsoConnectionList,
      handler: async ({ tx, tenantId }) => ({ body: { connections: await listSsoConnections(tx, tenantId) } }),
    }),
    portalRoute({
      method: 'get',
      path: '/sso-connections/:id',
      summary: 'One SSO connection',
      tags,
      roles: ['admin', 'approver', 'auditor'],
      params: ConnectionParams,
      response: SsoConnectionView,
      handler: async ({ tx, tenantId, params }) => ({ body: await getSsoConnection(tx, tenantId, params.id) }),
    }),
    portalRoute({
      method: 'post',
      path: '/sso-connections',
      summary: 'Request a new SSO connection (validated now: OIDC discovery, SAML metadata; applied once approved)',
      tags,
      roles: ['admin'],
      body: RequestSsoCreateBody,
      response: SubmittedChange,
      successStatus: 202,
      stream: true,
      handler: async ({ db, tenantId, actor, body, req, res }) => {
        const { reason, ...payload } = body;
        return submit({ db, tenantId, actor, req, res }, { kind: 'sso_connection.create', payload, reason }, answerWithRequest);
      },
    }),
    portalRoute({
      method: 'patch',
      path: '/sso-connections/:id',
      summary: 'Request a change to an SSO connection (the fields given replace the current ones)',
      tags,
      roles: ['admin'],
      params: ConnectionParams,
      body: RequestSsoUpdateBody,
      response: SubmittedChange,
      successStatus: 202,
      stream: true,
      handler: async ({ db, tenantId, actor, params, body, req, res }) => {
        const { reason, ...changes } = body;
        return submit({ db, tenantId, actor, req, res }, { kind: 'sso_connection.update', payload: { connectionId: params.id, ...changes }, reason }, answerWithRequest);
      },
    }),
    portalRoute({
      method: 'delete',
      path: '/sso-connections/:id',
      summary: 'Request the deletion of an SSO connection',
      tags,
      roles: ['admin'],
      params: ConnectionParams,
      body: RequestReasonBody,
      response: SubmittedChange,
      successStatus: 202,
      stream: true,
      handler: async ({ db, tenantId, actor, params, body, req, res }) => submit({ db, tenantId, actor, req, res }, { kind: 'sso_connection.delete', payload: { connectionId: params.id }, reason: body.reason }, answerWithRequest),
    }),
  ]);
  return router;
}
