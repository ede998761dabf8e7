import { useEffect, useState } from 'react';
import { Link, useParams } from 'react-router';
import { type ChangeOutcome, type ChangeRequestView, DecisionBody, type DecisionVerdict } from '../../../../core/approvals/schema.js';
import { Banner, Button, ConfirmDialog, DataTable, EmptyState, ErrorBanner, Field, FormError, Page, SecretReveal, Section, Spinner, StatusBadge, type Column } from '../../components/index.js';
import { hasAnyRole, useSession } from '../../app/session.js';
import { formatDateTime, formatNumber, formatRelative } from '../../lib/format.js';
import { type Decided, useCancel, useChangeRequest, useCollectSecret, useDecide, useWithdraw } from './api.js';
import { EditRequestButton } from './edit-request.js';
import { diffFields, roleEffects, showValue, type FieldDiff, type RoleEffect } from './diff.js';
import { approvedCount, formatSpan, isOpen, kindLabels, outcomeMessage, stateLabels } from './words.js';

/** One change request: what changes (the exact diff), what it will do, who decided, and what I can do. */
export function RequestPage() {
  const { id = '' } = useParams();
  const request = useChangeRequest(id);
  const r = request.data;
  const breadcrumb = <Link to="/approvals">Approvals</Link>;
  if (!r) {
    return (
      <Page title="Change request" breadcrumb={breadcrumb}>
        <ErrorBanner error={request.error} title="The request could not be loaded" onRetry={() => void request.refetch()} />
        {!request.error && <Spinner label="Loading the request…" />}
      </Page>
    );
  }
  return (
    <Page title={r.description.summary} description={kindLabels[r.kind]} breadcrumb={breadcrumb}>
      <Facts request={r} />
      <Section title="What changes">
        <DiffTable before={r.description.before} after={r.description.after} />
      </Section>
      {r.description.effects && <Effects effects={r.description.effects} />}
      <Decisions request={r} />
      <Actions request={r} />
    </Page>
  );
}

/** Re-renders every `ms` while `active` (countdowns). */
function useNow(active: boolean, ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return undefined;
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [active, ms]);
  return now;
}

function Facts({ request: r }: { request: ChangeRequestView }) {
  const { user } = useSession();
  const open = isOpen(r.state);
  const now = useNow(open);
  const approved = approvedCount(r);
  const state = stateLabels[r.state];
  return (
    <dl className="facts" data-testid="request-facts">
      <dt>State</dt>
      <dd>
        <StatusBadge status={r.state} tone={state.tone}>
          {state.label}
        </StatusBadge>
      </dd>
      <dt>Requested by</dt>
      <dd>
        {r.requestedBy.id === user.id ? 'You' : (r.requestedBy.email ?? r.requestedBy.type)} · <span title={formatDateTime(r.createdAt)}>{formatRelative(r.createdAt, now)}</span>
      </dd>
      <dt>Reason</dt>
      <dd>{r.reason ?? <span className="muted">none given</span>}</dd>
      {r.version > 1 && (
        <>
          <dt>Edits</dt>
          <dd data-testid="edit-count">
            Edited {r.version - 1 === 1 ? 'once' : `${r.version - 1} times`} by the requester: this is version {r.version}
          </dd>
        </>
      )}
      <dt>Approvals</dt>
      <dd data-testid="approval-count">
        {approved} of {r.approvalsNeeded} needed
      </dd>
      {r.state === 'pending' && (
        <>
          <dt>Expires</dt>
          <dd data-testid="countdown">
            in {formatSpan(Date.parse(r.expiresAt) - now)} <span className="muted">({formatDateTime(r.expiresAt)})</span>
          </dd>
        </>
      )}
      {r.state === 'cooling_off' && r.appliesAt && (
        <>
          <dt>Applies</dt>
          <dd data-testid="countdown">
            in {formatSpan(Date.parse(r.appliesAt) - now)} unless someone cancels it <span className="muted">({formatDateTime(r.appliesAt)})</span>
          </dd>
        </>
      )}
      {r.appliedAt && (
        <>
          <dt>Applied</dt>
          <dd>{formatDateTime(r.appliedAt)}</dd>
        </>
      )}
      {!r.appliedAt && r.decidedAt && (
        <>
          <dt>Closed</dt>
          <dd>{formatDateTime(r.decidedAt)}</dd>
        </>
      )}
      {r.state === 'failed' && r.result && (
        <>
          <dt>Why it failed</dt>
          <dd>{showValue(r.result.reason ?? r.result.error ?? r.result)}</dd>
        </>
      )}
    </dl>
  );
}

