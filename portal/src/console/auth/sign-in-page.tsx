import { useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useLocation, useNavigate, useSearchParams } from 'react-router';
import { Banner, Button, FormError, PublicShell, TextField } from '../../components/index.js';
import { consoleApi } from '../../lib/api.js';
import { operatorSessionKey } from '../session.js';

function safeConsoleNext(next: string | null): string {
  return next && next.startsWith('/console') && !next.startsWith('//') ? next : '/console';
}

/** Operator sign-in (the console's own accounts; a tenant portal account does not work here). */
export default function ConsoleSignInPage() {
  const navigate = useNavigate();
  const location = useLocation();
  const [params] = useSearchParams();
  const queryClient = useQueryClient();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<{ email?: string; password?: string }>({});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const signedOut = (location.state as { signedOut?: boolean } | null)?.signedOut === true;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    const next: typeof errors = {};
    if (!email.trim()) next.email = 'Enter your operator email address.';
    if (!password) next.password = 'Enter your password.';
    setErrors(next);
    if (Object.keys(next).length > 0) return;
    setBusy(true);
    try {
      await consoleApi.post('/sign-in', { email: email.trim(), password });
      queryClient.removeQueries({ queryKey: operatorSessionKey });
      void navigate(safeConsoleNext(params.get('next')), { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <PublicShell title="Operator sign-in" realm="console">
      {signedOut && <Banner tone="success">You have signed out.</Banner>}
      <form onSubmit={(e) => void submit(e)} noValidate className="form">
        <p className="muted">For Roster operators. Tenant admins sign in at the <a href="/sign-in">portal</a>.</p>
        <TextField label="Email" name="email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} error={errors.email} autoComplete="username" required />
        <TextField label="Password" name="password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} error={errors.password} autoComplete="current-password" required />
        <FormError error={error} />
        <div className="form-actions">
          <Button type="submit" variant="primary" busy={busy} busyLabel="Signing in…">
            Sign in
          </Button>
        </div>
      </form>
    </PublicShell>
  );
}
