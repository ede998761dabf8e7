import { lazy, Suspense, type ComponentType } from 'react';
import { Link, Navigate, type RouteObject, useRouteError } from 'react-router';
import { EmptyState, ErrorBanner, Page, Spinner } from '../components/index.js';
import { features, allowedFeatures, type FeatureEntry } from './features.js';
import { PortalLayout } from './layout.js';
import { hasAnyRole, useSession } from './session.js';
import { RequireSession } from './session-guard.js';

/** A lazily loaded page as a route's `lazy` (module with a default component). */
export function lazyPage(load: () => Promise<{ default: ComponentType }>): RouteObject['lazy'] {
  return async () => ({ Component: (await load()).default });
}

function FeatureRoute({ feature, Component }: { feature: FeatureEntry; Component: ComponentType }) {
  const { user } = useSession();
  if (!hasAnyRole(user, feature.roles)) {
    return (
      <Page title={feature.label}>
        <EmptyState title="Not available for your role">
          {feature.label} is open to {feature.roles.join(', ')}. Ask an admin of your organisation if you need it.
        </EmptyState>
      </Page>
    );
  }
  return (
    <Suspense fallback={<Spinner label={`Loading ${feature.label}…`} />}>
      <Component />
    </Suspense>
  );
}

/** `/` opens the first page the user's roles allow. */
function Home() {
  const { user } = useSession();
  const first = allowedFeatures(user.roles).find((f) => f.nav !== false);
  return <Navigate to={first ? `/${first.path}` : '/account'} replace />;
}

function NotFound() {
  return (
    <Page title="Page not found">
      <EmptyState title="There is no page at this address" action={<Link to="/">Go to the start page</Link>} />
    </Page>
  );
}

export function RouteError() {
  const error = useRouteError();
  return (
    <main id="main" className="fullpage-center">
      <div className="card">
        <h1>Something went wrong</h1>
        <ErrorBanner error={error} title="This page failed to load" onRetry={() => window.location.reload()} />
        <p>
          <a href="/">Back to the start page</a>
        </p>
      </div>
    </main>
  );
}

/** The signed-in portal's routes: one per feature entry, below the session guard and layout. */
export function portalRoutes(): RouteObject {
  return {
    path: '/',
    element: (
      <RequireSession>
        <PortalLayout />
      </RequireSession>
    ),
    errorElement: <RouteError />,
    children: [
      { index: true, element: <Home /> },
      ...features.map((feature) => {
        const Component = lazy(feature.lazy);
        return { path: `${feature.path}/*`, element: <FeatureRoute feature={feature} Component={Component} /> };
      }),
      { path: '*', element: <NotFound /> },
    ],
  };
}
