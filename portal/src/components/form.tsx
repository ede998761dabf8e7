import { useCallback, useId, useState, type FormEvent, type InputHTMLAttributes, type ReactNode, type Ref, type SelectHTMLAttributes } from 'react';
import type { ZodType, ZodTypeDef } from 'zod';
import { ApiError, describeError } from '../lib/api.js';

/**
 * Forms validate with the same zod schemas as the API (import them from core/<feature>/schema.ts;
 * only the type of zod is imported here, so zod stays out of the first-load bundle).
 *
 *   const form = useZodForm(InviteBody, { email: '', roles: ['approver'] });
 *   <form onSubmit={form.submit(async (body) => { await api.post('/members/invite', body) })}>
 *     <TextField label="Email" {...form.text('email')} />
 *     <FormError error={form.formError} />
 *     <Button type="submit" busy={form.busy}>Invite</Button>
 *
 * Field errors come from the schema before sending, and from the API's 400 `issues` after.
 */
export function useZodForm<Out, In extends Record<string, unknown>>(schema: ZodType<Out, ZodTypeDef, unknown>, initial: In) {
  const [values, setValues] = useState<In>(initial);
  const [errors, setErrors] = useState<Partial<Record<keyof In & string, string>>>({});
  const [formError, setFormError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const set = useCallback(<K extends keyof In>(name: K, value: In[K]) => {
    setValues((v) => ({ ...v, [name]: value }));
    setErrors((e) => (e[name as keyof In & string] ? { ...e, [name]: undefined } : e));
  }, []);

  const text = (name: keyof In & string) => ({
    name,
    value: String(values[name] ?? ''),
    error: errors[name],
    onChange: (event: { target: { value: string } }) => set(name, event.target.value as In[typeof name]),
  });

  const submit = (onValid: (data: Out) => unknown) => async (event?: FormEvent) => {
    event?.preventDefault();
    setFormError(null);
    const parsed = schema.safeParse(values);
    if (!parsed.success) {
      const next: Partial<Record<string, string>> = {};
      for (const issue of parsed.error.issues) {
        const key = String(issue.path[0] ?? '');
        if (key && !next[key]) next[key] = issue.message;
        else if (!key) setFormError(new Error(issue.message));
      }
      setErrors(next);
      focusFirstInvalid(event);
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      await onValid(parsed.data);
    } catch (err) {
      if (err instanceof ApiError && err.issues.length > 0) {
        const next: Partial<Record<string, string>> = {};
        for (const issue of err.issues) {
          const key = String(issue.path?.[0] ?? '');
          if (key in values && !next[key]) next[key] = issue.message;
        }
        if (Object.keys(next).length > 0) setErrors(next);
        else setFormError(err);
      } else {
        setFormError(err);
      }
    } finally {
      setBusy(false);
    }
  };

  const reset = useCallback((next?: In) => {
    setValues(next ?? initial);
    setErrors({});
    setFormError(null);
  }, []);

  return { values, set, errors, setErrors, formError, setFormError, busy, text, submit, reset };
}

function focusFirstInvalid(event?: FormEvent) {
  const form = event?.currentTarget as HTMLFormElement | undefined;
  if (!form) return;
  requestAnimationFrame(() => form.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
}

/** Label + control + hint + error, wired with ids (aria-describedby, aria-invalid). */
export function Field({ label, hint, error, children, required }: { label: ReactNode; hint?: ReactNode; error?: string; required?: boolean; children: (props: { id: string; 'aria-describedby'?: string; 'aria-invalid'?: boolean; required?: boolean }) => ReactNode }) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ') || undefined;
  return (
    <div className={error ? 'field field-invalid' : 'field'}>
      <label htmlFor={id} className="field-label">
        {label}
        {required && <span className="field-required" aria-hidden="true"> *</span>}
      </label>
      {hint && (
        <div id={hintId} className="field-hint">
          {hint}
        </div>
      )}
      {children({ id, 'aria-describedby': describedBy, 'aria-invalid': error ? true : undefined, required })}
      {error && (
        <div id={errorId} className="field-error">
          {error}
        </div>
      )}
    </div>
  );
}

type TextFieldProps = Omit<InputHTMLAttributes<HTMLInputElement>, 'id'> & { label: ReactNode; hint?: ReactNode; error?: string | undefined; ref?: Ref<HTMLInputElement> };

export function TextField({ label, hint, error, required, ref, ...input }: TextFieldProps) {
  return (
    <Field label={label} hint={hint} error={error} required={required}>
      {(props) => <input className="input" ref={ref} {...input} {...props} />}
    </Field>
  );
}

type SelectFieldProps = Omit<SelectHTMLAttributes<HTMLSelectElement>, 'id'> & { label: ReactNode; hint?: ReactNode; error?: string | undefined; options: { value: string; label: string }[] };

export function SelectField({ label, hint, error, options, required, ...select }: SelectFieldProps) {
  return (
    <Field label={label} hint={hint} error={error} required={required}>
      {(props) => (
        <select className="input" {...select} {...props}>
          {options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

/** A group of checkboxes (e.g. roles) in a fieldset with a legend. */
export function CheckboxGroup({ legend, options, value, onChange, error, hint }: { legend: string; options: { value: string; label: string; description?: string }[]; value: string[]; onChange: (value: string[]) => void; error?: string | undefined; hint?: ReactNode }) {
  const id = useId();
  return (
    <fieldset className={error ? 'field fieldset field-invalid' : 'field fieldset'} aria-describedby={error ? `${id}-error` : undefined}>
      <legend className="field-label">{legend}</legend>
      {hint && <div className="field-hint">{hint}</div>}
      {options.map((o) => (
        <label key={o.value} className="checkbox">
          <input
            type="checkbox"
            checked={value.includes(o.value)}
            onChange={(e) => onChange(e.target.checked ? [...value, o.value] : value.filter((v) => v !== o.value))}
          />
          <span>
            {o.label}
            {o.description && <span className="checkbox-description">{o.description}</span>}
          </span>
        </label>
      ))}
      {error && (
        <div id={`${id}-error`} className="field-error">
          {error}
        </div>
      )}
    </fieldset>
  );
}

/** The error of a whole form (API refusals that are not about one field). */
export function FormError({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <div className="form-error" role="alert">
      {describeError(error)}
    </div>
  );
}
