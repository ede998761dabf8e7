import { createHash } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import type { AppRole } from '../config.js';
import { type Db, type Tx, withTenant } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { appendAudit } from '../audit/queries.js';
import type { Actor } from '../audit/schema.js';
import { eventIdFor, type EventType, type NewEvent, recordEvents } from '../repositories/events.js';
import { runStep, storedStep, storeStep } from '../repositories/lifecycle.js';
import { auditEntry, type ServiceContext } from '../shared/service-context.js';
import { evidenceDigestIn } from './evidence.js';
import { campaignProgress } from './progress.js';
import { type CampaignRow, findCampaign, ITEM_COLUMNS, ITEM_GONE_SQL, ITEM_REF_ID, ItemRow, roleSourcesSql, userEmailsSql } from './queries.js';
import { applyRevokes } from './revoke.js';
import { type CampaignDefinitionInput, CampaignDefinitionInput as DefinitionSchema, type CampaignSummary, type ReviewerRule } from './schema.js';

// The database side of a campaign's life, driven by the campaign workflow (workflows/campaign.ts)
// through its activities. Every function runs in withTenant, is idempotent (state and cursor
// columns, or runStep for what emits events) and answers small JSON: counts and ids, never items or
// personal data (the answer goes into workflow history).

export interface CampaignEngineDeps {
  catalogue: readonly AppRole[];
  /** Milliseconds in a campaign hour (CAMPAIGN_HOUR_MS; tests shorten it). */
  hourMs: number;
}

export type CampaignSettings = Omit<CampaignDefinitionInput, 'name'>;
const SettingsSchema = DefinitionSchema.omit({ name: true });

/** The settings stored on a campaign, with the contract's defaults applied. */
export function campaignSettings(row: Pick<CampaignRow, 'settings'>): CampaignSettings {
  return SettingsSchema.parse(row.settings);
}

export const campaignWorkflowId = (tenantId: string, campaignId: string) => `campaign/${tenantId}/${campaignId}`;
const stepKey = (tenantId: string, campaignId: string, step: string) => `${campaignWorkflowId(tenantId, campaignId)}:${step}`;
const systemActor = (tenantId: string, campaignId: string): Actor => ({ type: 'system', id: campaignWorkflowId(tenantId, campaignId) });
const campaignEvent = (tenantId: string, campaignId: string, step: string, type: EventType, data: Record<string, unknown>): NewEvent => ({
  id: eventIdFor(campaignWorkflowId(tenantId, campaignId), step),
  type,
  subjectType: 'campaign',
  subjectId: campaignId,
  data: { campaignId, ...data },
});

async function requireCampaign(tx: Tx, tenantId: string, campaignId: string, forUpdate = true): Promise<CampaignRow> {
  const row = await findCampaign(tx, tenantId, campaignId, { forUpdate });
  if (!row) throw new DomainError(404, 'not_found', 'no such campaign in this tenant');
  return row;
}

// ---------------------------------------------------------------------------------------------
// Generation

/** Generation is done (generation_cursor); NULL is "not started". */
export const GENERATION_DONE = 'done';
const UNUSED_DAYS = 90;
const RISK = { privileged_role: 40, source_gone: 30, orphaned_owner: 30, inactive_person: 25, unused_90_days: 20 } as const;

const riskSql = sql.fragment`(${sql.join(
  Object.entries(RISK).map(([reason, weight]) => sql.fragment`CASE WHEN ${reason}::text = ANY(x.reasons) THEN ${weight}::int ELSE 0 END`),
  sql.fragment` + `,
)})`;
const recommendationSql = sql.fragment`CASE WHEN x.reasons && ARRAY['source_gone', 'inactive_person', 'orphaned_owner', 'unused_90_days']::text[] THEN 'revoke' ELSE 'keep' END`;
const recommendationReasonSql = sql.fragment`CASE
    WHEN 'source_gone' = ANY(x.reasons) THEN 'Nothing grants this role any more (the group or grant that gave it is gone): revoke it.'
    WHEN 'inactive_person' = ANY(x.reasons) THEN 'The person is suspended or leaving: revoke the access they still hold.'
    WHEN 'orphaned_owner' = ANY(x.reasons) THEN 'Nobody active owns this non-human identity: revoke it unless someone takes it over.'
    WHEN 'unused_90_days' = ANY(x.reasons) AND 'privileged_role' = ANY(x.reasons) THEN 'Privileged access not used for 90 days: revoke it.'
    WHEN 'unused_90_days' = ANY(x.reasons) THEN 'Not used for 90 days: revoke it.'
    WHEN 'privileged_role' = ANY(x.reasons) THEN 'A privileged role with a current source: keep it only if the job still needs it.'
    ELSE 'Granted by a current source: keep it if it is still needed.'
  END`;

interface Scope {
  people: boolean;
  allRoles: boolean;
  privileged: boolean;
  groupIds: string[];
  oauth: boolean;
  serviceAccounts: boolean;
}

function scopeOf(settings: CampaignSettings): Scope {
  const s: Scope = { people: false, allRoles: false, privileged: false, groupIds: [], oauth: false, serviceAccounts: false };
  for (const part of settings.scope) {
    if (part.kind === 'all_roles') s.allRoles = true;
    else if (part.kind === 'privileged_roles') s.privileged = true;
    else if (part.kind === 'groups') s.groupIds.push(...part.groupIds);
    else if (part.kind === 'oauth_grants') s.oauth = true;
    else s.serviceAccounts = true;
  }
  s.people = s.allRoles || s.privileged || s.groupIds.length > 0 || s.oauth;
  return s;
}

type AssignedBy = 'manager' | 'owner' | 'named' | 'fallback' | 'admin';
interface Assignment {
  reviewerId: string | null;
  assignedBy: AssignedBy;
}

/** A stable spread of subjects over the named reviewers. */
function namedFor(rule: ReviewerRule, subjectId: string): string | null {
  if (rule.reviewerIds.length === 0) return null;
  const n = createHash('sha256').update(subjectId).digest().readUInt32BE(0);
  return rule.reviewerIds[n % rule.reviewerIds.length]!;
}

