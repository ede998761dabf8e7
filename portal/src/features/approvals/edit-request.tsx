import { useState, type ReactNode } from 'react';
import type { ChangeKind, ChangeOutcome, ChangeRequestView } from '../../../../core/approvals/schema.js';
import { EVENT_TYPES } from '../../../../core/events/schema.js';
import { Banner, Button, CheckboxGroup, Dialog, Field, SelectField, Spinner, TextField } from '../../components/index.js';
import { ApiError, describeError } from '../../lib/api.js';
import { useEditRequest, useRoleCatalogue } from './api.js';
import { approvedCount } from './words.js';

/**
 * The requester edits an open request (issue 8): the kinds people commonly adjust get a form;
 * every kind can be edited as JSON (the payload as it was requested). The server validates the
 * new payload exactly as on submit, so its 400 is shown as it comes; saving voids earlier approvals.
 */

type Payload = Record<string, unknown>;

interface FormProps {
  value: Payload;
  onChange: (next: Payload) => void;
  errors: Partial<Record<string, string>>;
}

interface KindForm {
  render: (props: FormProps) => ReactNode;
  /** Client-side checks before sending (the server checks again, fully). */
  check?: (value: Payload) => Partial<Record<string, string>>;
}

/** A payload field shown in a text input (absent or not a string: empty). */
const textOf = (v: unknown): string => (typeof v === 'string' ? v : '');
const isPayload = (v: unknown): v is Payload => typeof v === 'object' && v !== null && !Array.isArray(v);
const overlapChoices = [
  { value: 0, label: 'No overlap: the old one stops when the change applies' },
  { value: 60, label: '1 minute' },
  { value: 3600, label: '1 hour' },
  { value: 86_400, label: '24 hours' },
  { value: 604_800, label: '7 days' },
];

function OverlapField({ value, onChange, label, optional }: { value: unknown; onChange: (seconds: number | undefined) => void; label: string; optional?: boolean }) {
  const current = typeof value === 'number' ? value : undefined;
  const options = [
    ...(optional ? [{ value: '', label: 'The default overlap' }] : []),
    ...overlapChoices.map((c) => ({ value: String(c.value), label: c.label })),
    ...(current !== undefined && !overlapChoices.some((c) => c.value === current) ? [{ value: String(current), label: `${current} seconds` }] : []),
  ];
  return (
    <SelectField
      label={label}
      hint="How long the current credentials keep working after the change applies, so the other side can switch over."
      value={current === undefined ? '' : String(current)}
      onChange={(e) => onChange(e.target.value === '' ? undefined : Number(e.target.value))}
      options={options}
    />
  );
}

function RolesField({ value, onChange, error }: { value: string[]; onChange: (roles: string[]) => void; error?: string | undefined }) {
  const catalogue = useRoleCatalogue(true);
  if (!catalogue.data) return catalogue.error ? <p className="field-error">{describeError(catalogue.error)}</p> : <Spinner label="Loading the roles…" />;
  const names = new Set(catalogue.data.roles.map((r) => r.name));
  const options = [...catalogue.data.roles.map((r) => ({ value: r.name, label: r.name, description: r.description })), ...value.filter((v) => !names.has(v)).map((v) => ({ value: v, label: v, description: 'not in the catalogue' }))];
  return <CheckboxGroup legend="Roles the group grants" hint="None: the group no longer grants roles." options={options} value={value} onChange={onChange} error={error} />;
}

function DefaultRoleField({ value, onChange }: { value: string | null; onChange: (role: string | null) => void }) {
  const catalogue = useRoleCatalogue(true);
  if (!catalogue.data) return catalogue.error ? <p className="field-error">{describeError(catalogue.error)}</p> : <Spinner label="Loading the roles…" />;
  const options = [{ value: '', label: 'No default role' }, ...catalogue.data.roles.map((r) => ({ value: r.name, label: r.name }))];
  if (value && !catalogue.data.roles.some((r) => r.name === value)) options.push({ value, label: value });
  return <SelectField label="Default role" hint="What everyone gets when no group grants them a role." value={value ?? ''} onChange={(e) => onChange(e.target.value || null)} options={options} />;
}

