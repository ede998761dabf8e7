import { randomUUID } from 'node:crypto';
import { ZodError, type ZodIssue } from 'zod';
import { appendAudit } from '../audit/queries.js';
import type { AppRole } from '../config.js';
import type { Tx } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { eventIdFor, recordEvents } from '../repositories/events.js';
import { auditEntry, type ServiceContext } from '../shared/service-context.js';
import { confirmAwaiting, itemDrift } from './engine.js';
import { launchCampaign, type LaunchResult } from './launch.js';
import { campaignProgress } from './progress.js';
import { findCampaign, loadItemsForUpdate, type ItemRow } from './queries.js';
import { applyRevokes } from './revoke.js';
import { nextRunAt, scheduleIssues } from './cron.js';
import * as q from './service-queries.js';
import {
  ApplyRecord,
  type CampaignDefinitionInput,
  CampaignDefinitionInput as DefinitionSchema,
  type CampaignDefinitionPage,
  type CampaignDefinitionView,
  type CampaignItemPage,
  type CampaignItemView,
  type CampaignListQuery,
  type CampaignPage,
  CampaignSummary,
  type CampaignView,
  type ConfirmNoResponseBody,
  type DecideItemsBody,
  type DecideItemsResult,
  type GroupOption,
  type ItemQuery,
  keepNeedsReason,
  type ReassignBody,
  type ReviewerOption,
  RiskReason,
} from './schema.js';

/**
 * The rules of recertification campaigns for the portal and app APIs (issue 9): definitions
 * (validated, revisioned, audited), launches, the campaign list and views, reviewers' worklists,
 * decisions (revokes applied in the same transaction through core/campaigns/revoke.ts),
 * reassignment and the answer to held no-response revokes. Each function runs in the caller's
 * transaction with the tenant set; the Temporal side (starting the campaign workflow, telling it
 * about decisions, closing it now) is the caller's, after commit (api/campaign-actions.ts).
 */

export interface CampaignServiceDeps {
  /** The vendor's app roles (privileged ones, what a revoke takes away). */
  catalogue: readonly AppRole[];
  /** Milliseconds in a campaign hour (CAMPAIGN_HOUR_MS): interval schedules' period. */
  hourMs: number;
}

/** Who reads or decides: the portal user and their roles; the app API reads as the tenant (null). */
export interface Caller {
  userId: string | null;
  /** Security users and auditors see every item and every campaign; others their own items. */
  seesAll: boolean;
}

const SEES_ALL = new Set(['admin', 'reviewer', 'auditor']);
/** A portal user's reach: admin, reviewer and auditor see all; anyone else their own items. */
export const portalCaller = (userId: string, roles: readonly string[]): Caller => ({ userId, seesAll: roles.some((r) => SEES_ALL.has(r)) });
/** The app API reads as the tenant (it has no items of its own). */
export const APP_CALLER: Caller = { userId: null, seesAll: true };

const notFound = (what: string) => new DomainError(404, 'not_found', `no such ${what} in this tenant`);

// ---- cursors --------------------------------------------------------------------------------

const encodeCursor = (values: readonly (string | number)[]) => Buffer.from(JSON.stringify(values)).toString('base64url');
function decodeCursor(cursor: string): unknown[] {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v)) return v;
  } catch {
    // falls through
  }
  throw new DomainError(400, 'invalid_cursor', 'the page cursor is not one this server issued; start from the first page');
}
function timeCursor(cursor: string | undefined): { createdAt: string; id: string } | null {
  if (!cursor) return null;
  const [createdAt, id] = decodeCursor(cursor);
  if (typeof createdAt === 'string' && !Number.isNaN(Date.parse(createdAt)) && typeof id === 'string' && /^[0-9a-f-]{36}$/i.test(id)) return { createdAt, id };
  throw new DomainError(400, 'invalid_cursor', 'the page cursor is not one this server issued; start from the first page');
}
function riskCursor(cursor: string | undefined): { risk: number; id: string } | null {
  if (!cursor) return null;
  const [risk, id] = decodeCursor(cursor);
  if (typeof risk === 'number' && Number.isInteger(risk) && Math.abs(risk) < 2 ** 31 && typeof id === 'string' && /^\d{1,18}$/.test(id)) return { risk, id };
  throw new DomainError(400, 'invalid_cursor', 'the page cursor is not one this server issued; start from the first page');
}

