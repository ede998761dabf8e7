import { Router } from 'express';
import {
  IdParams,
  OAuthGrantListQuery,
  OAuthGrantPage,
  OrphanListQuery,
  OrphanPage,
  ReassignBody,
  ReassignResult,
  RevokeResult,
  ServiceAccountListQuery,
  ServiceAccountPage,
  TokenListQuery,
  TokenPage,
} from '../../core/directory/schema.js';
import * as nhi from '../../core/directory/service.js';
import { portalRoute, portalRoutes } from './route.js';
import type { PortalDeps } from './deps.js';

const READERS = ['admin', 'auditor', 'reviewer'] as const;

/**
 * Non-human identities: service accounts, tokens and OAuth grants (read by admins, reviewers and
 * auditors; revoked by admins), and the orphan queue leavers leave behind (reassigned by admins).
 */
export function createNhiRouter(deps: PortalDeps): Router {
  const router = Router();
  portalRoutes(router, deps, [
    portalRoute({
      method: 'get',
      path: '/service-accounts',
      roles: [...READERS],
      summary: 'Service accounts with owner, live tokens and last use (keyset pages)',
      query: ServiceAccountListQuery,
      response: ServiceAccountPage,
      handler: async ({ tx, tenantId, query }) => ({ status: 200, body: await nhi.listServiceAccounts(tx, tenantId, query) }),
    }),
    portalRoute({
      method: 'post',
      path: '/service-accounts/:id/revoke',
      roles: ['admin'],
      summary: 'Disables a service account and revokes its live tokens (idempotent)',
      params: IdParams,
      response: RevokeResult,
      handler: async ({ tx, tenantId, params, actor }) => ({ status: 200, body: await nhi.revokeServiceAccount(tx, tenantId, params.id, actor) }),
    }),
    portalRoute({
      method: 'get',
      path: '/tokens',
      roles: [...READERS],
      summary: 'Personal and service-account tokens with owner, scopes, created and last used (keyset pages)',
      query: TokenListQuery,
      response: TokenPage,
      handler: async ({ tx, tenantId, query }) => ({ status: 200, body: await nhi.listTokens(tx, tenantId, query) }),
    }),
    portalRoute({
      method: 'post',
      path: '/tokens/:id/revoke',
      roles: ['admin'],
      summary: 'Revokes a personal or service-account token (idempotent)',
      params: IdParams,
      response: RevokeResult,
      handler: async ({ tx, tenantId, params, actor }) => ({ status: 200, body: await nhi.revokeToken(tx, tenantId, params.id, actor) }),
    }),
    portalRoute({
      method: 'get',
      path: '/oauth-grants',
      roles: [...READERS],
      summary: 'OAuth grants users gave to integrations (keyset pages)',
      query: OAuthGrantListQuery,
      response: OAuthGrantPage,
      handler: async ({ tx, tenantId, query }) => ({ status: 200, body: await nhi.listOAuthGrants(tx, tenantId, query) }),
    }),
    portalRoute({
      method: 'post',
      path: '/oauth-grants/:id/revoke',
      roles: ['admin'],
      summary: 'Revokes an OAuth grant (idempotent)',
      params: IdParams,
      response: RevokeResult,
      handler: async ({ tx, tenantId, params, actor }) => ({ status: 200, body: await nhi.revokeGrant(tx, tenantId, params.id, actor) }),
    }),
    portalRoute({
      method: 'get',
      path: '/orphans',
      roles: [...READERS],
      summary: 'The orphan queue: service accounts whose owner left and that wait for a new owner',
      query: OrphanListQuery,
      response: OrphanPage,
      handler: async ({ tx, tenantId, query }) => ({ status: 200, body: await nhi.listOrphans(tx, tenantId, query) }),
    }),
    portalRoute({
      method: 'post',
      path: '/orphans/:id/reassign',
      roles: ['admin'],
      summary: 'Hands an orphaned service account to a new owner (a provisioned or active user)',
      params: IdParams,
      body: ReassignBody,
      response: ReassignResult,
      handler: async ({ tx, tenantId, params, body, actor }) => ({ status: 200, body: await nhi.reassignOrphan(tx, tenantId, params.id, body.ownerUserId, actor) }),
    }),
  ]);
  return router;
}
