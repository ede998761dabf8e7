import { useState } from 'react';
import { Link, Route, Routes, useNavigate, useParams } from 'react-router';
import type { ConnectionHealth, TenantSummary } from '../../../../../core/fleet/schema.js';
import { Button, type Column, DataTable, Dialog, EmptyState, ErrorBanner, Page, Section, Spinner, StatusBadge, useToast } from '../../../components/index.js';
import { isApiError } from '../../../lib/api.js';
import { formatDateTime, formatNumber } from '../../../lib/format.js';
import { useTenant, useTenants } from './api.js';
import { CreateTenantForm } from './create-tenant-form.js';
import { AlertCount, ErrorRate, LastRequest } from './health.js';
import { ParkedStreams } from './parked-streams.js';
import { SetupLinkForm } from './setup-link-form.js';

/** /console/tenants: the list (with "create tenant") and /console/tenants/:id, one tenant. */
export default function TenantsFeature() {
  return (
    <Routes>
      <Route index element={<TenantListPage />} />
      <Route path=":id" element={<TenantDetailPage />} />
    </Routes>
  );
}

const tenantColumns: Column<TenantSummary>[] = [
  {
    key: 'name',
    header: 'Tenant',
    render: (t) => (
      <>
        <Link to={`/console/tenants/${t.id}`}>{t.name}</Link>
        {t.name !== t.slug && <div className="muted">{t.slug}</div>}
      </>
    ),
  },
  { key: 'connections', header: 'Connections', className: 'num', render: (t) => formatNumber(t.connections) },
  { key: 'last', header: 'Last request', className: 'nowrap', render: (t) => <LastRequest at={t.lastRequestAt} /> },
  { key: 'errors', header: 'Errors, 1 h', className: 'nowrap', render: (t) => <ErrorRate requests={t.requests1h} errors={t.errors1h} rate={t.errorRate1h} /> },
  { key: 'backlog', header: 'Backlog', className: 'num', render: (t) => <AlertCount value={t.outboxBacklog} status="backlog" /> },
  { key: 'stuck', header: 'Stuck', className: 'num', render: (t) => <AlertCount value={t.stuck} status="stuck" /> },
  { key: 'held', header: 'Held', className: 'num', render: (t) => <AlertCount value={t.held} status="held" /> },
  { key: 'created', header: 'Created', className: 'nowrap hide-narrow', render: (t) => formatDateTime(t.createdAt) },
];

function TenantListPage() {
  const tenants = useTenants();
  const navigate = useNavigate();
  const toast = useToast();
  const [creating, setCreating] = useState(false);
  const create = (
    <Button variant="primary" onClick={() => setCreating(true)}>
      Create tenant
    </Button>
  );
  return (
    <Page title="Tenants" description="Each customer is a tenant: create one, then issue its first admin's setup link. Backlog counts events not yet handed to the workflow engine, stuck the identities waiting over 15 minutes, held the leavers held by the guard." actions={create}>
      <ErrorBanner error={tenants.error} title="The tenants could not be loaded" onRetry={() => void tenants.refetch()} />
      {!tenants.error && (
        <DataTable
          caption="Tenants"
          columns={tenantColumns}
          rows={tenants.data?.tenants}
          rowKey={(t) => t.id}
          loading={tenants.isFetching}
          empty={
            <EmptyState title="No tenants yet" action={create}>
              Create a tenant for your first customer; you then get a one-time setup link for its first admin.
            </EmptyState>
          }
        />
      )}
      <Dialog open={creating} onClose={() => setCreating(false)} title="Create a tenant">
        <CreateTenantForm
          onCancel={() => setCreating(false)}
          onCreated={(tenant) => {
            setCreating(false);
            toast(`Tenant ${tenant.name} created. Issue its first admin's setup link next.`);
            void navigate(`/console/tenants/${tenant.id}`);
          }}
        />
      </Dialog>
    </Page>
  );
}

