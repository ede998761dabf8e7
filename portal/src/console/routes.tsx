import { lazy, Suspense } from 'react';
import { Link, Navigate, type RouteObject } from 'react-router';
import { EmptyState, Page, Spinner } from '../components/index.js';
import { lazyPage, RouteError } from '../app/routes.js';
import { consoleFeatures } from './features.js';
import { ConsoleLayout } from './layout.js';
import { RequireOperator } from './session-guard.js';

function ConsoleNotFound() {
  return (
    <Page title="Page not found">
      <EmptyState title="There is no console page at this address" action={<Link to="/console">Go to the console</Link>} />
    </Page>
  );
}

/** /console: sign-in and setup without a session, the rest below the operator guard + layout. */
export function consoleRoutes(): RouteObject {
  const first = consoleFeatures[0];
  return {
    path: '/console',
    errorElement: <RouteError />,
    children: [
      { path: 'sign-in', lazy: lazyPage(() => import('./auth/sign-in-page.js')) },
      { path: 'setup', lazy: lazyPage(() => import('./auth/setup-page.js')) },
      {
        element: (
          <RequireOperator>
            <ConsoleLayout />
          </RequireOperator>
        ),
        children: [
          { index: true, element: <Navigate to={first ? `/console/${first.path}` : '/console/sign-in'} replace /> },
          ...consoleFeatures.map((feature) => {
            const Component = lazy(feature.lazy);
            return {
              path: `${feature.path}/*`,
              element: (
                <Suspense fallback={<Spinner label={`Loading ${feature.label}…`} />}>
                  <Component />
                </Suspense>
              ),
            };
          }),
          { path: '*', element: <ConsoleNotFound /> },
        ],
      },
    ],
  };
}
