import { useState, type FormEvent, type ReactNode } from 'react';
import { Button } from './button.js';
import { FormError, TextField } from './form.js';

/** The password rules, as the API enforces them (core/portal-auth). */
export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 256;

export function PasswordPolicy({ id }: { id?: string }) {
  return (
    <ul id={id} className="policy">
      <li>
        {PASSWORD_MIN} to {PASSWORD_MAX} characters. A few unrelated words make a long password that is easy to remember.
      </li>
      <li>Not a commonly used password (Roster checks a list of the most common ones).</li>
      <li>Not containing the name part of your email address.</li>
    </ul>
  );
}

function localCheck(password: string, email: string | undefined): string | undefined {
  if (password.length < PASSWORD_MIN) return `Use at least ${PASSWORD_MIN} characters (this one has ${password.length}).`;
  if (password.length > PASSWORD_MAX) return `Use at most ${PASSWORD_MAX} characters.`;
  const local = email?.split('@')[0]?.toLowerCase();
  if (local && local.length >= 3 && password.toLowerCase().includes(local)) return 'Do not use the name part of your email address in the password.';
  return undefined;
}

/**
 * Choose a password (setup links, for both realms): new password + confirmation, optional display
 * name, the policy spelled out; the API's own refusals (e.g. a common password) appear at the field.
 */
export function ChoosePasswordForm({
  email,
  askName = false,
  submitLabel = 'Set password and sign in',
  onSubmit,
  children,
}: {
  email?: string;
  askName?: boolean;
  submitLabel?: string;
  onSubmit: (values: { password: string; displayName?: string }) => Promise<void>;
  children?: ReactNode;
}) {
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [errors, setErrors] = useState<{ password?: string; confirm?: string }>({});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    const next: typeof errors = {};
    const problem = localCheck(password, email);
    if (problem) next.password = problem;
    if (!next.password && confirm !== password) next.confirm = 'The two passwords do not match.';
    setErrors(next);
    if (Object.keys(next).length > 0) return;
    setBusy(true);
    try {
      await onSubmit({ password, ...(askName && displayName.trim() ? { displayName: displayName.trim() } : {}) });
    } catch (err) {
      const field = err && typeof err === 'object' && 'code' in err ? String((err).code) : '';
      const message = err instanceof Error ? err.message : String(err);
      if (/password/.test(field) || field === 'weak_password' || field === 'invalid_request') setErrors({ password: message });
      else setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="form">
      {children}
      {email && (
        <input type="email" name="username" autoComplete="username" value={email} readOnly hidden />
      )}
      {askName && <TextField label="Your name (optional)" name="displayName" value={displayName} onChange={(e) => setDisplayName(e.target.value)} autoComplete="name" />}
      <TextField
        label="New password"
        name="password"
        type="password"
        value={password}
        onChange={(e) => setPassword(e.target.value)}
        error={errors.password}
        hint={<PasswordPolicy />}
        autoComplete="new-password"
        required
      />
      <TextField label="Repeat the password" name="confirm" type="password" value={confirm} onChange={(e) => setConfirm(e.target.value)} error={errors.confirm} autoComplete="new-password" required />
      <FormError error={error} />
      <div className="form-actions">
        <Button type="submit" variant="primary" busy={busy} busyLabel="Saving…">
          {submitLabel}
        </Button>
      </div>
    </form>
  );
}
