import { useEffect, useMemo, useRef, useState } from 'react';
import { useSearchParams } from 'react-router';
import type { AccessKind, CampaignItemView, CampaignView, ItemOutcome } from '../../../../core/campaigns/schema.js';
import { Banner, Button, type Column, DataTable, Dialog, EmptyState, ErrorBanner, Field, FormError, KeysetPager, SearchBox, StatusBadge, useKeysetPager } from '../../components/index.js';
import { formatDateTime, formatRelative } from '../../lib/format.js';
import { useDecideItems, useItems } from './api.js';
import { ReassignDialog } from './reassign-dialog.js';
import {
  type Decision,
  type DecisionPlan,
  decisionBody,
  elapsedSince,
  headerState,
  planDecision,
  prune,
  type ResultSummary,
  selectable,
  summariseResult,
  toggle,
  toggleAll,
} from './selection.js';
import { accessKindLabels, assignedByLabels, describeApplied, describeSources, itemLabel, keepNeedsReason, lastUsedText, outcomeLabels, riskLabels, subjectName } from './words.js';

const PAGE_SIZE = 50;
const OUTCOMES = Object.keys(outcomeLabels) as ItemOutcome[];
const KINDS = Object.keys(accessKindLabels) as AccessKind[];

/**
 * The items of a campaign. `mine`: the signed-in reviewer's worklist (riskiest first), with
 * selection, bulk keep, revoke with a reason, and acknowledgement of access that changed after the
 * snapshot. `all`: every item (admin, reviewer, auditor), filterable by reviewer; admin and
 * reviewer move selected items to another reviewer.
 */
