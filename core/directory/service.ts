import type { AppRole } from '../config.js';
import type { Tx } from '../db/pool.js';
import { DomainError } from '../errors.js';
import type { Actor } from '../repositories/audit.js';
import {
  buildExposureReport,
  disableServiceAccount,
  findServiceAccount,
  listUserCredentials,
  listUserOAuthGrants,
  reassignServiceAccountOwner,
  revokeCredential,
  revokeOAuthGrant,
} from '../repositories/credentials.js';
import { tenantAlerts } from '../repositories/identity-views.js';
import * as q from './queries.js';
import {
  ExposureReport,
  type GroupDetail,
  type GroupPage,
  type LifecycleState,
  MEMBER_COUNT_CAP,
  type OAuthGrantPage,
  type OrphanPage,
  type Overview,
  type ReassignResult,
  type RevokeResult,
  type RoleSource,
  type ServiceAccountPage,
  type ServiceAccountView,
  type TokenPage,
  type UserDetail,
  type UserExposure,
  type UserPage,
  type UserSummary,
} from './schema.js';

/**
 * The directory feature: what the portal's Overview, Directory and Non-human identities pages
 * read, and the few changes they make (revoke a token, grant or service account; hand an orphaned
 * service account to a new owner). Each function runs inside the caller's one tenant transaction;
 * changes write their audit rows in it (through the credentials repository, which audits each row
 * it actually changed, so a retried request audits nothing twice).
 */

/** Why the portal revoked something (credentials.revoked_reason / oauth_grants.revoked_reason). */
export const PORTAL_REVOCATION_REASON = 'revoked_in_portal';