const connectionColumns: Column<ConnectionHealth>[] = [
  { key: 'name', header: 'Connection', render: (c) => c.name },
  { key: 'status', header: 'Status', render: (c) => (c.revokedAt ? <StatusBadge status="revoked" /> : <StatusBadge status="active" />) },
  { key: 'tokens', header: 'Live tokens', className: 'num', render: (c) => formatNumber(c.liveTokens) },
  { key: 'last', header: 'Last request', className: 'nowrap', render: (c) => <LastRequest at={c.lastRequestAt} /> },
  { key: 'requests', header: 'Requests (1 h)', className: 'num', render: (c) => formatNumber(c.requests1h) },
  { key: 'errors', header: 'Errors (1 h)', className: 'nowrap', render: (c) => <ErrorRate requests={c.requests1h} errors={c.errors1h} rate={c.errorRate1h} /> },
  { key: 'created', header: 'Created', className: 'nowrap hide-narrow', render: (c) => formatDateTime(c.createdAt) },
];

function TenantDetailPage() {
  const { id = '' } = useParams();
  const detail = useTenant(id);
  const breadcrumb = <Link to="/console/tenants">← All tenants</Link>;
  if (detail.isPending) return <Spinner label="Loading the tenant…" />;
  if (detail.error) {
    const missing = isApiError(detail.error, 'not_found') || isApiError(detail.error, 'invalid_request');
    return (
      <Page title={missing ? 'Tenant not found' : 'Tenant'} breadcrumb={breadcrumb}>
        {missing ? (
          <EmptyState title="There is no tenant at this address" action={<Link to="/console/tenants">Back to the tenants</Link>} />
        ) : (
          <ErrorBanner error={detail.error} title="The tenant could not be loaded" onRetry={() => void detail.refetch()} />
        )}
      </Page>
    );
  }
  const { tenant, connections, auditLog, parkedStreams } = detail.data;
  return (
    <Page title={tenant.name} description={<>Slug <code>{tenant.slug}</code></>} breadcrumb={breadcrumb}>
      <Section title="Health">
        <dl className="facts" data-testid="tenant-facts">
          <dt>Created</dt>
          <dd>{formatDateTime(tenant.createdAt)}</dd>
          <dt>SCIM connections</dt>
          <dd>{formatNumber(tenant.connections)}</dd>
          <dt>Last SCIM request</dt>
          <dd>
            <LastRequest at={tenant.lastRequestAt} />
          </dd>
          <dt>Errors in the last hour</dt>
          <dd>
            <ErrorRate requests={tenant.requests1h} errors={tenant.errors1h} rate={tenant.errorRate1h} />
          </dd>
          <dt>Outbox backlog</dt>
          <dd>
            <AlertCount value={tenant.outboxBacklog} status="backlog" />
          </dd>
          <dt>Stuck identities</dt>
          <dd>
            <AlertCount value={tenant.stuck} status="stuck" />
          </dd>
          <dt>Held leavers</dt>
          <dd>
            <AlertCount value={tenant.held} status="held" />
          </dd>
          <dt>Audit log</dt>
          <dd title={auditLog.measuredAt ? `counted ${formatDateTime(auditLog.measuredAt)}` : 'not counted yet'}>
            {formatNumber(auditLog.rows)} events, {formatNumber(Math.round(auditLog.bytes / 1024))} KiB
          </dd>
        </dl>
      </Section>
      <Section title="Parked streams">
        <ParkedStreams tenantId={tenant.id} parks={parkedStreams} />
      </Section>
      <Section title="SCIM connections">
        <DataTable
          caption={`SCIM connections of ${tenant.name}`}
          columns={connectionColumns}
          rows={connections}
          rowKey={(c) => c.id}
          empty={
            <EmptyState title="No SCIM connections yet">
              The tenant's admin creates them in the tenant portal after signing in with the setup link below.
            </EmptyState>
          }
        />
      </Section>
      <Section title="Setup link">
        <p className="muted">A one-time link with which a person of this tenant chooses a password. Operators never see the tenant's people or settings.</p>
        <SetupLinkForm tenantId={tenant.id} tenantName={tenant.name} />
      </Section>
    </Page>
  );
}