/**
 * The reviewer of a subject: the rule's candidate unless it is nobody or the subject themself; then
 * the fallback reviewer; if the fallback is the subject too, another named reviewer, else any
 * other active admin; else nobody.
 */
export function pickReviewer(rule: ReviewerRule, candidate: Assignment | null, self: ReadonlySet<string>, admins: readonly string[]): Assignment {
  if (candidate?.reviewerId && !self.has(candidate.reviewerId)) return candidate;
  if (!self.has(rule.fallbackReviewerId)) return { reviewerId: rule.fallbackReviewerId, assignedBy: 'fallback' };
  const named = rule.reviewerIds.find((id) => !self.has(id));
  if (named) return { reviewerId: named, assignedBy: 'named' };
  const admin = admins.find((id) => !self.has(id));
  if (admin) return { reviewerId: admin, assignedBy: 'admin' };
  return { reviewerId: null, assignedBy: 'fallback' };
}

const Uuid = z.string().uuid();
const PersonRow = z.object({ id: Uuid, inactive: z.boolean(), self_ids: z.array(Uuid), manager_reviewer: Uuid.nullable() });
const AccountRow = z.object({ id: Uuid, owner_reviewer: Uuid.nullable() });

async function activeAdmins(tx: Tx, tenantId: string): Promise<string[]> {
  return [
    ...(await tx.anyFirst(sql.type(z.object({ id: Uuid }))`
      SELECT p.id FROM portal_users p JOIN portal_user_roles r ON r.tenant_id = p.tenant_id AND r.user_id = p.id AND r.role = 'admin'
       WHERE p.tenant_id = ${tenantId} AND p.status = 'active' ORDER BY p.created_at, p.id`)),
  ];
}

/** The active portal user whose e-mail is one of the user row `alias`'s e-mails or its userName. */
const portalUserOf = (tenantId: string, alias: string) => sql.fragment`(SELECT p.id FROM portal_users p
    WHERE p.tenant_id = ${tenantId} AND p.status = 'active' AND lower(p.email) = ANY(${userEmailsSql(alias)}) ORDER BY p.id LIMIT 1)`;

const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

/**
 * People of a batch with what assigning a reviewer needs, set-based (no query per person): whether
 * they are inactive, the active portal users that are the person themself (same e-mail or
 * userName), and the portal user of their manager (enterprise manager.value: the id or externalId
 * of a live user, matched by that user's e-mails / userName). Joins compare plain columns so the
 * indexes serve under row-level security (a non-leakproof expression, like a cast, would not).
 */
async function peopleRows(tx: Tx, tenantId: string, where: ReturnType<typeof sql.fragment>, limit: number, manager: boolean) {
  const mgr = sql.fragment`(u.enterprise->'manager'->>'value')`;
  // The managers are looked up behind a fence (OFFSET 0): two index probes per person, whatever the
  // statistics say. Joined instead, a planner without statistics (a fresh or restored database)
  // nested a scan of all the tenant's users in a loop over the batch: 30 s per batch at 100,000.
  return tx.any(sql.type(PersonRow)`
    WITH b AS MATERIALIZED (
      SELECT u.id, (u.lifecycle_state IN ('suspended', 'deleted') OR NOT u.active) AS inactive, ${userEmailsSql('u')} AS emails,
             ${manager ? sql.fragment`CASE WHEN ${mgr} ~ ${UUID_PATTERN} THEN ${mgr}::uuid END` : sql.fragment`NULL::uuid`} AS mgr_id,
             ${manager ? mgr : sql.fragment`NULL::text`} AS mgr_ext
        FROM users u
       WHERE u.tenant_id = ${tenantId} AND u.scim_deleted_at IS NULL AND ${where}
       ORDER BY u.id LIMIT ${limit}
    ), pu AS MATERIALIZED (
      SELECT p.id, lower(p.email) AS email FROM portal_users p WHERE p.tenant_id = ${tenantId} AND p.status = 'active'
    ), m AS MATERIALIZED (
      SELECT b.id AS subject, x.id, x.emails, x.pref
        FROM b CROSS JOIN LATERAL (
          SELECT m.id, ${userEmailsSql('m')} AS emails, 0 AS pref FROM users m
           WHERE m.tenant_id = ${tenantId} AND m.id = b.mgr_id AND m.scim_deleted_at IS NULL AND m.id <> b.id
          UNION ALL
          SELECT m.id, ${userEmailsSql('m')}, 1 FROM users m
           WHERE m.tenant_id = ${tenantId} AND m.external_id = b.mgr_ext AND m.scim_deleted_at IS NULL AND m.id <> b.id
          OFFSET 0
        ) x
    ), mr AS (
      SELECT DISTINCT ON (m.subject) m.subject, pu.id AS reviewer
        FROM m CROSS JOIN LATERAL unnest(m.emails) e(email) JOIN pu ON pu.email = e.email
       ORDER BY m.subject, m.pref, m.id, pu.id
    ), self AS (
      SELECT b.id AS subject, array_agg(DISTINCT pu.id) AS ids
        FROM b CROSS JOIN LATERAL unnest(b.emails) e(email) JOIN pu ON pu.email = e.email
       GROUP BY b.id
    )
    SELECT b.id, b.inactive, coalesce(self.ids, '{}') AS self_ids, mr.reviewer AS manager_reviewer
      FROM b LEFT JOIN self ON self.subject = b.id LEFT JOIN mr ON mr.subject = b.id
     ORDER BY b.id`);
}

const peopleBatch = (tx: Tx, tenantId: string, after: string | null, limit: number, manager: boolean) =>
  peopleRows(tx, tenantId, after ? sql.fragment`u.id > ${after}::uuid` : sql.fragment`true`, limit, manager);

async function accountsBatch(tx: Tx, tenantId: string, after: string | null, limit: number, owner: boolean) {
  return tx.any(sql.type(AccountRow)`
    SELECT s.id,
           ${
             owner
               ? sql.fragment`(SELECT ${portalUserOf(tenantId, 'o')} FROM users o
                    WHERE o.tenant_id = ${tenantId} AND o.id = s.owner_user_id AND o.scim_deleted_at IS NULL)`
               : sql.fragment`NULL::uuid`
           } AS owner_reviewer
      FROM service_accounts s
     WHERE s.tenant_id = ${tenantId} AND s.status = 'active' ${after ? sql.fragment`AND s.id > ${after}::uuid` : sql.fragment``}
     ORDER BY s.id LIMIT ${limit}`);
}