export function ItemsPanel({ campaign: c, view, canReassign = false }: { campaign: CampaignView; view: 'mine' | 'all'; canReassign?: boolean }) {
  const [params, setParams] = useSearchParams();
  const outcomeParam = params.get('outcome');
  // The worklist starts at what still waits; "any" shows decided items too.
  const outcome = outcomeParam === 'any' ? undefined : (OUTCOMES.find((o) => o === outcomeParam) ?? (view === 'mine' ? 'pending' : undefined));
  const accessKind = KINDS.find((k) => k === params.get('kind'));
  const search = params.get('q') ?? '';
  const reviewerId = view === 'all' ? (params.get('reviewer') ?? undefined) : undefined;
  const filterKey = JSON.stringify([view, outcome, accessKind, search, reviewerId]);
  const pager = useKeysetPager(filterKey);
  const open = c.state === 'open';
  const items = useItems(c.id, { view, outcome, accessKind, search: search || undefined, reviewerId, cursor: pager.cursor, limit: PAGE_SIZE }, { poll: open && view === 'all' });
  const rows = items.data?.data;

  const canDecide = view === 'mine' && open;
  const canSelect = canDecide || (canReassign && open);
  const [selection, setSelection] = useState<ReadonlySet<string>>(new Set());
  const [acknowledged, setAcknowledged] = useState<ReadonlySet<string>>(new Set());
  const [asking, setAsking] = useState<{ decision: Decision; items: CampaignItemView[]; plan: DecisionPlan } | null>(null);
  const [blocked, setBlocked] = useState<string[] | null>(null);
  const [summary, setSummary] = useState<ResultSummary | null>(null);
  const [moving, setMoving] = useState(false);
  const [sendError, setSendError] = useState<unknown>(null);
  const decide = useDecideItems(c.id);
  // The time the reviewer spends on the page for a decision: since it was shown, or since the last one.
  const clock = useRef(Date.now());

  useEffect(() => {
    if (rows) setSelection((s) => prune(s, rows));
  }, [rows]);

  const setFilter = (key: string, value: string | null) =>
    setParams((p) => {
      const n = new URLSearchParams(p);
      if (value) n.set(key, value);
      else n.delete(key);
      return n;
    });

  const chosen = useMemo(() => (rows ?? []).filter((r) => selection.has(r.id)), [rows, selection]);

  const send = async (decision: Decision, targets: CampaignItemView[], reason: string) => {
    setSendError(null);
    const body = decisionBody(decision, targets, reason, acknowledged, elapsedSince(clock.current, Date.now()));
    const result = await decide.mutateAsync(body);
    clock.current = Date.now();
    setSummary(summariseResult(decision, result, targets));
    const done = new Set(result.results.filter((r) => r.result !== 'refused').map((r) => r.itemId));
    setSelection((s) => new Set([...s].filter((id) => !done.has(id))));
  };

  /** Checks what the decision needs; asks for a reason in a dialog, or sends it straight away. */
  const start = (decision: Decision, targets: CampaignItemView[]) => {
    setSummary(null);
    const plan = planDecision(decision, targets, acknowledged);
    if (plan.unacknowledged.length > 0) {
      setBlocked(plan.unacknowledged);
      return;
    }
    setBlocked(null);
    if (plan.reasonRequired) setAsking({ decision, items: targets, plan });
    else void send(decision, targets, '').catch(setSendError);
  };

  const header = rows ? headerState(selection, rows) : 'none';
  const columns: Column<CampaignItemView>[] = [
    ...(canSelect
      ? [
          {
            key: 'select',
            header: <SelectAll state={header} disabled={!rows?.some(selectable)} onChange={() => rows && setSelection((s) => toggleAll(s, rows))} />,
            className: 'select-cell',
            render: (i: CampaignItemView) => (
              <input type="checkbox" aria-label={`Select ${itemLabel(i)}`} checked={selection.has(i.id)} disabled={!selectable(i)} onChange={() => setSelection((s) => toggle(s, i.id))} />
            ),
          },
        ]
      : []),
    {
      key: 'who',
      header: 'Who, what and why',
      render: (i) => (
        <>
          <div className="cell-strong">{subjectName(i)}</div>
          {i.subject.displayName && i.subject.name && i.subject.name !== i.subject.displayName && <div className="muted small">{i.subject.name}</div>}
          <div>
            <span className="kind-tag">{accessKindLabels[i.accessKind]}</span> <span className="access-name">{i.access}</span>
          </div>
          <ul className="plain-list sources small" aria-label="Why they have it">
            {describeSources(i).map((line) => (
              <li key={line}>{line}</li>
            ))}
          </ul>
          <div className="muted small" title={i.lastUsedAt ? formatDateTime(i.lastUsedAt) : undefined}>
            Last used: {lastUsedText(i, (at) => formatRelative(at))}
          </div>
        </>
      ),
    },
    {
      key: 'assessment',
      header: 'Risk and recommendation',
      render: (i) => (
        <div className="assessment">
          {i.riskReasons.length === 0 ? (
            <span className="muted small">Low risk</span>
          ) : (
            <span className="risk-list">
              {i.riskReasons.map((r) => (
                <StatusBadge key={r} status={r} tone={r === 'privileged_role' ? 'warning' : 'error'}>
                  {riskLabels[r]}
                </StatusBadge>
              ))}
            </span>
          )}
          <div>
            <StatusBadge status={i.recommendation} tone={i.recommendation === 'revoke' ? 'error' : 'ok'}>
              {i.recommendation === 'revoke' ? 'Recommended: revoke' : 'Recommended: keep'}
            </StatusBadge>
            <div className="small recommendation-reason">{i.recommendationReason}</div>
          </div>
        </div>
      ),
    },
    ...(view === 'all'
      ? [
          {
            key: 'reviewer',
            header: 'Reviewer',
            render: (i: CampaignItemView) => (
              <>
                <div>{i.reviewerName ?? <span className="muted">nobody</span>}</div>
                <div className="muted small">
                  {assignedByLabels[i.assignedBy] ?? i.assignedBy}
                  {i.escalated ? ' · escalated' : ''}
                </div>
              </>
            ),
          },
        ]
      : []),
    {
      key: 'status',
      header: 'Status',
      render: (i) => (
        <ItemStatus item={i} acknowledged={acknowledged.has(i.id)} canAcknowledge={canDecide} onAcknowledge={(on) => setAcknowledged((s) => (on ? new Set(s).add(i.id) : new Set([...s].filter((x) => x !== i.id))))} />
      ),
    },
    ...(canDecide
      ? [
          {
            key: 'actions',
            header: <span className="visually-hidden">Decide</span>,
            render: (i: CampaignItemView) =>
              selectable(i) ? (
                <span className="decide-actions">
                  <Button size="small" onClick={() => start('keep', [i])} disabled={decide.isPending} aria-label={`Keep ${itemLabel(i)}`}>
                    Keep
                  </Button>
                  <Button size="small" variant="danger" onClick={() => start('revoke', [i])} disabled={decide.isPending} aria-label={`Revoke ${itemLabel(i)}`}>
                    Revoke
                  </Button>
                </span>
              ) : null,
          },
        ]
      : []),
  ];

  const filtered = !!(outcomeParam || accessKind || search || reviewerId);
  return (
    <div className="items-panel" data-testid={view === 'mine' ? 'worklist' : 'all-items'}>
      <div className="toolbar">
        <SearchBox label="Search" value={search} placeholder="Person, service account or role" onSearch={(v) => setFilter('q', v.trim() || null)} />
        <div className="field">
          <label htmlFor={`${view}-outcome`}>Status</label>
          <select id={`${view}-outcome`} className="input" value={outcomeParam === 'any' ? 'any' : (outcome ?? 'any')} onChange={(e) => setFilter('outcome', e.target.value === (view === 'mine' ? 'pending' : 'any') ? null : e.target.value)}>
            <option value="any">Any status</option>
            {OUTCOMES.map((o) => (
              <option key={o} value={o}>
                {outcomeLabels[o].label}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${view}-kind`}>Kind</label>
          <select id={`${view}-kind`} className="input" value={accessKind ?? ''} onChange={(e) => setFilter('kind', e.target.value || null)}>
            <option value="">Every kind</option>
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {accessKindLabels[k]}
              </option>
            ))}
          </select>
        </div>
        {view === 'all' && (
          <div className="field">
            <label htmlFor="all-reviewer">Reviewer</label>
            <select id="all-reviewer" className="input" value={reviewerId ?? ''} onChange={(e) => setFilter('reviewer', e.target.value || null)}>
              <option value="">Every reviewer</option>
              {c.progress.reviewers
                .filter((r) => r.reviewerId)
                .map((r) => (
                  <option key={r.reviewerId} value={r.reviewerId!}>
                    {r.reviewerName ?? 'a former portal user'}
                  </option>
                ))}
            </select>
          </div>
        )}
      </div>

      {canSelect && (
        <div className="bulk-bar" role="group" aria-label="Selected items">
          <span aria-live="polite" data-testid="selected-count">
            {chosen.length === 0 ? 'No item selected' : `${chosen.length} selected`}
          </span>
          {canDecide && (
            <>
              <Button variant="primary" disabled={chosen.length === 0 || decide.isPending} busy={decide.isPending && !asking} busyLabel="Deciding…" onClick={() => start('keep', chosen)}>
                Keep selected
              </Button>
              <Button variant="danger" disabled={chosen.length === 0 || decide.isPending} onClick={() => start('revoke', chosen)}>
                Revoke selected…
              </Button>
            </>
          )}
          {canReassign && open && (
            <Button disabled={chosen.length === 0} onClick={() => setMoving(true)}>
              Reassign selected…
            </Button>
          )}
          {chosen.length > 0 && (
            <Button variant="ghost" onClick={() => setSelection(new Set())}>
              Clear selection
            </Button>
          )}
        </div>
      )}

      {blocked && (
        <div role="alert" data-testid="needs-acknowledgement">
          <Banner tone="warning" title="The access changed since the snapshot">
            Look at what gives them the access now, then tick “I have seen the change” for: {blocked.join('; ')}.
          </Banner>
        </div>
      )}
      <ErrorBanner error={sendError} title="The decision was not recorded" />
      {summary && <DecisionSummary summary={summary} onDismiss={() => setSummary(null)} />}
      {view === 'mine' && !open && c.state !== 'generating' && <Banner title="This campaign is closed">Your decisions are in its evidence. Nothing is left to decide.</Banner>}

      <ErrorBanner error={items.error} title="The items could not be loaded" onRetry={() => void items.refetch()} />
      <DataTable
        caption={view === 'mine' ? 'Your items, riskiest first' : 'Every item, riskiest first'}
        columns={columns}
        rows={rows}
        rowKey={(i) => i.id}
        loading={items.isFetching && !items.isRefetching}
        empty={
          filtered ? (
            <EmptyState title="No item matches">Change the search or the filters.</EmptyState>
          ) : view === 'mine' ? (
            <EmptyState title={open ? 'Nothing left for you to decide' : 'No item for you'}>{open ? 'Every item assigned to you is decided. Thank you.' : 'Nothing in this campaign was assigned to you.'}</EmptyState>
          ) : (
            <EmptyState title="No item">Nothing was in scope.</EmptyState>
          )
        }
      />
      {rows && <KeysetPager pager={pager} next={items.data?.next} shown={rows.length} pageSize={PAGE_SIZE} busy={items.isFetching} label="Item pages" />}

      {asking && (
        <ReasonDialog
          decision={asking.decision}
          items={asking.items}
          plan={asking.plan}
          onClose={() => setAsking(null)}
          onSubmit={async (reason) => {
            await send(asking.decision, asking.items, reason);
            setAsking(null);
          }}
        />
      )}
      {moving && (
        <ReassignDialog
          campaignId={c.id}
          what={`${chosen.length} selected ${chosen.length === 1 ? 'item' : 'items'}`}
          body={{ itemIds: chosen.map((i) => i.id) }}
          onClose={() => setMoving(false)}
          onDone={() => setSelection(new Set())}
        />
      )}
    </div>
  );
}

/** The header's select-all box: checked, mixed (indeterminate) or empty. */
function SelectAll({ state, disabled, onChange }: { state: 'none' | 'some' | 'all'; disabled: boolean; onChange: () => void }) {
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (ref.current) ref.current.indeterminate = state === 'some';
  }, [state]);
  return <input ref={ref} type="checkbox" aria-label="Select every item on this page" checked={state === 'all'} disabled={disabled} onChange={onChange} />;
}

function ItemStatus({ item: i, acknowledged, canAcknowledge, onAcknowledge }: { item: CampaignItemView; acknowledged: boolean; canAcknowledge: boolean; onAcknowledge: (on: boolean) => void }) {
  const outcome = outcomeLabels[i.outcome];
  const applied = describeApplied(i.applied);
  return (
    <div className="item-status">
      <StatusBadge status={i.outcome} tone={outcome.tone}>
        {outcome.label}
      </StatusBadge>
      {i.outcome === 'pending' && i.drift === 'changed' && (
        <div className="drift">
          <StatusBadge status="changed" tone="warning">
            Changed since the snapshot
          </StatusBadge>
          <div className="muted small">The reasons shown were taken at the start; what grants it now differs.</div>
          {canAcknowledge && (
            <label className="checkbox">
              <input type="checkbox" checked={acknowledged} onChange={(e) => onAcknowledge(e.target.checked)} aria-label={`I have seen the change to ${itemLabel(i)}`} />
              <span aria-hidden="true">I have seen the change</span>
            </label>
          )}
        </div>
      )}
      {i.outcome === 'pending' && i.drift === 'gone' && <div className="muted small">The access is gone: the item closes itself.</div>}
      {i.outcome === 'pending' && keepNeedsReason(i) && <div className="muted small">Keeping it needs a reason.</div>}
      {i.decidedAt && (
        <div className="muted small">
          {formatRelative(i.decidedAt)}
          {i.decisionReason ? `: “${i.decisionReason}”` : ''}
        </div>
      )}
      {applied && <div className="muted small">{applied}</div>}
    </div>
  );
}

/**
 * The answer to a decision. It takes focus: the row (or dialog) the decision came from is about to
 * disappear, and keyboard and screen-reader users continue from what happened.
 */
function DecisionSummary({ summary, onDismiss }: { summary: ResultSummary; onDismiss: () => void }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const frame = requestAnimationFrame(() => ref.current?.focus());
    return () => cancelAnimationFrame(frame);
  }, [summary]);
  return (
    <div ref={ref} tabIndex={-1} className="decision-summary" role="status" data-testid="decision-summary" data-tone={summary.tone}>
      <Banner tone={summary.tone} title={summary.tone === 'success' ? 'Recorded' : 'Some items were not decided'}>
        <p>{summary.headline}</p>
        {summary.refusals.length > 0 && (
          <ul className="refusals" data-testid="refusals">
            {summary.refusals.map((r) => (
              <li key={r.itemId} data-code={r.code}>
                {r.text}
              </li>
            ))}
          </ul>
        )}
        <Button size="small" variant="ghost" onClick={onDismiss}>
          Dismiss
        </Button>
      </Banner>
    </div>
  );
}

/** The reason a revoke (always) or a keep of unused privileged access needs; goes into the evidence. */
function ReasonDialog({ decision, items, plan, onClose, onSubmit }: { decision: Decision; items: CampaignItemView[]; plan: DecisionPlan; onClose: () => void; onSubmit: (reason: string) => Promise<void> }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>(null);
  const n = items.length;
  const what = n === 1 ? itemLabel(items[0]!) : `${n} items`;
  const submit = async () => {
    if (!reason.trim()) {
      setError(decision === 'revoke' ? 'Say why the access goes: the reason is recorded in the evidence.' : 'Say why this unused privileged access stays.');
      return;
    }
    setError(undefined);
    setBusy(true);
    setFailure(null);
    try {
      await onSubmit(reason);
    } catch (err) {
      setFailure(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      open
      onClose={onClose}
      title={decision === 'revoke' ? `Revoke ${what}` : `Keep ${what}`}
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button variant={decision === 'revoke' ? 'danger' : 'primary'} busy={busy} busyLabel={decision === 'revoke' ? 'Revoking…' : 'Keeping…'} onClick={() => void submit()}>
            {decision === 'revoke' ? `Revoke ${n === 1 ? 'it' : `${n} items`}` : `Keep ${n === 1 ? 'it' : `${n} items`}`}
          </Button>
        </>
      }
    >
      <form className="form" noValidate onSubmit={(e) => { e.preventDefault(); void submit(); }}>
        {decision === 'revoke' ? (
          <p>The access is removed through the identity’s own lifecycle: credentials that depended on it stop working.</p>
        ) : (
          <p>
            Keeping privileged access nobody used for 90 days needs a reason: {plan.unusedPrivileged.join('; ')}.
          </p>
        )}
        <Field label="Reason" hint="Recorded with the decision in the evidence and the audit log." error={error} required>
          {(props) => (
            <textarea
              className="input"
              rows={3}
              maxLength={2000}
              value={reason}
              onChange={(e) => {
                setReason(e.target.value);
                if (e.target.value.trim()) setError(undefined);
              }}
              {...props}
            />
          )}
        </Field>
        <FormError error={failure} />
      </form>
    </Dialog>
  );
}
