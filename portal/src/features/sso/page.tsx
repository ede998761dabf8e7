import { type FormEvent, useState } from 'react';
import { Link } from 'react-router';
import type { SubmittedChange } from '../../../../core/approvals/schema.js';
import { RequestSsoCreateBody, RequestSsoUpdateBody, type SsoCertificate, type SsoConnectionView } from '../../../../core/sso/schema.js';
import { useSession } from '../../app/session.js';
import {
  Banner,
  Button,
  CheckboxGroup,
  type Column,
  ConfirmDialog,
  DataTable,
  Dialog,
  EmptyState,
  ErrorBanner,
  Field,
  FormError,
  Page,
  Section,
  SelectField,
  Spinner,
  StatusBadge,
  TextField,
  useToast,
} from '../../components/index.js';
import { formatDateTime } from '../../lib/format.js';
import { useRequestCreate, useRequestDelete, useRequestUpdate, useSsoConnections, useVerifiedDomains } from './api.js';

const DAY = 86_400_000;

/** A certificate's expiry, with a warning 30 days before (when the tenant alert is raised too). */
function Expiry({ notAfter }: { notAfter: string | null }) {
  if (!notAfter) return <span className="muted">—</span>;
  const days = Math.floor((Date.parse(notAfter) - Date.now()) / DAY);
  const tone = days < 0 ? 'error' : days <= 30 ? 'warning' : 'ok';
  const text = days < 0 ? 'expired' : days === 0 ? 'expires today' : `${days} days left`;
  return (
    <span title={formatDateTime(notAfter)}>
      {formatDateTime(notAfter)} <StatusBadge status={tone} tone={tone}>{text}</StatusBadge>
    </span>
  );
}

function RequestNotice({ submitted }: { submitted: SubmittedChange }) {
  const r = submitted.request;
  if (r.state === 'applied') return <Banner tone="success" title="Applied">Your policy applies this change without approval.</Banner>;
  return (
    <Banner tone="info" title="Sent for approval">
      {r.approvalsNeeded === 1 ? 'One approver' : `${r.approvalsNeeded} approvers`} must approve it before it applies. <Link to={`/approvals/${r.id}`}>Follow the request</Link>.
    </Banner>
  );
}