/** Role items (and OAuth grant items) of a batch of people, in one statement each. */
async function insertPeopleItems(tx: Tx, tenantId: string, campaignId: string, scope: Scope, privileged: string[], people: { id: string; inactive: boolean; a: Assignment }[]) {
  const batch = sql.fragment`unnest(${sql.array(people.map((p) => p.id), 'uuid')}::uuid[], ${sql.array(people.map((p) => p.a.reviewerId), 'uuid')}::uuid[],
           ${sql.array(people.map((p) => p.a.assignedBy), 'text')}::text[], ${sql.array(people.map((p) => p.inactive), 'bool')}::bool[]) AS b(user_id, reviewer_id, assigned_by, inactive)`;
  let inserted = 0;
  if (scope.allRoles || scope.privileged || scope.groupIds.length) {
    const inScope = [
      ...(scope.allRoles ? [sql.fragment`true`] : []),
      ...(scope.privileged ? [sql.fragment`ur.role = ANY(${sql.array(privileged, 'text')})`] : []),
      ...(scope.groupIds.length
        ? [sql.fragment`EXISTS (SELECT 1 FROM group_members gm WHERE gm.tenant_id = ${tenantId} AND gm.user_id = b.user_id AND gm.group_id = ANY(${sql.array(scope.groupIds, 'uuid')}))`]
        : []),
    ];
    const r = await tx.query(sql.unsafe`
      INSERT INTO campaign_items (tenant_id, campaign_id, access_kind, access_ref, user_id, sources, risk, risk_reasons,
                                  recommendation, recommendation_reason, reviewer_id, assigned_by)
      SELECT ${tenantId}, ${campaignId}, 'role', x.role, x.user_id, x.sources, ${riskSql}, x.reasons,
             ${recommendationSql}, ${recommendationReasonSql}, x.reviewer_id, x.assigned_by
        FROM (
          SELECT b.user_id, ur.role, b.reviewer_id, b.assigned_by, src.sources,
                 array_remove(ARRAY[
                   CASE WHEN ur.role = ANY(${sql.array(privileged, 'text')}) THEN 'privileged_role' END,
                   CASE WHEN src.sources = '[]'::jsonb THEN 'source_gone' END,
                   CASE WHEN b.inactive THEN 'inactive_person' END], NULL)::text[] AS reasons
            FROM ${batch}
            JOIN user_roles ur ON ur.tenant_id = ${tenantId} AND ur.user_id = b.user_id
            CROSS JOIN LATERAL (SELECT ${roleSourcesSql(tenantId, sql.identifier(['b', 'user_id']), sql.identifier(['ur', 'role']))} AS sources OFFSET 0) src
           WHERE (${sql.join(inScope, sql.fragment` OR `)})
             AND NOT EXISTS (SELECT 1 FROM role_exclusions re WHERE re.tenant_id = ${tenantId} AND re.user_id = b.user_id AND re.role = ur.role)
          OFFSET 0
        ) x
       ORDER BY x.user_id, x.role`);
    inserted += r.rowCount;
  }
  if (scope.oauth) {
    const r = await tx.query(sql.unsafe`
      INSERT INTO campaign_items (tenant_id, campaign_id, access_kind, access_ref, user_id, sources, risk, risk_reasons,
                                  recommendation, recommendation_reason, reviewer_id, assigned_by)
      SELECT ${tenantId}, ${campaignId}, 'oauth_grant', x.id::text, x.user_id, x.sources, ${riskSql}, x.reasons,
             ${recommendationSql}, ${recommendationReasonSql}, x.reviewer_id, x.assigned_by
        FROM (
          SELECT g.id, b.user_id, b.reviewer_id, b.assigned_by,
                 jsonb_build_object('scopes', to_jsonb(g.scopes), 'createdAt', g.created_at, 'clientId', g.client_id) AS sources,
                 array_remove(ARRAY[CASE WHEN b.inactive THEN 'inactive_person' END], NULL)::text[] AS reasons
            FROM ${batch}
            JOIN oauth_grants g ON g.tenant_id = ${tenantId} AND g.user_id = b.user_id AND g.revoked_at IS NULL
          OFFSET 0
        ) x
       ORDER BY x.user_id, x.id`);
    inserted += r.rowCount;
  }
  return inserted;
}

