import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { Banner, ChoosePasswordForm, ErrorBanner, PublicShell, Spinner } from '../../components/index.js';
import { api, isApiError } from '../../lib/api.js';
import { formatDateTime } from '../../lib/format.js';
import { takeTokenFromHash } from '../../lib/setup-token.js';
import { rememberTenant, sessionQueryKey } from '../../app/session.js';

interface SetupInfo {
  email: string;
  tenant: { slug: string; name: string } | string;
  expiresAt: string;
  purpose?: string;
}

function tenantOf(info: SetupInfo): { slug: string; name: string } {
  return typeof info.tenant === 'string' ? { slug: info.tenant, name: info.tenant } : info.tenant;
}

/**
 * /setup#token=…: the one-time link an operator (first admin) or an admin (invitation) sent.
 * Shows whose account and which organisation it is for, lets the person choose a password, and
 * lands them signed in on the portal.
 */
export default function SetupPage() {
  const [token] = useState(takeTokenFromHash);
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const inspect = useQuery({
    queryKey: ['portal', 'setup', token],
    queryFn: () => api.post<SetupInfo>('/setup/inspect', { token }),
    enabled: Boolean(token),
    retry: false,
    staleTime: Infinity,
  });

  if (!token) {
    return (
      <PublicShell title="Set up your account">
        <Banner tone="warning" title="This link is incomplete">
          Open the full setup link from your message (it ends with <code>#token=…</code>). If you already set a password, <Link to="/sign-in">sign in</Link>.
        </Banner>
      </PublicShell>
    );
  }
  if (inspect.isPending) {
    return (
      <PublicShell title="Set up your account">
        <Spinner label="Checking your setup link…" />
      </PublicShell>
    );
  }
  if (inspect.isError) {
    const err = inspect.error;
    const gone = isApiError(err) && (err.status === 410 || err.status === 404);
    const title = isApiError(err, 'link_expired') ? 'This setup link has expired' : isApiError(err, 'link_used') ? 'This setup link was already used' : 'This setup link is not valid';
    return (
      <PublicShell title="Set up your account">
        {gone ? (
          <Banner tone="warning" title={title}>
            <p>{err.message}</p>
            <p>
              Already set your password? <Link to="/sign-in">Sign in</Link>.
            </p>
          </Banner>
        ) : (
          <ErrorBanner error={err} title="The setup link could not be checked" onRetry={() => void inspect.refetch()} />
        )}
      </PublicShell>
    );
  }

  const info = inspect.data;
  const tenant = tenantOf(info);
  return (
    <PublicShell title="Set up your account">
      <dl className="facts" data-testid="setup-facts">
        <dt>Organisation</dt>
        <dd data-testid="setup-tenant">{tenant.name}</dd>
        <dt>Email</dt>
        <dd data-testid="setup-email">{info.email}</dd>
        <dt>Link valid until</dt>
        <dd>{formatDateTime(info.expiresAt)}</dd>
      </dl>
      <ChoosePasswordForm
        email={info.email}
        askName
        onSubmit={async ({ password, displayName }) => {
          await api.post('/setup/complete', { token, password, ...(displayName ? { displayName } : {}) });
          rememberTenant(tenant.slug);
          queryClient.removeQueries({ queryKey: sessionQueryKey });
          void navigate('/', { replace: true });
        }}
      />
    </PublicShell>
  );
}
