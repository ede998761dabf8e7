import { useState } from 'react';
import type { ScimRequestError } from '../../../../core/connections/activity-schema.js';
import type { ChangeRequestView } from '../../../../core/approvals/schema.js';
import type { CreatedConnection, RotatedToken, ScimConnectionView, ScimConnectionWithActivity, ScimTokenView } from '../../../../core/connections/schema.js';
import { CreateConnectionBody } from '../../../../core/connections/schema.js';
import {
  Banner,
  Button,
  ConfirmDialog,
  CopyButton,
  DataTable,
  Dialog,
  EmptyState,
  ErrorBanner,
  FormError,
  Page,
  Section,
  SecretReveal,
  SelectField,
  Spinner,
  StatusBadge,
  Tabs,
  TextField,
  useToast,
  useZodForm,
  type Column,
} from '../../components/index.js';
import { ChangeRequested, NeedsApproval } from '../../components/approval-notice.js';
import { useSession } from '../../app/session.js';
import { waitingRequest } from '../../lib/approvals.js';
import { formatDateTime, formatRelative } from '../../lib/format.js';
import { useConnections, useCreateConnection, useRevokeConnection, useRevokeToken, useRotateToken } from './api.js';
import { idpGuides, IdpGuideSteps } from './idp-guides.js';
import './connections.css';

/** A freshly issued token, shown once in a dialog. */
type Issued = { title: string; token: string; detail?: string };

/** Connections: SCIM connections, their tokens, and setup guides per IdP. Reads for admins and auditors; changes for admins. */
export default function ConnectionsPage() {
  const { user } = useSession();
  const canChange = user.roles.includes('admin');
  const connections = useConnections();
  const [creating, setCreating] = useState(false);
  const [issued, setIssued] = useState<Issued | null>(null);
  /** The last change that waits for approvers (shown with a link to its request). */
  const [requested, setRequested] = useState<ChangeRequestView | null>(null);
  const [guide, setGuide] = useState(idpGuides[0]!.id);
  const scimBaseUrl = connections.data?.scimBaseUrl ?? '';

  return (
    <Page
      title="Connections"
      description="Your identity provider pushes people and groups into Roster over SCIM 2.0. Each connection has its own bearer tokens."
      actions={
        canChange && (
          <Button variant="primary" onClick={() => setCreating(true)}>
            New SCIM connection
          </Button>
        )
      }
    >
      <ErrorBanner error={connections.error} title="The connections could not be loaded" onRetry={() => void connections.refetch()} />
      {requested && <ChangeRequested request={requested} />}
      {connections.data && (
        <dl className="facts">
          <dt>SCIM base URL</dt>
          <dd className="inline-copy">
            <code data-testid="scim-base-url">{scimBaseUrl}</code> <CopyButton text={scimBaseUrl} size="small" label="Copy URL" />
          </dd>
        </dl>
      )}
      {!connections.data && !connections.error && <Spinner label="Loading connections…" />}
      {connections.data && connections.data.connections.length === 0 && (
        <EmptyState
          title="No SCIM connection yet"
          action={
            canChange && (
              <Button variant="primary" onClick={() => setCreating(true)}>
                Create the first connection
              </Button>
            )
          }
        >
          Create a connection to get a token, then follow the guide for your identity provider below.
        </EmptyState>
      )}
      {connections.data?.connections.map((c) => (
        <ConnectionCard key={c.id} connection={c} canChange={canChange} onIssued={setIssued} onRequested={setRequested} />
      ))}

      <Section title="Setup guides">
        <Tabs label="Identity provider" tabs={idpGuides.map((g) => ({ id: g.id, label: g.name }))} value={guide} onChange={setGuide}>
          <IdpGuideSteps guide={idpGuides.find((g) => g.id === guide)!} scimBaseUrl={scimBaseUrl} />
        </Tabs>
      </Section>

      <CreateConnectionDialog
        open={creating}
        onClose={() => setCreating(false)}
        onCreated={(created) => {
          setCreating(false);
          setIssued({ title: `Token for “${created.connection.name}”`, token: created.token });
        }}
        onRequested={(request) => {
          setCreating(false);
          setRequested(request);
        }}
      />
      <Dialog open={issued !== null} onClose={() => setIssued(null)} title={issued?.title ?? ''} wide>
        {issued && (
          <>
            <Banner tone="warning" title="Copy the token now">
              Roster keeps only a hash of it: once you close this dialog it cannot be shown again. Paste it into your identity provider's SCIM settings.
            </Banner>
            <SecretReveal label="SCIM bearer token" value={issued.token} onDone={() => setIssued(null)} />
            {issued.detail && <p className="muted">{issued.detail}</p>}
          </>
        )}
      </Dialog>
    </Page>
  );
}

/** The last request: from the activity recorder, else the tokens' last use (minute resolution). */
function lastRequest(connection: ScimConnectionWithActivity): string | null {
  const times = [connection.activity.lastRequestAt, ...connection.tokens.map((t) => t.lastUsedAt)].filter((t): t is string => t !== null);
  return times.length ? times.reduce((a, b) => (Date.parse(a) > Date.parse(b) ? a : b)) : null;
}

