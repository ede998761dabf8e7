import { useState } from 'react';
import { Link } from 'react-router';
import type { SubmittedChange } from '../../../../core/approvals/schema.js';
import { type DomainState, type DomainView, RequestClaimBody } from '../../../../core/domains/schema.js';
import { useSession } from '../../app/session.js';
import {
  Banner,
  Button,
  type Column,
  ConfirmDialog,
  CopyButton,
  DataTable,
  Dialog,
  EmptyState,
  ErrorBanner,
  FormError,
  Page,
  Section,
  StatusBadge,
  type StatusTone,
  TextField,
  useToast,
  useZodForm,
} from '../../components/index.js';
import { formatDateTime, formatRelative } from '../../lib/format.js';
import { useDomains, useRequestClaim, useRequestRemoval } from './api.js';

const TONES: Record<DomainState, StatusTone> = { pending: 'warning', verified: 'ok', failed: 'error', expired: 'neutral', removed: 'neutral' };
const STATE_TEXT: Record<DomainState, string> = {
  pending: 'Waiting for the TXT record',
  verified: 'Verified',
  failed: 'Record missing: no longer verified',
  expired: 'Challenge expired',
  removed: 'Removed',
};

/** What a change request answered, said plainly: waiting for approval, or applied. */
function RequestNotice({ submitted }: { submitted: SubmittedChange }) {
  const r = submitted.request;
  return r.state === 'applied' ? (
    <Banner tone="success" title="Applied">
      Your policy applies this change without approval.
    </Banner>
  ) : (
    <Banner tone="info" title="Sent for approval">
      {r.approvalsNeeded === 1 ? 'One approver' : `${r.approvalsNeeded} approvers`} must approve it before it applies.{' '}
      <Link to={`/approvals/${r.id}`}>Follow the request</Link>.
    </Banner>
  );
}