/** Service account items and their tokens' items for a batch of accounts (one statement). */
async function insertAccountItems(tx: Tx, tenantId: string, campaignId: string, accounts: { id: string; a: Assignment }[]) {
  const r = await tx.query(sql.unsafe`
    WITH b AS (
      SELECT * FROM unnest(${sql.array(accounts.map((a) => a.id), 'uuid')}::uuid[], ${sql.array(accounts.map((a) => a.a.reviewerId), 'uuid')}::uuid[],
                           ${sql.array(accounts.map((a) => a.a.assignedBy), 'text')}::text[]) AS b(id, reviewer_id, assigned_by)
    ), acc AS (
      SELECT s.id, s.owner_user_id, s.created_at, b.reviewer_id, b.assigned_by,
             (s.orphaned OR s.owner_user_id IS NULL OR NOT EXISTS (
                SELECT 1 FROM users o WHERE o.tenant_id = s.tenant_id AND o.id = s.owner_user_id AND o.scim_deleted_at IS NULL
                   AND o.active AND o.lifecycle_state IN ('provisioned', 'active'))) AS orphaned
        FROM b JOIN service_accounts s ON s.tenant_id = ${tenantId} AND s.id = b.id
    ), rows AS MATERIALIZED (
      SELECT 0 AS ord, acc.id AS sa_id, 'service_account' AS kind, acc.id::text AS ref, acc.owner_user_id, acc.reviewer_id, acc.assigned_by,
             jsonb_build_object('createdAt', acc.created_at,
               'scopes', coalesce((SELECT to_jsonb(array_agg(DISTINCT sc)) FROM credentials c, unnest(c.scopes) sc
                                    WHERE c.tenant_id = ${tenantId} AND c.service_account_id = acc.id AND c.revoked_at IS NULL), '[]'::jsonb)) AS sources,
             (SELECT max(c.last_used_at) FROM credentials c WHERE c.tenant_id = ${tenantId} AND c.service_account_id = acc.id) AS last_used_at,
             acc.created_at, acc.orphaned
        FROM acc
      UNION ALL
      SELECT 1, acc.id, 'token', c.id::text, acc.owner_user_id, acc.reviewer_id, acc.assigned_by,
             jsonb_build_object('scopes', to_jsonb(c.scopes), 'createdAt', c.created_at, 'name', c.name), c.last_used_at, c.created_at, acc.orphaned
        FROM acc JOIN credentials c ON c.tenant_id = ${tenantId} AND c.service_account_id = acc.id
                  AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > now())
    ), x AS MATERIALIZED (
      SELECT rows.*, array_remove(ARRAY[
               CASE WHEN rows.orphaned THEN 'orphaned_owner' END,
               CASE WHEN coalesce(rows.last_used_at, rows.created_at) < now() - make_interval(days => ${UNUSED_DAYS}) THEN 'unused_90_days' END], NULL)::text[] AS reasons
        FROM rows
    )
    INSERT INTO campaign_items (tenant_id, campaign_id, access_kind, access_ref, user_id, service_account_id, sources, last_used_at, risk, risk_reasons,
                                recommendation, recommendation_reason, reviewer_id, assigned_by)
    SELECT ${tenantId}, ${campaignId}, x.kind, x.ref, x.owner_user_id, x.sa_id, x.sources, x.last_used_at, ${riskSql}, x.reasons,
           ${recommendationSql}, ${recommendationReasonSql}, x.reviewer_id, x.assigned_by
      FROM x ORDER BY x.sa_id, x.ord, x.ref`);
  return r.rowCount;
}

/**
 * Snapshots the next keyset range of subjects in scope into campaign_items: people (by user id:
 * their roles in scope, their OAuth grants) then service accounts (by id: the account and its
 * tokens). The cursor moves in the same transaction as the inserts, so a retried batch repeats
 * nothing. `batchSize` counts subjects (people or accounts) per batch.
 */
export async function generateItemsBatch(db: Db, deps: CampaignEngineDeps, input: { tenantId: string; campaignId: string; batchSize: number }): Promise<{ inserted: number; done: boolean }> {
  return withTenant(db, input.tenantId, async (tx) => {
    const c = await requireCampaign(tx, input.tenantId, input.campaignId);
    if (c.state !== 'generating' || c.generation_cursor === GENERATION_DONE) return { inserted: 0, done: true };
    const settings = campaignSettings(c);
    const scope = scopeOf(settings);
    const rule = settings.reviewers;
    const limit = Math.max(1, Math.min(input.batchSize, 50_000));
    let cursor = c.generation_cursor ?? (scope.people ? 'u:' : 's:');
    let inserted = 0;
    const admins = await activeAdmins(tx, input.tenantId);
    if (cursor.startsWith('u:')) {
      const rows = scope.people ? await peopleBatch(tx, input.tenantId, cursor.slice(2) || null, limit, rule.people === 'manager') : [];
      const people = rows.map((p) => {
        const candidate: Assignment | null =
          rule.people === 'manager'
            ? p.manager_reviewer
              ? { reviewerId: p.manager_reviewer, assignedBy: 'manager' }
              : null
            : { reviewerId: namedFor(rule, p.id), assignedBy: 'named' };
        return { id: p.id, inactive: p.inactive, a: pickReviewer(rule, candidate, new Set(p.self_ids), admins) };
      });
      if (people.length) inserted += await insertPeopleItems(tx, input.tenantId, input.campaignId, scope, privilegedOf(deps.catalogue), people);
      cursor = rows.length === limit ? `u:${rows[rows.length - 1]!.id}` : 's:';
    } else {
      const rows = scope.serviceAccounts ? await accountsBatch(tx, input.tenantId, cursor.slice(2) || null, limit, rule.nonHuman === 'owner') : [];
      const accounts = rows.map((s) => {
        const candidate: Assignment | null =
          rule.nonHuman === 'owner' ? (s.owner_reviewer ? { reviewerId: s.owner_reviewer, assignedBy: 'owner' } : null) : { reviewerId: namedFor(rule, s.id), assignedBy: 'named' };
        return { id: s.id, a: pickReviewer(rule, candidate, new Set(), admins) };
      });
      if (accounts.length) inserted += await insertAccountItems(tx, input.tenantId, input.campaignId, accounts);
      cursor = rows.length === limit ? `s:${rows[rows.length - 1]!.id}` : GENERATION_DONE;
    }
    await tx.query(sql.unsafe`
      UPDATE campaigns SET generation_cursor = ${cursor}, items_total = items_total + ${inserted}
       WHERE tenant_id = ${input.tenantId} AND id = ${input.campaignId}`);
    return { inserted, done: cursor === GENERATION_DONE };
  });
}

const privilegedOf = (catalogue: readonly AppRole[]) => catalogue.filter((r) => r.privileged).map((r) => r.name);

// ---------------------------------------------------------------------------------------------
// Open, remind, escalate, count

export interface OpenResult {
  itemsTotal: number;
  dueInMs: number;
  remindEveryMs: number;
  escalateInMs: number;
  /** The no-response policy escalates to the fallback reviewer (at escalateInMs). */
  escalates: boolean;
  deliver: string[];
}

const msUntil = (iso: string | null) => (iso ? Math.max(0, Date.parse(iso) - Date.now()) : 0);

/**
 * generating → open: opened_at, due_at (now + durationHours), items_total (counted), audit and event
 * `campaign.started`. A retry (already open or closed) answers from the row and hands the same
 * events over again.
 */
