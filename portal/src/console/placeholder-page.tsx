import { EmptyState, Page } from '../components/index.js';

export function TenantsPlaceholder() {
  return (
    <Page title="Tenants" description="Create tenants and issue their first admin's setup link.">
      <EmptyState title="Coming soon">This page is being built.</EmptyState>
    </Page>
  );
}

export function FleetPlaceholder() {
  return (
    <Page title="Fleet health" description="Outbox backlog, stuck and held identities, per tenant.">
      <EmptyState title="Coming soon">This page is being built.</EmptyState>
    </Page>
  );
}
