import { Router } from 'express';
import { z } from 'zod';
import {
  AccountSessionList,
  IdParams,
  PORTAL_ROLES,
  TotpConfirmBody,
  TotpConfirmResponse,
  TotpDisableBody,
  TotpEnrollResponse,
} from '../../core/portal-auth/schema.js';
import { confirmTotp, disableTotp, enrollTotp, listAccountSessions, revokeAccountSession } from '../../core/portal-auth/service.js';
import type { PortalDeps } from './deps.js';
import { portalRoute, portalRoutes } from './route.js';

/** The signed-in person's own sessions and two-step sign-in (any role). */
export function createAccountRouter(deps: PortalDeps): Router {
  const router = Router();
  const tags = ['Portal: account'];
  portalRoutes(router, deps, [
    portalRoute({
      method: 'get',
      path: '/account/sessions',
      summary: 'My live sessions',
      tags,
      roles: PORTAL_ROLES,
      response: AccountSessionList,
      handler: async ({ tx, principal }) => ({ body: { sessions: await listAccountSessions(tx, principal, deps.config.PORTAL_SESSION_IDLE_SECONDS) } }),
    }),
    portalRoute({
      method: 'delete',
      path: '/account/sessions/:id',
      summary: 'End one of my sessions',
      tags,
      roles: PORTAL_ROLES,
      params: IdParams,
      handler: async ({ tx, principal, params }) => {
        await revokeAccountSession(tx, principal, params.id);
        return { status: 204 };
      },
    }),
    portalRoute({
      method: 'post',
      path: '/account/totp/enroll',
      summary: 'Start two-step sign-in: a new TOTP secret (confirm it with a code)',
      tags,
      roles: PORTAL_ROLES,
      body: z.object({}).optional(),
      response: TotpEnrollResponse,
      handler: async ({ tx, principal }) => ({ body: await enrollTotp(tx, principal, deps.secretKey) }),
    }),
    portalRoute({
      method: 'post',
      path: '/account/totp/confirm',
      summary: 'Confirm two-step sign-in with a code; returns ten recovery codes (shown once)',
      tags,
      roles: PORTAL_ROLES,
      body: TotpConfirmBody,
      response: TotpConfirmResponse,
      handler: async ({ tx, principal, body }) => ({ body: await confirmTotp(tx, principal, deps.secretKey, body.code) }),
    }),
    portalRoute({
      method: 'delete',
      path: '/account/totp',
      summary: 'Turn two-step sign-in off (needs a current code or a recovery code)',
      tags,
      roles: PORTAL_ROLES,
      body: TotpDisableBody,
      handler: async ({ tx, principal, body }) => {
        await disableTotp(tx, principal, deps.secretKey, body.code);
        return { status: 204 };
      },
    }),
  ]);
  return router;
}
