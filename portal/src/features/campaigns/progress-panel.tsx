import { useState } from 'react';
import type { CampaignView, ReviewerProgress } from '../../../../core/campaigns/schema.js';
import { Banner, Button, type Column, DataTable, Dialog, EmptyState, Field, FormError, Progress, Section, StatusBadge, useToast } from '../../components/index.js';
import { formatDateTime, formatNumber } from '../../lib/format.js';
import { evidenceUrl, useConfirmNoResponse } from './api.js';
import { ReassignDialog } from './reassign-dialog.js';
import { useAccessRoles } from './roles.js';
import { formatDuration, percent } from './words.js';

/** A small labelled bar for table cells ("12 / 40"). */
export function MiniBar({ label, value, max }: { label: string; value: number; max: number }) {
  return (
    <span className="mini-bar">
      <progress value={value} max={Math.max(max, 1)} aria-label={label} />
      <span className="mini-bar-text">
        {formatNumber(value)} / {formatNumber(max)}
      </span>
    </span>
  );
}

/** Live progress: decided, revoked and overdue bars, the counts behind them, then per reviewer. */
export function ProgressPanel({ campaign: c }: { campaign: CampaignView }) {
  const p = c.progress;
  const revoked = p.revoked + p.noResponseRevoked;
  const open = c.state === 'open';
  return (
    <>
      <Section title="Progress">
        {c.state === 'generating' ? (
          <Progress label="Preparing the items" detail={`${formatNumber(c.itemsTotal)} items so far. Reviewers are asked once every item is ready.`} />
        ) : p.items === 0 ? (
          <EmptyState title="Nothing to review">Nothing was in scope when the campaign started.</EmptyState>
        ) : (
          <div className="progress-grid" data-testid="campaign-progress">
            <Progress label="Decided" value={p.decided} max={p.items} detail={`${formatNumber(p.decided)} of ${formatNumber(p.items)} items (${formatNumber(p.kept)} kept, ${formatNumber(p.revoked)} revoked)`} />
            <Progress label="Revoked" value={revoked} max={p.items} detail={`${formatNumber(revoked)} of ${formatNumber(p.items)} items${p.noResponseRevoked ? `, ${formatNumber(p.noResponseRevoked)} for no response` : ''}`} />
            <Progress label="Overdue" value={p.overdue} max={p.items} detail={`${formatNumber(p.overdue)} pending past the escalation time or the deadline`} />
          </div>
        )}
        <dl className="facts counts" data-testid="campaign-counts">
          <dt>Waiting for a decision</dt>
          <dd>{formatNumber(p.pending)}</dd>
          <dt>Kept</dt>
          <dd>{formatNumber(p.kept)}</dd>
          <dt>Revoked</dt>
          <dd>{formatNumber(p.revoked)}</dd>
          <dt>Access gone by itself</dt>
          <dd>{formatNumber(p.gone)}</dd>
          {(p.noResponseKept > 0 || p.noResponseRevoked > 0 || p.awaitingConfirmation > 0 || !open) && (
            <>
              <dt>No response: kept and flagged</dt>
              <dd>{formatNumber(p.noResponseKept)}</dd>
              <dt>No response: revoked</dt>
              <dd>{formatNumber(p.noResponseRevoked)}</dd>
              <dt>No response: waiting for confirmation</dt>
              <dd>{formatNumber(p.awaitingConfirmation)}</dd>
            </>
          )}
        </dl>
      </Section>
      <ReviewerBreakdown campaign={c} />
      {p.awaitingConfirmation > 0 && <HeldRevokes campaign={c} />}
    </>
  );
}

function ReviewerBreakdown({ campaign: c }: { campaign: CampaignView }) {
  const { manage } = useAccessRoles();
  const [moving, setMoving] = useState<ReviewerProgress | null>(null);
  const canMove = manage && c.state === 'open';
  const stamp = c.settings.rubberStampSeconds;
  const columns: Column<ReviewerProgress>[] = [
    {
      key: 'reviewer',
      header: 'Reviewer',
      render: (r) => (
        <>
          <span className="cell-strong">{r.reviewerName ?? (r.reviewerId ? 'a former portal user' : 'nobody (unassigned)')}</span>
          {r.rubberStamp && (
            <div>
              <StatusBadge status="rubber-stamp" tone="warning">
                Kept all they decided, median under {stamp} s
              </StatusBadge>
            </div>
          )}
        </>
      ),
    },
    { key: 'decided', header: 'Decided', render: (r) => <MiniBar label={`${r.reviewerName ?? 'unassigned'}: decided`} value={r.decided} max={r.assigned} /> },
    { key: 'kept', header: 'Kept', className: 'num' },
    { key: 'revoked', header: 'Revoked', className: 'num' },
    { key: 'overdue', header: 'Overdue', className: 'num', render: (r) => (r.overdue > 0 ? <strong className="text-warning">{formatNumber(r.overdue)}</strong> : '0') },
    { key: 'median', header: 'Median per decision', className: 'num hide-narrow', render: (r) => formatDuration(r.medianDecisionMs) },
    ...(canMove
      ? [
          {
            key: 'actions',
            header: <span className="visually-hidden">Actions</span>,
            render: (r: ReviewerProgress) =>
              r.reviewerId && r.assigned - r.decided > 0 ? (
                <Button size="small" onClick={() => setMoving(r)} aria-label={`Reassign pending: ${r.reviewerName ?? 'this reviewer'}`}>
                  Reassign
                </Button>
              ) : null,
          },
        ]
      : []),
  ];
  const flagged = c.progress.reviewers.filter((r) => r.rubberStamp).length;
  return (
    <Section title="Per reviewer">
      {flagged > 0 && (
        <Banner tone="warning" title={`${flagged} ${flagged === 1 ? 'reviewer keeps' : 'reviewers keep'} everything, fast`}>
          They kept every item they decided, with a median under {stamp} s per decision. The evidence flags them; consider asking them to look again.
        </Banner>
      )}
      <div className="breakdown" data-testid="reviewer-breakdown">
        <DataTable caption="Progress per reviewer" columns={columns} rows={c.progress.reviewers} rowKey={(r) => r.reviewerId ?? 'unassigned'} empty={<EmptyState title="No reviewer yet" />} />
      </div>
      {moving && moving.reviewerId && (
        <ReassignDialog campaignId={c.id} what={`the pending items of ${moving.reviewerName ?? 'this reviewer'}`} body={{ fromReviewerId: moving.reviewerId }} onClose={() => setMoving(null)} />
      )}
    </Section>
  );
}