/** Domains: claims proven by a DNS TXT record; verified domains can be allowed on SSO connections. */
export default function DomainsPage() {
  const { user } = useSession();
  const canRequest = user.roles.includes('admin');
  const domains = useDomains();
  const [claiming, setClaiming] = useState(false);
  const [removing, setRemoving] = useState<DomainView | null>(null);
  const [submitted, setSubmitted] = useState<SubmittedChange | null>(null);
  const removal = useRequestRemoval();
  const toast = useToast();
  const live = domains.data?.domains.filter((d) => d.state === 'pending' || d.state === 'verified' || d.state === 'failed') ?? [];
  const closed = domains.data?.domains.filter((d) => d.state === 'expired' || d.state === 'removed') ?? [];

  const columns: Column<DomainView>[] = [
    { key: 'name', header: 'Domain', render: (d) => <strong>{d.name}</strong> },
    { key: 'state', header: 'Verification', render: (d) => <StatusBadge status={d.state} tone={TONES[d.state]}>{STATE_TEXT[d.state]}</StatusBadge> },
    { key: 'checked', header: 'Last checked', className: 'nowrap', render: (d) => <span title={d.lastCheckedAt ? formatDateTime(d.lastCheckedAt) : undefined}>{formatRelative(d.lastCheckedAt)}</span> },
    { key: 'when', header: 'Verified / expires', className: 'nowrap hide-narrow', render: (d) => (d.verifiedAt ? formatDateTime(d.verifiedAt) : d.state === 'pending' ? `challenge ends ${formatDateTime(d.expiresAt)}` : '—') },
    ...(canRequest
      ? [
          {
            key: 'actions',
            header: <span className="visually-hidden">Actions</span>,
            render: (d: DomainView) => (
              <Button size="small" variant="danger" onClick={() => setRemoving(d)}>
                Remove<span className="visually-hidden"> {d.name}</span>
              </Button>
            ),
          },
        ]
      : []),
  ];

  return (
    <Page
      title="Domains"
      description="Prove that your organisation owns a domain by publishing a DNS TXT record. Only verified domains can be allowed on SSO connections."
      actions={
        canRequest && (
          <Button variant="primary" onClick={() => setClaiming(true)}>
            Claim a domain…
          </Button>
        )
      }
    >
      <ErrorBanner error={domains.error} title="The domains could not be loaded" onRetry={() => void domains.refetch()} />
      {submitted && <RequestNotice submitted={submitted} />}
      <DataTable
        caption="Domains"
        columns={columns}
        rows={domains.data ? live : undefined}
        rowKey={(d) => d.id}
        empty={<EmptyState title="No domain claimed yet">{canRequest ? 'Claim your company’s domain to use it for SSO.' : 'An admin can claim one.'}</EmptyState>}
      />
      {live
        .filter((d) => d.state !== 'verified')
        .map((d) => (
          <Section key={d.id} title={`Publish this record for ${d.name}`} id={`challenge-${d.id}`}>
            <p>
              Add a TXT record at your DNS provider. Roster looks it up every few minutes, then hourly, until {formatDateTime(d.expiresAt)}
              {d.state === 'failed' ? '; the record was missing on several checks in a row, so the domain is no longer verified' : ''}.
            </p>
            <dl className="facts" data-testid="txt-record">
              <dt>Type</dt>
              <dd>
                <code>TXT</code>
              </dd>
              <dt>Name</dt>
              <dd className="inline-copy">
                <code>{d.challenge.name}</code> <CopyButton text={d.challenge.name} size="small" label="Copy name" />
              </dd>
              <dt>Value</dt>
              <dd className="inline-copy">
                <code>{d.challenge.value}</code> <CopyButton text={d.challenge.value} size="small" label="Copy value" />
              </dd>
            </dl>
          </Section>
        ))}
      {closed.length > 0 && (
        <Section title="Earlier claims">
          <DataTable caption="Earlier claims" columns={columns.filter((c) => c.key !== 'actions')} rows={closed} rowKey={(d) => d.id} />
        </Section>
      )}

      <ClaimDialog
        open={claiming}
        onClose={() => setClaiming(false)}
        onSubmitted={(s) => {
          setClaiming(false);
          setSubmitted(s);
        }}
      />
      <ConfirmDialog
        open={removing !== null}
        title={`Remove ${removing?.name ?? ''}?`}
        confirmLabel="Request removal"
        danger
        onClose={() => setRemoving(null)}
        onConfirm={async () => {
          setSubmitted(await removal.mutateAsync({ id: removing!.id }));
          toast('Removal requested', 'success');
        }}
      >
        <p>The removal is a change request: it applies once approved. An SSO connection that allows this domain must be changed first.</p>
      </ConfirmDialog>
    </Page>
  );
}

function ClaimDialog({ open, onClose, onSubmitted }: { open: boolean; onClose: () => void; onSubmitted: (s: SubmittedChange) => void }) {
  const claim = useRequestClaim();
  const form = useZodForm(RequestClaimBody, { name: '', reason: '' });
  return (
    <Dialog open={open} onClose={onClose} title="Claim a domain">
      <form
        className="form"
        noValidate
        onSubmit={(e) =>
          void form.submit(async (body) => {
            onSubmitted(await claim.mutateAsync({ name: body.name, ...(body.reason ? { reason: body.reason } : {}) }));
            form.reset();
          })(e)
        }
      >
        <Banner tone="info" title="This change needs approval">
          The claim is sent to your approvers. Once applied, you get a TXT record to publish; the domain is verified when Roster finds it.
        </Banner>
        <TextField label="Domain" hint="example.com (no https://, no path)" required autoComplete="off" {...form.text('name')} />
        <TextField label="Reason for the approvers" {...form.text('reason')} />
        <FormError error={form.formError} />
        <div className="form-actions">
          <Button onClick={onClose}>Cancel</Button>
          <Button variant="primary" type="submit" busy={form.busy} busyLabel="Sending…">
            Request the claim
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