export async function openCampaign(db: Db, deps: CampaignEngineDeps, input: { tenantId: string; campaignId: string }): Promise<OpenResult> {
  return withTenant(db, input.tenantId, async (tx) => {
    let c = await requireCampaign(tx, input.tenantId, input.campaignId);
    const settings = campaignSettings(c);
    const key = stepKey(input.tenantId, input.campaignId, 'open');
    let deliver: string[];
    if (c.state === 'generating') {
      if (c.generation_cursor !== GENERATION_DONE) throw new DomainError(409, 'generation_unfinished', 'the campaign is still generating its items');
      deliver = await openNow(tx, input.tenantId, c, settings, deps.hourMs, systemActor(input.tenantId, input.campaignId));
      await storeStep(tx, input.tenantId, key, { deliver });
      c = await requireCampaign(tx, input.tenantId, input.campaignId);
    } else {
      deliver = (await storedStep<{ deliver: string[] }>(tx, input.tenantId, key))?.deliver ?? [];
    }
    const openedMs = c.opened_at ? Date.parse(c.opened_at) : Date.now();
    return {
      itemsTotal: c.items_total,
      dueInMs: msUntil(c.due_at),
      remindEveryMs: settings.remindEveryHours * deps.hourMs,
      escalateInMs: Math.max(0, openedMs + settings.escalateAfterHours * deps.hourMs - Date.now()),
      escalates: settings.noResponse.escalate,
      deliver,
    };
  });
}

async function openNow(tx: Tx, tenantId: string, c: CampaignRow, settings: CampaignSettings, hourMs: number, actor: Actor): Promise<string[]> {
  const opened = await tx.one(sql.type(z.object({ items_total: z.number(), due_at: z.string() }))`
    UPDATE campaigns SET state = 'open', opened_at = now(), generation_cursor = ${GENERATION_DONE},
           due_at = now() + make_interval(secs => ${(settings.durationHours * hourMs) / 1000}),
           items_total = (SELECT count(*) FROM campaign_items i WHERE i.tenant_id = ${tenantId} AND i.campaign_id = ${c.id})
     WHERE tenant_id = ${tenantId} AND id = ${c.id}
     RETURNING items_total, due_at`);
  await appendAudit(tx, tenantId, [
    { actor, action: 'campaign.started', targetType: 'campaign', targetId: c.id, data: { name: c.name, trigger: c.trigger, items: opened.items_total, dueAt: opened.due_at } },
  ]);
  return recordEvents(tx, tenantId, [campaignEvent(tenantId, c.id, 'started', 'campaign.started', { name: c.name, trigger: c.trigger, items: opened.items_total, dueAt: opened.due_at })]);
}

/** Pending items whose access no longer exists close themselves (outcome `gone`). */
export async function closeVanishedItems(db: Db, _deps: CampaignEngineDeps, input: { tenantId: string; campaignId: string }): Promise<{ closed: number }> {
  return withTenant(db, input.tenantId, (tx) => closeVanishedIn(tx, input.tenantId, input.campaignId));
}

async function closeVanishedIn(tx: Tx, tenantId: string, campaignId: string): Promise<{ closed: number }> {
  // The vanished ids are collected once (an InitPlan) and matched by primary key. A join with the
  // lookup instead lets a planner without statistics on freshly generated items nest the whole
  // lookup inside a loop over the items: quadratic, past the statement timeout at 20,000 items.
  const r = await tx.query(sql.unsafe`
    WITH p AS MATERIALIZED (
      SELECT i.tenant_id, i.id, i.access_kind, i.access_ref, i.user_id, ${ITEM_REF_ID} AS ref_id FROM campaign_items i
       WHERE i.tenant_id = ${tenantId} AND i.campaign_id = ${campaignId} AND i.outcome = 'pending'
    )
    UPDATE campaign_items i SET outcome = 'gone', applied = '{"via":"already_gone"}'::jsonb, applied_at = now()
     WHERE i.tenant_id = ${tenantId} AND i.campaign_id = ${campaignId} AND i.outcome = 'pending'
       AND i.id = ANY(ARRAY(SELECT i.id FROM p i WHERE ${ITEM_GONE_SQL}))`);
  return { closed: r.rowCount };
}

export type Drift = 'unchanged' | 'changed' | 'gone';

/**
 * The access of these items now, against their snapshot: gone (see closeVanishedItems), changed (a
 * role's sources differ from the snapshot's), else unchanged. One statement.
 */
export async function itemDrift(tx: Tx, tenantId: string, items: readonly Pick<ItemRow, 'id' | 'campaign_id'>[]): Promise<Map<string, Drift>> {
  if (items.length === 0) return new Map();
  const rows = await tx.any(sql.type(z.object({ id: z.string(), drift: z.enum(['unchanged', 'changed', 'gone']) }))`
    WITH p AS MATERIALIZED (
      SELECT i.tenant_id, i.id, i.access_kind, i.access_ref, i.user_id, i.sources, ${ITEM_REF_ID} AS ref_id
        FROM unnest(${sql.array(items.map((i) => i.campaign_id), 'uuid')}::uuid[], ${sql.array(items.map((i) => i.id), 'int8')}::int8[]) AS k(campaign_id, id)
        JOIN campaign_items i ON i.tenant_id = ${tenantId} AND i.campaign_id = k.campaign_id AND i.id = k.id
    )
    SELECT i.id::text AS id,
           CASE WHEN ${ITEM_GONE_SQL} THEN 'gone'
                WHEN i.access_kind = 'role' AND i.sources <> ${roleSourcesSql(tenantId, sql.identifier(['i', 'user_id']), sql.identifier(['i', 'access_ref']))} THEN 'changed'
                ELSE 'unchanged' END AS drift
      FROM p i`);
  return new Map(rows.map((r) => [r.id, r.drift]));
}

const ReviewerCount = z.object({ reviewer_id: Uuid, pending: z.number() });

/** Event `campaign.reminded` (reviewers with their pending counts), once per round. */
export async function remindReviewers(db: Db, _deps: CampaignEngineDeps, input: { tenantId: string; campaignId: string; round: number }): Promise<{ reviewers: number; deliver: string[] }> {
  return withTenant(db, input.tenantId, (tx) =>
    runStep(tx, input.tenantId, stepKey(input.tenantId, input.campaignId, `remind:${input.round}`), async () => {
      const c = await requireCampaign(tx, input.tenantId, input.campaignId, false);
      if (c.state !== 'open') return { reviewers: 0, deliver: [] };
      const counts = await tx.any(sql.type(ReviewerCount)`
        SELECT reviewer_id, count(*)::int8 AS pending FROM campaign_items
         WHERE tenant_id = ${input.tenantId} AND campaign_id = ${input.campaignId} AND outcome = 'pending' AND reviewer_id IS NOT NULL
         GROUP BY reviewer_id ORDER BY reviewer_id`);
      if (counts.length === 0) return { reviewers: 0, deliver: [] };
      const deliver = await recordEvents(tx, input.tenantId, [
        campaignEvent(input.tenantId, input.campaignId, `reminded:${input.round}`, 'campaign.reminded', {
          round: input.round,
          reviewers: counts.map((r) => ({ reviewerId: r.reviewer_id, pending: r.pending })),
        }),
      ]);
      return { reviewers: counts.length, deliver };
    }),
  );
}