const isUrl = (s: string): boolean => {
  try {
    return Boolean(new URL(s).host);
  } catch {
    return false;
  }
};

const forms: Partial<Record<ChangeKind, KindForm>> = {
  'scim_connection.create': {
    render: ({ value, onChange, errors }) => <TextField label="Connection name" required value={textOf(value.name)} error={errors.name} onChange={(e) => onChange({ ...value, name: e.target.value })} />,
    check: (v) => (textOf(v.name).trim() ? {} : { name: 'Give the connection a name.' }),
  },
  'scim_connection.rotate': {
    render: ({ value, onChange }) => <OverlapField label="Overlap" value={value.overlapSeconds} onChange={(s) => onChange({ ...value, overlapSeconds: s ?? 0 })} />,
  },
  'webhook.rotate': {
    render: ({ value, onChange }) => (
      <OverlapField
        label="Overlap"
        optional
        value={value.overlapSeconds}
        onChange={(s) => {
          const { overlapSeconds: _dropped, ...rest } = value;
          onChange(s === undefined ? rest : { ...rest, overlapSeconds: s });
        }}
      />
    ),
  },
  'webhook.create': {
    render: ({ value, onChange, errors }) => {
      const events = Array.isArray(value.eventTypes) ? (value.eventTypes as string[]) : [];
      return (
        <>
          <TextField label="Endpoint URL" type="url" required value={textOf(value.url)} error={errors.url} onChange={(e) => onChange({ ...value, url: e.target.value })} />
          <CheckboxGroup
            legend="Events"
            hint="None checked: every event, including types added later."
            options={EVENT_TYPES.map((t) => ({ value: t, label: t }))}
            value={events}
            onChange={(next) => onChange({ ...value, eventTypes: next.length ? next : null })}
          />
        </>
      );
    },
    check: (v) => (isUrl(textOf(v.url)) ? {} : { url: 'Enter the full URL, such as https://app.example.com/hooks.' }),
  },
  'role_mapping.set': {
    render: ({ value, onChange, errors }) => <RolesField value={Array.isArray(value.roles) ? (value.roles as string[]) : []} error={errors.roles} onChange={(roles) => onChange({ ...value, roles })} />,
  },
  'default_role.set': {
    render: ({ value, onChange }) => <DefaultRoleField value={typeof value.role === 'string' ? value.role : null} onChange={(role) => onChange({ ...value, role })} />,
  },
};

const toJson = (v: unknown): string => JSON.stringify(v ?? {}, null, 2);

/** "Edit request" and its dialog; `onEdited` gets the outcome (the request as it now stands). */
export function EditRequestButton({ request: r, onEdited }: { request: ChangeRequestView; onEdited: (edited: ChangeOutcome, voided: number) => void }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button onClick={() => setOpen(true)}>Edit request</Button>
      {open && <EditRequestDialog request={r} onClose={() => setOpen(false)} onEdited={onEdited} />}
    </>
  );
}

