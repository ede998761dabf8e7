import { useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import type { CampaignView } from '../../../../core/campaigns/schema.js';
import { Banner, Button, ConfirmDialog, ErrorBanner, Page, Spinner, StatusBadge, Tabs, useToast } from '../../components/index.js';
import { isApiError } from '../../lib/api.js';
import { formatDateTime, formatNumber, formatRelative } from '../../lib/format.js';
import { useCampaign, useCloseCampaign } from './api.js';
import { ItemsPanel } from './items-panel.js';
import { definitionPath, homePath } from './paths.js';
import { EvidencePanel, ProgressPanel } from './progress-panel.js';
import { useAccessRoles } from './roles.js';
import { describeScope, hoursText, stateLabels, triggerLabels } from './words.js';

type Tab = 'mine' | 'progress' | 'items';

/** /access-reviews/campaigns/:id: my items for everyone; progress, every item and the evidence for the security team and auditors. */
export function CampaignPage() {
  const { id = '' } = useParams();
  const { oversee, manage } = useAccessRoles();
  const campaign = useCampaign(id);
  const [params, setParams] = useSearchParams();
  const c = campaign.data;
  const breadcrumb = <Link to={homePath(oversee ? 'campaigns' : 'mine')}>Access reviews</Link>;
  if (!c) {
    return (
      <Page title="Campaign" breadcrumb={breadcrumb}>
        <ErrorBanner error={campaign.error} title="The campaign could not be loaded" onRetry={() => void campaign.refetch()} />
        {!campaign.error && <Spinner label="Loading the campaign…" />}
      </Page>
    );
  }
  const tabs: { id: Tab; label: string }[] = [{ id: 'mine', label: 'My items' }, ...(oversee ? ([{ id: 'progress', label: 'Progress' }, { id: 'items', label: 'All items' }] as const) : [])];
  const tab = tabs.find((t) => t.id === params.get('tab'))?.id ?? (oversee ? 'progress' : 'mine');
  // A tab change drops the other tab's filters.
  const go = (t: Tab) => setParams({ tab: t });
  return (
    <Page title={c.name} breadcrumb={breadcrumb} description={c.settings.description} actions={manage && <CloseNow campaign={c} />}>
      <Facts campaign={c} />
      {oversee ? (
        <Tabs label="Campaign" tabs={tabs} value={tab} onChange={(t) => go(t as Tab)}>
          {tab === 'mine' && <ItemsPanel campaign={c} view="mine" />}
          {tab === 'progress' && (
            <>
              <ProgressPanel campaign={c} />
              <EvidencePanel campaign={c} />
            </>
          )}
          {tab === 'items' && <ItemsPanel campaign={c} view="all" canReassign={manage} />}
        </Tabs>
      ) : (
        <ItemsPanel campaign={c} view="mine" />
      )}
    </Page>
  );
}

function Facts({ campaign: c }: { campaign: CampaignView }) {
  const state = stateLabels[c.state];
  const late = c.state === 'open' && c.dueAt && new Date(c.dueAt).getTime() < Date.now();
  return (
    <dl className="facts campaign-facts" data-testid="campaign-facts">
      <dt>State</dt>
      <dd>
        <StatusBadge status={c.state} tone={state.tone}>
          {state.label}
        </StatusBadge>
        {(c.state === 'generating' || c.state === 'open') && <span className="muted small live-note"> · updates live</span>}
      </dd>
      <dt>Started by</dt>
      <dd>
        {triggerLabels[c.trigger]}
        {c.definitionId && (
          <>
            {' · '}
            <Link to={definitionPath(c.definitionId)}>its definition</Link>
          </>
        )}
      </dd>
      <dt>Reviews</dt>
      <dd>
        {formatNumber(c.itemsTotal)} items: {describeScope(c.settings.scope)}
      </dd>
      <dt>{c.state === 'closed' || c.state === 'cancelled' ? 'Ran' : 'Opened'}</dt>
      <dd>{c.openedAt ? formatDateTime(c.openedAt) : 'not yet'}</dd>
      {c.closedAt ? (
        <>
          <dt>Closed</dt>
          <dd>{formatDateTime(c.closedAt)}</dd>
        </>
      ) : (
        <>
          <dt>Due</dt>
          <dd className={late ? 'due-late' : undefined}>
            {c.dueAt ? `${formatDateTime(c.dueAt)} (${formatRelative(c.dueAt)})` : `${hoursText(c.settings.durationHours)} after it opens`}
          </dd>
        </>
      )}
    </dl>
  );
}

/** Close now (admin, reviewer): undecided items follow the no-response policy at once. */
function CloseNow({ campaign: c }: { campaign: CampaignView }) {
  const close = useCloseCampaign(c.id);
  const toast = useToast();
  const [open, setOpen] = useState(false);
  const [refused, setRefused] = useState<string | null>(null);
  if (c.state !== 'open' && c.state !== 'generating') return null;
  const policy = c.settings.noResponse.action === 'revoke' ? `revoked (up to ${c.settings.noResponse.revokeCapPercent}% of all items; past it they wait for confirmation)` : 'kept and flagged in the evidence';
  return (
    <>
      <Button variant="danger" onClick={() => setOpen(true)}>
        Close now
      </Button>
      {refused && (
        <div role="status" className="close-refused">
          <Banner tone="warning">{refused}</Banner>
        </div>
      )}
      <ConfirmDialog
        open={open}
        onClose={() => setOpen(false)}
        title={`Close “${c.name}” now?`}
        confirmLabel="Close the campaign"
        danger
        onConfirm={async () => {
          setRefused(null);
          try {
            await close.mutateAsync();
            toast('Closing: the evidence is ready in a moment');
          } catch (err) {
            if (isApiError(err, 'already_closed') || isApiError(err, 'still_generating')) setRefused(err.message);
            else throw err;
          }
        }}
      >
        <p>
          {formatNumber(c.progress.pending)} {c.progress.pending === 1 ? 'item is' : 'items are'} still undecided: {c.progress.pending === 1 ? 'it is' : 'they are'} {policy}. Reviewers can no longer decide. The
          evidence is written when it closes.
        </p>
      </ConfirmDialog>
    </>
  );
}
