import { createBrowserRouter } from 'react-router';
import { consoleRoutes } from '../console/routes.js';
import { lazyPage, portalRoutes, RouteError } from './routes.js';

/**
 * The whole SPA: public pages (sign-in, setup, status), the signed-in tenant portal at `/`, and the
 * operator console at `/console` (its own layout, session and API base). Every page is a lazy chunk.
 */
export function createRouter() {
  return createBrowserRouter([
    { path: '/sign-in', lazy: lazyPage(() => import('../features/auth/sign-in-page.js')), errorElement: <RouteError /> },
    { path: '/setup', lazy: lazyPage(() => import('../features/auth/setup-page.js')), errorElement: <RouteError /> },
    { path: '/status', lazy: lazyPage(() => import('../features/status/status-page.js')), errorElement: <RouteError /> },
    consoleRoutes(),
    portalRoutes(),
  ]);
}