function EditRequestDialog({ request: r, onClose, onEdited }: { request: ChangeRequestView; onClose: () => void; onEdited: (edited: ChangeOutcome, voided: number) => void }) {
  const form = forms[r.kind];
  const edit = useEditRequest();
  const [draft, setDraft] = useState<Payload>(() => (isPayload(r.payload) ? r.payload : {}));
  const [mode, setMode] = useState<'form' | 'json'>(form ? 'form' : 'json');
  const [json, setJson] = useState(() => toJson(r.payload));
  const [jsonError, setJsonError] = useState<string | undefined>();
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<string, string>>>({});
  const [reason, setReason] = useState('');
  const [error, setError] = useState<unknown>(null);
  const counted = approvedCount(r);

  /** The JSON text as a payload, or undefined with the parse error shown under the editor. */
  const parseJson = (text: string): Payload | undefined => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      setJsonError(`Not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
    if (!isPayload(value)) {
      setJsonError('The payload is a JSON object: { "field": value, … }.');
      return undefined;
    }
    setJsonError(undefined);
    return value;
  };

  const switchTo = (next: 'form' | 'json') => {
    if (next === 'json') setJson(toJson(draft));
    else {
      const parsed = parseJson(json);
      if (!parsed) return;
      setDraft(parsed);
    }
    setError(null);
    setMode(next);
  };

  const save = async () => {
    setError(null);
    let payload: Payload | undefined = draft;
    if (mode === 'json') {
      payload = parseJson(json);
      if (!payload) return;
    } else if (form?.check) {
      const errors = form.check(draft);
      setFieldErrors(errors);
      if (Object.values(errors).some(Boolean)) return;
    }
    try {
      const edited = await edit.mutateAsync({ id: r.id, payload, reason });
      onEdited(edited, counted);
      onClose();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <Dialog
      open
      wide
      onClose={onClose}
      title="Edit this request"
      footer={
        <>
          <Button onClick={onClose} disabled={edit.isPending}>
            Cancel
          </Button>
          <Button variant="primary" busy={edit.isPending} busyLabel="Saving…" onClick={() => void save()}>
            Save and ask again
          </Button>
        </>
      }
    >
      <form
        className="form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <div data-testid="edit-voids">
          <Banner tone="warning" title="Approvers are asked again">
            {counted > 0
              ? `Saving voids the ${counted === 1 ? 'approval' : `${counted} approvals`} given so far: ${counted === 1 ? 'it no longer counts' : 'they no longer count'}, and the approvers decide the new version.`
              : 'The approvers decide the new version; the waiting time starts over.'}
          </Banner>
        </div>
        {form && (
          <div className="form-actions">
            <Button size="small" variant="ghost" aria-pressed={mode === 'json'} onClick={() => switchTo(mode === 'form' ? 'json' : 'form')}>
              {mode === 'form' ? 'Edit as JSON' : 'Back to the form'}
            </Button>
          </div>
        )}
        {mode === 'form' && form
          ? form.render({ value: draft, onChange: (next) => (setDraft(next), setFieldErrors({})), errors: fieldErrors })
          : (
            <Field label="Payload (JSON)" hint={form ? 'The change as requested, field by field.' : 'The change as requested, field by field. The server checks it exactly as on submit.'} error={jsonError}>
              {(props) => (
                <textarea
                  className="input code-input"
                  rows={Math.min(20, Math.max(6, json.split('\n').length + 1))}
                  spellCheck={false}
                  value={json}
                  onChange={(e) => {
                    setJson(e.target.value);
                    if (jsonError) setJsonError(undefined);
                  }}
                  onBlur={() => void parseJson(json)}
                  {...props}
                />
              )}
            </Field>
          )}
        <Field label="Why the edit (shown to approvers)">{(props) => <textarea className="input" rows={2} maxLength={2000} value={reason} onChange={(e) => setReason(e.target.value)} {...props} />}</Field>
        <ServerError error={error} />
      </form>
    </Dialog>
  );
}

/** The API's refusal, with its field issues (paths under `payload`) when it sent them. */
function ServerError({ error }: { error: unknown }) {
  if (!error) return null;
  const issues = error instanceof ApiError ? error.issues : [];
  return (
    <div className="form-error" role="alert" data-testid="edit-error">
      {issues.length > 0 ? 'Roster cannot make this change:' : describeError(error)}
      {issues.length > 0 && (
        <ul>
          {issues.map((issue, i) => {
            const path = issue.path.filter((p, n) => !(n === 0 && p === 'payload')).join('.');
            return <li key={i}>{path ? `${path}: ${issue.message}` : issue.message}</li>;
          })}
        </ul>
      )}
    </div>
  );
}
