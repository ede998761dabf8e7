import { Link } from 'react-router';
import { type Column, DataTable, EmptyState, ErrorBanner, Page, SearchBox, UrlPager, useUrlPaging } from '../../components/index.js';
import { formatRelative } from '../../lib/format.js';
import { LIFECYCLE_STATES, type LifecycleState, SEARCH_MIN_LENGTH, type UserSummary } from '../../../../core/directory/schema.js';
import { useUsers } from './api.js';
import { DirectoryTabs, PAGE_SIZE, StateBadge } from './shared.js';

export function UsersPage() {
  const paging = useUrlPaging();
  const search = paging.params.get('q') ?? '';
  const stateParam = paging.params.get('state');
  const state = LIFECYCLE_STATES.includes(stateParam as LifecycleState) ? (stateParam as LifecycleState) : undefined;
  const tooShort = search.trim() !== '' && [...search.trim()].length < SEARCH_MIN_LENGTH;
  const users = useUsers({ search: tooShort ? undefined : search.trim() || undefined, state, cursor: paging.cursor, limit: PAGE_SIZE });

  const setFilter = (key: 'q' | 'state', value: string) =>
    paging.setParams((p) => {
      const n = new URLSearchParams(p);
      if (value) n.set(key, value);
      else n.delete(key);
      n.delete('cursor');
      n.delete('page');
      return n;
    });

  const columns: Column<UserSummary>[] = [
    {
      key: 'userName',
      header: 'User',
      render: (u) => (
        <div>
          <Link to={`/directory/users/${u.id}`}>{u.displayName ?? u.userName}</Link>
          {u.displayName && <div className="muted small">{u.userName}</div>}
        </div>
      ),
    },
    { key: 'email', header: 'Email', className: 'hide-narrow', render: (u) => u.email ?? <span className="muted">—</span> },
    { key: 'state', header: 'Lifecycle state', render: (u) => <StateBadge state={u.state} /> },
    { key: 'externalId', header: 'External id', className: 'hide-narrow', render: (u) => u.externalId ?? <span className="muted">—</span> },
    { key: 'createdAt', header: 'Provisioned', className: 'nowrap', render: (u) => formatRelative(u.createdAt) },
  ];

  const filtered = !!search || !!state;
  return (
    <Page title="Directory" description="People your identity provider manages. Attributes come from the IdP: change them there.">
      <DirectoryTabs />
      <div className="toolbar">
        <SearchBox label="Search users" value={search} placeholder="Name, email, user name or external id" onSearch={(v) => setFilter('q', v)} />
        <div className="field">
          <label htmlFor="state-filter">Lifecycle state</label>
          <select id="state-filter" className="input" value={state ?? ''} onChange={(e) => setFilter('state', e.target.value)}>
            <option value="">All states</option>
            {LIFECYCLE_STATES.map((s) => (
              <option key={s} value={s}>
                {s[0]!.toUpperCase() + s.slice(1)}
              </option>
            ))}
          </select>
        </div>
      </div>
      {tooShort && <p className="muted" role="status">Type at least {SEARCH_MIN_LENGTH} characters to search.</p>}
      <ErrorBanner error={users.error} title="The users could not be loaded" onRetry={() => void users.refetch()} />
      <DataTable
        caption="Users"
        columns={columns}
        rows={users.data?.items}
        rowKey={(u) => u.id}
        loading={users.isFetching}
        empty={
          filtered ? (
            <EmptyState title="No user matches">Try another search term or clear the state filter.</EmptyState>
          ) : (
            <EmptyState title="No users yet" action={<Link to="/connections">Set up a SCIM connection</Link>}>
              Users appear here once your identity provider pushes them over SCIM. Connect your IdP first.
            </EmptyState>
          )
        }
      />
      <UrlPager paging={paging} data={users.data} label="User pages" busy={users.isFetching} pageSize={PAGE_SIZE} countKey={`${search.trim()}|${state ?? ''}`} />
    </Page>
  );
}
