import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { Banner, ChoosePasswordForm, ErrorBanner, PublicShell, Spinner } from '../../components/index.js';
import { consoleApi, isApiError } from '../../lib/api.js';
import { formatDateTime } from '../../lib/format.js';
import { takeTokenFromHash } from '../../lib/setup-token.js';
import { operatorSessionKey } from '../session.js';

interface OperatorSetupInfo {
  email: string;
  expiresAt: string;
}

/** /console/setup#token=…: an operator chooses a password (link from `roster operator create`). */
export default function ConsoleSetupPage() {
  const [token] = useState(takeTokenFromHash);
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const inspect = useQuery({
    queryKey: ['console', 'setup', token],
    queryFn: () => consoleApi.post<OperatorSetupInfo>('/setup/inspect', { token }),
    enabled: Boolean(token),
    retry: false,
    staleTime: Infinity,
  });

  let body;
  if (!token) {
    body = (
      <Banner tone="warning" title="This link is incomplete">
        Open the full setup link (it ends with <code>#token=…</code>). Already set up? <Link to="/console/sign-in">Sign in</Link>.
      </Banner>
    );
  } else if (inspect.isPending) {
    body = <Spinner label="Checking your setup link…" />;
  } else if (inspect.isError) {
    const err = inspect.error;
    const gone = isApiError(err) && (err.status === 410 || err.status === 404);
    body = gone ? (
      <Banner tone="warning" title={isApiError(err, 'link_expired') ? 'This setup link has expired' : isApiError(err, 'link_used') ? 'This setup link was already used' : 'This setup link is not valid'}>
        <p>{err.message}</p>
        <p>
          Already set your password? <Link to="/console/sign-in">Sign in</Link>.
        </p>
      </Banner>
    ) : (
      <ErrorBanner error={err} title="The setup link could not be checked" onRetry={() => void inspect.refetch()} />
    );
  } else {
    body = (
      <>
        <dl className="facts">
          <dt>Operator</dt>
          <dd data-testid="setup-email">{inspect.data.email}</dd>
          <dt>Link valid until</dt>
          <dd>{formatDateTime(inspect.data.expiresAt)}</dd>
        </dl>
        <ChoosePasswordForm
          email={inspect.data.email}
          onSubmit={async ({ password }) => {
            await consoleApi.post('/setup/complete', { token, password });
            queryClient.removeQueries({ queryKey: operatorSessionKey });
            void navigate('/console', { replace: true });
          }}
        />
      </>
    );
  }
  return (
    <PublicShell title="Set up your operator account" realm="console">
      {body}
    </PublicShell>
  );
}