// ---- definitions ----------------------------------------------------------------------------

function definitionView(row: q.DefinitionRow, deps: CampaignServiceDeps, now = new Date()): CampaignDefinitionView {
  const input = DefinitionSchema.parse({ ...row.settings, name: row.name });
  const next = row.paused ? null : nextRunAt(input.schedule, { now, hourMs: deps.hourMs });
  return {
    ...input,
    id: row.id,
    paused: row.paused,
    revision: row.revision,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    nextRunAt: next?.toISOString() ?? null,
    openCampaignId: row.open_campaign_id,
  };
}

/**
 * The rules a definition's body must meet beyond its shape, reported like the shape's own issues
 * (400 invalid_request with the field's path) so the form shows each at its field: reviewers and
 * the fallback are active portal users of this tenant, named rules name someone, groups are this
 * tenant's, the schedule is one both the API and Temporal read alike, and escalation comes before
 * the deadline.
 */
async function checkDefinition(tx: Tx, tenantId: string, input: CampaignDefinitionInput): Promise<void> {
  const issues: ZodIssue[] = [];
  const issue = (path: (string | number)[], message: string) => issues.push({ code: 'custom', path, message });
  const { reviewers } = input;
  const active = await q.activePortalUserIds(tx, tenantId, [...reviewers.reviewerIds, reviewers.fallbackReviewerId]);
  if (!active.has(reviewers.fallbackReviewerId)) issue(['reviewers', 'fallbackReviewerId'], 'the fallback reviewer must be an active portal user of this organisation');
  reviewers.reviewerIds.forEach((id, i) => {
    if (!active.has(id)) issue(['reviewers', 'reviewerIds', i], 'each named reviewer must be an active portal user of this organisation');
  });
  if ((reviewers.people === 'named' || reviewers.nonHuman === 'named') && reviewers.reviewerIds.length === 0) {
    issue(['reviewers', 'reviewerIds'], 'name at least one reviewer for a rule that uses named reviewers');
  }
  for (const [i, part] of input.scope.entries()) {
    if (part.kind !== 'groups') continue;
    const known = await q.groupIdsOf(tx, tenantId, part.groupIds);
    part.groupIds.forEach((id, j) => {
      if (!known.has(id)) issue(['scope', i, 'groupIds', j], 'no such group in this organisation');
    });
  }
  if (input.schedule) for (const s of scheduleIssues(input.schedule)) issue(['schedule', ...s.path], s.message);
  if (input.noResponse.escalate && input.escalateAfterHours >= input.durationHours) {
    issue(['escalateAfterHours'], 'escalation must come before the deadline (fewer hours than the duration), or turn escalation off');
  }
  if (issues.length) throw new ZodError(issues);
}

const settingsOf = ({ name: _name, ...settings }: CampaignDefinitionInput) => settings as Record<string, unknown>;

async function readDefinition(tx: Tx, tenantId: string, definitionId: string, deps: CampaignServiceDeps): Promise<CampaignDefinitionView> {
  const row = await q.findDefinition(tx, tenantId, definitionId);
  if (!row) throw notFound('campaign definition');
  return definitionView(row, deps);
}

export async function getDefinition(tx: Tx, tenantId: string, deps: CampaignServiceDeps, definitionId: string): Promise<CampaignDefinitionView> {
  return readDefinition(tx, tenantId, definitionId, deps);
}

export async function listDefinitions(tx: Tx, tenantId: string, deps: CampaignServiceDeps, query: { cursor?: string | undefined; limit: number }): Promise<CampaignDefinitionPage> {
  const rows = await q.definitionPage(tx, tenantId, timeCursor(query.cursor), query.limit);
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  const now = new Date();
  return { data: page.map((r) => definitionView(r, deps, now)), next: rows.length > query.limit && last ? encodeCursor([last.created_at, last.id]) : null };
}

export async function createDefinition(tx: Tx, ctx: ServiceContext, deps: CampaignServiceDeps, input: CampaignDefinitionInput): Promise<CampaignDefinitionView> {
  await checkDefinition(tx, ctx.tenantId, input);
  const id = await q.insertDefinition(tx, ctx.tenantId, { name: input.name, settings: settingsOf(input), actor: ctx.actor });
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'campaign.definition.created', 'campaign_definition', id, { name: input.name, schedule: input.schedule })]);
  return readDefinition(tx, ctx.tenantId, id, deps);
}