/**
 * With noResponse.escalate: pending items not yet escalated move to the fallback reviewer
 * (assigned_by 'escalation'), except the fallback's own access (it stays where it is). Once.
 */
export async function escalateOverdue(db: Db, _deps: CampaignEngineDeps, input: { tenantId: string; campaignId: string }): Promise<{ escalated: number; deliver: string[] }> {
  return withTenant(db, input.tenantId, (tx) =>
    runStep(tx, input.tenantId, stepKey(input.tenantId, input.campaignId, 'escalate'), async () => {
      const c = await requireCampaign(tx, input.tenantId, input.campaignId);
      const settings = campaignSettings(c);
      if (c.state !== 'open' || !settings.noResponse.escalate) return { escalated: 0, deliver: [] };
      const to = settings.reviewers.fallbackReviewerId;
      const r = await tx.query(sql.unsafe`
        UPDATE campaign_items i SET reviewer_id = ${to}, assigned_by = 'escalation', escalated_at = now()
         WHERE i.tenant_id = ${input.tenantId} AND i.campaign_id = ${input.campaignId} AND i.outcome = 'pending' AND i.escalated_at IS NULL
           AND i.reviewer_id IS DISTINCT FROM ${to}::uuid
           AND NOT EXISTS (
             SELECT 1 FROM users u JOIN portal_users p ON p.tenant_id = u.tenant_id AND p.id = ${to}
              WHERE u.tenant_id = i.tenant_id AND u.id = i.user_id AND i.access_kind IN ('role', 'oauth_grant')
                AND lower(p.email) = ANY(${userEmailsSql('u')}))`);
      await tx.query(sql.unsafe`UPDATE campaigns SET escalated_at = coalesce(escalated_at, now()) WHERE tenant_id = ${input.tenantId} AND id = ${input.campaignId}`);
      await appendAudit(tx, input.tenantId, [
        { actor: systemActor(input.tenantId, input.campaignId), action: 'campaign.escalated', targetType: 'campaign', targetId: input.campaignId, data: { escalated: r.rowCount, toReviewerId: to } },
      ]);
      const deliver = await recordEvents(tx, input.tenantId, [
        campaignEvent(input.tenantId, input.campaignId, 'escalated', 'campaign.escalated', { escalated: r.rowCount, toReviewerId: to }),
      ]);
      return { escalated: r.rowCount, deliver };
    }),
  );
}

