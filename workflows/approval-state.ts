import type { ApprovalDecisionOutcome, ApprovalPhase, ApprovalStatus, ApprovalWorkflowInput, DecideInput } from './messages.js';

/**
 * The state machine of one change request (workflows/approval.ts wires it to Temporal): who has
 * approved the current version, which phase it is in, and why a decision would be refused. Plain
 * and deterministic: time is passed in (workflow time).
 */
export class ApprovalState {
  phase: ApprovalPhase = 'pending';
  changeHash: string;
  /** Users whose approval of the current hash counts. */
  readonly approvals = new Set<string>();
  /** Users who decided on the current hash (either way). */
  readonly decided = new Set<string>();
  escalated = false;
  appliesAt: number | null = null;
  reminders = 0;
  /** Bumped on every change the main loop must look at. */
  version = 0;
  readonly expiresAt: number;

  constructor(
    readonly input: ApprovalWorkflowInput,
    readonly startedAt: number,
  ) {
    this.changeHash = input.changeHash;
    this.expiresAt = startedAt + input.expiresInMs;
  }

  get open(): boolean {
    return this.phase === 'pending' || this.phase === 'cooling_off';
  }

  /** Fewer eligible approvers (M) than needed (N) and a cooling-off period: M approvals, then wait. */
  get coolingMode(): boolean {
    return this.input.coolingOffMs !== null && this.input.eligibleApprovers < this.input.approvalsNeeded;
  }

  /** Pending, in cooling mode, with all M eligible approvals in: the cooling-off period starts. */
  shouldCoolOff(): boolean {
    return this.phase === 'pending' && this.coolingMode && this.approvals.size >= this.input.eligibleApprovers;
  }

  /** What the next approval closes the request at, for the decision's transaction. */
  closeAt(now: number): { approvals: number; then: 'approved' | 'cooling_off'; appliesAt?: string } {
    if (this.phase === 'pending' && this.coolingMode) {
      return { approvals: this.input.eligibleApprovers, then: 'cooling_off', appliesAt: new Date(now + (this.input.coolingOffMs ?? 0)).toISOString() };
    }
    return { approvals: this.input.approvalsNeeded, then: 'approved' };
  }

  isEligible(userId: string, roles: readonly string[]): boolean {
    return (
      roles.some((r) => this.input.eligibleRoles.includes(r)) ||
      this.input.eligibleUserIds.includes(userId) ||
      (this.escalated && roles.includes('admin'))
    );
  }

  /** Why this decision is refused (checked by the Update's validator: nothing is written), or null. */
  refusal(d: DecideInput, now: number): ApprovalDecisionOutcome | null {
    if (!this.open) return this.phase === 'expired' ? 'expired' : 'already_closed';
    if (this.phase === 'pending' && now >= this.expiresAt) return 'expired';
    if (this.input.requesterId !== null && d.userId === this.input.requesterId) return 'refused_requester';
    if (this.input.subjectUserIds.includes(d.userId)) return 'refused_subject';
    if (!this.isEligible(d.userId, d.roles)) return 'refused_not_eligible';
    if (this.decided.has(d.userId) && d.changeHash === this.changeHash) return 'refused_already_decided_by_you';
    if (d.changeHash !== this.changeHash) return 'refused_stale_hash';
    return null;
  }

  /** Who may cancel: an eligible approver or an admin, never the requester (they withdraw). */
  cancelRefusal(userId: string, roles: readonly string[]): 'refused_requester' | 'refused_not_eligible' | 'already_closed' | null {
    if (!this.open) return 'already_closed';
    if (this.input.requesterId !== null && userId === this.input.requesterId) return 'refused_requester';
    if (!this.isEligible(userId, roles) && !roles.includes('admin')) return 'refused_not_eligible';
    return null;
  }

  /** The decision's transaction answered: mirror it. */
  decisionRecorded(d: DecideInput, result: { outcome: ApprovalDecisionOutcome; state: string }, appliesAt: string | undefined): void {
    if (result.outcome === 'recorded' || result.outcome === 'approved' || result.outcome === 'rejected') {
      if (d.changeHash === this.changeHash) {
        this.decided.add(d.userId);
        if (d.verdict === 'approve') this.approvals.add(d.userId);
      }
    }
    if (result.state === 'approved' || result.state === 'rejected' || result.state === 'expired') this.phase = result.state;
    else if (result.state === 'cooling_off' && this.phase === 'pending') this.coolOff(appliesAt ? Date.parse(appliesAt) : 0);
    this.version++;
  }

  coolOff(appliesAt: number): void {
    this.phase = 'cooling_off';
    this.appliesAt = appliesAt;
    this.version++;
  }

  /** An edit: the request is bound to a new hash; earlier decisions no longer count. */
  revise(changeHash: string): void {
    this.changeHash = changeHash;
    this.approvals.clear();
    this.decided.clear();
    this.phase = 'pending';
    this.appliesAt = null;
    this.version++;
  }

  close(phase: ApprovalPhase): void {
    this.phase = phase;
    this.version++;
  }

  escalate(): void {
    this.escalated = true;
    this.version++;
  }

  status(): ApprovalStatus {
    return {
      requestId: this.input.requestId,
      phase: this.phase,
      changeHash: this.changeHash,
      approvals: [...this.approvals].sort(),
      escalated: this.escalated,
      appliesAt: this.appliesAt,
      reminders: this.reminders,
    };
  }
}
