import { lazy, Suspense, useState, type FormEvent } from 'react';
import type { AccountSession } from '../../../../core/portal-auth/schema.js';
import { roleLabels, useSession } from '../../app/session.js';
import {
  Banner,
  Button,
  CopyButton,
  DataTable,
  ErrorBanner,
  FormError,
  Page,
  Section,
  StatusBadge,
  TextField,
  useToast,
  type Column,
} from '../../components/index.js';
import { isApiError } from '../../lib/api.js';
import { formatDateTime, formatRelative } from '../../lib/format.js';
import { useAccountSessions, useRevokeSession, useTotpConfirm, useTotpDisable, useTotpEnroll } from './api.js';

// The QR encoder is fetched only when someone starts enrolment (not part of this page's chunk).
const QrCode = lazy(() => import('../../components/qr-code.js'));

/** "Chrome on Linux" from a user-agent string (enough to recognise one's own devices). */
function describeAgent(agent: string | null): string {
  if (!agent) return 'Unknown device';
  const browser = /Edg\//.test(agent) ? 'Edge' : /Firefox\//.test(agent) ? 'Firefox' : /Chrom(e|ium)\//.test(agent) ? 'Chrome' : /Safari\//.test(agent) ? 'Safari' : /curl|node|undici/i.test(agent) ? 'Script' : 'Browser';
  const os = /Windows/.test(agent) ? 'Windows' : /Mac OS X|Macintosh/.test(agent) ? 'macOS' : /Android/.test(agent) ? 'Android' : /iPhone|iPad/.test(agent) ? 'iOS' : /Linux/.test(agent) ? 'Linux' : '';
  return os ? `${browser} on ${os}` : browser;
}

function SessionsSection() {
  const sessions = useAccountSessions();
  const revoke = useRevokeSession();
  const toast = useToast();
  const [pending, setPending] = useState<string | null>(null);
  const columns: Column<AccountSession>[] = [
    {
      key: 'device',
      header: 'Device',
      render: (s) => (
        <span>
          {describeAgent(s.userAgent)} {s.current && <StatusBadge status="ok">This device</StatusBadge>}
        </span>
      ),
    },
    { key: 'ip', header: 'Address', className: 'hide-narrow', render: (s) => s.ip ?? '—' },
    { key: 'createdAt', header: 'Signed in', className: 'nowrap', render: (s) => formatDateTime(s.createdAt) },
    { key: 'lastSeenAt', header: 'Last active', className: 'nowrap', render: (s) => formatRelative(s.lastSeenAt) },
    {
      key: 'actions',
      header: <span className="visually-hidden">Actions</span>,
      render: (s) =>
        s.current ? (
          <span className="muted">Use “Sign out”</span>
        ) : (
          <Button
            size="small"
            busy={pending === s.id}
            aria-label={`End the session of ${describeAgent(s.userAgent)} signed in ${formatDateTime(s.createdAt)}`}
            onClick={() => {
              setPending(s.id);
              revoke.mutate(s.id, {
                onSuccess: () => toast('Session ended'),
                onError: (err) => toast(err instanceof Error ? err.message : String(err), 'error'),
                onSettled: () => setPending(null),
              });
            }}
          >
            End session
          </Button>
        ),
    },
  ];
  return (
    <Section title="Where you are signed in">
      <p className="muted">Ending a session signs that device out at once. Sessions also end after a period of inactivity.</p>
      <ErrorBanner error={sessions.error} title="Sessions could not be loaded" onRetry={() => void sessions.refetch()} />
      {!sessions.isError && <DataTable caption="Your sessions" columns={columns} rows={sessions.data?.sessions} rowKey={(s) => s.id} loading={sessions.isFetching} />}
    </Section>
  );
}

/** Recovery codes, shown once after two-step sign-in is turned on. */
function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  return (
    <div className="secret" data-testid="recovery-codes">
      <strong>Your recovery codes</strong>
      <p className="secret-note">
        Each code signs you in once if you lose your authenticator. They are shown only now: store them somewhere safe, such as a password manager.
      </p>
      <ul className="codes">
        {codes.map((c) => (
          <li key={c}>{c}</li>
        ))}
      </ul>
      <div className="form-actions">
        <CopyButton text={codes.join('\n')} label="Copy all codes" />
        <Button variant="primary" onClick={onDone}>
          I have stored them
        </Button>
      </div>
    </div>
  );
}

