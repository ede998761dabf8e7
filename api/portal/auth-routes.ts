import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { completeSetup, inspectSetupLink, type NewSession, sessionInfo, signIn, signOut } from '../../core/portal-auth/service.js';
import {
  ErrorBody,
  PORTAL_ROLES,
  SessionResponse,
  SetupCompleteBody,
  SetupInspectBody,
  SetupInspectResponse,
  SignInBody,
} from '../../core/portal-auth/schema.js';
import { csrfTokenFor } from '../../core/portal-auth/tokens.js';
import type { PortalDeps } from './deps.js';
import { portalRoute, portalRoutes, publicRoute, publicRoutes } from './route.js';
import { clearedCookie, PORTAL_COOKIE, portalSessionOf, sessionCookie } from './session.js';

export const PORTAL_COOKIE_PATH = '/portal/api';

export function clientInfo(req: Request): { ip: string | undefined; userAgent: string | undefined } {
  return { ip: req.socket.remoteAddress, userAgent: req.get('user-agent') };
}

export const SignedIn = z.object({ user: SessionResponse.shape.user.pick({ id: true, email: true, roles: true }), csrfToken: z.string() });

function setSessionCookie(res: Response, deps: PortalDeps, session: NewSession): void {
  res.append('Set-Cookie', sessionCookie(PORTAL_COOKIE, PORTAL_COOKIE_PATH, deps.publicUrl, session.token, deps.config.PORTAL_SESSION_ABSOLUTE_SECONDS));
}

function signedIn(deps: PortalDeps, session: NewSession) {
  const { userId, email, roles } = session.principal;
  return { user: { id: userId, email, roles }, csrfToken: csrfTokenFor(deps.secretKey, 'portal', session.token) };
}

/** Sign-in, setup links, the session and sign-out: mounted before the session middleware. */
export function createPortalPublicRouter(deps: PortalDeps): Router {
  const router = Router();
  const settings = { config: deps.config, secretKey: deps.secretKey, publicUrl: deps.publicUrl };
  publicRoutes(router, deps, [
    publicRoute({
      method: 'post',
      path: '/sign-in',
      summary: 'Sign in with tenant, e-mail, password (and a TOTP or recovery code when enabled)',
      tags: ['Portal: sign-in'],
      body: SignInBody,
      response: SignedIn,
      handler: async ({ db, body, req, res }) => {
        const session = await signIn(db, settings, { ...body, ...clientInfo(req) });
        setSessionCookie(res, deps, session);
        return { body: signedIn(deps, session) };
      },
    }),
    publicRoute({
      method: 'post',
      path: '/setup/inspect',
      summary: 'What a setup link is for (e-mail, tenant, expiry)',
      tags: ['Portal: sign-in'],
      body: SetupInspectBody,
      response: SetupInspectResponse,
      handler: async ({ db, body }) => ({ body: await inspectSetupLink(db, body.token) }),
    }),
    publicRoute({
      method: 'post',
      path: '/setup/complete',
      summary: 'Choose a password with a setup link; signs the person in',
      tags: ['Portal: sign-in'],
      body: SetupCompleteBody,
      response: SignedIn,
      handler: async ({ db, body, req, res }) => {
        const session = await completeSetup(db, settings, { ...body, ...clientInfo(req) });
        setSessionCookie(res, deps, session);
        return { body: signedIn(deps, session) };
      },
    }),
  ]);
  return router;
}

/** The signed-in person's session and sign-out: any role. */
export function createPortalSessionRouter(deps: PortalDeps): Router {
  const router = Router();
  portalRoutes(router, deps, [
    portalRoute({
      method: 'get',
      path: '/session',
      summary: 'The signed-in person, their roles and tenant, and the CSRF token for writes',
      tags: ['Portal: sign-in'],
      roles: PORTAL_ROLES,
      response: SessionResponse,
      handler: async ({ tx, principal, res }) => ({ body: await sessionInfo(tx, principal, deps.secretKey, portalSessionOf(res)!.token) }),
    }),
    portalRoute({
      method: 'post',
      path: '/sign-out',
      summary: 'Ends this session',
      tags: ['Portal: sign-in'],
      roles: PORTAL_ROLES,
      handler: async ({ tx, principal, res }) => {
        await signOut(tx, principal);
        res.append('Set-Cookie', clearedCookie(PORTAL_COOKIE, PORTAL_COOKIE_PATH, deps.publicUrl));
        return { status: 204 };
      },
    }),
  ]);
  return router;
}

export { ErrorBody };
