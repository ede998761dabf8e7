import { Link, useParams, useSearchParams } from 'react-router';
import { Banner, type Column, DataTable, EmptyState, ErrorBanner, Page, Section, Spinner, StatusBadge, Tabs } from '../../components/index.js';
import { formatDateTime, formatRelative } from '../../lib/format.js';
import {
  ACTOR_LABELS,
  actionLabel,
  reasonLabel,
  type ExposureReport,
  type TimelineEvent,
  type UserDetail,
  type UserExposure,
  type UserTimeline,
} from '../../../../core/directory/schema.js';
import { useExposure, useTimeline, useUser } from './api.js';
import { StateBadge } from './shared.js';

const TABS = [
  { id: 'profile', label: 'Profile' },
  { id: 'access', label: 'Access' },
  { id: 'credentials', label: 'Credentials' },
  { id: 'timeline', label: 'Timeline' },
] as const;
type TabId = (typeof TABS)[number]['id'];

export function UserPage() {
  const { id = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const tab: TabId = (TABS.find((t) => t.id === params.get('tab'))?.id ?? 'profile');
  const user = useUser(id);
  const timeline = useTimeline(id, tab === 'timeline' && !!user.data);
  const exposure = useExposure(id, tab === 'timeline' && !!user.data);

  const breadcrumb = (
    <>
      <Link to="/directory">Directory</Link> <span aria-hidden="true">›</span> <span>User</span>
    </>
  );
  if (user.isPending) return <Spinner label="Loading the user…" />;
  if (user.error || !user.data) {
    return (
      <Page title="User" breadcrumb={breadcrumb}>
        <ErrorBanner error={user.error} title="This user could not be loaded" onRetry={() => void user.refetch()} />
      </Page>
    );
  }
  const u = user.data;
  return (
    <Page
      title={u.displayName ?? u.userName}
      breadcrumb={breadcrumb}
      description={
        <span className="inline-facts">
          <StateBadge state={u.state} /> <span>{u.userName}</span>
          {u.held && <StatusBadge status="held">Leaver held by the deprovisioning guard</StatusBadge>}
        </span>
      }
    >
      <Tabs label="User details" tabs={[...TABS]} value={tab} onChange={(t) => setParams({ tab: t }, { replace: true })}>
        {tab === 'profile' && <ProfileTab user={u} />}
        {tab === 'access' && <AccessTab user={u} />}
        {tab === 'credentials' && <CredentialsTab user={u} />}
        {tab === 'timeline' && <TimelineTab user={u} timeline={timeline} exposure={exposure} />}
      </Tabs>
    </Page>
  );
}

function ProfileTab({ user }: { user: UserDetail }) {
  return (
    <>
      <Section title="Attributes from your identity provider">
        <p className="muted">
          Everything here is managed by your IdP over SCIM and cannot be edited in the portal: change it in the IdP and it syncs here.
        </p>
        <dl className="facts">
          {user.attributes.map((a) => (
            <div key={a.path} className="fact-row">
              <dt>
                {a.label}
                {a.idpManaged && (
                  <span className="badge badge-info idp-badge" title="Managed by your identity provider">
                    IdP-managed
                  </span>
                )}
              </dt>
              <dd>{a.value}</dd>
            </div>
          ))}
        </dl>
      </Section>
      <Section title="Lifecycle">
        <dl className="facts">
          <dt>State</dt>
          <dd>
            <StateBadge state={user.state} />
          </dd>
          <dt>Provisioned</dt>
          <dd>{formatDateTime(user.lifecycle.provisionedAt)}</dd>
          <dt>Activated</dt>
          <dd>{formatDateTime(user.lifecycle.activatedAt)}</dd>
          <dt>Suspended</dt>
          <dd>{formatDateTime(user.lifecycle.suspendedAt)}</dd>
          <dt>Deleted</dt>
          <dd>{formatDateTime(user.lifecycle.deletedAt)}</dd>
          {user.scimDeletedAt && (
            <>
              <dt>Deleted in the IdP</dt>
              <dd>{formatDateTime(user.scimDeletedAt)} (personal data is removed when the grace period ends)</dd>
            </>
          )}
        </dl>
      </Section>
    </>
  );
}

function sourceText(s: UserDetail['roles'][number]['sources'][number]) {
  if (s.kind === 'default') return <span>Tenant default role</span>;
  if (s.kind === 'group')
    return (
      <span>
        Group mapping: <Link to={`/directory/groups/${s.groupId}`}>{s.groupName}</Link>
      </span>
    );
  return (
    <span>
      Direct grant by {s.grantedBy} ({formatDateTime(s.grantedAt)})
    </span>
  );
}

function AccessTab({ user }: { user: UserDetail }) {
  const columns: Column<UserDetail['roles'][number]>[] = [
    { key: 'role', header: 'Role', render: (r) => <code>{r.role}</code> },
    {
      key: 'granted',
      header: 'Status',
      render: (r) =>
        !r.inCatalogue ? (
          <StatusBadge status="unknown" tone="warning">Not in the app's role catalogue</StatusBadge>
        ) : r.granted ? (
          r.sources.length ? <StatusBadge status="granted" tone="ok">Granted</StatusBadge> : <StatusBadge status="pending">Being revoked</StatusBadge>
        ) : (
          <StatusBadge status="pending">Being granted</StatusBadge>
        ),
    },
    {
      key: 'sources',
      header: 'Where it comes from',
      render: (r) =>
        r.sources.length ? (
          <ul className="plain-list compact">
            {r.sources.map((s, i) => (
              <li key={i}>{sourceText(s)}</li>
            ))}
          </ul>
        ) : (
          <span className="muted">No source left</span>
        ),
    },
  ];
  return (
    <>
      <Section title="Effective roles">
        <DataTable
          caption="Effective roles"
          columns={columns}
          rows={user.roles}
          rowKey={(r) => r.role}
          empty={
            <EmptyState title="No roles" action={<Link to="/role-mappings">Open role mappings</Link>}>
              This person gets no role from the default role, a group mapping or a direct grant.
            </EmptyState>
          }
        />
      </Section>
      <Section title="Groups">
        {user.groups.length ? (
          <ul className="plain-list">
            {user.groups.map((g) => (
              <li key={g.id}>
                <Link to={`/directory/groups/${g.id}`}>{g.displayName}</Link>
              </li>
            ))}
          </ul>
        ) : (
          <p className="muted">Not a member of any group.</p>
        )}
      </Section>
    </>
  );
}

function CredentialsTab({ user }: { user: UserDetail }) {
  const tokenColumns: Column<UserDetail['tokens'][number]>[] = [
    { key: 'name', header: 'Token', render: (t) => <><div>{t.name ?? '—'}</div><code className="muted small">{t.tokenPrefix}</code></> },
    { key: 'kind', header: 'Kind', render: (t) => (t.kind === 'personal_token' ? 'Personal token' : 'Service token') },
    { key: 'scopes', header: 'Scopes', className: 'hide-narrow', render: (t) => t.scopes.join(' ') || <span className="muted">—</span> },
    { key: 'createdAt', header: 'Created', className: 'nowrap', render: (t) => formatDateTime(t.createdAt) },
    { key: 'lastUsedAt', header: 'Last used', className: 'nowrap', render: (t) => formatRelative(t.lastUsedAt) },
    { key: 'live', header: 'Status', render: (t) => (t.live ? <StatusBadge status="live" /> : <StatusBadge status="revoked">{t.revokedAt ? `Revoked: ${reasonLabel(t.revokedReason)}` : 'Expired'}</StatusBadge>) },
  ];
  const saColumns: Column<UserDetail['serviceAccounts'][number]>[] = [
    { key: 'name', header: 'Service account' },
    { key: 'status', header: 'Status', render: (s) => <StatusBadge status={s.status} /> },
    { key: 'liveTokens', header: 'Live tokens', className: 'num' },
    { key: 'lastUsedAt', header: 'Last used', render: (s) => formatRelative(s.lastUsedAt) },
  ];
  const grantColumns: Column<UserDetail['oauthGrants'][number]>[] = [
    { key: 'client', header: 'Integration', render: (g) => g.clientName ?? g.clientId },
    { key: 'scopes', header: 'Scopes', render: (g) => g.scopes.join(' ') },
    { key: 'createdAt', header: 'Granted', render: (g) => formatDateTime(g.createdAt) },
    { key: 'status', header: 'Status', render: (g) => (g.revokedAt ? <StatusBadge status="revoked" /> : <StatusBadge status="live" />) },
  ];
  return (
    <>
      <p className="muted">
        Sessions: {user.sessions.live} live of {user.sessions.total}. Revoke tokens and grants under <Link to="/non-human">Non-human identities</Link>.
      </p>
      <Section title="API tokens">
        <DataTable caption="API tokens" columns={tokenColumns} rows={user.tokens} rowKey={(t) => t.id} empty={<EmptyState title="No API tokens" />} />
      </Section>
      <Section title="Service accounts owned">
        <DataTable caption="Service accounts owned" columns={saColumns} rows={user.serviceAccounts} rowKey={(s) => s.id} empty={<EmptyState title="Owns no service accounts" />} />
      </Section>
      <Section title="OAuth grants">
        <DataTable caption="OAuth grants" columns={grantColumns} rows={user.oauthGrants} rowKey={(g) => g.id} empty={<EmptyState title="No integrations authorised" />} />
      </Section>
    </>
  );
}

const WORKFLOW_TEXT: Record<UserTimeline['workflow']['status'], string> = {
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  canceled: 'Cancelled',
  terminated: 'Terminated',
  continued_as_new: 'Continued as new',
  timed_out: 'Timed out',
  not_found: 'Not started',
  unknown: 'Unknown',
};

function WorkflowCard({ workflow }: { workflow: UserTimeline['workflow'] }) {
  const tone = workflow.status === 'running' ? 'ok' : workflow.status === 'unknown' || workflow.status === 'not_found' ? 'neutral' : workflow.status === 'completed' ? 'info' : 'error';
  return (
    <Section title="Lifecycle workflow">
      <dl className="facts" data-testid="workflow-status">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={workflow.status} tone={tone}>
            {WORKFLOW_TEXT[workflow.status]}
          </StatusBadge>
          {workflow.reason && <span className="muted small"> {workflow.reason}</span>}
        </dd>
        {workflow.startedAt && (
          <>
            <dt>Started</dt>
            <dd>{formatDateTime(workflow.startedAt)}</dd>
          </>
        )}
        {workflow.live && (
          <>
            <dt>Workflow's view</dt>
            <dd>
              {workflow.live.state}, event {workflow.live.appliedSeq} applied
              {workflow.live.pendingSeqs.length ? `, ${workflow.live.pendingSeqs.length} queued` : ', nothing queued'}
              {workflow.live.held && ' · held by the guard'}
              {workflow.live.awaitingDeletion && ' · waiting out the deletion grace period'}
              {workflow.live.leaverDone && ' · leaver sequence done'}
            </dd>
          </>
        )}
        <dt>Workflow id</dt>
        <dd>
          <code className="small">{workflow.workflowId}</code>
        </dd>
      </dl>
    </Section>
  );
}

const KIND_LABELS: Record<ExposureReport['items'][number]['kind'], string> = {
  session: 'Session',
  personal_token: 'Personal token',
  oauth_grant: 'OAuth grant',
  service_account: 'Service account',
  service_account_token: 'Service account token',
};

export function ExposureSection({ exposure }: { exposure: UserExposure }) {
  const r = exposure.current;
  const columns: Column<ExposureReport['items'][number]>[] = [
    { key: 'kind', header: 'What', render: (i) => KIND_LABELS[i.kind] },
    { key: 'id', header: 'Id', className: 'hide-narrow', render: (i) => <code className="small">{i.id.slice(0, 8)}</code> },
    { key: 'createdAt', header: 'Created', className: 'nowrap', render: (i) => formatDateTime(i.createdAt) },
    {
      key: 'live',
      header: 'Now',
      render: (i) =>
        i.live ? (
          <StatusBadge status="open" tone="error">Still open</StatusBadge>
        ) : (
          <StatusBadge status="revoked" tone="ok">
            {i.kind === 'service_account' ? (i.orphaned ? 'Disabled, awaiting a new owner' : 'Disabled') : 'Revoked'}
          </StatusBadge>
        ),
    },
    {
      key: 'revokedAt',
      header: 'Closed',
      render: (i) =>
        i.revokedAt ? (
          <>
            <div className="nowrap">{formatDateTime(i.revokedAt)}</div>
            {i.revokedReason && <div className="muted small">{reasonLabel(i.revokedReason)}</div>}
          </>
        ) : (
          '—'
        ),
    },
  ];
  const tallies: [string, { total: number; live: number }][] = [
    ['Sessions', r.sessions],
    ['Personal tokens', r.personalTokens],
    ['OAuth grants', r.oauthGrants],
    ['Service accounts', r.serviceAccounts],
    ['Service account tokens', r.serviceAccountTokens],
  ];
  return (
    <Section title="Exposure report" id="exposure-report">
      {r.liveCredentials === 0 ? (
        <Banner tone="success" title="Nothing left open">
          Everything this person could act through is revoked or disabled ({r.items.length} item{r.items.length === 1 ? '' : 's'} checked {formatRelative(r.generatedAt)}).
        </Banner>
      ) : (
        <Banner tone="warning" title={`${r.liveCredentials} still open`}>
          {exposure.leaver
            ? 'This leaver can still act through the items marked "Still open". The leaver sequence revokes them; revoke them yourself under Non-human identities if they stay open.'
            : 'This person is not a leaver: their credentials are expected to be open.'}
        </Banner>
      )}
      <table className="table tally" data-testid="exposure-tally">
        <caption className="visually-hidden">Exposure by kind</caption>
        <thead>
          <tr>
            <th scope="col">Kind</th>
            <th scope="col" className="num">Total</th>
            <th scope="col" className="num">Still open</th>
          </tr>
        </thead>
        <tbody>
          {tallies.map(([label, t]) => (
            <tr key={label}>
              <th scope="row">{label}</th>
              <td className="num">{t.total}</td>
              <td className="num">{t.live}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <DataTable caption="Everything this person owns" columns={columns} rows={r.items} rowKey={(i) => `${i.kind}:${i.id}`} empty={<EmptyState title="Owns nothing Roster issued" />} />
      {exposure.recorded.length > 0 && (
        <p className="muted small">
          The leaver's verification step recorded {exposure.recorded[0]!.liveCredentials} open item(s) on {formatDateTime(exposure.recorded[0]!.createdAt)}.
        </p>
      )}
    </Section>
  );
}

function TimelineTab({ user, timeline, exposure }: { user: UserDetail; timeline: ReturnType<typeof useTimeline>; exposure: ReturnType<typeof useExposure> }) {
  const leaver = user.state === 'suspended' || user.state === 'deleted';
  const columns: Column<TimelineEvent>[] = [
    { key: 'at', header: 'When', className: 'nowrap', render: (e) => <time dateTime={e.at}>{formatDateTime(e.at)}</time> },
    { key: 'action', header: 'What happened', render: (e) => actionLabel(e.action) },
    { key: 'actor', header: 'By', render: (e) => ACTOR_LABELS[e.actorType] ?? e.actorType },
    { key: 'seq', header: 'Event', className: 'num hide-narrow', render: (e) => (e.seq === null ? '' : `#${e.seq}`) },
  ];
  return (
    <>
      <ErrorBanner error={timeline.error} title="The timeline could not be loaded" onRetry={() => void timeline.refetch()} />
      {timeline.data ? <WorkflowCard workflow={timeline.data.workflow} /> : !timeline.error && <Spinner label="Loading the timeline…" />}
      {leaver && (
        <>
          <ErrorBanner error={exposure.error} title="The exposure report could not be loaded" onRetry={() => void exposure.refetch()} />
          {exposure.data ? <ExposureSection exposure={exposure.data} /> : !exposure.error && <Spinner label="Loading the exposure report…" />}
        </>
      )}
      <Section title="Timeline">
        <DataTable caption="Lifecycle timeline" columns={columns} rows={timeline.data?.events} rowKey={(e) => String(e.id)} empty={<EmptyState title="No events yet" />} />
        {timeline.data?.truncated && <p className="muted small">Showing the newest {timeline.data.events.length} events; the audit log has them all.</p>}
      </Section>
      {!leaver && exposure.data && (
        <details className="details">
          <summary>Exposure report (for leavers; this person is {user.state})</summary>
          <ExposureSection exposure={exposure.data} />
        </details>
      )}
    </>
  );
}