/** Replaces the definition's settings (the whole body); a running campaign keeps the settings it was launched with. */
export async function updateDefinition(tx: Tx, ctx: ServiceContext, deps: CampaignServiceDeps, definitionId: string, input: CampaignDefinitionInput): Promise<CampaignDefinitionView> {
  if (!(await q.findDefinition(tx, ctx.tenantId, definitionId))) throw notFound('campaign definition');
  await checkDefinition(tx, ctx.tenantId, input);
  if (!(await q.changeDefinition(tx, ctx.tenantId, definitionId, { name: input.name, settings: settingsOf(input) }))) throw notFound('campaign definition');
  const view = await readDefinition(tx, ctx.tenantId, definitionId, deps);
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'campaign.definition.updated', 'campaign_definition', definitionId, { name: input.name, revision: view.revision, schedule: input.schedule })]);
  return view;
}

/** Soft delete: the row stays for the campaigns it launched; the reconciler removes its Schedule. */
export async function deleteDefinition(tx: Tx, ctx: ServiceContext, definitionId: string): Promise<void> {
  if (!(await q.changeDefinition(tx, ctx.tenantId, definitionId, { deleted: true }))) throw notFound('campaign definition');
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'campaign.definition.deleted', 'campaign_definition', definitionId)]);
}

/** Pauses or resumes the schedule (launching now stays possible); a repeat changes nothing. */
export async function setDefinitionPaused(tx: Tx, ctx: ServiceContext, deps: CampaignServiceDeps, definitionId: string, paused: boolean): Promise<CampaignDefinitionView> {
  const r = await q.changeDefinition(tx, ctx.tenantId, definitionId, { paused });
  if (!r) throw notFound('campaign definition');
  const view = await readDefinition(tx, ctx.tenantId, definitionId, deps);
  if (r.changed) {
    await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, paused ? 'campaign.definition.paused' : 'campaign.definition.resumed', 'campaign_definition', definitionId, { revision: view.revision })]);
  }
  return view;
}

/**
 * Launches a run of the definition now (trigger manual, a fresh trigger ref per request). The
 * caller starts its workflow after commit. Overlap: `running` with the campaign that runs.
 */
export async function launchDefinition(tx: Tx, ctx: ServiceContext, definitionId: string): Promise<{ outcome: 'launched' | 'running'; campaignId: string }> {
  const r: LaunchResult = await launchCampaign(tx, ctx.tenantId, { definitionId, trigger: 'manual', triggerRef: `manual:${randomUUID()}`, actor: ctx.actor, requestId: ctx.requestId });
  if (r.outcome === 'launched') return { outcome: 'launched', campaignId: r.campaignId };
  if (r.reason === 'overlap') return { outcome: 'running', campaignId: r.campaignId };
  // A deleted definition (a manual launch is never skipped for a pause).
  throw notFound('campaign definition');
}

// ---- campaigns ------------------------------------------------------------------------------

export async function listCampaigns(tx: Tx, tenantId: string, caller: Caller, query: CampaignListQuery): Promise<CampaignPage> {
  const rows = await q.campaignPage(
    tx,
    tenantId,
    { state: query.state, definitionId: query.definitionId, userId: caller.userId, assignedOnly: !caller.seesAll },
    timeCursor(query.cursor),
    query.limit,
  );
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    data: page.map((r) => ({
      id: r.id,
      definitionId: r.definition_id,
      name: r.name,
      trigger: r.trigger,
      state: r.state,
      subjectUserId: r.subject_user_id,
      itemsTotal: r.items_total,
      createdAt: r.created_at,
      openedAt: r.opened_at,
      dueAt: r.due_at,
      closedAt: r.closed_at,
      decided: r.decided,
      mine: r.mine,
    })),
    next: rows.length > query.limit && last ? encodeCursor([last.created_at, last.id]) : null,
  };
}

/** A campaign the caller may see: every one for security users and auditors, else one with items assigned to them. */
async function visibleCampaign(tx: Tx, tenantId: string, caller: Caller, campaignId: string) {
  const c = await findCampaign(tx, tenantId, campaignId);
  if (!c) throw notFound('campaign');
  if (!caller.seesAll && !(caller.userId && (await q.hasItemsOf(tx, tenantId, campaignId, caller.userId)))) throw notFound('campaign');
  return c;
}

