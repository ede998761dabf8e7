import type { ChangeKind, ChangeRequestState, DecisionOutcome } from '../../../../core/approvals/schema.js';

/** How the portal names each change kind (inbox, request page, policy page). */
export const kindLabels: Record<ChangeKind, string> = {
  'scim_connection.create': 'Create a SCIM connection',
  'scim_connection.rotate': 'Rotate a SCIM token',
  'scim_connection.revoke': 'Revoke a SCIM connection or token',
  'sso_connection.create': 'Create an SSO connection',
  'sso_connection.update': 'Change an SSO connection',
  'sso_connection.delete': 'Delete an SSO connection',
  'domain.claim': 'Claim a domain',
  'domain.remove': 'Remove a domain',
  'role_mapping.set': 'Change a role mapping',
  'default_role.set': 'Change the default role',
  'portal_roles.set': 'Change a member’s portal roles',
  'webhook.create': 'Add a webhook endpoint',
  'webhook.rotate': 'Rotate a webhook secret',
  'webhook.delete': 'Delete a webhook endpoint',
  'guard.release': 'Release held leavers',
  'approval_policy.set': 'Change the approval policy',
};

export const stateLabels: Record<ChangeRequestState, { label: string; tone: 'ok' | 'warning' | 'error' | 'neutral' | 'info' }> = {
  pending: { label: 'Waiting for approval', tone: 'info' },
  cooling_off: { label: 'Cooling off', tone: 'warning' },
  approved: { label: 'Approved', tone: 'ok' },
  applying: { label: 'Applying', tone: 'info' },
  applied: { label: 'Applied', tone: 'ok' },
  failed: { label: 'Failed to apply', tone: 'error' },
  rejected: { label: 'Rejected', tone: 'error' },
  withdrawn: { label: 'Withdrawn', tone: 'neutral' },
  expired: { label: 'Expired', tone: 'neutral' },
  cancelled: { label: 'Cancelled', tone: 'neutral' },
};

/** Open: a decision, a withdrawal or a cancellation can still change its course. */
export const isOpen = (state: ChangeRequestState): boolean => state === 'pending' || state === 'cooling_off';

/** The sentence a decision's typed outcome is shown as, and whether it is good news. */
export function outcomeMessage(outcome: DecisionOutcome, left: number): { tone: 'success' | 'info' | 'warning'; text: string } {
  switch (outcome) {
    case 'recorded':
      return { tone: 'success', text: `Your approval is recorded. ${left > 0 ? `It needs ${left} more ${left === 1 ? 'approval' : 'approvals'} before it applies.` : 'It applies once the cooling-off period ends.'}` };
    case 'approved':
      return { tone: 'success', text: 'Approved: yours was the last approval needed, so the change is being applied now.' };
    case 'rejected':
      return { tone: 'success', text: 'Rejected: the change will not be made. The requester sees your comment.' };
    case 'refused_requester':
      return { tone: 'warning', text: 'You requested this change, so someone else must approve it.' };
    case 'refused_subject':
      return { tone: 'warning', text: 'This change is about you, so someone else must decide it.' };
    case 'refused_not_eligible':
      return { tone: 'warning', text: 'The approval policy does not let you decide this kind of change. Ask one of the people it names.' };
    case 'refused_already_decided_by_you':
      return { tone: 'warning', text: 'You have already decided this version of the request; each person counts once.' };
    case 'refused_stale_hash':
      return { tone: 'warning', text: 'The request was edited while you were reading it. Review the new version below and decide again.' };
    case 'already_closed':
      return { tone: 'info', text: 'This request was already closed, so your decision changed nothing.' };
    case 'expired':
      return { tone: 'info', text: 'This request expired before your decision, so nothing changed. The requester can ask again.' };
  }
  // An outcome this portal build does not know yet: say it plainly rather than fail.
  return { tone: 'info', text: `The request answered: ${String(outcome).replace(/_/g, ' ')}.` };
}

/** "2 d 3 h", "5 min", "40 s" until `at` (or since, for a negative span). */
export function formatSpan(ms: number): string {
  const s = Math.max(0, Math.round(Math.abs(ms) / 1000));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  if (m > 0) return `${m} min`;
  return `${s} s`;
}

/** Approvals that still count (not voided by an edit). */
export function approvedCount(r: { approvals: { valid: boolean; verdict: string }[] }): number {
  return r.approvals.filter((a) => a.valid && a.verdict === 'approve').length;
}
