import { Link, Route, Routes, useSearchParams } from 'react-router';
import type { ChangeRequestView } from '../../../../core/approvals/schema.js';
import { DataTable, EmptyState, ErrorBanner, Page, KeysetPager, StatusBadge, Tabs, useKeysetPager, type Column } from '../../components/index.js';
import { useSession } from '../../app/session.js';
import { formatDateTime, formatRelative } from '../../lib/format.js';
import { type Box, useInbox } from './api.js';
import { RequestPage } from './request-page.js';
import { approvedCount, kindLabels, stateLabels } from './words.js';
import './approvals.css';

/** Approvals: the inbox (/approvals) and one request (/approvals/:id). */
export default function ApprovalsPage() {
  return (
    <Routes>
      <Route index element={<Inbox />} />
      <Route path=":id" element={<RequestPage />} />
    </Routes>
  );
}

const boxes: { id: Box; label: string; empty: string }[] = [
  { id: 'waiting', label: 'Waiting for me', empty: 'Nothing waits for your decision. Requests you may decide appear here, and the Approvals link in the menu shows how many.' },
  { id: 'mine', label: 'I requested', empty: 'You have no open request. Changes to connections, role mappings, webhooks and members that need approval appear here once you submit them.' },
  { id: 'history', label: 'History', empty: 'No request has been decided yet.' },
];

const PAGE_SIZE = 25;

function Inbox() {
  const { user } = useSession();
  const [params, setParams] = useSearchParams();
  const box = (boxes.find((b) => b.id === params.get('box'))?.id ?? 'waiting') satisfies Box;
  const pager = useKeysetPager(box);
  const list = useInbox(box, pager.cursor);
  const rows = list.data?.data;

  const columns: Column<ChangeRequestView>[] = [
    {
      key: 'summary',
      header: 'Change',
      render: (r) => (
        <>
          <Link to={`/approvals/${r.id}`} className="strong-link">
            {r.description.summary}
          </Link>
          <div className="muted small">{kindLabels[r.kind]}</div>
        </>
      ),
    },
    { key: 'requestedBy', header: 'Requested by', render: (r) => (r.requestedBy.id === user.id ? 'You' : (r.requestedBy.email ?? r.requestedBy.type)) },
    { key: 'state', header: 'State', render: (r) => <StatusBadge status={r.state} tone={stateLabels[r.state].tone}>{stateLabels[r.state].label}</StatusBadge> },
    { key: 'approvals', header: 'Approvals', className: 'num nowrap', render: (r) => `${approvedCount(r)} of ${r.approvalsNeeded}` },
    {
      key: 'when',
      header: box === 'history' ? 'Closed' : 'Expires',
      className: 'nowrap hide-narrow',
      render: (r) => {
        const at = box === 'history' ? (r.appliedAt ?? r.decidedAt ?? r.createdAt) : (r.appliesAt ?? r.expiresAt);
        return <span title={formatDateTime(at)}>{formatRelative(at)}</span>;
      },
    },
  ];

  return (
    <Page title="Approvals" description="Changes to connections, role mappings, webhooks, members and the approval policy wait here for the approvers your policy names.">
      <p>
        <Link to="/settings/approval-policy">Approval policy</Link>: who approves which kind of change.
      </p>
      <Tabs label="Requests" tabs={boxes.map((b) => ({ id: b.id, label: b.label }))} value={box} onChange={(id) => setParams({ box: id }, { replace: true })}>
        <ErrorBanner error={list.error} title="The requests could not be loaded" onRetry={() => void list.refetch()} />
        <DataTable
          caption={boxes.find((b) => b.id === box)!.label}
          columns={columns}
          rows={list.error ? [] : rows}
          rowKey={(r) => r.id}
          loading={list.isFetching}
          empty={list.error ? null : <EmptyState title="No requests here">{boxes.find((b) => b.id === box)!.empty}</EmptyState>}
        />
        <KeysetPager pager={pager} next={list.data?.next} shown={rows?.length ?? 0} pageSize={PAGE_SIZE} busy={list.isFetching} />
      </Tabs>
    </Page>
  );
}
