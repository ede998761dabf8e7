import type { ReactNode } from 'react';
import { Link } from 'react-router';
import type { ChangeKind, ChangeRequestView } from '../../../core/approvals/schema.js';
import { approvalRequestPath, approvalsPhrase, useKindPolicy } from '../lib/approvals.js';
import { Banner } from './feedback.js';

/**
 * Said before a change is submitted: whether it applies at once or waits for approvers under the
 * tenant's policy ("needs 2 approvals under your policy"). Renders nothing while the policy loads.
 */
export function NeedsApproval({ kind, action = 'This change', children }: { kind: ChangeKind; action?: string; children?: ReactNode }) {
  const rule = useKindPolicy(kind);
  if (!rule || rule.approvals === 0) return null;
  return (
    <p className="approval-note" data-testid="needs-approval">
      <span className="badge badge-info">Approval</span> {action} {approvalsPhrase(rule)} under your policy: submitting it creates a request that{' '}
      {rule.approvals === 1 ? 'another person decides' : 'other people decide'} before anything changes.
      {children && <> {children}</>}
    </p>
  );
}

/** Said after a change was submitted and waits: where its request is. */
export function ChangeRequested({ request, title = 'Sent for approval' }: { request: ChangeRequestView; title?: string }) {
  const left = request.approvalsNeeded - request.approvals.filter((a) => a.valid && a.verdict === 'approve').length;
  return (
    <div data-testid="change-requested">
      <Banner tone="success" title={title}>
        <p>
          “{request.description.summary}” {request.state === 'cooling_off' ? 'applies after its cooling-off period unless someone cancels it' : `waits for ${left} ${left === 1 ? 'approval' : 'approvals'}`}.{' '}
          <Link to={approvalRequestPath(request.id)}>Open the request</Link> to follow it.
        </p>
      </Banner>
    </div>
  );
}