const changeWords: Record<FieldDiff['change'], string> = { added: 'added', removed: 'removed', changed: 'changed', same: 'unchanged' };

function DiffTable({ before, after }: { before: unknown; after: unknown }) {
  const rows = diffFields(before, after);
  const changed = rows.filter((d) => d.change !== 'same');
  const [showAll, setShowAll] = useState(false);
  const shown = showAll ? rows : changed;
  const columns: Column<FieldDiff>[] = [
    { key: 'path', header: 'Field', render: (d) => <code>{d.path || 'value'}</code> },
    { key: 'before', header: 'Before', render: (d) => (d.change === 'added' ? <span className="muted">—</span> : <span className={d.change === 'same' ? undefined : 'diff-old'}>{showValue(d.before)}</span>) },
    { key: 'after', header: 'After', render: (d) => (d.change === 'removed' ? <span className="muted">—</span> : <span className={d.change === 'same' ? undefined : 'diff-new'}>{showValue(d.after)}</span>) },
    { key: 'change', header: 'Change', className: 'nowrap', render: (d) => <StatusBadge status={d.change} tone={d.change === 'same' ? 'neutral' : d.change === 'removed' ? 'error' : d.change === 'added' ? 'ok' : 'warning'}>{changeWords[d.change]}</StatusBadge> },
  ];
  return (
    <div data-testid="diff">
      <DataTable caption="Before and after, field by field" columns={columns} rows={shown} rowKey={(d) => d.path} empty={<p className="muted">Nothing differs between before and after.</p>} />
      {rows.length > changed.length && (
        <Button size="small" variant="ghost" onClick={() => setShowAll((v) => !v)}>
          {showAll ? 'Show only what changes' : `Also show the ${rows.length - changed.length} unchanged ${rows.length - changed.length === 1 ? 'field' : 'fields'}`}
        </Button>
      )}
    </div>
  );
}

const effectColumns: Column<RoleEffect>[] = [
  {
    key: 'person',
    header: 'Person',
    render: (c) => (
      <>
        {c.displayName ?? c.userName ?? c.userId}
        {c.displayName && c.userName ? <span className="muted"> {c.userName}</span> : null}
      </>
    ),
  },
  { key: 'gains', header: 'Gains', render: (c) => (c.gains.length ? c.gains.map((r) => <StatusBadge key={r} status={r} tone="ok">+ {r}</StatusBadge>) : <span className="muted">—</span>) },
  { key: 'losses', header: 'Loses', render: (c) => (c.losses.length ? c.losses.map((r) => <StatusBadge key={r} status={r} tone="error">− {r}</StatusBadge>) : <span className="muted">—</span>) },
];

function Effects({ effects }: { effects: Record<string, unknown> }) {
  const roles = roleEffects(effects);
  if (roles) {
    return (
      <Section title="What it will do">
        <div data-testid="effects">
          {roles.affectedUsers === 0 ? (
            <Banner title="Nobody’s roles change">Everyone affected already has these roles from another source.</Banner>
          ) : (
            <>
              <p>
                The dry run: <strong>{formatNumber(roles.affectedUsers)}</strong> {roles.affectedUsers === 1 ? 'person gains or loses' : 'people gain or lose'} roles when this applies. Applying makes exactly this change, or fails if membership moved in between.
              </p>
              <DataTable caption="Dry run: roles each person gains and loses" columns={effectColumns} rows={roles.changes} rowKey={(c) => c.userId} />
              {roles.affectedUsers > roles.changes.length && <p className="muted">…and {formatNumber(roles.affectedUsers - roles.changes.length)} more.</p>}
            </>
          )}
        </div>
      </Section>
    );
  }
  const entries = Object.entries(effects).filter(([key]) => key !== 'fingerprint');
  if (entries.length === 0) return null;
  return (
    <Section title="What it will do">
      <dl className="facts" data-testid="effects">
        {entries.map(([key, value]) => (
          <div key={key} className="facts-row">
            <dt>{key}</dt>
            <dd>{showValue(value)}</dd>
          </div>
        ))}
      </dl>
    </Section>
  );
}

