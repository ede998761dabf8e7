import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import type { FleetHealth, IdentityAlert } from '../../../../../core/fleet/schema.js';
import { Banner, type Column, DataTable, EmptyState, ErrorBanner, Page, SelectField, Section, Spinner, StatusBadge } from '../../../components/index.js';
import { consoleApi } from '../../../lib/api.js';
import { formatDateTime, formatNumber, formatRelative } from '../../../lib/format.js';

const THRESHOLDS = [5, 15, 60, 240].map((m) => ({ value: String(m), label: m < 60 ? `${m} minutes` : `${m / 60} hour${m > 60 ? 's' : ''}` }));

function useFleet(stuckAfterMinutes: number) {
  return useQuery({
    queryKey: ['console', 'fleet', stuckAfterMinutes],
    queryFn: () => consoleApi.get<FleetHealth>('/fleet', { stuckAfterMinutes }),
    refetchInterval: 15_000,
  });
}

function formatAge(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

const tenantColumns: Column<FleetHealth['tenants'][number]>[] = [
  { key: 'slug', header: 'Tenant', render: (t) => <Link to={`/console/tenants/${t.id}`}>{t.slug}</Link> },
  { key: 'backlog', header: 'Outbox backlog', className: 'num', render: (t) => formatNumber(t.outboxBacklog) },
  { key: 'stuck', header: 'Stuck identities', className: 'num', render: (t) => formatNumber(t.stuck) },
  { key: 'held', header: 'Held leavers', className: 'num', render: (t) => formatNumber(t.held) },
];

const alertColumns: Column<IdentityAlert>[] = [
  { key: 'tenant', header: 'Tenant', render: (a) => <Link to={`/console/tenants/${a.tenantId}`}>{a.tenantSlug}</Link> },
  { key: 'kind', header: 'State', render: (a) => <StatusBadge status={a.kind}>{a.kind === 'stuck' ? 'Stuck' : 'Held by the guard'}</StatusBadge> },
  { key: 'id', header: 'Identity id', render: (a) => <code>{a.identityId}</code> },
  { key: 'since', header: 'Since', className: 'nowrap', render: (a) => <time dateTime={a.since} title={formatDateTime(a.since)}>{formatRelative(a.since)}</time> },
  { key: 'seq', header: 'Events applied', className: 'num hide-narrow', render: (a) => `${formatNumber(a.appliedSeq)} of ${formatNumber(a.eventSeq)}` },
];

/** /console/fleet: is everything flowing? Outbox and relay, then the identities that are not. */
export default function FleetPage() {
  const [minutes, setMinutes] = useState(15);
  const fleet = useFleet(minutes);
  const threshold = (
    <SelectField label="Stuck after" options={THRESHOLDS} value={String(minutes)} onChange={(e) => setMinutes(Number(e.target.value))} />
  );
  return (
    <Page title="Fleet health" description="Event delivery to the workflow engine, and identities whose lifecycle is not moving, across all tenants." actions={threshold}>
      <ErrorBanner error={fleet.error} title="Fleet health could not be loaded" onRetry={() => void fleet.refetch()} />
      {fleet.isPending && !fleet.error && <Spinner label="Loading fleet health…" />}
      {fleet.data && <FleetBody fleet={fleet.data} />}
    </Page>
  );
}

function FleetBody({ fleet }: { fleet: FleetHealth }) {
  const stuck = fleet.identities.filter((a) => a.kind === 'stuck');
  const held = fleet.identities.filter((a) => a.kind === 'held');
  const relayTone = fleet.relay.status === 'healthy' ? 'ok' : fleet.relay.status === 'lagging' ? 'warning' : 'error';
  return (
    <>
      <Section title="Outbox and relay">
        <dl className="facts" data-testid="fleet-outbox">
          <dt>Relay</dt>
          <dd>
            <StatusBadge status={fleet.relay.status} tone={relayTone}>
              {fleet.relay.status === 'healthy' ? 'Healthy' : fleet.relay.status === 'lagging' ? 'Lagging' : 'Failing'}
            </StatusBadge>{' '}
            <span className="muted">{fleet.relay.detail}</span>
          </dd>
          <dt>Undelivered events</dt>
          <dd>{formatNumber(fleet.outbox.backlog)}</dd>
          <dt>Oldest waiting</dt>
          <dd>{fleet.outbox.oldestUndeliveredAt ? `${formatAge(fleet.outbox.oldestAgeSeconds)} (since ${formatDateTime(fleet.outbox.oldestUndeliveredAt)})` : 'nothing waits'}</dd>
          <dt>Failed deliveries</dt>
          <dd>{formatNumber(fleet.outbox.failing)}</dd>
          <dt>Checked</dt>
          <dd>{formatDateTime(fleet.generatedAt)}</dd>
        </dl>
      </Section>
      <Section title="Tenants needing attention">
        <DataTable
          caption="Tenants with a backlog, stuck identities or held leavers"
          columns={tenantColumns}
          rows={fleet.tenants}
          rowKey={(t) => t.id}
          empty={<EmptyState title="Every tenant is flowing">No tenant has undelivered events, stuck identities or held leavers.</EmptyState>}
        />
      </Section>
      {fleet.identitiesTruncated && <Banner tone="warning" title="Only the oldest alerts are listed">The counts per tenant above are complete.</Banner>}
      <Section title="Stuck identities">
        <DataTable
          caption="Identities whose workflow is stuck"
          columns={alertColumns}
          rows={stuck}
          rowKey={(a) => `${a.kind}/${a.identityId}`}
          empty={
            <EmptyState title="No stuck identities">
              No identity has had an accepted change waiting longer than {fleet.stuckAfterMinutes} minutes. If one shows up here, check that the worker and the relay run.
            </EmptyState>
          }
        />
      </Section>
      <Section title="Held leavers">
        <DataTable
          caption="Leavers held by the mass-deprovisioning guard"
          columns={alertColumns}
          rows={held}
          rowKey={(a) => `${a.kind}/${a.identityId}`}
          empty={<EmptyState title="No held leavers">The mass-deprovisioning guard is holding nobody. When it does, the tenant's admin releases them in the tenant portal.</EmptyState>}
        />
      </Section>
    </>
  );
}