export async function pendingCount(db: Db, _deps: CampaignEngineDeps, input: { tenantId: string; campaignId: string }): Promise<{ pending: number; state: CampaignRow['state'] }> {
  return withTenant(db, input.tenantId, async (tx) => {
    const c = await requireCampaign(tx, input.tenantId, input.campaignId, false);
    const pending = await tx.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int8 AS n FROM campaign_items WHERE tenant_id = ${input.tenantId} AND campaign_id = ${input.campaignId} AND outcome = 'pending'`);
    return { pending, state: c.state };
  });
}

// ---------------------------------------------------------------------------------------------
// Close

/** Items revoked per transaction when the no-response policy revokes (bounded transactions). */
export const CLOSE_REVOKE_BATCH = 500;

export interface CloseResult {
  state: 'closed';
  items: number;
  kept: number;
  revoked: number;
  gone: number;
  noResponseKept: number;
  noResponseRevoked: number;
  awaitingConfirmation: number;
  flaggedReviewers: number;
  deliver: string[];
}

/**
 * Closes the campaign (idempotent: a closed campaign answers the same). Vanished items close first;
 * then the no-response policy: keep_and_flag → no_response_kept; revoke → each pending item revoked
 * (in transactions of CLOSE_REVOKE_BATCH items) when they are at most revokeCapPercent of the
 * items, else all wait as awaiting_confirmation with an open tenant alert. Then state closed, the
 * summary (progress, flagged rubber-stampers, evidence digest, the `campaign.closed` audit row's
 * place in the tenant's chain: the row is sealed in this transaction) and event `campaign.closed`.
 */
export async function closeCampaign(db: Db, deps: CampaignEngineDeps, input: { tenantId: string; campaignId: string }): Promise<CloseResult> {
  const { tenantId, campaignId } = input;
  const key = stepKey(tenantId, campaignId, 'close');
  const actor = systemActor(tenantId, campaignId);
  const first = await withTenant(db, tenantId, async (tx) => {
    const c = await requireCampaign(tx, tenantId, campaignId);
    if (c.state === 'cancelled') throw new DomainError(409, 'campaign_cancelled', 'the campaign was cancelled');
    if (c.state === 'closed') return { done: await storedStep<CloseResult>(tx, tenantId, key) };
    if (c.state !== 'open') throw new DomainError(409, 'campaign_not_open', 'the campaign has not opened yet');
    await closeVanishedIn(tx, tenantId, campaignId);
    const settings = campaignSettings(c);
    const pending = await tx.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int8 AS n FROM campaign_items WHERE tenant_id = ${tenantId} AND campaign_id = ${campaignId} AND outcome = 'pending'`);
    if (pending === 0) return { done: null, revoke: false };
    if (settings.noResponse.action === 'keep_and_flag') {
      await tx.query(sql.unsafe`
        UPDATE campaign_items SET outcome = 'no_response_kept' WHERE tenant_id = ${tenantId} AND campaign_id = ${campaignId} AND outcome = 'pending'`);
      return { done: null, revoke: false };
    }
    if (pending * 100 <= settings.noResponse.revokeCapPercent * c.items_total) return { done: null, revoke: true };
    await tx.query(sql.unsafe`
      UPDATE campaign_items SET outcome = 'awaiting_confirmation' WHERE tenant_id = ${tenantId} AND campaign_id = ${campaignId} AND outcome = 'pending'`);
    await tx.query(sql.unsafe`
      INSERT INTO tenant_alerts (tenant_id, kind, data)
      SELECT ${tenantId}, 'campaign_revokes_awaiting_confirmation', ${sql.jsonb({ campaignId, items: pending, capPercent: settings.noResponse.revokeCapPercent })}
       WHERE NOT EXISTS (SELECT 1 FROM tenant_alerts WHERE tenant_id = ${tenantId} AND kind = 'campaign_revokes_awaiting_confirmation'
                           AND resolved_at IS NULL AND data->>'campaignId' = ${campaignId})`);
    await appendAudit(tx, tenantId, [
      { actor, action: 'campaign.no_response.awaiting_confirmation', targetType: 'campaign', targetId: campaignId, data: { items: pending, capPercent: settings.noResponse.revokeCapPercent } },
    ]);
    return { done: null, revoke: false };
  });
  if (first.done) return first.done;

  if (first.revoke) {
    // Each transaction takes the next pending items (locked), revokes them and moves them on. It
    // reads on after the last batch's highest id: every pending item below it was revoked then,
    // and rescanning them from the start would make the close quadratic in the campaign's size.
    let after = '0';
    for (;;) {
      const last = await withTenant(db, tenantId, async (tx) => {
        const c = await requireCampaign(tx, tenantId, campaignId);
        if (c.state !== 'open') return null;
        const items = await tx.any(sql.type(ItemRow)`
          SELECT ${ITEM_COLUMNS} FROM campaign_items i
           WHERE i.tenant_id = ${tenantId} AND i.campaign_id = ${campaignId} AND i.id > ${after}::int8 AND i.outcome = 'pending'
           ORDER BY i.id LIMIT ${CLOSE_REVOKE_BATCH} FOR UPDATE`);
        await applyRevokes(tx, { tenantId, actor }, deps, items, 'no response by the deadline', 'no_response_revoked');
        return items.at(-1)?.id ?? null;
      });
      if (last === null) break;
      after = last;
    }
  }

  return withTenant(db, tenantId, async (tx) => {
    const c = await requireCampaign(tx, tenantId, campaignId);
    if (c.state === 'cancelled') throw new DomainError(409, 'campaign_cancelled', 'the campaign was cancelled');
    const done = c.state === 'closed' ? await storedStep<CloseResult>(tx, tenantId, key) : null;
    if (done) return done;
    // A reviewer may have decided since: whatever is still pending falls to the policy's keep.
    await tx.query(sql.unsafe`
      UPDATE campaign_items SET outcome = 'no_response_kept' WHERE tenant_id = ${tenantId} AND campaign_id = ${campaignId} AND outcome = 'pending'`);
    const closed = await tx.oneFirst(sql.type(z.object({ closed_at: z.string() }))`
      UPDATE campaigns SET state = 'closed', closed_at = now() WHERE tenant_id = ${tenantId} AND id = ${campaignId} RETURNING closed_at`);
    const progress = await campaignProgress(tx, tenantId, campaignId);
    const digest = await evidenceDigestIn(tx, tenantId, campaignId);
    const { reviewers, ...counts } = progress;
    const flagged = reviewers
      .filter((r) => r.rubberStamp && r.reviewerId)
      .map((r) => ({ reviewerId: r.reviewerId!, reviewerName: r.reviewerName, decided: r.decided, medianDecisionMs: r.medianDecisionMs }));
    await appendAudit(tx, tenantId, [
      {
        actor,
        action: 'campaign.closed',
        targetType: 'campaign',
        targetId: campaignId,
        data: { evidenceDigest: digest, items: counts.items, kept: counts.kept, revoked: counts.revoked, gone: counts.gone, noResponseKept: counts.noResponseKept, noResponseRevoked: counts.noResponseRevoked, awaitingConfirmation: counts.awaitingConfirmation, flaggedReviewers: flagged.map((f) => f.reviewerId) },
      },
    ]);
    const auditChain = await sealClosedRow(tx, tenantId, campaignId);
    const summary: CampaignSummary = { closedAt: closed, progress: counts, flaggedReviewers: flagged, evidenceDigest: digest, auditChain };
    await tx.query(sql.unsafe`UPDATE campaigns SET summary = ${sql.jsonb(summary)} WHERE tenant_id = ${tenantId} AND id = ${campaignId}`);
    const deliver = await recordEvents(tx, tenantId, [
      campaignEvent(tenantId, campaignId, 'closed', 'campaign.closed', {
        items: counts.items,
        kept: counts.kept,
        revoked: counts.revoked,
        gone: counts.gone,
        noResponseKept: counts.noResponseKept,
        noResponseRevoked: counts.noResponseRevoked,
        awaitingConfirmation: counts.awaitingConfirmation,
        evidenceDigest: digest,
      }),
    ]);
    const result: CloseResult = {
      state: 'closed',
      items: counts.items,
      kept: counts.kept,
      revoked: counts.revoked,
      gone: counts.gone,
      noResponseKept: counts.noResponseKept,
      noResponseRevoked: counts.noResponseRevoked,
      awaitingConfirmation: counts.awaitingConfirmation,
      flaggedReviewers: flagged.length,
      deliver,
    };
    await storeStep(tx, tenantId, key, result);
    return result;
  });
}

/**
 * Seals the tenant's pending audit rows (audit_seal, the sealer's own function) so the
 * `campaign.closed` row just appended has its seq and hash in the chain now; returns them.
 */