function Decisions({ request: r }: { request: ChangeRequestView }) {
  const { user } = useSession();
  if (r.approvals.length === 0) {
    return (
      <Section title="Decisions">
        <EmptyState title="No decision yet">{isOpen(r.state) ? `It needs ${r.approvalsNeeded} ${r.approvalsNeeded === 1 ? 'approval' : 'approvals'} from people the policy names.` : 'It closed without a decision.'}</EmptyState>
      </Section>
    );
  }
  return (
    <Section title="Decisions">
      <ol className="plain-list decisions" data-testid="decisions">
        {r.approvals.map((a) => (
          <li key={`${a.userId}-${a.decidedAt}`} className={a.valid ? 'decision' : 'decision decision-void'} data-valid={a.valid}>
            <span className={a.valid ? undefined : 'decision-voided'}>
              <StatusBadge status={a.verdict} tone={a.valid ? (a.verdict === 'approve' ? 'ok' : 'error') : 'neutral'}>
                {a.verdict === 'approve' ? 'Approved' : 'Rejected'}
              </StatusBadge>{' '}
              <strong>{a.userId === user.id ? 'You' : nameOf(a)}</strong> <span className="muted" title={formatDateTime(a.decidedAt)}>{formatRelative(a.decidedAt)}</span>
            </span>
            {!a.valid && (
              <>
                {' '}
                <StatusBadge status="voided" tone="neutral">
                  Voided by edit
                </StatusBadge>
                <span className="muted"> no longer counts: the request was edited after this decision</span>
              </>
            )}
            {a.comment && <blockquote className="decision-comment">{a.comment}</blockquote>}
          </li>
        ))}
      </ol>
    </Section>
  );
}

/** The engine may name the decider; otherwise the portal user id. */
function nameOf(entry: ChangeRequestView['approvals'][number]): string {
  const named = entry as typeof entry & { email?: string | null };
  return named.email ?? `member ${entry.userId.slice(0, 8)}`;
}

function Actions({ request: r }: { request: ChangeRequestView }) {
  const { user } = useSession();
  const mine = r.requestedBy.type === 'user' && r.requestedBy.id === user.id;
  const [outcome, setOutcome] = useState<Decided | null>(null);
  const [edited, setEdited] = useState<{ outcome: ChangeOutcome; voided: number } | null>(null);
  // Kept here, in the mutation's own result: once collected, the refreshed request no longer says a
  // secret waits, and the refresh (awaited by the mutation) can unmount the collect section before a
  // per-call onSuccess would run, losing the one copy of the secret.
  const collect = useCollectSecret();
  const secret = collect.data?.secret ?? null;
  const canDecide = hasAnyRole(user, ['admin', 'approver', 'reviewer']);
  const canCancel = r.state === 'cooling_off' && hasAnyRole(user, ['admin', 'approver']);
  return (
    <>
      {outcome && <OutcomeBanner decided={outcome} />}
      {edited && <EditedBanner edited={edited.outcome} voided={edited.voided} />}
      {mine && r.state === 'applied' && (r.secretWaiting || secret) && <CollectSecret request={r} secret={secret} collect={collect} />}
      {isOpen(r.state) && (canDecide || mine || canCancel) && (
        <Section title={r.state === 'pending' ? 'Your decision' : 'Cooling off'}>
          {mine && <p className="muted">You requested this change, so the approvers your policy names decide it. You can edit it (the approvers are then asked again) or withdraw it while it is open.</p>}
          {r.state === 'pending' && canDecide && <DecisionForm request={r} onDecided={setOutcome} />}
          {r.state === 'cooling_off' && <p>Nobody else can approve this change, so it applies on its own when the cooling-off period ends, unless someone cancels it.</p>}
          <div className="form-actions">
            {mine && (
              <EditRequestButton
                request={r}
                onEdited={(result, voided) => {
                  setOutcome(null);
                  setEdited({ outcome: result, voided });
                }}
              />
            )}
            {mine && <WithdrawButton request={r} />}
            {canCancel && <CancelButton request={r} />}
          </div>
        </Section>
      )}
    </>
  );
}

function OutcomeBanner({ decided }: { decided: Decided }) {
  const left = decided.request ? Math.max(0, decided.request.approvalsNeeded - approvedCount(decided.request)) : 0;
  const message = outcomeMessage(decided.outcome, left);
  return (
    <div role="status" data-testid="decision-outcome" data-outcome={decided.outcome}>
      <Banner tone={message.tone} title={message.tone === 'warning' ? 'Not counted' : 'Done'}>
        {message.text}
      </Banner>
    </div>
  );
}

function EditedBanner({ edited, voided }: { edited: ChangeOutcome; voided: number }) {
  const needed = edited.request.approvalsNeeded;
  return (
    <div role="status" data-testid="edit-outcome" data-outcome={edited.outcome}>
      <Banner tone="success" title="Request edited">
        {voided > 0 ? `${voided === 1 ? 'The approval given so far was voided' : `The ${voided} approvals given so far were voided`}: ` : ''}
        the approvers are asked again and it needs {needed} {needed === 1 ? 'approval' : 'approvals'} of this version. “What changes” above shows the new version.
      </Banner>
    </div>
  );
}