/** The campaign with live progress; a caller who only reviews sees their own line of the per-reviewer breakdown. */
export async function getCampaign(tx: Tx, tenantId: string, caller: Caller, campaignId: string): Promise<CampaignView> {
  const c = await visibleCampaign(tx, tenantId, caller, campaignId);
  const progress = await campaignProgress(tx, tenantId, c.id);
  if (!caller.seesAll) progress.reviewers = progress.reviewers.filter((r) => r.reviewerId === caller.userId);
  return {
    id: c.id,
    definitionId: c.definition_id,
    name: c.name,
    trigger: c.trigger,
    state: c.state,
    settings: DefinitionSchema.parse({ ...c.settings, name: c.name }),
    subjectUserId: c.subject_user_id,
    itemsTotal: c.items_total,
    createdAt: await q.campaignCreatedAt(tx, tenantId, c.id),
    openedAt: c.opened_at,
    dueAt: c.due_at,
    closedAt: c.closed_at,
    progress,
    summary: c.summary ? CampaignSummary.parse(c.summary) : null,
  };
}

// ---- items ----------------------------------------------------------------------------------

const RISK_REASONS = new Set<string>(RiskReason.options);

function itemView(r: q.ItemPageRow, drift: CampaignItemView['drift']): CampaignItemView {
  const applied = r.applied === null ? null : ApplyRecord.safeParse(r.applied);
  return {
    id: r.id,
    campaignId: r.campaign_id,
    accessKind: r.access_kind,
    access: r.access,
    accessRef: r.access_ref,
    subject: { userId: r.user_id, serviceAccountId: r.service_account_id, name: r.subject_name, displayName: r.subject_display_name },
    // A role's sources are RoleSource[]; a credential's or grant's one object (scopes, createdAt).
    sources: Array.isArray(r.sources) ? r.sources : r.sources === null || r.sources === undefined ? [] : [r.sources],
    lastUsedAt: r.last_used_at,
    risk: r.risk,
    riskReasons: r.risk_reasons.filter((x) => RISK_REASONS.has(x)) as RiskReason[],
    recommendation: r.recommendation,
    recommendationReason: r.recommendation_reason,
    reviewerId: r.reviewer_id,
    reviewerName: r.reviewer_name,
    assignedBy: r.assigned_by,
    escalated: r.escalated_at !== null,
    drift,
    decision: r.decision,
    decisionReason: r.decision_reason,
    decidedAt: r.decided_at,
    outcome: r.outcome,
    applied: applied?.success ? applied.data : null,
  };
}

/**
 * A page of a campaign's items, riskiest first. `mine`: the caller's; `all` (security users and
 * auditors): every item, optionally one reviewer's. Drift is computed now for pending items.
 */
export async function listItems(tx: Tx, tenantId: string, caller: Caller, campaignId: string, query: ItemQuery): Promise<CampaignItemPage> {
  if (query.view === 'all' && !caller.seesAll) throw new DomainError(403, 'forbidden', 'Only security users and auditors see every item; use view=mine.');
  await visibleCampaign(tx, tenantId, caller, campaignId);
  const reviewerId = query.view === 'mine' ? (caller.userId ?? undefined) : query.reviewerId;
  if (query.view === 'mine' && !caller.userId) return { data: [], next: null };
  const rows = await q.itemPage(
    tx,
    tenantId,
    campaignId,
    { reviewerId, outcome: query.outcome, accessKind: query.accessKind, search: query.search || undefined },
    riskCursor(query.cursor),
    query.limit,
  );
  const page = rows.slice(0, query.limit);
  const drift = await itemDrift(tx, tenantId, page.filter((r) => r.outcome === 'pending'));
  const last = page[page.length - 1];
  return {
    data: page.map((r) => itemView(r, r.outcome === 'gone' ? 'gone' : (drift.get(r.id) ?? 'unchanged'))),
    next: rows.length > query.limit && last ? encodeCursor([last.risk, last.id]) : null,
  };
}

// ---- decisions ------------------------------------------------------------------------------

export interface DecideResult {
  result: DecideItemsResult;
  /** Event ids of `campaign.item.decided` a webhook takes, for the campaign's delivery workflow after commit. */
  deliver: string[];
}

type Refusal = NonNullable<DecideItemsResult['results'][number]['code']>;

