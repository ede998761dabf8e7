import { useQueryClient } from '@tanstack/react-query';
import { Suspense, useState } from 'react';
import { Link, NavLink, Outlet, useNavigate } from 'react-router';
import { Spinner } from '../components/index.js';
import { useFocusOnNavigate } from '../lib/focus.js';
import { consoleApi } from '../lib/api.js';
import { consoleFeatures } from './features.js';
import { useOperator } from './session.js';

/** The operator console frame: visibly not the tenant portal (own colour band and title). */
export function ConsoleLayout() {
  const { operator } = useOperator();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [signingOut, setSigningOut] = useState(false);
  useFocusOnNavigate();
  const signOut = async () => {
    setSigningOut(true);
    try {
      await consoleApi.post('/sign-out');
    } catch {
      // Already signed out.
    } finally {
      consoleApi.setCsrfToken(null);
      queryClient.removeQueries({ queryKey: ['console'] });
      setSigningOut(false);
      void navigate('/console/sign-in', { replace: true, state: { signedOut: true } });
    }
  };
  return (
    <div className="shell shell-console">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/console" className="brand" aria-label="Roster console home">
          Roster
        </Link>
        <span className="realm-badge">Operator console</span>
        <div className="topbar-user">
          <span className="topbar-email" data-testid="operator-email">
            {operator.email}
          </span>
          <button type="button" className="btn btn-ghost btn-small" onClick={() => void signOut()} disabled={signingOut} data-testid="sign-out">
            Sign out
          </button>
        </div>
      </header>
      <div className="shell-body">
        <nav className="sidenav" aria-label="Console">
          <ul>
            {consoleFeatures
              .filter((f) => f.nav !== false)
              .map((f) => (
                <li key={f.path}>
                  <NavLink to={`/console/${f.path}`}>{f.label}</NavLink>
                </li>
              ))}
          </ul>
        </nav>
        <main id="main" className="main" tabIndex={-1}>
          <Suspense fallback={<Spinner label="Loading the page…" />}>
            <Outlet />
          </Suspense>
        </main>
      </div>
    </div>
  );
}
