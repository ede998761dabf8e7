import express, { Router } from 'express';
import type { Db } from '../core/db/pool.js';
import * as credentials from '../core/repositories/credentials.js';
import { requireAppKey } from './app-auth.js';
import { appApiErrors, appRoute, param, parseBody } from './app-api-support.js';
import {
  CreateOAuthGrantBody,
  CreatePersonalTokenBody,
  CreateServiceAccountBody,
  CreateServiceAccountTokenBody,
  CreateSessionBody,
  ListServiceAccountsQuery,
} from './app-api-schemas.js';

export interface AppApiDeps {
  /** The app-role pool: every request runs under row-level security for the key's tenant. */
  db: Db;
}

const BODY_LIMIT = '64kb';

/**
 * The app-facing API under `/api/v1`, for the vendor's application (tenant-scoped app API key as
 * Bearer): issue, list and revoke the credentials Roster issues. Secrets appear only in the
 * response that creates them.
 */
export function createAppApiRouter(deps: AppApiDeps): Router {
  const { db } = deps;
  const router = Router();
  // Per route, not router.use: other routers share the /api/v1 prefix. Authenticate before
  // reading any body.
  const pre = [requireAppKey(db), express.json({ limit: BODY_LIMIT, strict: true })];

  router.post(
    '/users/:userId/sessions',
    ...pre,
    appRoute(db, async ({ req, tx, tenantId, actor }) => {
      const body = parseBody(CreateSessionBody, req);
      const issued = await credentials.issueSession(tx, tenantId, { userId: param(req, 'userId'), ttlSeconds: body.ttlSeconds }, actor);
      return { status: 201, body: issued };
    }),
  );

  router.post(
    '/users/:userId/tokens',
    ...pre,
    appRoute(db, async ({ req, tx, tenantId, actor }) => {
      const body = parseBody(CreatePersonalTokenBody, req);
      const issued = await credentials.issuePersonalToken(tx, tenantId, { userId: param(req, 'userId'), ...body }, actor);
      return { status: 201, body: issued };
    }),
  );

  router.post(
    '/users/:userId/oauth-grants',
    ...pre,
    appRoute(db, async ({ req, tx, tenantId, actor }) => {
      const body = parseBody(CreateOAuthGrantBody, req);
      return { status: 201, body: await credentials.recordOAuthGrant(tx, tenantId, { userId: param(req, 'userId'), ...body }, actor) };
    }),
  );

  router.get(
    '/users/:userId/access',
    ...pre,
    appRoute(db, async ({ req, tx, tenantId }) => ({ status: 200, body: await credentials.listUserAccess(tx, tenantId, param(req, 'userId')) })),
  );

  router.post(
    '/service-accounts',
    ...pre,
    appRoute(db, async ({ req, tx, tenantId, actor }) => {
      const body = parseBody(CreateServiceAccountBody, req);
      return { status: 201, body: await credentials.createServiceAccount(tx, tenantId, body, actor) };
    }),
  );

  router.get(
    '/service-accounts',
    ...pre,
    appRoute(db, async ({ req, tx, tenantId }) => {
      const query = ListServiceAccountsQuery.parse(req.query);
      const rows = await credentials.listServiceAccounts(tx, tenantId, query.orphaned === undefined ? {} : { orphaned: query.orphaned === 'true' });
      return { status: 200, body: { serviceAccounts: rows.map(credentials.serviceAccountView) } };
    }),
  );

  router.post(
    '/service-accounts/:id/tokens',
    ...pre,
    appRoute(db, async ({ req, tx, tenantId, actor }) => {
      const body = parseBody(CreateServiceAccountTokenBody, req);
      const issued = await credentials.issueServiceAccountToken(tx, tenantId, { serviceAccountId: param(req, 'id'), ...body }, actor);
      return { status: 201, body: issued };
    }),
  );

  router.post(
    '/service-accounts/:id/disable',
    ...pre,
    appRoute(db, async ({ req, tx, tenantId, actor }) => {
      const result = await credentials.disableServiceAccount(tx, tenantId, param(req, 'id'), {}, actor);
      return { status: 200, body: { serviceAccount: result.serviceAccount, revokedTokens: result.revokedTokens } };
    }),
  );

  router.delete(
    '/credentials/:id',
    ...pre,
    appRoute(db, async ({ req, tx, tenantId, actor }) => {
      const result = await credentials.revokeCredential(tx, tenantId, param(req, 'id'), credentials.RevocationReason.revokedByApp, actor);
      return { status: 200, body: result };
    }),
  );

  router.delete(
    '/oauth-grants/:id',
    ...pre,
    appRoute(db, async ({ req, tx, tenantId, actor }) => {
      const result = await credentials.revokeOAuthGrant(tx, tenantId, param(req, 'id'), credentials.RevocationReason.revokedByApp, actor);
      return { status: 200, body: result };
    }),
  );

  router.use(appApiErrors);
  return router;
}