/** No-response revokes held over the cap: an admin or reviewer confirms or declines them, with a reason. */
function HeldRevokes({ campaign: c }: { campaign: CampaignView }) {
  const { manage } = useAccessRoles();
  const [confirm, setConfirm] = useState<boolean | null>(null);
  const n = c.progress.awaitingConfirmation;
  return (
    <Section title="Revokes waiting for confirmation">
      <p>
        Nobody answered for <strong>{formatNumber(n)}</strong> {n === 1 ? 'item' : 'items'}, and revoking {n === 1 ? 'it' : 'them'} would pass the cap of {c.settings.noResponse.revokeCapPercent}% of all items
        ({percent(n + c.progress.noResponseRevoked, c.progress.items)}% in all). {n === 1 ? 'It keeps' : 'They keep'} the access until someone decides.
      </p>
      {manage ? (
        <div className="form-actions">
          <Button variant="danger" onClick={() => setConfirm(true)}>
            Confirm the revokes
          </Button>
          <Button onClick={() => setConfirm(false)}>Decline: keep the access</Button>
        </div>
      ) : (
        <p className="muted">An admin or reviewer decides them.</p>
      )}
      {confirm !== null && <ConfirmHeldDialog campaignId={c.id} count={n} confirm={confirm} onClose={() => setConfirm(null)} />}
    </Section>
  );
}

function ConfirmHeldDialog({ campaignId, count, confirm, onClose }: { campaignId: string; count: number; confirm: boolean; onClose: () => void }) {
  const decide = useConfirmNoResponse(campaignId);
  const toast = useToast();
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | undefined>();
  const submit = async () => {
    if (!reason.trim()) {
      setError('Say why: the reason goes into the evidence.');
      return;
    }
    setError(undefined);
    const r = await decide.mutateAsync({ confirm, reason: reason.trim() });
    toast(confirm ? `${r.revoked} revoked, ${r.kept} kept` : `${r.kept} kept and flagged`);
    onClose();
  };
  return (
    <Dialog
      open
      onClose={onClose}
      title={confirm ? `Revoke ${count} unanswered ${count === 1 ? 'item' : 'items'}?` : `Keep ${count} unanswered ${count === 1 ? 'item' : 'items'}?`}
      footer={
        <>
          <Button onClick={onClose} disabled={decide.isPending}>
            Cancel
          </Button>
          <Button variant={confirm ? 'danger' : 'primary'} busy={decide.isPending} onClick={() => void submit().catch(() => {})}>
            {confirm ? 'Revoke them' : 'Keep them'}
          </Button>
        </>
      }
    >
      <p>{confirm ? 'The access is taken away through each identity’s lifecycle, as a reviewer’s revoke would be.' : 'The access stays; the evidence flags the items as unanswered.'}</p>
      <Field label="Reason" error={error} required>
        {(props) => <textarea className="input" rows={3} maxLength={2000} value={reason} onChange={(e) => setReason(e.target.value)} {...props} />}
      </Field>
      <FormError error={decide.error} />
    </Dialog>
  );
}

/** After close: the evidence downloads and the summary anchored in the audit chain. */
export function EvidencePanel({ campaign: c }: { campaign: CampaignView }) {
  const s = c.summary;
  return (
    <Section title="Evidence">
      {c.state !== 'closed' ? (
        <p className="muted">The evidence (every item, who decided what, when, why and how it was applied) can be downloaded once the campaign closes.</p>
      ) : (
        <>
          <p>Every item with its subject, access, reviewer, decision, time, reason and how it was applied.</p>
          <div className="form-actions evidence-links">
            <a className="btn btn-primary" href={evidenceUrl(c.id, 'csv')} download data-testid="evidence-csv">
              Download CSV
            </a>
            <a className="btn btn-secondary" href={evidenceUrl(c.id, 'json')} download data-testid="evidence-json">
              Download JSON
            </a>
          </div>
          {s && (
            <dl className="facts" data-testid="evidence-summary">
              <dt>Closed</dt>
              <dd>{formatDateTime(s.closedAt)}</dd>
              <dt>Evidence digest (SHA-256)</dt>
              <dd>
                <code data-testid="evidence-digest">{s.evidenceDigest}</code>
              </dd>
              <dt>Audit chain entry</dt>
              <dd>
                #{s.auditChain.seq} <code className="muted">{s.auditChain.hash}</code>
              </dd>
              <dt>Flagged reviewers</dt>
              <dd>{s.flaggedReviewers.length === 0 ? 'none' : s.flaggedReviewers.map((r) => `${r.reviewerName ?? 'a former portal user'} (${r.decided} kept, median ${formatDuration(r.medianDecisionMs)})`).join('; ')}</dd>
            </dl>
          )}
          {s && <p className="muted small">The digest is recorded in the campaign.closed entry of your audit log, whose hash chains to every entry before it: a changed evidence file no longer matches.</p>}
        </>
      )}
    </Section>
  );
}
