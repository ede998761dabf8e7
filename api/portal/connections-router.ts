import { Router } from 'express';
import { z } from 'zod';
import { createConnection, getConnection, listConnectionsWithActivity, revokeConnection, revokeToken, rotateToken } from '../../core/connections/service.js';
import { ConnectionsPage, CreateConnectionBody, CreatedConnection, RotatedToken, RotateTokenBody, ScimConnectionView, ScimTokenView } from '../../core/connections/schema.js';
import type { PortalDeps } from './deps.js';
import { portalRoute, portalRoutes } from './route.js';

const ConnectionParams = z.object({ id: z.string().uuid() });
const TokenParams = ConnectionParams.extend({ tokenId: z.string().uuid() });

/** The request id pino-http assigned, for audit rows. */
const requestIdOf = (req: { id?: unknown }) => (typeof req.id === 'string' || typeof req.id === 'number' ? String(req.id) : undefined);

/**
 * SCIM connections and their tokens (portal: reads for admins and auditors, changes for admins).
 * A token is in a response once, with `Cache-Control: no-store`; only its SHA-256 is kept.
 */
export function createConnectionsRouter(deps: PortalDeps): Router {
  const router = Router();
  const tags = ['Portal: connections'];
  const scimBaseUrl = `${deps.publicUrl}/scim/v2`;
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
      tags,
      roles: ['admin'],
      body: CreateConnectionBody,
      response: CreatedConnection,
      successStatus: 201,
      handler: async ({ tx, tenantId, actor, body, req, res }) => {
        res.set('Cache-Control', 'no-store');
        return { status: 201, body: await createConnection(tx, { tenantId, actor, requestId: requestIdOf(req) }, body) };
      },
    }),
    portalRoute({
      method: 'post',
      path: '/connections/:id/rotate',
      summary: "Issue a new token (shown once); the connection's current tokens keep working for the overlap",
      tags,
      roles: ['admin'],
      params: ConnectionParams,
      body: RotateTokenBody,
      response: RotatedToken,
      handler: async ({ tx, tenantId, actor, params, body, req, res }) => {
        res.set('Cache-Control', 'no-store');
        const overlapSeconds = body.overlapSeconds ?? deps.config.SCIM_TOKEN_ROTATION_OVERLAP_SECONDS;
        return { body: await rotateToken(tx, { tenantId, actor, requestId: requestIdOf(req) }, { connectionId: params.id, overlapSeconds }) };
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
      tags,
      roles: ['admin'],
      params: ConnectionParams,
      handler: async ({ tx, tenantId, actor, params, req }) => {
        await revokeConnection(tx, { tenantId, actor, requestId: requestIdOf(req) }, { connectionId: params.id });
        return { status: 204 };
      },
    }),
  ]);
  return router;
}
