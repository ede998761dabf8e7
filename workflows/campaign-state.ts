import type { CampaignPhase, CampaignResume, CampaignStatus, CampaignWorkflowInput, CloseCampaignNowOutcome } from './messages.js';

/** What openCampaign answers (core/campaigns/engine.ts OpenResult without its events). */
export interface OpenAnswer {
  itemsTotal: number;
  dueInMs: number;
  remindEveryMs: number;
  escalateInMs: number;
  escalates: boolean;
}

/** The step the open campaign owes now, in the order they are taken. */
export type DueStep = 'close' | 'escalate' | 'remind' | 'recount';

/**
 * The state machine of one campaign run (workflows/campaign.ts wires it to Temporal): its phase,
 * the counts it holds (never items), and its timers as workflow times. Plain and deterministic:
 * time is passed in.
 */
export class CampaignRun {
  phase: CampaignPhase;
  items: number;
  pending = 0;
  remindersSent: number;
  escalated: boolean;
  readonly runs: number;
  dueAt = Infinity;
  nextReminderAt = Infinity;
  escalateAt = Infinity;
  remindEveryMs = 0;
  /** A security user asked to close now (closeCampaignNowUpdate). */
  closeRequested = false;
  /** Decisions were signalled since the last count. */
  recountWanted = false;
  /** Bumped on every message the main loop must look at. */
  version = 0;
  private readonly resumedReminderAt: number | undefined;

  constructor(readonly input: CampaignWorkflowInput) {
    const r = input.resume;
    this.phase = r?.phase ?? 'generating';
    this.items = r?.items ?? 0;
    this.remindersSent = r?.remindersSent ?? 0;
    this.escalated = r?.escalated ?? false;
    this.runs = r?.runs ?? 0;
    this.resumedReminderAt = r?.nextReminderAt;
  }

  generated(inserted: number): void {
    this.items += inserted;
  }

  /**
   * The campaign opened (or answered again after continue-as-new): timers from the database's
   * answer. Reminders every remindEveryMs until the deadline; escalation once, when the policy
   * escalates and it falls before the deadline.
   */
  opened(answer: OpenAnswer, now: number): void {
    this.phase = 'open';
    this.items = answer.itemsTotal;
    this.dueAt = now + answer.dueInMs;
    this.remindEveryMs = answer.remindEveryMs;
    this.nextReminderAt = this.resumedReminderAt ?? now + answer.remindEveryMs;
    const escalateAt = now + answer.escalateInMs;
    this.escalateAt = answer.escalates && !this.escalated && escalateAt < this.dueAt ? escalateAt : Infinity;
  }

  /** Why closing now is refused (checked by the Update's validator: nothing changes), or null. */
  closeRefusal(): Exclude<CloseCampaignNowOutcome, 'closing'> | null {
    if (this.phase === 'generating') return 'still_generating';
    if (this.phase !== 'open' || this.closeRequested) return 'already_closed';
    return null;
  }

  requestClose(): void {
    this.closeRequested = true;
    this.version++;
  }

  decided(): void {
    this.recountWanted = true;
    this.version++;
  }

  /** The step owed at `now`, or null (then wait until `nextWake`). */
  dueStep(now: number): DueStep | null {
    if (this.closeRequested || now >= this.dueAt) return 'close';
    if (now >= this.escalateAt) return 'escalate';
    if (now >= this.nextReminderAt && this.nextReminderAt < this.dueAt) return 'remind';
    if (this.recountWanted) return 'recount';
    return null;
  }

  escalatedNow(): void {
    this.escalated = true;
    this.escalateAt = Infinity;
  }

  /** One reminder covers the rounds a late run missed (a worker down for days sends one, not a burst). */
  remindedNow(now: number): void {
    this.remindersSent++;
    const every = Math.max(1, this.remindEveryMs);
    this.nextReminderAt += every;
    if (this.nextReminderAt <= now) this.nextReminderAt = now + every;
  }

  counted(pending: number): void {
    this.pending = pending;
    this.recountWanted = false;
  }

  /** When the next timer is due. */
  nextWake(): number {
    return Math.min(this.dueAt, this.escalateAt, this.nextReminderAt < this.dueAt ? this.nextReminderAt : Infinity);
  }

  close(phase: 'closing' | 'closed' | 'cancelled'): void {
    this.phase = phase;
    this.version++;
  }

  resume(): CampaignResume {
    return {
      phase: this.phase === 'generating' ? 'generating' : 'open',
      items: this.items,
      remindersSent: this.remindersSent,
      ...(this.phase === 'open' && Number.isFinite(this.nextReminderAt) ? { nextReminderAt: this.nextReminderAt } : {}),
      escalated: this.escalated,
      runs: this.runs + 1,
    };
  }

  status(): CampaignStatus {
    return {
      tenantId: this.input.tenantId,
      campaignId: this.input.campaignId,
      phase: this.phase,
      items: this.items,
      pending: this.pending,
      remindersSent: this.remindersSent,
      escalated: this.escalated,
    };
  }
}
