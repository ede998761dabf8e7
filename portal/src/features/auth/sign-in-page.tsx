import { useQueryClient } from '@tanstack/react-query';
import { useRef, useState, type FormEvent } from 'react';
import { useLocation, useNavigate, useSearchParams } from 'react-router';
import { Banner, Button, FormError, PublicShell, TextField } from '../../components/index.js';
import { SignInBody, TotpCode } from '../../../../core/portal-auth/schema.js';
import { api, isApiError } from '../../lib/api.js';
import { safeNext } from '../../app/session-guard.js';
import { rememberedTenant, rememberTenant, sessionQueryKey } from '../../app/session.js';

type Step = 'password' | 'code';

const sentence = (text: string) => `${text.charAt(0).toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? '' : '.'}`;

/**
 * Sign-in: organisation (tenant slug, remembered on this device), email and password; when the
 * account has two-step verification the API answers `mfa_required` and a code step follows (an
 * authenticator code, or one of the recovery codes).
 */
export default function SignInPage() {
  const navigate = useNavigate();
  const location = useLocation();
  const [params] = useSearchParams();
  const queryClient = useQueryClient();
  const [tenant, setTenant] = useState(rememberedTenant);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [step, setStep] = useState<Step>('password');
  const [errors, setErrors] = useState<{ tenant?: string; email?: string; password?: string; code?: string }>({});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const codeRef = useRef<HTMLInputElement>(null);
  const arrival = location.state as { signedOut?: boolean; expired?: boolean } | null;
  const [notice, setNotice] = useState<'signedOut' | 'expired' | null>(arrival?.signedOut ? 'signedOut' : arrival?.expired ? 'expired' : null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setNotice(null);
    // The API's own schemas (core/portal-auth/schema.ts) check the form before it is sent.
    const next: typeof errors = {};
    const parsed = SignInBody.safeParse({ tenant, email, password });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const key = issue.path[0] as keyof typeof errors;
        next[key] ??= sentence(issue.message);
      }
    }
    if (!email.trim()) next.email = 'Enter your email address.';
    if (step === 'code') {
      const checked = TotpCode.safeParse(code);
      if (!checked.success) next.code = sentence(checked.error.issues[0]?.message ?? 'Enter the code.');
    }
    setErrors(next);
    if (Object.keys(next).length > 0) return;
    setBusy(true);
    try {
      await api.post('/sign-in', { tenant: tenant.trim().toLowerCase(), email: email.trim(), password, ...(step === 'code' ? { code: code.replace(/\s+/g, '') } : {}) });
      rememberTenant(tenant.trim().toLowerCase());
      queryClient.removeQueries({ queryKey: sessionQueryKey });
      void navigate(safeNext(params.get('next')), { replace: true });
    } catch (err) {
      if (isApiError(err, 'mfa_required')) {
        setStep('code');
        requestAnimationFrame(() => codeRef.current?.focus());
      } else if (isApiError(err, 'invalid_code')) {
        setErrors({ code: err.message || 'That code is not valid. Codes change every 30 seconds; try the current one.' });
        requestAnimationFrame(() => codeRef.current?.focus());
      } else {
        setError(err);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <PublicShell title="Sign in">
      {notice === 'signedOut' && <Banner tone="success">You have signed out.</Banner>}
      {notice === 'expired' && (
        <Banner tone="info" title="Your session has ended">
          Sign in again to continue where you were.
        </Banner>
      )}
      <form onSubmit={(e) => void submit(e)} noValidate className="form" aria-describedby="sign-in-help">
        <p id="sign-in-help" className="muted">
          Sign in to your organisation’s Roster portal. First time here? Use the setup link you were sent.
        </p>
        {step === 'password' ? (
          <>
            <TextField
              label="Organisation"
              hint="Your organisation’s short name in Roster, e.g. acme."
              name="tenant"
              value={tenant}
              onChange={(e) => setTenant(e.target.value)}
              error={errors.tenant}
              autoComplete="organization"
              autoCapitalize="none"
              spellCheck={false}
              required
            />
            <TextField label="Email" name="email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} error={errors.email} autoComplete="username" required />
            <TextField label="Password" name="password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} error={errors.password} autoComplete="current-password" required />
          </>
        ) : (
          <>
            <Banner tone="info" title="Two-step verification">
              Enter the 6-digit code from your authenticator app for {email}. Lost your device? Enter one of your recovery codes instead.
            </Banner>
            <TextField
              ref={codeRef}
              label="Verification code"
              name="code"
              value={code}
              onChange={(e) => setCode(e.target.value)}
              error={errors.code}
              autoComplete="one-time-code"
              inputMode="text"
              spellCheck={false}
              required
            />
          </>
        )}
        <FormError error={error} />
        <div className="form-actions">
          <Button type="submit" variant="primary" busy={busy} busyLabel="Signing in…">
            {step === 'code' ? 'Verify and sign in' : 'Sign in'}
          </Button>
          {step === 'code' && (
            <Button
              variant="ghost"
              onClick={() => {
                setStep('password');
                setCode('');
                setErrors({});
              }}
            >
              Back
            </Button>
          )}
        </div>
      </form>
    </PublicShell>
  );
}