const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });

const errorColumns: Column<ScimRequestError>[] = [
  { key: 'at', header: 'When', className: 'nowrap', render: (e) => <span title={formatDateTime(e.at)}>{formatRelative(e.at)}</span> },
  { key: 'request', header: 'Request', render: (e) => <code>{`${e.method} ${e.path}`}</code> },
  { key: 'status', header: 'Status', className: 'num', render: (e) => <StatusBadge status="error">{e.status}</StatusBadge> },
  { key: 'detail', header: 'What the IdP was told', render: (e) => [e.scimType, e.detail].filter(Boolean).join(': ') || '—' },
];

function ConnectionCard({
  connection,
  canChange,
  onIssued,
  onRequested,
}: {
  connection: ScimConnectionWithActivity;
  canChange: boolean;
  onIssued: (issued: Issued) => void;
  onRequested: (request: ChangeRequestView) => void;
}) {
  const toast = useToast();
  const revokeToken = useRevokeToken();
  const revokeConnection = useRevokeConnection();
  const [rotating, setRotating] = useState(false);
  const [revokingToken, setRevokingToken] = useState<ScimTokenView | null>(null);
  const [revokingConnection, setRevokingConnection] = useState(false);
  const revoked = connection.revokedAt !== null;
  const last = lastRequest(connection);
  const { requests1h, errors1h, errorRate1h } = connection.activity;

  const columns: Column<ScimTokenView>[] = [
    { key: 'prefix', header: 'Token', render: (t) => <code>{t.prefix}</code> },
    { key: 'status', header: 'Status', render: (t) => <StatusBadge status={t.status} /> },
    { key: 'createdAt', header: 'Created', className: 'nowrap', render: (t) => formatDateTime(t.createdAt) },
    { key: 'lastUsedAt', header: 'Last used', className: 'nowrap', render: (t) => formatRelative(t.lastUsedAt) },
    {
      key: 'expiresAt',
      header: 'Works until',
      className: 'nowrap hide-narrow',
      render: (t) => (t.revokedAt ? `revoked ${formatDateTime(t.revokedAt)}` : t.expiresAt ? formatDateTime(t.expiresAt) : 'until revoked'),
    },
    ...(canChange && !revoked
      ? [
          {
            key: 'actions',
            header: <span className="visually-hidden">Actions</span>,
            render: (t: ScimTokenView) =>
              t.status === 'active' || t.status === 'expiring' ? (
                <Button size="small" variant="danger" onClick={() => setRevokingToken(t)} aria-label={`Revoke token ${t.prefix}`}>
                  Revoke
                </Button>
              ) : null,
          },
        ]
      : []),
  ];

  return (
    <Section
      title={connection.name}
      id={`connection-${connection.id}`}
      actions={
        canChange &&
        !revoked && (
          <>
            <Button onClick={() => setRotating(true)}>Rotate token</Button>
            <Button variant="danger" onClick={() => setRevokingConnection(true)}>
              Revoke connection
            </Button>
          </>
        )
      }
    >
      <dl className="facts" data-testid="connection-facts">
        <dt>Status</dt>
        <dd>{revoked ? <StatusBadge status="revoked">Revoked {formatDateTime(connection.revokedAt)}</StatusBadge> : <StatusBadge status="active" />}</dd>
        <dt>Created</dt>
        <dd>{formatDateTime(connection.createdAt)}</dd>
        <dt>Last request</dt>
        <dd title={last ? formatDateTime(last) : undefined} data-testid="last-request">
          {last ? formatRelative(last) : 'No request yet'}
        </dd>
        <dt>Last hour</dt>
        <dd data-testid="last-hour">
          {requests1h === 0 ? 'No requests' : `${requests1h.toLocaleString()} requests, ${errors1h.toLocaleString()} ${errors1h === 1 ? 'error' : 'errors'} (${percent.format(errorRate1h)})`}
          {errorRate1h >= 0.05 && requests1h > 0 && (
            <>
              {' '}
              <StatusBadge status="degraded">high error rate</StatusBadge>
            </>
          )}
        </dd>
      </dl>
      <DataTable caption={`Tokens of ${connection.name}`} columns={columns} rows={connection.tokens} rowKey={(t) => t.id} empty={<EmptyState title="No tokens" />} />
      <h3 className="subheading">Recent SCIM errors</h3>
      <DataTable
        caption={`Recent SCIM errors of ${connection.name}`}
        columns={errorColumns}
        rows={connection.recentErrors}
        rowKey={(e) => `${e.at}-${e.method}-${e.path}-${e.status}`}
        empty={<p className="muted">No error answers recently{last ? '' : ': this connection has not been used yet'}.</p>}
      />

      <RotateDialog
        open={rotating}
        connection={connection}
        onClose={() => setRotating(false)}
        onRotated={(r, overlapLabel) => {
          setRotating(false);
          onIssued({ title: `New token for “${connection.name}”`, token: r.token, detail: `The previous token keeps working ${overlapLabel} (until ${formatDateTime(r.previousValidUntil)}).` });
        }}
        onRequested={(request) => {
          setRotating(false);
          onRequested(request);
        }}
      />
      <ConfirmDialog
        open={revokingToken !== null}
        onClose={() => setRevokingToken(null)}
        title="Revoke this token?"
        confirmLabel="Revoke token"
        danger
        onConfirm={async () => {
          const request = waitingRequest(await revokeToken.mutateAsync({ connectionId: connection.id, tokenId: revokingToken!.id }));
          if (request) onRequested(request);
          toast(request ? `Revoking token ${revokingToken!.prefix} was sent for approval` : `Token ${revokingToken!.prefix} revoked`, 'success');
        }}
      >
        <p>
          Token <code>{revokingToken?.prefix}</code> stops working with the next request. An identity provider still using it will get 401 errors until it has a new token.
        </p>
      </ConfirmDialog>
      <ConfirmDialog
        open={revokingConnection}
        onClose={() => setRevokingConnection(false)}
        title={`Revoke “${connection.name}”?`}
        confirmLabel="Revoke connection"
        danger
        onConfirm={async () => {
          const request = waitingRequest(await revokeConnection.mutateAsync({ connectionId: connection.id }));
          if (request) onRequested(request);
          toast(request ? `Revoking “${connection.name}” was sent for approval` : `Connection “${connection.name}” revoked`, 'success');
        }}
      >
        <NeedsApproval kind="scim_connection.revoke" action="Revoking a connection" />
        <p>All of its tokens stop working with the next request, and the connection cannot be used again. People it provisioned stay as they are.</p>
      </ConfirmDialog>
    </Section>
  );
}

