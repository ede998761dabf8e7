import { useQueryClient } from '@tanstack/react-query';
import { Suspense, useState } from 'react';
import { Link, NavLink, Outlet, useNavigate } from 'react-router';
import { Spinner } from '../components/index.js';
import { useToast } from '../components/toast.js';
import { api, describeError } from '../lib/api.js';
import { useFocusOnNavigate } from '../lib/focus.js';
import { allowedFeatures } from './features.js';
import { useSession } from './session.js';

/** The signed-in portal: top bar (tenant, account, sign out), the nav, and the page. */
export function PortalLayout() {
  const { user } = useSession();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const toast = useToast();
  const [signingOut, setSigningOut] = useState(false);
  useFocusOnNavigate();
  const nav = allowedFeatures(user.roles).filter((f) => f.nav !== false);

  const signOut = async () => {
    setSigningOut(true);
    try {
      await api.post('/sign-out');
    } catch (err) {
      // A session that already ended is signed out anyway.
      if (!(err instanceof Error && 'status' in err && err.status === 401)) toast(describeError(err), 'error');
    } finally {
      api.setCsrfToken(null);
      queryClient.clear();
      setSigningOut(false);
      void navigate('/sign-in', { replace: true, state: { signedOut: true } });
    }
  };

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand" aria-label="Roster home">
          Roster
        </Link>
        <span className="topbar-tenant" data-testid="tenant-name">
          {user.tenant.name}
        </span>
        <div className="topbar-user">
          <NavLink to="/account" className="topbar-link" data-testid="account-link">
            <span className="visually-hidden">Your account: </span>
            {user.email}
          </NavLink>
          <button type="button" className="btn btn-ghost btn-small" onClick={() => void signOut()} disabled={signingOut} data-testid="sign-out">
            Sign out
          </button>
        </div>
      </header>
      <div className="shell-body">
        <nav className="sidenav" aria-label="Main">
          <ul>
            {nav.map((f) => (
              <li key={f.path}>
                <NavLink to={`/${f.path}`}>
                  {f.label}
                  {f.badge && <f.badge />}
                </NavLink>
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