/** SSO connections: OIDC and SAML identity providers the vendor's app signs your people in with. */
export default function SsoPage() {
  const { user } = useSession();
  const canRequest = user.roles.includes('admin');
  const connections = useSsoConnections();
  const [creating, setCreating] = useState(false);
  const [changing, setChanging] = useState<SsoConnectionView | null>(null);
  const [deleting, setDeleting] = useState<SsoConnectionView | null>(null);
  const [submitted, setSubmitted] = useState<SubmittedChange | null>(null);
  const remove = useRequestDelete();
  const toast = useToast();

  return (
    <Page
      title="SSO connections"
      description="Your identity providers for single sign-on. Roster checks each one (OIDC discovery, SAML metadata and certificates) and hands it to the app."
      actions={
        canRequest && (
          <Button variant="primary" onClick={() => setCreating(true)}>
            New SSO connection…
          </Button>
        )
      }
    >
      <ErrorBanner error={connections.error} title="The SSO connections could not be loaded" onRetry={() => void connections.refetch()} />
      {submitted && <RequestNotice submitted={submitted} />}
      {!connections.data && !connections.error && <Spinner label="Loading SSO connections…" />}
      {connections.data?.connections.length === 0 && (
        <EmptyState title="No SSO connection yet">{canRequest ? 'Add your identity provider; the change goes to your approvers first.' : 'An admin can request one.'}</EmptyState>
      )}
      {connections.data?.connections.map((c) => (
        <Section
          key={c.id}
          title={c.name}
          id={`sso-${c.id}`}
          actions={
            canRequest && (
              <>
                <Button onClick={() => setChanging(c)} aria-label={`Change ${c.name}…`}>
                  Change…
                </Button>
                <Button variant="danger" onClick={() => setDeleting(c)} aria-label={`Delete ${c.name}…`}>
                  Delete…
                </Button>
              </>
            )
          }
        >
          <dl className="facts" data-testid="sso-facts">
            <dt>Protocol</dt>
            <dd>{c.protocol === 'oidc' ? 'OpenID Connect' : 'SAML 2.0'}</dd>
            <dt>Allowed domains</dt>
            <dd>{c.allowedDomains.length ? c.allowedDomains.join(', ') : <span className="muted">none</span>}</dd>
            {c.oidc && (
              <>
                <dt>Issuer</dt>
                <dd>
                  <code>{c.oidc.issuer}</code>
                </dd>
                <dt>Client id</dt>
                <dd>
                  <code>{c.oidc.clientId}</code>
                </dd>
                <dt>Authorization endpoint</dt>
                <dd>
                  <code>{c.oidc.authorizationEndpoint}</code>
                </dd>
              </>
            )}
            {c.saml && (
              <>
                <dt>Entity id</dt>
                <dd>
                  <code>{c.saml.entityId}</code>
                </dd>
                <dt>SSO URL ({c.saml.ssoBinding})</dt>
                <dd>
                  <code>{c.saml.ssoUrl}</code>
                </dd>
                <dt>Certificate expiry</dt>
                <dd data-testid="certificate-expiry">
                  <Expiry notAfter={c.certificateExpiresAt} />
                </dd>
              </>
            )}
            <dt>Last changed</dt>
            <dd>{formatDateTime(c.updatedAt)}</dd>
          </dl>
          {c.saml && <CertificateTable certificates={c.saml.certificates} />}
        </Section>
      ))}

      <ConnectionDialog
        open={creating}
        onClose={() => setCreating(false)}
        onSubmitted={(s) => {
          setCreating(false);
          setSubmitted(s);
        }}
      />
      {changing && (
        <ConnectionDialog
          key={changing.id}
          open
          current={changing}
          onClose={() => setChanging(null)}
          onSubmitted={(s) => {
            setChanging(null);
            setSubmitted(s);
          }}
        />
      )}
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete “${deleting?.name ?? ''}”?`}
        confirmLabel="Request deletion"
        danger
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          setSubmitted(await remove.mutateAsync({ id: deleting!.id }));
          toast('Deletion requested', 'success');
        }}
      >
        <p>People who sign in through this connection will no longer be able to. The deletion needs approval (two approvers by default).</p>
      </ConfirmDialog>
    </Page>
  );
}

const certColumns: Column<SsoCertificate>[] = [
  { key: 'subject', header: 'Signing certificate', render: (c) => c.subject },
  { key: 'fingerprint', header: 'SHA-256 fingerprint', className: 'hide-narrow', render: (c) => <code className="wrap">{c.fingerprintSha256}</code> },
  { key: 'notAfter', header: 'Expires', className: 'nowrap', render: (c) => <Expiry notAfter={c.notAfter} /> },
];

function CertificateTable({ certificates }: { certificates: SsoCertificate[] }) {
  return <DataTable caption="Signing certificates" columns={certColumns} rows={certificates} rowKey={(c) => c.fingerprintSha256} />;
}

type Form = { protocol: 'oidc' | 'saml'; name: string; issuer: string; clientId: string; metadataXml: string; allowedDomains: string[]; reason: string };
const EMPTY: Form = { protocol: 'oidc', name: '', issuer: '', clientId: '', metadataXml: '', allowedDomains: [], reason: '' };

function formOf(c: SsoConnectionView): Form {
  return { ...EMPTY, protocol: c.protocol, name: c.name, issuer: c.oidc?.issuer ?? '', clientId: c.oidc?.clientId ?? '', allowedDomains: [...c.allowedDomains] };
}

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/** What an edit changes: only the fields that differ from the connection (new metadata only when pasted). */
function changesOf(c: SsoConnectionView, v: Form): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (v.name !== c.name) out.name = v.name;
  if (!sameSet(v.allowedDomains, c.allowedDomains)) out.allowedDomains = v.allowedDomains;
  if (c.protocol === 'oidc') {
    if (v.issuer !== (c.oidc?.issuer ?? '')) out.issuer = v.issuer;
    if (v.clientId !== (c.oidc?.clientId ?? '')) out.clientId = v.clientId;
  } else if (v.metadataXml.trim()) {
    out.metadataXml = v.metadataXml;
  }
  return out;
}

/**
 * Requests a new connection, or (with `current`) a change of one: the form starts from its values,
 * the protocol stays, and only what differs is sent. Either way the change goes to the approvers.
 */
function ConnectionDialog({ open, onClose, onSubmitted, current }: { open: boolean; onClose: () => void; onSubmitted: (s: SubmittedChange) => void; current?: SsoConnectionView }) {
  const create = useRequestCreate();
  const update = useRequestUpdate();
  const verified = useVerifiedDomains();
  const [values, setValues] = useState<Form>(current ? formOf(current) : EMPTY);
  const [errors, setErrors] = useState<Partial<Record<keyof Form, string>>>({});
  const [formError, setFormError] = useState<unknown>(null);
  const field = (name: keyof Form) => ({
    name,
    value: String(values[name]),
    error: errors[name],
    onChange: (e: { target: { value: string } }) => {
      setFormError(null);
      setValues((v) => ({ ...v, [name]: e.target.value }));
    },
  });
  const reason = values.reason.trim() ? { reason: values.reason } : {};
  /** Only the chosen protocol's fields go out (the API refuses the other protocol's as unknown). */
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setFormError(null);
    let send: () => Promise<SubmittedChange>;
    if (current) {
      const changes = changesOf(current, values);
      if (Object.keys(changes).length === 0) {
        setFormError(new Error('Nothing changed: edit a field before requesting the change.'));
        return;
      }
      const parsed = RequestSsoUpdateBody.safeParse({ ...changes, ...reason });
      if (!parsed.success) {
        setErrors(Object.fromEntries(parsed.error.issues.map((i) => [String(i.path[0]), i.message])));
        return;
      }
      send = () => update.mutateAsync({ id: current.id, changes: parsed.data });
    } else {
      const common = { name: values.name, allowedDomains: values.allowedDomains, ...reason };
      const parsed = RequestSsoCreateBody.safeParse(
        values.protocol === 'oidc' ? { protocol: 'oidc', issuer: values.issuer, clientId: values.clientId, ...common } : { protocol: 'saml', metadataXml: values.metadataXml, ...common },
      );
      if (!parsed.success) {
        setErrors(Object.fromEntries(parsed.error.issues.map((i) => [String(i.path[0]), i.message])));
        return;
      }
      send = () => create.mutateAsync(parsed.data);
    }
    setErrors({});
    try {
      onSubmitted(await send());
      setValues(current ? formOf(current) : EMPTY);
    } catch (err) {
      setFormError(err);
    }
  };
  // The domains a connection may allow: the verified ones, and whatever it allows already.
  const domains = [...new Set([...(verified.data ?? []), ...(current?.allowedDomains ?? [])])].sort();
  return (
    <Dialog open={open} onClose={onClose} title={current ? `Change “${current.name}”` : 'New SSO connection'} wide>
      <form className="form" noValidate onSubmit={(e) => void submit(e)}>
        <Banner tone="info" title="This change needs approval">
          {current
            ? 'Roster checks the new values now; the connection changes once your approvers agree (two by default). Until then it works as it is.'
            : 'Roster checks the connection now; it is created once your approvers agree (two by default).'}
        </Banner>
        {current ? (
          <p>
            Protocol: <strong>{current.protocol === 'oidc' ? 'OpenID Connect' : 'SAML 2.0'}</strong> (to switch protocol, request a new connection)
          </p>
        ) : (
          <SelectField
            label="Protocol"
            options={[
              { value: 'oidc', label: 'OpenID Connect' },
              { value: 'saml', label: 'SAML 2.0' },
            ]}
            value={values.protocol}
            onChange={(e) => setValues((v) => ({ ...v, protocol: e.target.value as Form['protocol'] }))}
          />
        )}
        <TextField label="Name" required {...field('name')} />
        {values.protocol === 'oidc' ? (
          <>
            <TextField label="Issuer URL" hint="Its /.well-known/openid-configuration must name exactly this issuer" required {...field('issuer')} />
            <TextField label="Client id" required {...field('clientId')} />
          </>
        ) : (
          <Field
            label={current ? 'New IdP metadata XML' : 'IdP metadata XML'}
            hint={current ? 'Leave empty to keep the current metadata and certificates.' : undefined}
            required={!current}
            {...(errors.metadataXml ? { error: errors.metadataXml } : {})}
          >
            {(props) => <textarea {...props} name="metadataXml" rows={8} value={values.metadataXml} onChange={field('metadataXml').onChange} />}
          </Field>
        )}
        <CheckboxGroup
          legend="Allowed domains"
          hint={domains.length ? 'People with these e-mail domains sign in through this connection.' : 'No verified domain yet: verify one on the Domains page first.'}
          options={domains.map((d) => ({ value: d, label: d }))}
          value={values.allowedDomains}
          onChange={(allowedDomains) => setValues((v) => ({ ...v, allowedDomains }))}
        />
        <TextField label="Reason for the approvers" {...field('reason')} />
        <FormError error={formError} />
        <div className="form-actions">
          <Button onClick={onClose}>Cancel</Button>
          <Button variant="primary" type="submit" busy={create.isPending || update.isPending} busyLabel="Checking…">
            {current ? 'Request the change' : 'Request the connection'}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