function CreateConnectionDialog({
  open,
  onClose,
  onCreated,
  onRequested,
}: {
  open: boolean;
  onClose: () => void;
  onCreated: (created: CreatedConnection) => void;
  onRequested: (request: ChangeRequestView) => void;
}) {
  const create = useCreateConnection();
  const form = useZodForm(CreateConnectionBody, { name: '' });
  return (
    <Dialog
      open={open}
      onClose={() => {
        form.reset();
        onClose();
      }}
      title="New SCIM connection"
    >
      <form
        className="form"
        noValidate
        onSubmit={(e) =>
          void form.submit(async (body) => {
            const answer = await create.mutateAsync(body);
            form.reset();
            const request = waitingRequest(answer);
            if (request) onRequested(request);
            else onCreated(answer as CreatedConnection);
          })(e)
        }
      >
        <TextField label="Name" hint="Which identity provider or instance will use it, e.g. “Okta production”." required autoFocus {...form.text('name')} />
        <NeedsApproval kind="scim_connection.create" action="Creating a connection">
          Once it is approved you collect its token from the request.
        </NeedsApproval>
        <FormError error={form.formError} />
        <div className="form-actions">
          <Button type="submit" variant="primary" busy={form.busy} busyLabel="Creating…">
            Create connection
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

const overlapChoices = [
  { value: '0', label: 'No overlap: the old token stops now', phrase: 'no longer' },
  { value: '60', label: '1 minute: the IdP already has the new token', phrase: 'for 1 minute' },
  { value: '3600', label: '1 hour', phrase: 'for 1 hour' },
  { value: '86400', label: '24 hours', phrase: 'for 24 hours' },
  { value: '604800', label: '7 days', phrase: 'for 7 days' },
];

function RotateDialog({
  open,
  connection,
  onClose,
  onRotated,
  onRequested,
}: {
  open: boolean;
  connection: ScimConnectionView;
  onClose: () => void;
  onRotated: (rotated: RotatedToken, overlapLabel: string) => void;
  onRequested: (request: ChangeRequestView) => void;
}) {
  const rotate = useRotateToken();
  const [overlap, setOverlap] = useState('86400');
  const [error, setError] = useState<unknown>(null);
  return (
    <Dialog open={open} onClose={onClose} title={`Rotate the token of “${connection.name}”`}>
      <form
        className="form"
        onSubmit={(event) => {
          event.preventDefault();
          setError(null);
          rotate.mutate(
            { connectionId: connection.id, overlapSeconds: Number(overlap) },
            {
              onSuccess: (answer) => {
                const request = waitingRequest(answer);
                if (request) onRequested(request);
                else onRotated(answer as RotatedToken, overlapChoices.find((c) => c.value === overlap)?.phrase ?? '');
              },
              onError: setError,
            },
          );
        }}
      >
        <p>A new token is issued. Its current tokens keep working for the overlap you choose, so you can update your identity provider without a failed sync.</p>
        <SelectField label="Overlap" value={overlap} onChange={(e) => setOverlap(e.target.value)} options={overlapChoices.map(({ value, label }) => ({ value, label }))} />
        <NeedsApproval kind="scim_connection.rotate" action="Rotating the token">
          Once it is approved you collect the new token from the request; the overlap starts then.
        </NeedsApproval>
        <FormError error={error} />
        <div className="form-actions">
          <Button type="submit" variant="primary" busy={rotate.isPending} busyLabel="Rotating…">
            Issue new token
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