const summary = (r: q.UserSummaryRow): UserSummary => ({
  id: r.id,
  userName: r.user_name,
  displayName: r.display_name,
  email: r.email,
  externalId: r.external_id,
  state: r.lifecycle_state,
  active: r.active,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

// ---------------------------------------------------------------------------------------------
// Overview

export async function overview(tx: Tx, tenantId: string): Promise<Overview> {
  const connections = await q.connectionHealth(tx, tenantId);
  const byState = await q.countUsersByState(tx, tenantId);
  const alerts = await tenantAlerts(tx, tenantId, { open: true });
  const counts = await q.attentionCounts(tx, tenantId);
  const activity = await q.recentLifecycleActivity(tx, tenantId, 20);
  return {
    connections: connections.map((c) => ({ id: c.id, name: c.name, createdAt: c.created_at, revokedAt: c.revoked_at, liveTokens: c.live_tokens, lastUsedAt: c.last_used_at })),
    identities: { total: Object.values(byState).reduce((a, b) => a + b, 0), byState },
    alerts: alerts.map((a) => ({ id: a.id, kind: a.kind, createdAt: a.created_at, data: a.data })),
    heldLeavers: counts.held,
    orphanedServiceAccounts: counts.orphans,
    recentActivity: activity.map((a) => ({
      id: a.id,
      at: a.at,
      action: a.action,
      actorType: a.actor_type,
      actorId: a.actor_id,
      seq: a.seq,
      targetId: a.target_id,
      userName: a.user_name,
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// Users

export async function listUsers(
  tx: Tx,
  tenantId: string,
  query: { search?: string | undefined; state?: LifecycleState | undefined; cursor?: string | undefined; limit: number },
): Promise<UserPage> {
  const filter = { search: query.search, state: query.state };
  const page = await q.listUsers(tx, tenantId, filter, query.cursor, query.limit);
  return {
    items: page.rows.map(summary),
    total: page.count?.total ?? null,
    totalIsLowerBound: page.count?.lowerBound ?? false,
    totalIsEstimate: page.count?.estimated ?? false,
    next: page.next,
    prev: page.prev,
  };
}

const LABELS: Record<string, string> = {
  userName: 'User name',
  displayName: 'Display name',
  externalId: 'External id',
  active: 'Active (IdP)',
  'name.formatted': 'Full name',
  'name.givenName': 'Given name',
  'name.familyName': 'Family name',
  'name.middleName': 'Middle name',
  emails: 'Emails',
  phoneNumbers: 'Phone numbers',
  title: 'Title',
  userType: 'User type',
  preferredLanguage: 'Preferred language',
  locale: 'Locale',
  timezone: 'Time zone',
  nickName: 'Nickname',
  'enterprise.employeeNumber': 'Employee number',
  'enterprise.department': 'Department',
  'enterprise.division': 'Division',
  'enterprise.organization': 'Organization',
  'enterprise.costCenter': 'Cost center',
  'enterprise.manager': 'Manager',
};

function multiValued(values: readonly Record<string, unknown>[]): string {
  return values
    .map((v) => {
      const tags = [typeof v.type === 'string' ? v.type : null, v.primary === true ? 'primary' : null].filter(Boolean);
      return `${scalar(v.value ?? v.display ?? v)}${tags.length ? ` (${tags.join(', ')})` : ''}`;
    })
    .join(', ');
}

function scalar(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((v) => v && typeof v === 'object')) return multiValued(value as Record<string, unknown>[]);
  return JSON.stringify(value) ?? '';
}

/** Flattens what the IdP sent into labelled rows. Everything here came over SCIM: IdP-managed. */
function attributeRows(entries: [string, unknown][]): UserDetail['attributes'] {
  const rows: UserDetail['attributes'] = [];
  const push = (path: string, value: unknown) => {
    const text = scalar(value);
    if (text !== '') rows.push({ path, label: LABELS[path] ?? path, value: text, idpManaged: true });
  };
  for (const [key, value] of entries) {
    if (key === 'enterprise.manager' && value && typeof value === 'object') {
      const m = value as Record<string, unknown>;
      push(key, m.displayName ? `${scalar(m.displayName)} (${scalar(m.value)})` : m.value);
    } else if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) attributeRows([[`${key}.${k}`, v]]).forEach((r) => rows.push(r));
    } else {
      push(key, value);
    }
  }
  return rows;
}

export async function userDetail(tx: Tx, tenantId: string, userId: string, catalogue: readonly AppRole[]): Promise<UserDetail> {
  const u = await q.requireUserDetail(tx, tenantId, userId);
  const sources = await q.userRoleSources(tx, tenantId, userId);
  const credentials = await listUserCredentials(tx, tenantId, userId);
  const grants = await listUserOAuthGrants(tx, tenantId, userId);
  const accounts = await q.userServiceAccounts(tx, tenantId, userId);

  const known = new Set(catalogue.map((r) => r.name));
  const roles = new Map<string, RoleSource[]>();
  const add = (role: string, source: RoleSource) => roles.set(role, [...(roles.get(role) ?? []), source]);
  if (sources.default_role) add(sources.default_role, { kind: 'default' });
  for (const m of sources.mapped) add(m.role, { kind: 'group', groupId: m.groupId, groupName: m.groupName });
  for (const d of sources.direct) add(d.role, { kind: 'direct', grantedBy: d.grantedBy, grantedAt: d.grantedAt });
  // A role granted with no source left is on its way out (the mover revokes it): show it too.
  for (const r of sources.granted) if (!roles.has(r)) roles.set(r, []);

  const nowMs = Date.now();
  const live = (c: { revoked_at: string | null; expires_at: string | null }) => c.revoked_at === null && (c.expires_at === null || Date.parse(c.expires_at) > nowMs);
  const sessions = credentials.filter((c) => c.kind === 'session');
  const entries: [string, unknown][] = [
    ['userName', u.user_name],
    ['displayName', u.display_name],
    ['externalId', u.external_id],
    ['active', u.active],
    ['name', u.name],
    ['emails', u.emails],
    ['phoneNumbers', u.phone_numbers],
    ...Object.entries(u.attributes),
    ...Object.entries(u.enterprise ?? {}).map(([k, v]): [string, unknown] => [`enterprise.${k}`, v]),
  ];
  return {
    id: u.id,
    userName: u.user_name,
    displayName: u.display_name,
    state: u.lifecycle_state,
    active: u.active,
    held: u.held,
    scimDeletedAt: u.scim_deleted_at,
    lifecycle: { provisionedAt: u.provisioned_at, activatedAt: u.activated_at, suspendedAt: u.suspended_at, deletedAt: u.deleted_at },
    attributes: attributeRows(entries.filter(([k]) => k !== 'schemas' && k !== 'meta' && k !== 'password')),
    roles: [...roles.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([role, s]) => {
        const excluded = sources.excluded.find((x) => x.role === role);
        return { role, granted: sources.granted.includes(role), inCatalogue: known.has(role), sources: s, ...(excluded ? { removedByReview: { campaignId: excluded.campaignId } } : {}) };
      }),
    groups: sources.groups,
    tokens: credentials
      .filter((c) => c.kind !== 'session')
      .map((c) => ({
        id: c.id,
        kind: c.kind,
        name: c.name,
        tokenPrefix: c.token_prefix,
        scopes: c.scopes,
        createdAt: c.created_at,
        expiresAt: c.expires_at,
        lastUsedAt: c.last_used_at,
        revokedAt: c.revoked_at,
        revokedReason: c.revoked_reason,
        live: live(c),
      })),
    sessions: { total: sessions.length, live: sessions.filter(live).length },
    oauthGrants: grants.map((g) => ({
      id: g.id,
      clientId: g.client_id,
      clientName: g.client_name,
      scopes: g.scopes,
      createdAt: g.created_at,
      revokedAt: g.revoked_at,
      revokedReason: g.revoked_reason,
    })),
    serviceAccounts: accounts.map(serviceAccountView),
  };
}

export const TIMELINE_LIMIT = 200;

export async function userTimeline(tx: Tx, tenantId: string, userId: string) {
  const u = await q.requireUserDetail(tx, tenantId, userId);
  const { rows, truncated } = await q.userTimeline(tx, tenantId, userId, TIMELINE_LIMIT);
  return {
    userId: u.id,
    state: u.lifecycle_state,
    events: rows.map((r) => ({ id: r.id, at: r.at, action: r.action, actorType: r.actor_type, actorId: r.actor_id, seq: r.seq })),
    truncated,
  };
}

export async function userExposure(tx: Tx, tenantId: string, userId: string): Promise<UserExposure> {
  const u = await q.requireUserDetail(tx, tenantId, userId);
  const current = await buildExposureReport(tx, tenantId, userId);
  const recorded = await q.recordedExposureReports(tx, tenantId, userId);
  return {
    userId: u.id,
    state: u.lifecycle_state,
    leaver: u.lifecycle_state === 'suspended' || u.lifecycle_state === 'deleted',
    current,
    recorded: recorded.map((r) => ({ workflowId: r.workflow_id, createdAt: r.created_at, liveCredentials: r.live_credentials, report: ExposureReport.parse(r.report) })),
  };
}

// ---------------------------------------------------------------------------------------------
// Groups

const groupSummary = (g: q.GroupSummaryRowType) => ({
  id: g.id,
  displayName: g.display_name,
  externalId: g.external_id,
  memberCount: g.member_count,
  roles: g.roles,
  createdAt: g.created_at,
});

export async function listGroups(tx: Tx, tenantId: string, query: { search?: string | undefined; cursor?: string | undefined; limit: number }): Promise<GroupPage> {
  const page = await q.listGroups(tx, tenantId, query.search, query.cursor, query.limit);
  const count = await q.countGroups(tx, tenantId, query.search);
  return { items: page.rows.map(groupSummary), total: count.total, totalIsLowerBound: count.lowerBound, next: page.next, prev: page.prev };
}

export async function groupDetail(tx: Tx, tenantId: string, groupId: string, query: { cursor?: string | undefined; limit: number }): Promise<GroupDetail> {
  const g = await q.requireGroupSummary(tx, tenantId, groupId);
  const members = await q.listGroupMembers(tx, tenantId, groupId, query.cursor, query.limit);
  return {
    group: { ...groupSummary(g), updatedAt: g.updated_at, attributes: attributeRows(Object.entries(g.attributes).filter(([k]) => k !== 'schemas' && k !== 'meta')) },
    members: {
      items: members.rows.map(summary),
      total: g.member_count,
      totalIsLowerBound: g.member_count >= MEMBER_COUNT_CAP,
      next: members.next,
      prev: members.prev,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Non-human identities

function serviceAccountView(s: q.ServiceAccountListRow): ServiceAccountView {
  return {
    id: s.id,
    name: s.name,
    status: s.status,
    orphaned: s.orphaned,
    orphanedAt: s.orphaned_at,
    createdAt: s.created_at,
    updatedAt: s.updated_at,
    disabledAt: s.disabled_at,
    owner: s.owner,
    liveTokens: s.live_tokens,
    lastUsedAt: s.last_used_at,
  };
}

export async function listServiceAccounts(
  tx: Tx,
  tenantId: string,
  query: { status?: 'active' | 'disabled' | undefined; cursor?: string | undefined; limit: number },
): Promise<ServiceAccountPage> {
  const page = await q.listServiceAccountsPage(tx, tenantId, { status: query.status }, query.cursor, query.limit);
  const total = await q.countServiceAccounts(tx, tenantId, { status: query.status });
  return { items: page.rows.map(serviceAccountView), total, totalIsLowerBound: false, next: page.next, prev: page.prev };
}

export async function listOrphans(tx: Tx, tenantId: string, query: { cursor?: string | undefined; limit: number }): Promise<OrphanPage> {
  const page = await q.listServiceAccountsPage(tx, tenantId, { orphaned: true }, query.cursor, query.limit);
  const total = await q.countServiceAccounts(tx, tenantId, { orphaned: true });
  return { items: page.rows.map(serviceAccountView), total, totalIsLowerBound: false, next: page.next, prev: page.prev };
}

export async function listTokens(
  tx: Tx,
  tenantId: string,
  query: { kind?: 'personal_token' | 'service_account_token' | undefined; status: q.LiveFilter; cursor?: string | undefined; limit: number },
): Promise<TokenPage> {
  const filter = { kind: query.kind, status: query.status };
  const page = await q.listTokens(tx, tenantId, filter, query.cursor, query.limit);
  const total = await q.countTokens(tx, tenantId, filter);
  return {
    items: page.rows.map((t) => ({
      id: t.id,
      kind: t.kind,
      name: t.name,
      tokenPrefix: t.token_prefix,
      scopes: t.scopes,
      createdAt: t.created_at,
      expiresAt: t.expires_at,
      lastUsedAt: t.last_used_at,
      revokedAt: t.revoked_at,
      revokedReason: t.revoked_reason,
      live: t.live,
      owner: t.owner,
      serviceAccount: t.service_account,
    })),
    total,
    totalIsLowerBound: false,
    next: page.next,
    prev: page.prev,
  };
}

export async function listOAuthGrants(tx: Tx, tenantId: string, query: { status: q.LiveFilter; cursor?: string | undefined; limit: number }): Promise<OAuthGrantPage> {
  const page = await q.listOAuthGrants(tx, tenantId, query.status, query.cursor, query.limit);
  const total = await q.countOAuthGrants(tx, tenantId, query.status);
  return {
    items: page.rows.map((g) => ({
      id: g.id,
      clientId: g.client_id,
      clientName: g.client_name,
      scopes: g.scopes,
      createdAt: g.created_at,
      revokedAt: g.revoked_at,
      revokedReason: g.revoked_reason,
      owner: g.owner,
    })),
    total,
    totalIsLowerBound: false,
    next: page.next,
    prev: page.prev,
  };
}

/** Revokes a personal or service-account token (sessions are not managed here). Idempotent. */
export async function revokeToken(tx: Tx, tenantId: string, id: string, actor: Actor): Promise<RevokeResult> {
  if (!(await q.tokenKind(tx, tenantId, id))) throw new DomainError(404, 'not_found', 'no such token in this tenant');
  const r = await revokeCredential(tx, tenantId, id, PORTAL_REVOCATION_REASON, actor);
  return { id, changed: r.revoked, revokedTokens: r.revoked ? [id] : [] };
}

export async function revokeGrant(tx: Tx, tenantId: string, id: string, actor: Actor): Promise<RevokeResult> {
  const r = await revokeOAuthGrant(tx, tenantId, id, PORTAL_REVOCATION_REASON, actor);
  return { id, changed: r.revoked, revokedTokens: [] };
}

/** Disables a service account and revokes its live tokens (re-enabling is not offered here). */
export async function revokeServiceAccount(tx: Tx, tenantId: string, id: string, actor: Actor): Promise<RevokeResult> {
  const r = await disableServiceAccount(tx, tenantId, id, {}, actor);
  return { id, changed: r.changed, revokedTokens: r.revokedTokens };
}

/**
 * Hands an orphaned service account to a new owner: a live (provisioned or active) user of the
 * tenant. It leaves the orphan queue and stays disabled if it was (re-enabling is its own
 * decision). The new owner's row is locked through the lock ledger (core/db/locks.ts).
 */
export async function reassignOrphan(tx: Tx, tenantId: string, id: string, ownerUserId: string, actor: Actor): Promise<ReassignResult> {
  const account = await findServiceAccount(tx, tenantId, id, { forUpdate: true });
  if (!account) throw new DomainError(404, 'not_found', 'no such service account in this tenant');
  if (!account.orphaned) throw new DomainError(409, 'not_orphaned', 'this service account has an owner; it is not in the orphan queue');
  if (account.owner_user_id === ownerUserId) throw new DomainError(409, 'same_owner', 'choose someone other than the owner who left');
  await reassignServiceAccountOwner(tx, tenantId, id, ownerUserId, actor);
  const row = await q.findServiceAccountView(tx, tenantId, id);
  if (!row) throw new DomainError(404, 'not_found', 'no such service account in this tenant');
  return { changed: true, serviceAccount: serviceAccountView(row) };
}
