import { Router } from 'express';
import { z } from 'zod';
import { getConnection, listConnectionsWithActivity, revokeToken } from '../../core/connections/service.js';
import { ConnectionsPage, CreateConnectionBody, CreatedConnection, RotatedToken, RotateTokenBody, ScimConnectionView, ScimTokenView } from '../../core/connections/schema.js';
import { APPROVAL_NOTE, WAITS_FOR_APPROVAL, portalChangeSubmitter, resultString } from './change-requests.js';
import type { PortalDeps } from './deps.js';
import { portalRoute, portalRoutes } from './route.js';
import { requestIdOf } from '../request-id.js';

const ConnectionParams = z.object({ id: z.string().uuid() });
const TokenParams = ConnectionParams.extend({ tokenId: z.string().uuid() });


/**
 * SCIM connections and their tokens (portal: reads for admins and auditors, changes for admins).
 * A token is in a response once, with `Cache-Control: no-store`; only its SHA-256 is kept.
 * Creating, rotating and revoking a connection are approval requests (issue 8,
 * `scim_connection.*`): when one waits, its new token is collected from the request once applied.
 * Revoking a single token stays direct: it only takes access away.
 */
export function createConnectionsRouter(deps: PortalDeps): Router {
  const router = Router();
  const tags = ['Portal: connections'];
  const scimBaseUrl = `${deps.publicUrl}/scim/v2`;
  const submit = portalChangeSubmitter(deps);
  portalRoutes(router, deps, [
    portalRoute({
      method: 'get',
      path: '/connections',
      summary: "The tenant's SCIM connections with their tokens, last request, last hour's traffic and recent SCIM errors, and the SCIM base URL to give the IdP",
      tags,
      roles: ['admin', 'auditor'],
      response: ConnectionsPage,
      handler: async ({ tx, tenantId }) => ({ body: { scimBaseUrl, connections: await listConnectionsWithActivity(tx, tenantId) } }),
    }),
    portalRoute({
      method: 'get',
      path: '/connections/:id',
      summary: 'One SCIM connection with its tokens',
      tags,
      roles: ['admin', 'auditor'],
      params: ConnectionParams,
      response: ScimConnectionView,
      handler: async ({ tx, tenantId, params }) => ({ body: await getConnection(tx, tenantId, params.id) }),
    }),
    portalRoute({
      method: 'post',
      path: '/connections',
      summary: 'Create a SCIM connection with its first token (shown once)',
      description: APPROVAL_NOTE,
      otherResponses: WAITS_FOR_APPROVAL,
      tags,
      roles: ['admin'],
      body: CreateConnectionBody,
      response: CreatedConnection,
      successStatus: 201,
      stream: true,
      handler: async (ctx) =>
        submit(ctx, { kind: 'scim_connection.create', payload: { name: ctx.body.name } }, async (tx, applied) => {
          const connectionId = resultString(applied, 'connectionId');
          const created: CreatedConnection = { connectionId, tokenId: resultString(applied, 'tokenId'), token: applied.secret ?? '', connection: await getConnection(tx, ctx.tenantId, connectionId) };
          return { status: 201, body: created };
        }),
    }),
    portalRoute({
      method: 'post',
      path: '/connections/:id/rotate',
      summary: "Issue a new token (shown once); the connection's current tokens keep working for the overlap",
      description: `${APPROVAL_NOTE} The overlap starts when the rotation applies.`,
      otherResponses: WAITS_FOR_APPROVAL,
      tags,
      roles: ['admin'],
      params: ConnectionParams,
      body: RotateTokenBody,
      response: RotatedToken,
      stream: true,
      handler: async (ctx) => {
        const overlapSeconds = ctx.body.overlapSeconds ?? deps.config.SCIM_TOKEN_ROTATION_OVERLAP_SECONDS;
        return submit(ctx, { kind: 'scim_connection.rotate', payload: { connectionId: ctx.params.id, overlapSeconds } }, (_tx, applied) => {
          const rotated: RotatedToken = {
            connectionId: ctx.params.id,
            tokenId: resultString(applied, 'tokenId'),
            token: applied.secret ?? '',
            previousValidUntil: resultString(applied, 'previousValidUntil'),
          };
          return { body: rotated };
        });
      },
    }),
    portalRoute({
      method: 'delete',
      path: '/connections/:id/tokens/:tokenId',
      summary: 'Revoke one token: refused from the next request on',
      tags,
      roles: ['admin'],
      params: TokenParams,
      response: ScimTokenView,
      handler: async ({ tx, tenantId, actor, params, req }) => ({
        body: await revokeToken(tx, { tenantId, actor, requestId: requestIdOf(req) }, { connectionId: params.id, tokenId: params.tokenId }),
      }),
    }),
    portalRoute({
      method: 'delete',
      path: '/connections/:id',
      summary: 'Revoke a connection and all its tokens',
      description: APPROVAL_NOTE,
      otherResponses: WAITS_FOR_APPROVAL,
      tags,
      roles: ['admin'],
      params: ConnectionParams,
      stream: true,
      handler: async (ctx) => submit(ctx, { kind: 'scim_connection.revoke', payload: { connectionId: ctx.params.id } }, () => ({ status: 204 })),
    }),
  ]);
  return router;
}
