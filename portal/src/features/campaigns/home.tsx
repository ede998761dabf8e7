import { Link, useSearchParams } from 'react-router';
import type { CampaignPage as CampaignPageData, CampaignState } from '../../../../core/campaigns/schema.js';
import { type Column, DataTable, EmptyState, ErrorBanner, Page, KeysetPager, StatusBadge, Tabs, useKeysetPager } from '../../components/index.js';
import { formatDateTime, formatNumber, formatRelative } from '../../lib/format.js';
import { useCampaigns } from './api.js';
import { DefinitionsPanel } from './definitions-panel.js';
import { campaignPath } from './paths.js';
import { MiniBar } from './progress-panel.js';
import { useAccessRoles } from './roles.js';
import { stateLabels, triggerLabels } from './words.js';

type Tab = 'mine' | 'campaigns' | 'definitions';
type Row = CampaignPageData['data'][number];


/** /access-reviews: my reviews for everyone; campaigns and definitions for the security team and auditors. */
export function AccessReviewsHome() {
  const { oversee } = useAccessRoles();
  const [params, setParams] = useSearchParams();
  const tabs: { id: Tab; label: string }[] = [{ id: 'mine', label: 'My reviews' }, ...(oversee ? ([{ id: 'campaigns', label: 'Campaigns' }, { id: 'definitions', label: 'Definitions' }] as const) : [])];
  const tab = tabs.find((t) => t.id === params.get('tab'))?.id ?? 'mine';
  const description = oversee
    ? 'Periodic reviews of who has access to what: your own items to review, the campaigns running and what launches them.'
    : 'Access you are asked to review: keep what people still need, revoke what they do not.';
  return (
    <Page title="Access reviews" description={description}>
      {oversee ? (
        <Tabs label="Access reviews" tabs={tabs} value={tab} onChange={(t) => setParams({ tab: t })}>
          {tab === 'mine' && <MyReviews />}
          {tab === 'campaigns' && <CampaignsPanel />}
          {tab === 'definitions' && <DefinitionsPanel />}
        </Tabs>
      ) : (
        <MyReviews />
      )}
    </Page>
  );
}

function Due({ at }: { at: string | null }) {
  if (!at) return <span className="muted">—</span>;
  const late = new Date(at).getTime() < Date.now();
  return (
    <span title={formatDateTime(at)} className={late ? 'due-late' : undefined}>
      {late ? 'was due ' : ''}
      {formatRelative(at)}
    </span>
  );
}

/** Open campaigns with items waiting for me (the first page of open campaigns is plenty: few run at once). */
function MyReviews() {
  const list = useCampaigns({ state: 'open', limit: 100 }, { poll: true });
  const rows = list.data?.data.filter((c) => c.mine > 0);
  const columns: Column<Row>[] = [
    { key: 'name', header: 'Campaign', render: (c) => <Link to={campaignPath(c.id, 'mine')} className="strong-link">{c.name}</Link> },
    { key: 'mine', header: 'Waiting for you', className: 'num', render: (c) => <strong>{formatNumber(c.mine)}</strong> },
    { key: 'due', header: 'Due', className: 'nowrap', render: (c) => <Due at={c.dueAt} /> },
    { key: 'trigger', header: 'Why', className: 'hide-narrow', render: (c) => triggerLabels[c.trigger] },
  ];
  return (
    <>
      <ErrorBanner error={list.error} title="Your reviews could not be loaded" onRetry={() => void list.refetch()} />
      <DataTable
        caption="Campaigns with items waiting for you"
        columns={columns}
        rows={rows}
        rowKey={(c) => c.id}
        loading={list.isFetching && !list.data}
        empty={<EmptyState title="Nothing waits for your review">When a campaign asks you to review someone’s access, it appears here with the number of items waiting for you.</EmptyState>}
      />
    </>
  );
}

const PAGE_SIZE = 25;
const STATES: CampaignState[] = ['generating', 'open', 'closed', 'cancelled'];

function CampaignsPanel() {
  const [params, setParams] = useSearchParams();
  const stateParam = params.get('state');
  const state = STATES.find((s) => s === stateParam);
  const definitionId = params.get('definition') ?? undefined;
  const pager = useKeysetPager(`${state ?? ''}|${definitionId ?? ''}`);
  const list = useCampaigns({ state, definitionId, cursor: pager.cursor, limit: PAGE_SIZE }, { poll: true });
  const rows = list.data?.data;
  const setFilter = (key: string, value: string | null) =>
    setParams((p) => {
      const n = new URLSearchParams(p);
      if (value) n.set(key, value);
      else n.delete(key);
      return n;
    });
  const columns: Column<Row>[] = [
    {
      key: 'name',
      header: 'Campaign',
      render: (c) => (
        <>
          <Link to={campaignPath(c.id, 'progress')} className="strong-link">
            {c.name}
          </Link>
          <div className="muted small">{triggerLabels[c.trigger]}</div>
        </>
      ),
    },
    { key: 'state', header: 'State', render: (c) => <StatusBadge status={c.state} tone={stateLabels[c.state].tone}>{stateLabels[c.state].label}</StatusBadge> },
    { key: 'progress', header: 'Decided', render: (c) => <MiniBar label={`${c.name}: decided`} value={c.decided} max={c.itemsTotal} /> },
    { key: 'mine', header: 'Yours', className: 'num hide-narrow', render: (c) => (c.mine > 0 ? <Link to={campaignPath(c.id, 'mine')}>{formatNumber(c.mine)} waiting</Link> : <span className="muted">—</span>) },
    { key: 'due', header: 'Due', className: 'nowrap', render: (c) => (c.state === 'closed' || c.state === 'cancelled' ? <span className="muted">closed {formatRelative(c.closedAt)}</span> : <Due at={c.dueAt} />) },
    { key: 'created', header: 'Started', className: 'nowrap hide-narrow', render: (c) => formatDateTime(c.openedAt ?? c.createdAt) },
  ];
  return (
    <>
      <div className="toolbar">
        <div className="field">
          <label htmlFor="campaign-state">State</label>
          <select id="campaign-state" className="input" value={state ?? ''} onChange={(e) => setFilter('state', e.target.value || null)}>
            <option value="">Any state</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {stateLabels[s].label}
              </option>
            ))}
          </select>
        </div>
        {definitionId && (
          <p className="muted">
            Runs of one definition. <button type="button" className="link-button" onClick={() => setFilter('definition', null)}>Show every campaign</button>
          </p>
        )}
      </div>
      <ErrorBanner error={list.error} title="The campaigns could not be loaded" onRetry={() => void list.refetch()} />
      <DataTable
        caption="Campaigns"
        columns={columns}
        rows={rows}
        rowKey={(c) => c.id}
        loading={list.isFetching && !list.isRefetching}
        empty={<EmptyState title={state || definitionId ? 'No campaign matches' : 'No campaign yet'}>Launch one from a definition, or let its schedule start it.</EmptyState>}
      />
      {rows && <KeysetPager pager={pager} next={list.data?.next} shown={rows.length} pageSize={PAGE_SIZE} busy={list.isFetching} label="Campaign pages" />}
    </>
  );
}
