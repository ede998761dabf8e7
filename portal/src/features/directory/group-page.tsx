import { Link, useParams } from 'react-router';
import { type Column, DataTable, EmptyState, ErrorBanner, Page, Section, Spinner, UrlPager, useUrlPaging } from '../../components/index.js';
import { formatDateTime } from '../../lib/format.js';
import type { UserSummary } from '../../../../core/directory/schema.js';
import { useGroup } from './api.js';
import { memberCountText } from './groups-page.js';
import { PAGE_SIZE, StateBadge } from './shared.js';

export function GroupPage() {
  const { id = '' } = useParams();
  const paging = useUrlPaging();
  const group = useGroup(id, { cursor: paging.cursor, limit: PAGE_SIZE });
  const breadcrumb = (
    <>
      <Link to="/directory/groups">Groups</Link> <span aria-hidden="true">›</span> <span>Group</span>
    </>
  );
  if (group.isPending) return <Spinner label="Loading the group…" />;
  if (group.error || !group.data) {
    return (
      <Page title="Group" breadcrumb={breadcrumb}>
        <ErrorBanner error={group.error} title="This group could not be loaded" onRetry={() => void group.refetch()} />
      </Page>
    );
  }
  const g = group.data.group;
  const columns: Column<UserSummary>[] = [
    { key: 'userName', header: 'Member', render: (u) => <Link to={`/directory/users/${u.id}`}>{u.displayName ?? u.userName}</Link> },
    { key: 'email', header: 'Email', className: 'hide-narrow', render: (u) => u.email ?? '—' },
    { key: 'state', header: 'Lifecycle state', render: (u) => <StateBadge state={u.state} /> },
  ];
  return (
    <Page title={g.displayName} breadcrumb={breadcrumb} description="Managed by your identity provider: membership changes come over SCIM.">
      <Section title="Details">
        <dl className="facts">
          <dt>Members</dt>
          <dd>{memberCountText(g.memberCount)}</dd>
          <dt>Mapped roles</dt>
          <dd>{g.roles.length ? g.roles.join(', ') : <Link to="/role-mappings">None: map this group to roles</Link>}</dd>
          <dt>External id</dt>
          <dd>{g.externalId ?? '—'}</dd>
          <dt>Created</dt>
          <dd>{formatDateTime(g.createdAt)}</dd>
          <dt>Updated</dt>
          <dd>{formatDateTime(g.updatedAt)}</dd>
        </dl>
      </Section>
      <Section title="Members">
        <DataTable caption="Members" columns={columns} rows={group.data.members.items} rowKey={(u) => u.id} loading={group.isFetching} empty={<EmptyState title="No members" />} />
        <UrlPager paging={paging} data={group.data.members} label="Member pages" busy={group.isFetching} pageSize={PAGE_SIZE} />
      </Section>
    </Page>
  );
}
