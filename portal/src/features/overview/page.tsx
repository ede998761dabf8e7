import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { Banner, type Column, DataTable, EmptyState, ErrorBanner, Page, Section, Spinner, StatusBadge } from '../../components/index.js';
import { api } from '../../lib/api.js';
import { formatDateTime, formatNumber, formatRelative } from '../../lib/format.js';
import { ACTOR_LABELS, actionLabel, LIFECYCLE_STATES, type Overview } from '../../../../core/directory/schema.js';
import './overview.css';

type Activity = Overview['recentActivity'][number];
type Connection = Overview['connections'][number];

const STATE_TEXT = { provisioned: 'Provisioned', active: 'Active', suspended: 'Suspended', deleted: 'Deleted' } as const;

/** /overview: is the IdP connected and syncing, who is in which state, what needs attention. */
export default function OverviewPage() {
  const overview = useQuery({
    queryKey: ['overview'],
    queryFn: ({ signal }) => api.get<Overview>('/overview', undefined, { signal }),
    refetchInterval: 30_000,
  });
  if (overview.isPending) return <Spinner label="Loading the overview…" />;
  if (!overview.data) {
    return (
      <Page title="Overview">
        <ErrorBanner error={overview.error} title="The overview could not be loaded" onRetry={() => void overview.refetch()} />
      </Page>
    );
  }
  const o = overview.data;
  const liveConnections = o.connections.filter((c) => !c.revokedAt);
  const connectionColumns: Column<Connection>[] = [
    { key: 'name', header: 'Connection' },
    {
      key: 'health',
      header: 'Health',
      render: (c) =>
        c.revokedAt ? (
          <StatusBadge status="revoked" />
        ) : c.liveTokens === 0 ? (
          <StatusBadge status="no token" tone="error">No live token</StatusBadge>
        ) : c.lastUsedAt ? (
          <StatusBadge status="ok">Syncing</StatusBadge>
        ) : (
          <StatusBadge status="pending">No request recorded yet</StatusBadge>
        ),
    },
    { key: 'liveTokens', header: 'Live tokens', className: 'num' },
    { key: 'lastUsedAt', header: 'Last request', render: (c) => (c.lastUsedAt ? <time dateTime={c.lastUsedAt} title={formatDateTime(c.lastUsedAt)}>{formatRelative(c.lastUsedAt)}</time> : 'never') },
  ];
  const activityColumns: Column<Activity>[] = [
    { key: 'at', header: 'When', className: 'nowrap', render: (a) => <time dateTime={a.at} title={formatDateTime(a.at)}>{formatRelative(a.at)}</time> },
    { key: 'action', header: 'What happened', render: (a) => actionLabel(a.action) },
    {
      key: 'user',
      header: 'Who',
      render: (a) => (a.targetId && a.userName ? <Link to={`/directory/users/${a.targetId}`}>{a.userName}</Link> : <span className="muted">—</span>),
    },
    { key: 'actor', header: 'By', className: 'hide-narrow', render: (a) => ACTOR_LABELS[a.actorType] ?? a.actorType },
  ];
  const attention = o.alerts.length + o.heldLeavers + o.orphanedServiceAccounts;
  return (
    <Page title="Overview" description="Is your identity provider connected and syncing, who is in which lifecycle state, and what needs your attention.">
      <ErrorBanner error={overview.error} title="The overview could not be refreshed" onRetry={() => void overview.refetch()} />
      <div className="overview-cards">
        <section className="card overview-card" aria-labelledby="identities-heading">
          <h2 id="identities-heading">Identities</h2>
          <p className="big-number">{formatNumber(o.identities.total)}</p>
          <ul className="state-counts">
            {LIFECYCLE_STATES.map((s) => (
              <li key={s}>
                <Link to={`/directory?state=${s}`}>
                  <span>{STATE_TEXT[s]}</span> <strong>{formatNumber(o.identities.byState[s])}</strong>
                </Link>
              </li>
            ))}
          </ul>
        </section>
        <section className="card overview-card" aria-labelledby="connections-heading">
          <h2 id="connections-heading">Connections</h2>
          <p className="big-number">{liveConnections.length}</p>
          <p className="muted">{liveConnections.length === 1 ? 'SCIM connection' : 'SCIM connections'}</p>
          <Link to="/connections">Manage connections</Link>
        </section>
        <section className="card overview-card" aria-labelledby="attention-heading">
          <h2 id="attention-heading">Needs attention</h2>
          <p className="big-number">{attention}</p>
          <ul className="plain-list compact">
            <li>{o.alerts.length} open alert{o.alerts.length === 1 ? '' : 's'}</li>
            <li>
              {o.heldLeavers} held leaver{o.heldLeavers === 1 ? '' : 's'} {o.heldLeavers > 0 && <Link to="/settings">review the guard</Link>}
            </li>
            <li>
              {o.orphanedServiceAccounts} orphaned service account{o.orphanedServiceAccounts === 1 ? '' : 's'}{' '}
              {o.orphanedServiceAccounts > 0 && <Link to="/non-human?tab=orphans">reassign them</Link>}
            </li>
          </ul>
        </section>
      </div>

      {o.alerts.map((a) => (
        <Banner key={a.id} tone="warning" title={a.kind === 'mass_deprovisioning' ? 'Mass-deprovisioning guard tripped' : a.kind.replace(/_/g, ' ')}>
          Raised {formatRelative(a.createdAt)}. Leavers are held until someone releases them: check that your IdP really meant to remove these people, then release them under{' '}
          <Link to="/settings">Settings</Link>.
        </Banner>
      ))}

      <Section title="Connection health">
        <DataTable
          caption="SCIM connections"
          columns={connectionColumns}
          rows={o.connections}
          rowKey={(c) => c.id}
          empty={
            <EmptyState title="Connect your identity provider" action={<Link to="/connections">Create a SCIM connection</Link>}>
              Roster learns about your people from your IdP (Okta, Entra ID, Google Workspace, OneLogin, JumpCloud) over SCIM. Create a connection, paste its URL and token into
              the IdP, and users appear here.
            </EmptyState>
          }
        />
      </Section>

      <Section title="Recent lifecycle activity">
        <DataTable
          caption="Recent lifecycle activity"
          columns={activityColumns}
          rows={o.recentActivity}
          rowKey={(a) => String(a.id)}
          empty={
            <EmptyState title="Nothing has happened yet">
              Joiners, movers and leavers show up here as your IdP provisions, changes and deactivates people.
            </EmptyState>
          }
        />
      </Section>
    </Page>
  );
}
