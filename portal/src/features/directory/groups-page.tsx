import { Link } from 'react-router';
import { type Column, DataTable, EmptyState, ErrorBanner, Page, SearchBox, UrlPager, useUrlPaging } from '../../components/index.js';
import { formatRelative } from '../../lib/format.js';
import { type GroupPage as GroupPageData, MEMBER_COUNT_CAP, SEARCH_MIN_LENGTH } from '../../../../core/directory/schema.js';
import { useGroups } from './api.js';
import { DirectoryTabs, PAGE_SIZE } from './shared.js';

type GroupRow = GroupPageData['items'][number];

export function memberCountText(n: number) {
  return n >= MEMBER_COUNT_CAP ? `${MEMBER_COUNT_CAP.toLocaleString()}+` : n.toLocaleString();
}

export function GroupsPage() {
  const paging = useUrlPaging();
  const search = paging.params.get('q') ?? '';
  const tooShort = search.trim() !== '' && [...search.trim()].length < SEARCH_MIN_LENGTH;
  const groups = useGroups({ search: tooShort ? undefined : search.trim() || undefined, cursor: paging.cursor, limit: PAGE_SIZE });
  const setSearch = (value: string) =>
    paging.setParams((p) => {
      const n = new URLSearchParams(p);
      if (value) n.set('q', value);
      else n.delete('q');
      n.delete('cursor');
      n.delete('page');
      return n;
    });
  const columns: Column<GroupRow>[] = [
    { key: 'displayName', header: 'Group', render: (g) => <Link to={`/directory/groups/${g.id}`}>{g.displayName}</Link> },
    { key: 'memberCount', header: 'Members', className: 'num', render: (g) => memberCountText(g.memberCount) },
    { key: 'roles', header: 'Mapped roles', render: (g) => (g.roles.length ? g.roles.join(', ') : <span className="muted">none</span>) },
    { key: 'externalId', header: 'External id', className: 'hide-narrow', render: (g) => g.externalId ?? <span className="muted">—</span> },
    { key: 'createdAt', header: 'Created', className: 'nowrap hide-narrow', render: (g) => formatRelative(g.createdAt) },
  ];
  return (
    <Page title="Directory" description="Groups your identity provider pushes. Map them to roles under Role mappings.">
      <DirectoryTabs />
      <div className="toolbar">
        <SearchBox label="Search groups" value={search} placeholder="Group name" onSearch={setSearch} />
      </div>
      {tooShort && <p className="muted" role="status">Type at least {SEARCH_MIN_LENGTH} characters to search.</p>}
      <ErrorBanner error={groups.error} title="The groups could not be loaded" onRetry={() => void groups.refetch()} />
      <DataTable
        caption="Groups"
        columns={columns}
        rows={groups.data?.items}
        rowKey={(g) => g.id}
        loading={groups.isFetching}
        empty={
          search ? (
            <EmptyState title="No group matches">Try another name.</EmptyState>
          ) : (
            <EmptyState title="No groups yet" action={<Link to="/connections">Set up a SCIM connection</Link>}>
              Groups appear once your IdP pushes them (assign groups to the Roster app in your IdP).
            </EmptyState>
          )
        }
      />
      <UrlPager paging={paging} data={groups.data} label="Group pages" busy={groups.isFetching} pageSize={PAGE_SIZE} />
    </Page>
  );
}
