import type { CampaignItemView, DecideItemsBody, DecideItemsResult } from '../../../../core/campaigns/schema.js';
import { itemLabel, keepNeedsReason, refusalMessages } from './words.js';

/**
 * The worklist's pure logic: which rows can be selected, the select-all box, what a bulk decision
 * needs before it is sent, and how its per-item answers read. The page holds the state; these
 * functions only compute it, so the unit tests cover the rules reviewers meet.
 */

export type Selection = ReadonlySet<string>;

/** Only pending items can be decided (or reassigned). */
export const selectable = (item: Pick<CampaignItemView, 'outcome'>): boolean => item.outcome === 'pending';

export function toggle(selection: Selection, id: string): Set<string> {
  const next = new Set(selection);
  if (next.has(id)) next.delete(id);
  else next.add(id);
  return next;
}

/** The select-all box over the rows shown: checked, mixed (some) or empty. */
export function headerState(selection: Selection, rows: readonly Pick<CampaignItemView, 'id' | 'outcome'>[]): 'none' | 'some' | 'all' {
  const ids = rows.filter(selectable).map((r) => r.id);
  const chosen = ids.filter((id) => selection.has(id)).length;
  if (chosen === 0) return 'none';
  return chosen === ids.length ? 'all' : 'some';
}

/** Select-all: selects every selectable row shown, or clears them when all already are. */
export function toggleAll(selection: Selection, rows: readonly Pick<CampaignItemView, 'id' | 'outcome'>[]): Set<string> {
  const ids = rows.filter(selectable).map((r) => r.id);
  const next = new Set(selection);
  if (headerState(selection, rows) === 'all') for (const id of ids) next.delete(id);
  else for (const id of ids) next.add(id);
  return next;
}

/** Drops ids that are no longer shown or no longer pending (after a refresh, a filter, a decision). */
export function prune(selection: Selection, rows: readonly Pick<CampaignItemView, 'id' | 'outcome'>[]): Set<string> {
  const live = new Set(rows.filter(selectable).map((r) => r.id));
  return new Set([...selection].filter((id) => live.has(id)));
}

export type Decision = DecideItemsBody['decision'];

/** What a decision on `items` needs from the reviewer before it can be sent. */
export interface DecisionPlan {
  /** A reason must be typed: always to revoke; to keep unused privileged access. */
  reasonRequired: boolean;
  /** Items among them whose privileged access went unused for 90 days (why a keep needs a reason). */
  unusedPrivileged: string[];
  /** Items whose access changed after the snapshot and are not acknowledged yet. */
  unacknowledged: string[];
}

export function planDecision(decision: Decision, items: readonly CampaignItemView[], acknowledged: Selection): DecisionPlan {
  const unusedPrivileged = items.filter(keepNeedsReason).map(itemLabel);
  return {
    reasonRequired: decision === 'revoke' || unusedPrivileged.length > 0,
    unusedPrivileged: decision === 'keep' ? unusedPrivileged : [],
    unacknowledged: items.filter((i) => i.drift === 'changed' && !acknowledged.has(i.id)).map(itemLabel),
  };
}

/** The longest time a decision may claim (the API's bound): a page left open overnight says nothing. */
export const MAX_ELAPSED_MS = 3_600_000;

/** Time spent on the page for this decision, since it was shown or since the previous decision. */
export const elapsedSince = (start: number, now: number): number => Math.min(MAX_ELAPSED_MS, Math.max(0, Math.round(now - start)));

/** The request body of a decision (acknowledging changes only when the reviewer did so for every changed item). */
export function decisionBody(decision: Decision, items: readonly CampaignItemView[], reason: string, acknowledged: Selection, elapsedMs: number): DecideItemsBody {
  const trimmed = reason.trim();
  return {
    itemIds: items.map((i) => i.id),
    decision,
    ...(trimmed ? { reason: trimmed } : {}),
    acknowledgeChanges: items.some((i) => i.drift === 'changed') && items.every((i) => i.drift !== 'changed' || acknowledged.has(i.id)),
    elapsedMs,
  };
}

export interface ResultSummary {
  tone: 'success' | 'warning';
  headline: string;
  /** One line per refused item: which item, and why. */
  refusals: { itemId: string; text: string; code: string }[];
  /** Items that closed themselves because their access had gone. */
  gone: number;
}

/** A bulk decision's answer, readable: how many were decided, which were refused and why. */
export function summariseResult(decision: Decision, result: DecideItemsResult, items: readonly Pick<CampaignItemView, 'id' | 'subject' | 'access'>[]): ResultSummary {
  const byId = new Map(items.map((i) => [i.id, i]));
  const verb = decision === 'keep' ? 'Kept' : 'Revoked';
  const gone = result.results.filter((r) => r.result === 'gone').length;
  const refusals = result.results
    .filter((r) => r.result === 'refused')
    .map((r) => {
      const item = byId.get(r.itemId);
      const code = r.code ?? 'refused';
      return { itemId: r.itemId, code, text: `${item ? itemLabel(item) : `Item ${r.itemId}`}: not decided, ${refusalMessages[code] ?? code.replace(/_/g, ' ')}.` };
    });
  const parts: string[] = [];
  if (result.decided > 0) parts.push(`${verb} ${result.decided} ${result.decided === 1 ? 'item' : 'items'}.`);
  if (gone > 0) parts.push(`${gone} ${gone === 1 ? 'item had' : 'items had'} already lost the access and closed ${gone === 1 ? 'itself' : 'themselves'}.`);
  if (refusals.length > 0) parts.push(`${refusals.length} ${refusals.length === 1 ? 'item was' : 'items were'} not decided:`);
  if (parts.length === 0) parts.push('Nothing was decided.');
  return { tone: refusals.length > 0 ? 'warning' : 'success', headline: parts.join(' '), refusals, gone };
}