function TwoStepSection() {
  const { user } = useSession();
  const enabled = user.totpEnabled;
  const enroll = useTotpEnroll();
  const confirm = useTotpConfirm();
  const disable = useTotpDisable();
  const toast = useToast();
  const [code, setCode] = useState('');
  const [codeError, setCodeError] = useState<string | undefined>();
  const [recovery, setRecovery] = useState<string[] | null>(null);

  if (recovery) {
    return (
      <Section title="Two-step sign-in">
        <Banner tone="success">Two-step sign-in is on. From now on you will be asked for a code after your password.</Banner>
        <RecoveryCodes
          codes={recovery}
          onDone={() => {
            setRecovery(null);
            enroll.reset();
          }}
        />
      </Section>
    );
  }

  const submitConfirm = (event: FormEvent) => {
    event.preventDefault();
    if (!/^\d{6}$/.test(code.trim())) {
      setCodeError('Enter the 6-digit code your authenticator app shows.');
      return;
    }
    setCodeError(undefined);
    confirm.mutate(code.trim(), {
      onSuccess: (result) => {
        setRecovery(result.recoveryCodes);
        setCode('');
      },
      onError: (err) => {
        if (isApiError(err) && (err.code === 'invalid_code' || err.status === 400)) setCodeError(err.message);
      },
    });
  };

  const submitDisable = (event: FormEvent) => {
    event.preventDefault();
    if (!code.trim()) {
      setCodeError('Enter a current code from your authenticator app, or a recovery code.');
      return;
    }
    setCodeError(undefined);
    disable.mutate(code.trim(), {
      onSuccess: () => {
        setCode('');
        toast('Two-step sign-in turned off');
      },
      onError: (err) => {
        if (isApiError(err) && (err.code === 'invalid_code' || err.status === 400)) setCodeError(err.message);
      },
    });
  };

  return (
    <Section title="Two-step sign-in">
      {enabled ? (
        <>
          <p>
            <StatusBadge status="ok">On</StatusBadge> After your password, Roster asks for a code from your authenticator app.
          </p>
          <form className="form narrow" onSubmit={submitDisable} noValidate>
            <TextField label="Code to turn it off" hint="A current 6-digit code, or one of your recovery codes." value={code} onChange={(e) => setCode(e.target.value)} error={codeError} autoComplete="one-time-code" />
            <FormError error={disable.error && !codeError ? disable.error : null} />
            <div className="form-actions">
              <Button type="submit" variant="danger" busy={disable.isPending}>
                Turn off two-step sign-in
              </Button>
            </div>
          </form>
        </>
      ) : enroll.data ? (
        <>
          <ol className="steps">
            <li>
              Scan this code with your authenticator app (for example 1Password, Google Authenticator, Microsoft Authenticator):
              <div className="qr-frame">
                <Suspense fallback={<span className="muted">Drawing the QR code…</span>}>
                  <QrCode value={enroll.data.otpauthUri} label="QR code of the two-step sign-in setup address, for your authenticator app" />
                </Suspense>
              </div>
              Or, if you cannot scan it, add an account with this secret key:
              <div className="secret-row">
                <code className="secret-inline" data-testid="totp-secret">
                  {enroll.data.secret}
                </code>
                <CopyButton text={enroll.data.secret} label="Copy key" size="small" />
              </div>
              <details>
                <summary>Or use the setup address (otpauth URI)</summary>
                <div className="secret-row">
                  <code className="secret-inline" data-testid="totp-uri">
                    {enroll.data.otpauthUri}
                  </code>
                  <CopyButton text={enroll.data.otpauthUri} label="Copy URI" size="small" />
                </div>
              </details>
            </li>
            <li>
              <form className="form narrow" onSubmit={submitConfirm} noValidate>
                <TextField label="Enter the 6-digit code the app shows" inputMode="numeric" value={code} onChange={(e) => setCode(e.target.value)} error={codeError} autoComplete="one-time-code" />
                <FormError error={confirm.error && !codeError ? confirm.error : null} />
                <div className="form-actions">
                  <Button type="submit" variant="primary" busy={confirm.isPending}>
                    Turn on
                  </Button>
                  <Button onClick={() => enroll.reset()}>Cancel</Button>
                </div>
              </form>
            </li>
          </ol>
        </>
      ) : (
        <>
          <p>
            <StatusBadge status="neutral">Off</StatusBadge> Protect your account with a code from an authenticator app, asked after your password.
          </p>
          <FormError error={enroll.error} />
          <Button variant="primary" busy={enroll.isPending} onClick={() => enroll.mutate()}>
            Set up two-step sign-in
          </Button>
        </>
      )}
    </Section>
  );
}

/** Your account: who you are here, two-step sign-in, and your sessions. */
export default function AccountPage() {
  const { user } = useSession();
  return (
    <Page title="Your account">
      <Section title="Profile">
        <dl className="facts">
          <dt>Email</dt>
          <dd>{user.email}</dd>
          {user.displayName && (
            <>
              <dt>Name</dt>
              <dd>{user.displayName}</dd>
            </>
          )}
          <dt>Organisation</dt>
          <dd>
            {user.tenant.name}
            {user.tenant.name !== user.tenant.slug && <span className="muted"> ({user.tenant.slug})</span>}
          </dd>
          <dt>Roles</dt>
          <dd data-testid="account-roles">{user.roles.map((r) => roleLabels[r]?.label ?? r).join(', ')}</dd>
        </dl>
      </Section>
      <TwoStepSection />
      <SessionsSection />
    </Page>
  );
}
