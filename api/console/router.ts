import express, { Router, type Response } from 'express';
import { z } from 'zod';
import { completeOperatorSetup, inspectOperatorSetupLink, type NewOperatorSession, operatorSignIn, operatorSignOut } from '../../core/portal-auth/operator-service.js';
import { OperatorSessionResponse, OperatorSignInBody, SetupCompleteBody, SetupInspectBody, SetupInspectResponse } from '../../core/portal-auth/schema.js';
import { csrfTokenFor } from '../../core/portal-auth/tokens.js';
import { clientInfo } from '../portal/auth-routes.js';
import { methodNotAllowed } from '../method-not-allowed.js';
import { apiErrorHandler, sendApiError } from '../portal/errors.js';
import { type DeclaredRoute, declaredRoutes, publicRoute, publicRoutes } from '../portal/route.js';
import { clearedCookie, CONSOLE_COOKIE, sessionCookie } from '../portal/session.js';
import { type ConsoleDeps, consoleRoute, consoleRoutes, consoleSessionMiddleware, consoleSessionOf } from './route.js';
import { createConsoleTenantsRouter } from './tenants-router.js';
import { createConsoleFleetRouter } from './fleet-router.js';
import { createConsoleStreamsRouter } from './streams-router.js';

export type { ConsoleDeps } from './route.js';

export const CONSOLE_COOKIE_PATH = '/console/api';

const OperatorSignedIn = OperatorSessionResponse;

function setCookie(res: Response, deps: ConsoleDeps, session: NewOperatorSession): void {
  res.append('Set-Cookie', sessionCookie(CONSOLE_COOKIE, CONSOLE_COOKIE_PATH, deps.publicUrl, session.token, deps.config.PORTAL_SESSION_ABSOLUTE_SECONDS));
}

function signedIn(deps: ConsoleDeps, session: NewOperatorSession) {
  return {
    operator: { id: session.principal.operatorId, email: session.principal.email, displayName: null },
    csrfToken: csrfTokenFor(deps.secretKey, 'console', session.token),
  };
}

function createConsolePublicRouter(deps: ConsoleDeps): Router {
  const router = Router();
  const settings = { config: deps.config, secretKey: deps.secretKey, publicUrl: deps.publicUrl };
  const tags = ['Console: sign-in'];
  publicRoutes(router, deps, [
    publicRoute({
      method: 'post',
      path: '/sign-in',
      summary: 'Operator sign-in with e-mail and password',
      tags,
      body: OperatorSignInBody,
      response: OperatorSignedIn,
      handler: async ({ db, body, req, res }) => {
        const session = await operatorSignIn(db, settings, { ...body, ...clientInfo(req) });
        setCookie(res, deps, session);
        return { body: signedIn(deps, session) };
      },
    }),
    publicRoute({
      method: 'post',
      path: '/setup/inspect',
      summary: 'What an operator setup link is for',
      tags,
      body: SetupInspectBody,
      response: SetupInspectResponse,
      handler: async ({ db, body }) => ({ body: await inspectOperatorSetupLink(db, body.token) }),
    }),
    publicRoute({
      method: 'post',
      path: '/setup/complete',
      summary: 'Choose an operator password with a setup link; signs the operator in',
      tags,
      body: SetupCompleteBody,
      response: OperatorSignedIn,
      handler: async ({ db, body, req, res }) => {
        const session = await completeOperatorSetup(db, settings, { ...body, ...clientInfo(req) });
        setCookie(res, deps, session);
        return { body: signedIn(deps, session) };
      },
    }),
  ]);
  return router;
}

function createConsoleSessionRouter(deps: ConsoleDeps): Router {
  const router = Router();
  const tags = ['Console: sign-in'];
  consoleRoutes(router, deps, [
    consoleRoute({
      method: 'get',
      path: '/session',
      summary: 'The signed-in operator and the CSRF token for writes',
      tags,
      response: OperatorSessionResponse,
      handler: async ({ principal, res }) => ({
        body: {
          operator: { id: principal.operatorId, email: principal.email, displayName: null },
          csrfToken: consoleSessionOf(res)!.csrfToken,
        },
      }),
    }),
    consoleRoute({
      method: 'post',
      path: '/sign-out',
      summary: 'Ends this operator session',
      tags,
      body: z.object({}).optional(),
      handler: async ({ db, principal, res }) => {
        await operatorSignOut(db, principal);
        res.append('Set-Cookie', clearedCookie(CONSOLE_COOKIE, CONSOLE_COOKIE_PATH, deps.publicUrl));
        return { status: 204 };
      },
    }),
  ]);
  return router;
}

/** The console's feature routers, each built with `consoleRoutes(...)`: one import + one entry. */
export const consoleFeatureRouters: ReadonlyArray<(deps: ConsoleDeps) => Router> = [createConsoleSessionRouter, createConsoleTenantsRouter, createConsoleFleetRouter, createConsoleStreamsRouter];

export interface ConsoleApi extends Router {
  routes: readonly DeclaredRoute[];
}

/** The operator console's JSON API, mounted at /console/api. */
export function createConsoleApi(deps: ConsoleDeps): ConsoleApi {
  const api = Router();
  const publicRouter = createConsolePublicRouter(deps);
  const features = consoleFeatureRouters.map((create) => create(deps));
  const wrongMethod = methodNotAllowed(() => [publicRouter, ...features], (res, allow) => sendApiError(res, 405, 'method_not_allowed', `Allowed: ${allow.join(', ')}`));
  // Each sub-router would answer OPTIONS on its own with just its own routes' methods (express's
  // automatic reply); the surface answers it once, from all of them.
  api.use((req, res, next) => (req.method === 'OPTIONS' ? wrongMethod(req, res, next) : next()));
  api.use(express.json({ limit: '1mb' }));
  api.use(publicRouter);
  api.use(consoleSessionMiddleware(deps));
  for (const router of features) api.use(router);
  api.use(wrongMethod);
  api.use((_req, res) => sendApiError(res, 404, 'not_found', 'No such console API endpoint.'));
  api.use(apiErrorHandler);
  const routes = [publicRouter, ...features].flatMap((r) => declaredRoutes(r));
  return Object.assign(api, { routes });
}