function DecisionForm({ request: r, onDecided }: { request: ChangeRequestView; onDecided: (d: Decided) => void }) {
  const decide = useDecide();
  const [comment, setComment] = useState('');
  const [commentError, setCommentError] = useState<string | undefined>();
  const [busy, setBusy] = useState<DecisionVerdict | null>(null);
  const [error, setError] = useState<unknown>(null);

  const send = async (verdict: DecisionVerdict) => {
    setError(null);
    const parsed = DecisionBody.safeParse({ verdict, changeHash: r.changeHash, comment: comment.trim() ? comment : undefined });
    if (!parsed.success) {
      setCommentError(parsed.error.issues.find((i) => i.path[0] === 'comment')?.message ?? parsed.error.issues[0]?.message);
      return;
    }
    setCommentError(undefined);
    setBusy(verdict);
    try {
      const decided = await decide.mutateAsync({ id: r.id, body: parsed.data });
      onDecided(decided);
      if (decided.outcome === 'recorded' || decided.outcome === 'approved' || decided.outcome === 'rejected') setComment('');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };

  return (
    <form className="form" noValidate onSubmit={(e) => e.preventDefault()}>
      <Field label="Comment" hint="Required to reject: tell the requester why. Optional when you approve." error={commentError}>
        {(props) => <textarea className="input" rows={3} maxLength={2000} value={comment} onChange={(e) => setComment(e.target.value)} {...props} />}
      </Field>
      <FormError error={error} />
      <div className="form-actions">
        <Button variant="primary" busy={busy === 'approve'} busyLabel="Approving…" disabled={busy !== null} onClick={() => void send('approve')}>
          Approve
        </Button>
        <Button variant="danger" busy={busy === 'reject'} busyLabel="Rejecting…" disabled={busy !== null} onClick={() => void send('reject')}>
          Reject
        </Button>
      </div>
    </form>
  );
}

function WithdrawButton({ request: r }: { request: ChangeRequestView }) {
  const withdraw = useWithdraw();
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button onClick={() => setOpen(true)}>Withdraw request</Button>
      <ConfirmDialog open={open} onClose={() => setOpen(false)} title="Withdraw this request?" confirmLabel="Withdraw" danger onConfirm={() => withdraw.mutateAsync({ id: r.id })}>
        <p>Nothing changes, and approvals given so far are discarded. You can submit the change again later.</p>
      </ConfirmDialog>
    </>
  );
}

function CancelButton({ request: r }: { request: ChangeRequestView }) {
  const cancel = useCancel();
  const [open, setOpen] = useState(false);
  const [comment, setComment] = useState('');
  return (
    <>
      <Button variant="danger" onClick={() => setOpen(true)}>
        Cancel the change
      </Button>
      <ConfirmDialog open={open} onClose={() => setOpen(false)} title="Cancel this change?" confirmLabel="Cancel the change" danger onConfirm={() => cancel.mutateAsync({ id: r.id, comment })}>
        <p>It will not apply. The requester is told, with your comment.</p>
        <Field label="Comment">{(props) => <textarea className="input" rows={2} value={comment} onChange={(e) => setComment(e.target.value)} {...props} />}</Field>
      </ConfirmDialog>
    </>
  );
}

const secretNames: Partial<Record<ChangeRequestView['kind'], string>> = {
  'scim_connection.create': 'SCIM bearer token',
  'scim_connection.rotate': 'SCIM bearer token',
  'webhook.create': 'Webhook signing secret',
  'webhook.rotate': 'Webhook signing secret',
};

/** The requester collects the secret the applied change produced: once, then the server forgets it. */
function CollectSecret({ request: r, secret, collect }: { request: ChangeRequestView; secret: string | null; collect: ReturnType<typeof useCollectSecret> }) {
  const name = secretNames[r.kind] ?? 'Secret';
  const isToken = name.includes('token');
  return (
    <Section title={isToken ? 'Your new token' : 'Your new secret'}>
      {secret ? (
        <>
          <Banner tone="warning" title="Copy it now">
            Roster keeps only a hash of it: once you leave this page it cannot be shown again.
          </Banner>
          <SecretReveal label={name} value={secret} />
        </>
      ) : (
        <>
          <p>The change was approved and applied. Its {name.toLowerCase()} waits for you, and can be collected once.</p>
          <FormError error={collect.error} />
          <Button variant="primary" busy={collect.isPending} busyLabel="Collecting…" onClick={() => collect.mutate({ id: r.id })}>
            {isToken ? 'Collect the new token' : 'Collect the new secret'}
          </Button>
        </>
      )}
    </Section>
  );
}
