import { Link } from 'react-router';
import type { CampaignDefinitionView } from '../../../../core/campaigns/schema.js';
import { type Column, DataTable, EmptyState, ErrorBanner, Pager, StatusBadge, useKeysetPager } from '../../components/index.js';
import { useDefinitions } from './api.js';
import { DefinitionActions } from './definition-actions.js';
import { campaignPath, definitionPath, homePath } from './paths.js';
import { useAccessRoles } from './roles.js';
import { definitionStatus, describeSchedule, describeScope, hoursText } from './words.js';

/** The definitions: what each reviews, when it runs, and (admin, reviewer) launch / pause / delete. */
export function DefinitionsPanel() {
  const { manage } = useAccessRoles();
  const pager = useKeysetPager();
  const list = useDefinitions(pager.cursor);
  const rows = list.data?.data;
  const columns: Column<CampaignDefinitionView>[] = [
    {
      key: 'name',
      header: 'Definition',
      render: (d) => (
        <>
          <Link to={definitionPath(d.id)} className="strong-link">
            {d.name}
          </Link>
          <div className="muted small">{describeScope(d.scope)}</div>
        </>
      ),
    },
    {
      key: 'schedule',
      header: 'Schedule',
      render: (d) => (
        <>
          <div>{describeSchedule(d.schedule)}</div>
          <div className="muted small">runs for {hoursText(d.durationHours)}</div>
        </>
      ),
    },
    {
      key: 'status',
      header: 'Status',
      render: (d) => {
        const status = definitionStatus(d);
        return (
          <>
            <StatusBadge status={status.label} tone={status.tone} />
            {d.openCampaignId && (
              <div className="small">
                <Link to={campaignPath(d.openCampaignId, 'progress')}>Open the running campaign</Link>
              </div>
            )}
          </>
        );
      },
    },
    { key: 'runs', header: <span className="visually-hidden">Runs</span>, className: 'nowrap hide-narrow', render: (d) => <Link to={`${homePath('campaigns')}&definition=${d.id}`} aria-label={`Past runs of ${d.name}`}>Past runs</Link> },
    ...(manage ? [{ key: 'actions', header: <span className="visually-hidden">Actions</span>, render: (d: CampaignDefinitionView) => <DefinitionActions definition={d} /> }] : []),
  ];
  return (
    <>
      {manage && (
        <div className="toolbar">
          <Link to={definitionPath('new')} className="btn btn-primary">
            New definition
          </Link>
        </div>
      )}
      <ErrorBanner error={list.error} title="The definitions could not be loaded" onRetry={() => void list.refetch()} />
      <DataTable
        caption="Campaign definitions"
        columns={columns}
        rows={rows}
        rowKey={(d) => d.id}
        loading={list.isFetching && !list.isRefetching}
        empty={
          <EmptyState title="No campaign is defined yet" action={manage ? <Link to={definitionPath('new')}>Define the first campaign</Link> : undefined}>
            A definition says what access is reviewed, by whom, for how long and how often.
          </EmptyState>
        }
      />
      {rows && (pager.hasPrev || list.data?.next) && (
        <Pager page={pager.page} shown={rows.length} hasPrev={pager.hasPrev} hasNext={!!list.data?.next} onPrev={pager.prev} onNext={() => list.data?.next && pager.next(list.data.next)} busy={list.isFetching} label="Definition pages" />
      )}
    </>
  );
}