async function sealClosedRow(tx: Tx, tenantId: string, campaignId: string): Promise<{ seq: number; hash: string }> {
  const Row = z.object({ seq: z.number().nullable(), hash: z.string().nullable() });
  const read = () =>
    tx.one(sql.type(Row)`
      SELECT seq, encode(hash, 'hex') AS hash FROM audit_events
       WHERE tenant_id = ${tenantId} AND action = 'campaign.closed' AND target_id = ${campaignId} ORDER BY id DESC LIMIT 1`);
  let row = await read();
  for (let i = 0; row.seq === null && i < 100; i++) {
    await tx.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT audit_seal(${tenantId}, 5000) AS n`);
    row = await read();
  }
  if (row.seq === null || row.hash === null) throw new Error('the campaign.closed audit row could not be sealed');
  return { seq: row.seq, hash: row.hash };
}

/**
 * An admin's answer to revokes held back by the cap: confirm → revoke each awaiting item
 * (no_response_revoked); decline → keep them (no_response_kept). Resolves the alert; audited.
 */
export async function confirmAwaiting(
  tx: Tx,
  ctx: ServiceContext,
  deps: { catalogue: readonly AppRole[] },
  campaignId: string,
  confirm: boolean,
  reason: string,
): Promise<{ revoked: number; kept: number }> {
  const c = await requireCampaign(tx, ctx.tenantId, campaignId, false);
  const items = await tx.any(sql.type(ItemRow)`
    SELECT ${ITEM_COLUMNS} FROM campaign_items i
     WHERE i.tenant_id = ${ctx.tenantId} AND i.campaign_id = ${c.id} AND i.outcome = 'awaiting_confirmation'
     ORDER BY i.id FOR UPDATE`);
  if (items.length === 0) throw new DomainError(409, 'nothing_awaiting', 'no items of this campaign await confirmation');
  if (confirm) await applyRevokes(tx, ctx, deps, items, reason, 'no_response_revoked');
  else {
    await tx.query(sql.unsafe`
      UPDATE campaign_items SET outcome = 'no_response_kept' WHERE tenant_id = ${ctx.tenantId} AND campaign_id = ${c.id} AND outcome = 'awaiting_confirmation'`);
  }
  await tx.query(sql.unsafe`
    UPDATE tenant_alerts SET resolved_at = now()
     WHERE tenant_id = ${ctx.tenantId} AND kind = 'campaign_revokes_awaiting_confirmation' AND resolved_at IS NULL AND data->>'campaignId' = ${c.id}`);
  await appendAudit(tx, ctx.tenantId, [
    auditEntry(ctx, confirm ? 'campaign.no_response.confirmed' : 'campaign.no_response.declined', 'campaign', c.id, { items: items.length, reason }),
  ]);
  return confirm ? { revoked: items.length, kept: 0 } : { revoked: 0, kept: items.length };
}

// ---------------------------------------------------------------------------------------------
// Event-triggered review (a mover changed a person's manager or department)

/** What SCIM's `changed` names when the enterprise extension (manager, department, ...) changed. */
const MOVE_KEYS = new Set(['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', 'manager', 'department', 'enterprise']);

/**
 * Called by applyIdentityEvent for `user.updated`: when `changed` names the enterprise extension
 * (manager or department) and the person, active, holds privileged roles, creates an open review
 * of those roles for their (new) manager, fallback the tenant's first active admin, in the caller's
 * transaction. Returns its id (the caller starts the workflow after commit), or null. Idempotent
 * by trigger_ref `move:<userId>:<seq>`.
 */
export async function reviewOnMove(tx: Tx, deps: CampaignEngineDeps, input: { tenantId: string; userId: string; seq: number; changed: readonly unknown[] }): Promise<string | null> {
  if (!input.changed.some((c) => typeof c === 'string' && MOVE_KEYS.has(c))) return null;
  const triggerRef = `move:${input.userId}:${input.seq}`;
  const existing = await tx.maybeOneFirst(sql.type(z.object({ id: Uuid }))`
    SELECT id FROM campaigns WHERE tenant_id = ${input.tenantId} AND trigger_ref = ${triggerRef}`);
  if (existing) return null;
  const privileged = privilegedOf(deps.catalogue);
  if (privileged.length === 0) return null;
  const person = await tx.maybeOne(sql.type(z.object({ user_name: z.string(), held: z.number() }))`
    SELECT u.user_name, (SELECT count(*) FROM user_roles ur WHERE ur.tenant_id = u.tenant_id AND ur.user_id = u.id AND ur.role = ANY(${sql.array(privileged, 'text')}))::int8 AS held
      FROM users u WHERE u.tenant_id = ${input.tenantId} AND u.id = ${input.userId} AND u.scim_deleted_at IS NULL AND u.active AND u.lifecycle_state = 'active'`);
  if (!person || person.held === 0) return null;
  const admins = await activeAdmins(tx, input.tenantId);
  if (admins.length === 0) return null;
  const settings: CampaignSettings = SettingsSchema.parse({
    scope: [{ kind: 'privileged_roles' }],
    reviewers: { people: 'manager', nonHuman: 'owner', reviewerIds: [], fallbackReviewerId: admins[0] },
    durationHours: 24 * 7,
    remindEveryHours: 48,
    noResponse: { action: 'keep_and_flag' },
  });
  const name = `Access review after ${person.user_name}'s move`;
  const campaignId = await tx.oneFirst(sql.type(z.object({ id: Uuid }))`
    INSERT INTO campaigns (tenant_id, name, trigger, trigger_ref, settings, subject_user_id, state, launched_by_type, launched_by_id)
    VALUES (${input.tenantId}, ${name}, 'event', ${triggerRef}, ${sql.jsonb(settings as never)}, ${input.userId}, 'generating', 'system', ${triggerRef})
    RETURNING id`);
  const [p] = await peopleBatchFor(tx, input.tenantId, input.userId);
  if (p) {
    const candidate: Assignment | null = p.manager_reviewer ? { reviewerId: p.manager_reviewer, assignedBy: 'manager' } : null;
    const a = pickReviewer(settings.reviewers, candidate, new Set(p.self_ids), admins);
    await insertPeopleItems(tx, input.tenantId, campaignId, scopeOf(settings), privileged, [{ id: p.id, inactive: p.inactive, a }]);
  }
  const c = await requireCampaign(tx, input.tenantId, campaignId);
  await openNow(tx, input.tenantId, c, settings, deps.hourMs, { type: 'system', id: triggerRef });
  return campaignId;
}

/** The one person's row, as generation reads it. */
const peopleBatchFor = (tx: Tx, tenantId: string, userId: string) => peopleRows(tx, tenantId, sql.fragment`u.id = ${userId}::uuid`, 1, true);
