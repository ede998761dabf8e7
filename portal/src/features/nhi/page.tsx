import { useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { hasAnyRole, useSession } from '../../app/session.js';
import {
  Button,
  type Column,
  ConfirmDialog,
  DataTable,
  Dialog,
  EmptyState,
  ErrorBanner,
  Page,
  SearchBox,
  StatusBadge,
  Tabs,
  UrlPager,
  useToast,
  useUrlPaging,
} from '../../components/index.js';
import { formatDateTime, formatRelative } from '../../lib/format.js';
import type { OAuthGrantListItem, OwnerRef, ServiceAccountView, TokenListItem } from '../../../../core/directory/schema.js';
import { type NhiList, useNhiList, useOwnerSearch, useReassign, useRevoke } from './api.js';

const PAGE_SIZE = 25;
const TABS: { id: NhiList; label: string }[] = [
  { id: 'service-accounts', label: 'Service accounts' },
  { id: 'tokens', label: 'API tokens' },
  { id: 'oauth-grants', label: 'OAuth grants' },
  { id: 'orphans', label: 'Orphan queue' },
];

function Owner({ owner }: { owner: OwnerRef | null }) {
  if (!owner) return <span className="muted">nobody</span>;
  return (
    <span>
      <Link to={`/directory/users/${owner.id}`}>{owner.displayName ?? owner.userName}</Link>
      {owner.state !== 'active' && (
        <>
          {' '}
          <StatusBadge status={owner.state} />
        </>
      )}
    </span>
  );
}

function StatusFilter({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  return (
    <div className="field">
      <label htmlFor="nhi-status">Show</label>
      <select id="nhi-status" className="input" value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="live">Live only</option>
        <option value="revoked">Revoked or expired</option>
        <option value="all">All</option>
      </select>
    </div>
  );
}

/** The revoke button and its confirmation; the API enforces admin-only either way. */
function RevokeAction({ list, id, what, detail, disabled }: { list: Exclude<NhiList, 'orphans'>; id: string; what: string; detail: string; disabled?: boolean }) {
  const [open, setOpen] = useState(false);
  const revoke = useRevoke(list);
  const toast = useToast();
  const verb = list === 'service-accounts' ? 'Disable' : 'Revoke';
  return (
    <>
      <Button size="small" variant="danger" onClick={() => setOpen(true)} disabled={disabled} aria-label={`${verb} ${what}`}>
        {verb}
      </Button>
      <ConfirmDialog
        open={open}
        onClose={() => setOpen(false)}
        title={`${verb} ${what}?`}
        confirmLabel={verb}
        danger
        onConfirm={async () => {
          const r = await revoke.mutateAsync(id);
          const done = list === 'service-accounts' ? 'disabled' : 'revoked';
          const subject = what.charAt(0).toUpperCase() + what.slice(1);
          toast(r.changed ? `${subject} ${done}` : `${subject} was already ${done}`);
        }}
      >
        <p>{detail}</p>
        <p>This takes effect at once: introspection answers "inactive" from now on. It cannot be undone here.</p>
      </ConfirmDialog>
    </>
  );
}

function ServiceAccountsTab({ admin }: { admin: boolean }) {
  const paging = useUrlPaging();
  const status = paging.params.get('status') ?? '';
  const list = useNhiList('service-accounts', { cursor: paging.cursor, limit: PAGE_SIZE, status: status || undefined });
  const columns: Column<ServiceAccountView>[] = [
    { key: 'name', header: 'Service account' },
    { key: 'owner', header: 'Owner', render: (s) => <Owner owner={s.owner} /> },
    { key: 'status', header: 'Status', render: (s) => (s.orphaned ? <StatusBadge status="orphaned" tone="warning">Orphaned</StatusBadge> : <StatusBadge status={s.status} />) },
    { key: 'liveTokens', header: 'Live tokens', className: 'num' },
    { key: 'createdAt', header: 'Created', className: 'nowrap hide-narrow', render: (s) => formatDateTime(s.createdAt) },
    { key: 'lastUsedAt', header: 'Last used', className: 'nowrap', render: (s) => formatRelative(s.lastUsedAt) },
    ...(admin
      ? [{ key: 'actions', header: <span className="visually-hidden">Actions</span>, render: (s: ServiceAccountView) => <RevokeAction list="service-accounts" id={s.id} what={`service account ${s.name}`} detail="The account is disabled and every live token it has is revoked." disabled={s.status === 'disabled'} /> }]
      : []),
  ];
  return (
    <>
      <div className="toolbar">
        <div className="field">
          <label htmlFor="sa-status">Status</label>
          <select id="sa-status" className="input" value={status} onChange={(e) => paging.setParams({ tab: 'service-accounts', ...(e.target.value ? { status: e.target.value } : {}) })}>
            <option value="">All</option>
            <option value="active">Active</option>
            <option value="disabled">Disabled</option>
          </select>
        </div>
      </div>
      <ErrorBanner error={list.error} title="Service accounts could not be loaded" onRetry={() => void list.refetch()} />
      <DataTable caption="Service accounts" columns={columns} rows={list.data?.items} rowKey={(s) => s.id} loading={list.isFetching} empty={<EmptyState title="No service accounts">Your application creates service accounts through Roster's app API; they show up here with their owner.</EmptyState>} />
      <UrlPager paging={paging} data={list.data} busy={list.isFetching} label="Service account pages" pageSize={PAGE_SIZE} />
    </>
  );
}

function TokensTab({ admin }: { admin: boolean }) {
  const paging = useUrlPaging();
  const status = paging.params.get('status') ?? 'live';
  const list = useNhiList('tokens', { cursor: paging.cursor, limit: PAGE_SIZE, status });
  const columns: Column<TokenListItem>[] = [
    { key: 'name', header: 'Token', render: (t) => <><div>{t.name ?? '—'}</div><code className="muted small">{t.tokenPrefix}</code></> },
    { key: 'kind', header: 'Kind', render: (t) => (t.kind === 'personal_token' ? 'Personal' : <>Service: {t.serviceAccount?.name}</>) },
    { key: 'owner', header: 'Owner', render: (t) => <Owner owner={t.owner} /> },
    { key: 'scopes', header: 'Scopes', className: 'hide-narrow', render: (t) => t.scopes.join(' ') || '—' },
    { key: 'createdAt', header: 'Created', className: 'nowrap hide-narrow', render: (t) => formatDateTime(t.createdAt) },
    { key: 'lastUsedAt', header: 'Last used', className: 'nowrap', render: (t) => formatRelative(t.lastUsedAt) },
    { key: 'live', header: 'Status', render: (t) => (t.live ? <StatusBadge status="live" /> : <StatusBadge status="revoked">{t.revokedAt ? 'Revoked' : 'Expired'}</StatusBadge>) },
    ...(admin
      ? [{ key: 'actions', header: <span className="visually-hidden">Actions</span>, render: (t: TokenListItem) => (t.live ? <RevokeAction list="tokens" id={t.id} what={`token ${t.name ?? t.tokenPrefix}`} detail={`Owner: ${t.owner?.userName ?? 'nobody'}. Scopes: ${t.scopes.join(' ') || 'none'}.`} /> : null) }]
      : []),
  ];
  return (
    <>
      <div className="toolbar">
        <StatusFilter value={status} onChange={(v) => paging.setParams({ tab: 'tokens', status: v })} />
      </div>
      <ErrorBanner error={list.error} title="Tokens could not be loaded" onRetry={() => void list.refetch()} />
      <DataTable caption="API tokens" columns={columns} rows={list.data?.items} rowKey={(t) => t.id} loading={list.isFetching} empty={<EmptyState title="No tokens here">Personal and service-account tokens your application issues through Roster appear here.</EmptyState>} />
      <UrlPager paging={paging} data={list.data} busy={list.isFetching} label="Token pages" pageSize={PAGE_SIZE} />
    </>
  );
}

function GrantsTab({ admin }: { admin: boolean }) {
  const paging = useUrlPaging();
  const status = paging.params.get('status') ?? 'live';
  const list = useNhiList('oauth-grants', { cursor: paging.cursor, limit: PAGE_SIZE, status });
  const columns: Column<OAuthGrantListItem>[] = [
    { key: 'client', header: 'Integration', render: (g) => <><div>{g.clientName ?? g.clientId}</div><code className="muted small">{g.clientId}</code></> },
    { key: 'owner', header: 'Granted by', render: (g) => <Owner owner={g.owner} /> },
    { key: 'scopes', header: 'Scopes', render: (g) => g.scopes.join(' ') || '—' },
    { key: 'createdAt', header: 'Granted', className: 'nowrap', render: (g) => formatDateTime(g.createdAt) },
    { key: 'status', header: 'Status', render: (g) => (g.revokedAt ? <StatusBadge status="revoked" /> : <StatusBadge status="live" />) },
    ...(admin
      ? [{ key: 'actions', header: <span className="visually-hidden">Actions</span>, render: (g: OAuthGrantListItem) => (g.revokedAt ? null : <RevokeAction list="oauth-grants" id={g.id} what={`grant to ${g.clientName ?? g.clientId}`} detail={`Granted by ${g.owner?.userName ?? 'nobody'} with scopes ${g.scopes.join(' ') || 'none'}.`} />) }]
      : []),
  ];
  return (
    <>
      <div className="toolbar">
        <StatusFilter value={status} onChange={(v) => paging.setParams({ tab: 'oauth-grants', status: v })} />
      </div>
      <ErrorBanner error={list.error} title="OAuth grants could not be loaded" onRetry={() => void list.refetch()} />
      <DataTable caption="OAuth grants" columns={columns} rows={list.data?.items} rowKey={(g) => g.id} loading={list.isFetching} empty={<EmptyState title="No OAuth grants here">Integrations people authorise in your application are recorded here.</EmptyState>} />
      <UrlPager paging={paging} data={list.data} busy={list.isFetching} label="OAuth grant pages" pageSize={PAGE_SIZE} />
    </>
  );
}

function ReassignDialog({ account, onClose }: { account: ServiceAccountView; onClose: () => void }) {
  const [search, setSearch] = useState('');
  const [chosen, setChosen] = useState<string | null>(null);
  const candidates = useOwnerSearch(search.trim());
  const reassign = useReassign();
  const toast = useToast();
  const submit = async () => {
    if (!chosen) return;
    await reassign.mutateAsync({ id: account.id, ownerUserId: chosen });
    toast(`${account.name} now belongs to its new owner`);
    onClose();
  };
  return (
    <Dialog
      open
      onClose={onClose}
      title={`New owner for ${account.name}`}
      wide
      footer={
        <>
          <Button onClick={onClose} disabled={reassign.isPending}>
            Cancel
          </Button>
          <Button variant="primary" disabled={!chosen} busy={reassign.isPending} onClick={() => void submit().catch(() => {})}>
            Reassign
          </Button>
        </>
      }
    >
      <p>
        The previous owner {account.owner ? <strong>{account.owner.userName}</strong> : 'nobody'} left. Choose a provisioned or active person to own it. The account stays
        disabled until someone re-enables it.
      </p>
      <SearchBox label="Find a person" value={search} placeholder="Name, email or user name (3+ characters)" onSearch={setSearch} />
      <ErrorBanner error={candidates.error ?? reassign.error} title={reassign.error ? 'The account could not be reassigned' : 'People could not be searched'} />
      {candidates.data && (
        <fieldset className="fieldset">
          <legend>Matching people</legend>
          {candidates.data.items.length === 0 && <p className="muted">Nobody matches.</p>}
          {candidates.data.items.map((u) => {
            const eligible = (u.state === 'active' || u.state === 'provisioned') && u.id !== account.owner?.id;
            return (
              <label key={u.id} className="checkbox">
                <input type="radio" name="new-owner" value={u.id} disabled={!eligible} checked={chosen === u.id} onChange={() => setChosen(u.id)} />
                <span>
                  {u.displayName ?? u.userName} <span className="muted">{u.email ?? u.userName}</span> {!eligible && <StatusBadge status={u.state} />}
                </span>
              </label>
            );
          })}
        </fieldset>
      )}
    </Dialog>
  );
}

function OrphansTab({ admin }: { admin: boolean }) {
  const paging = useUrlPaging();
  const list = useNhiList('orphans', { cursor: paging.cursor, limit: PAGE_SIZE });
  const [reassigning, setReassigning] = useState<ServiceAccountView | null>(null);
  const columns: Column<ServiceAccountView>[] = [
    { key: 'name', header: 'Service account' },
    { key: 'owner', header: 'Previous owner', render: (s) => <Owner owner={s.owner} /> },
    { key: 'orphanedAt', header: 'Orphaned', className: 'nowrap', render: (s) => formatRelative(s.orphanedAt) },
    { key: 'status', header: 'Status', render: (s) => <StatusBadge status={s.status} /> },
    ...(admin
      ? [{ key: 'actions', header: <span className="visually-hidden">Actions</span>, render: (s: ServiceAccountView) => <Button size="small" variant="primary" onClick={() => setReassigning(s)} aria-label={`Reassign ${s.name}`}>Reassign</Button> }]
      : []),
  ];
  return (
    <>
      <p className="muted">Service accounts whose owner left and nobody took over (tenant policy, or the owner had no active manager). They stay disabled until reassigned.</p>
      <ErrorBanner error={list.error} title="The orphan queue could not be loaded" onRetry={() => void list.refetch()} />
      <DataTable caption="Orphan queue" columns={columns} rows={list.data?.items} rowKey={(s) => s.id} loading={list.isFetching} empty={<EmptyState title="The orphan queue is empty">Nothing waits for a new owner.</EmptyState>} />
      <UrlPager paging={paging} data={list.data} busy={list.isFetching} label="Orphan pages" pageSize={PAGE_SIZE} />
      {reassigning && <ReassignDialog account={reassigning} onClose={() => setReassigning(null)} />}
    </>
  );
}

/** /non-human: service accounts, tokens, OAuth grants and the orphan queue. */
export default function NonHumanPage() {
  const { user } = useSession();
  const admin = hasAnyRole(user, ['admin']);
  const [params, setParams] = useSearchParams();
  const tab = TABS.find((t) => t.id === params.get('tab'))?.id ?? 'service-accounts';
  return (
    <Page title="Non-human identities" description="Service accounts, API tokens and OAuth grants: who owns them, what they may do, and when they were last used.">
      <Tabs label="Non-human identities" tabs={TABS} value={tab} onChange={(t) => setParams({ tab: t })}>
        {tab === 'service-accounts' && <ServiceAccountsTab admin={admin} />}
        {tab === 'tokens' && <TokensTab admin={admin} />}
        {tab === 'oauth-grants' && <GrantsTab admin={admin} />}
        {tab === 'orphans' && <OrphansTab admin={admin} />}
      </Tabs>
    </Page>
  );
}