/**
 * A reviewer decides items assigned to them, in one transaction: the campaign share-locked, then the
 * items (FOR UPDATE, id order), then the people a revoke touches (revoke.ts, id order). Each item
 * is decided, closes as gone (its access disappeared), or is refused with a code and left as it
 * was. Revokes are applied now through the identity's stream or the credentials service.
 */
export async function decideItems(tx: Tx, ctx: ServiceContext, deps: CampaignServiceDeps, campaignId: string, body: DecideItemsBody): Promise<DecideResult> {
  const userId = ctx.actor.id;
  if (ctx.actor.type !== 'user' || !userId) throw new DomainError(403, 'forbidden', 'Only reviewers decide items.');
  const state = await q.campaignStateForShare(tx, ctx.tenantId, campaignId);
  if (!state) throw notFound('campaign');
  const requested = [...new Set(body.itemIds)];
  const items = new Map((await loadItemsForUpdate(tx, ctx.tenantId, campaignId, requested)).map((i) => [i.id, i]));
  const mine = [...items.values()].filter((i) => i.reviewer_id === userId && i.outcome === 'pending');
  const drift = state === 'open' ? await itemDrift(tx, ctx.tenantId, mine) : new Map();
  const reason = body.reason?.trim() || null;

  const results: DecideItemsResult['results'] = [];
  const refuse = (itemId: string, code: Refusal) => results.push({ itemId, result: 'refused', code });
  const decide: ItemRow[] = [];
  const gone: string[] = [];
  for (const itemId of requested) {
    const item = items.get(itemId);
    if (!item) refuse(itemId, 'not_found');
    else if (state !== 'open') refuse(itemId, 'campaign_not_open');
    else if (item.reviewer_id !== userId) refuse(itemId, 'not_your_item');
    else if (item.outcome !== 'pending') refuse(itemId, 'already_decided');
    else if (drift.get(itemId) === 'gone') {
      gone.push(itemId);
      results.push({ itemId, result: 'gone', outcome: 'gone' });
    } else if (drift.get(itemId) === 'changed' && !body.acknowledgeChanges) refuse(itemId, 'access_changed');
    else if (!reason && (body.decision === 'revoke' || keepNeedsReason(item.risk_reasons))) refuse(itemId, 'reason_required');
    else {
      decide.push(item);
      results.push({ itemId, result: 'decided', outcome: body.decision === 'keep' ? 'kept' : 'revoked' });
    }
  }

  await q.closeItemsGone(tx, ctx.tenantId, campaignId, gone);
  const decisionMs = body.elapsedMs !== undefined && decide.length > 0 ? Math.round(body.elapsedMs / decide.length) : null;
  await q.recordDecisions(tx, ctx.tenantId, campaignId, { itemIds: decide.map((i) => i.id), decision: body.decision, reason, decidedBy: userId, decisionMs });
  const applied = new Map<string, ApplyRecord>();
  if (body.decision === 'revoke' && decide.length > 0) {
    const records = await applyRevokes(tx, ctx, deps, decide, reason!, 'revoked');
    decide.forEach((item, i) => applied.set(item.id, records[i]!));
  }
  const outcome = body.decision === 'keep' ? 'kept' : 'revoked';
  await appendAudit(
    tx,
    ctx.tenantId,
    decide.map((item) =>
      auditEntry(ctx, 'campaign.item.decided', 'campaign', campaignId, {
        itemId: item.id,
        accessKind: item.access_kind,
        access: item.access_ref,
        userId: item.user_id,
        serviceAccountId: item.service_account_id,
        decision: body.decision,
        reason,
        decisionMs,
        outcome,
        ...(applied.has(item.id) ? { applied: applied.get(item.id) } : {}),
      }),
    ),
  );
  const workflowId = `campaign/${ctx.tenantId}/${campaignId}`;
  const deliver = await recordEvents(
    tx,
    ctx.tenantId,
    decide.map((item) => ({
      id: eventIdFor(workflowId, `decided:${item.id}`),
      type: 'campaign.item.decided' as const,
      subjectType: 'campaign' as const,
      subjectId: campaignId,
      data: { campaignId, itemId: item.id, accessKind: item.access_kind, access: item.access_ref, decision: body.decision, outcome },
    })),
  );
  const decided = decide.length;
  return { result: { results, decided, refused: results.filter((r) => r.result === 'refused').length }, deliver };
}

/**
 * Moves pending items to another active portal user: the items named (all must be this campaign's
 * and none about the new reviewer themself), or every pending item of one reviewer (those about
 * the new reviewer stay where they are). Audited.
 */
export async function reassignItems(tx: Tx, ctx: ServiceContext, campaignId: string, body: ReassignBody): Promise<{ reassigned: number }> {
  const state = await q.campaignStateForShare(tx, ctx.tenantId, campaignId);
  if (!state) throw notFound('campaign');
  if (state !== 'open') throw new DomainError(409, 'campaign_not_open', 'Only the items of an open campaign can be reassigned.');
  if (!(await q.activePortalUserIds(tx, ctx.tenantId, [body.toReviewerId])).has(body.toReviewerId)) {
    throw new ZodError([{ code: 'custom', path: ['toReviewerId'], message: 'the new reviewer must be an active portal user of this organisation' }]);
  }
  let except = new Set<string>();
  if ('itemIds' in body) {
    const ids = [...new Set(body.itemIds)];
    const items = await loadItemsForUpdate(tx, ctx.tenantId, campaignId, ids);
    if (items.length !== ids.length) throw new DomainError(404, 'not_found', 'some of these items are not in this campaign');
    const self = await q.itemsAboutPortalUser(tx, ctx.tenantId, campaignId, ids, body.toReviewerId);
    if (self.size > 0) throw new DomainError(409, 'reviewer_is_subject', 'Some of these items are about the new reviewer: nobody reviews their own access.');
  } else {
    await q.lockPendingOf(tx, ctx.tenantId, campaignId, body.fromReviewerId);
    except = await q.itemsAboutPortalUser(tx, ctx.tenantId, campaignId, 'pending', body.toReviewerId);
  }
  const reassigned = await q.moveItems(tx, ctx.tenantId, campaignId, body, body.toReviewerId, except);
  await appendAudit(tx, ctx.tenantId, [
    auditEntry(ctx, 'campaign.items.reassigned', 'campaign', campaignId, {
      toReviewerId: body.toReviewerId,
      reassigned,
      ...('itemIds' in body ? { itemIds: body.itemIds } : { fromReviewerId: body.fromReviewerId, keptAboutNewReviewer: except.size }),
    }),
  ]);
  return { reassigned };
}

/** A security user's answer to revokes the no-response cap held back (engine confirmAwaiting). */
export async function answerNoResponse(tx: Tx, ctx: ServiceContext, deps: CampaignServiceDeps, campaignId: string, body: ConfirmNoResponseBody): Promise<{ revoked: number; kept: number }> {
  if (!(await q.campaignStateForShare(tx, ctx.tenantId, campaignId))) throw notFound('campaign');
  return confirmAwaiting(tx, ctx, deps, campaignId, body.confirm, body.reason);
}

/** Whether the campaign can be closed now (the workflow's Update decides; this answers what the row already says). */
export async function closeRefusal(tx: Tx, tenantId: string, campaignId: string): Promise<'already_closed' | 'still_generating' | null> {
  const c = await findCampaign(tx, tenantId, campaignId);
  if (!c) throw notFound('campaign');
  if (c.state === 'closed' || c.state === 'cancelled') return 'already_closed';
  if (c.state === 'generating') return 'still_generating';
  return null;
}

/** The evidence is for closed campaigns (409 campaign_not_closed before). */
export async function requireClosed(tx: Tx, tenantId: string, campaignId: string): Promise<void> {
  const c = await findCampaign(tx, tenantId, campaignId);
  if (!c) throw notFound('campaign');
  if (c.state !== 'closed') throw new DomainError(409, 'campaign_not_closed', 'The evidence is produced when the campaign closes.');
}

// ---- pickers --------------------------------------------------------------------------------

const PICKER_LIMIT = 50;

export async function reviewerPicker(tx: Tx, tenantId: string, search: string | undefined): Promise<{ data: ReviewerOption[] }> {
  const rows = await q.reviewerOptions(tx, tenantId, search || undefined, PICKER_LIMIT);
  return { data: rows.map((r) => ({ id: r.id, email: r.email, displayName: r.display_name, roles: r.roles })) };
}

export async function groupPicker(tx: Tx, tenantId: string, search: string | undefined): Promise<{ data: GroupOption[] }> {
  const rows = await q.groupOptions(tx, tenantId, search || undefined, PICKER_LIMIT);
  return { data: rows.map((r) => ({ id: r.id, displayName: r.display_name, members: r.members })) };
}
