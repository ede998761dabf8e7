import { sql } from 'slonik';
import { z } from 'zod';
import { type ExposureItem, ExposureReport } from '../credentials/schema.js';
import { claimLocks, ROW_LOCK } from '../db/locks.js';
import type { Statements, Tx } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { CREDENTIAL_PREFIXES, displayPrefix, generateSecret, hashSecret, secretMatches } from '../secrets.js';
import { type Actor, appendAudit, type AuditEventInput } from './audit.js';
import { foldKey } from '../scim/fold.js';
import { isUuid, LifecycleState } from './users.js';

/**
 * Access artifacts Roster issues on behalf of the vendor's app: sessions, personal API tokens,
 * service accounts and their tokens, and OAuth grants users gave to integrations. Roster issued
 * them, so Roster can revoke them, and introspection answers for them at once.
 *
 * Every function takes the connection first and the tenant explicitly, and filters by tenant in
 * SQL as well (the CLI's owner connection is not bound by row-level security). Writes append an
 * audit event for each row they actually changed, so a retried call audits nothing twice.
 */

export const CredentialKind = z.enum(['session', 'personal_token', 'service_account_token']);
export type CredentialKind = z.infer<typeof CredentialKind>;

export const CredentialRow = z.object({
  tenant_id: z.string().uuid(),
  id: z.string().uuid(),
  kind: CredentialKind,
  user_id: z.string().uuid().nullable(),
  service_account_id: z.string().uuid().nullable(),
  name: z.string().nullable(),
  scopes: z.array(z.string()),
  required_roles: z.array(z.string()),
  token_prefix: z.string(),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
  revoked_reason: z.string().nullable(),
});
export type CredentialRow = z.infer<typeof CredentialRow>;

const CREDENTIAL_COLUMNS = sql.fragment`c.tenant_id, c.id, c.kind, c.user_id, c.service_account_id, c.name, c.scopes,
  c.required_roles, c.token_prefix, c.created_at, c.expires_at, c.last_used_at, c.revoked_at, c.revoked_reason`;

export const OAuthGrantRow = z.object({
  tenant_id: z.string().uuid(),
  id: z.string().uuid(),
  user_id: z.string().uuid(),
  client_id: z.string(),
  client_name: z.string().nullable(),
  scopes: z.array(z.string()),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
  revoked_reason: z.string().nullable(),
});
export type OAuthGrantRow = z.infer<typeof OAuthGrantRow>;

const GRANT_COLUMNS = sql.fragment`g.tenant_id, g.id, g.user_id, g.client_id, g.client_name, g.scopes, g.created_at,
  g.revoked_at, g.revoked_reason`;

export const ServiceAccountStatus = z.enum(['active', 'disabled']);
export const ServiceAccountRow = z.object({
  tenant_id: z.string().uuid(),
  id: z.string().uuid(),
  name: z.string(),
  owner_user_id: z.string().uuid().nullable(),
  status: ServiceAccountStatus,
  orphaned: z.boolean(),
  orphaned_at: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  disabled_at: z.string().nullable(),
});
export type ServiceAccountRow = z.infer<typeof ServiceAccountRow>;

const SA_COLUMNS = sql.fragment`s.tenant_id, s.id, s.name, s.owner_user_id, s.status, s.orphaned, s.orphaned_at,
  s.created_at, s.updated_at, s.disabled_at`;

/** Why a credential or grant stopped working (stored in revoked_reason). */
export const RevocationReason = {
  revokedByApp: 'revoked_by_app',
  leaver: 'user_left',
  rolesLost: 'required_role_lost',
  serviceAccountDisabled: 'service_account_disabled',
} as const;

const DEFAULT_SESSION_TTL_SECONDS = 12 * 3600;

/** A credential as the app API shows it: never the secret, never its hash. */
export function credentialView(row: CredentialRow) {
  return {
    id: row.id,
    kind: row.kind,
    userId: row.user_id,
    serviceAccountId: row.service_account_id,
    name: row.name,
    scopes: row.scopes,
    requiredRoles: row.required_roles,
    tokenPrefix: row.token_prefix,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    revokedReason: row.revoked_reason,
  };
}
export type CredentialView = ReturnType<typeof credentialView>;

export function oauthGrantView(row: OAuthGrantRow) {
  return {
    id: row.id,
    userId: row.user_id,
    clientId: row.client_id,
    clientName: row.client_name,
    scopes: row.scopes,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    revokedReason: row.revoked_reason,
  };
}
export type OAuthGrantView = ReturnType<typeof oauthGrantView>;

export function serviceAccountView(row: ServiceAccountRow) {
  return {
    id: row.id,
    name: row.name,
    ownerUserId: row.owner_user_id,
    status: row.status,
    orphaned: row.orphaned,
    orphanedAt: row.orphaned_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    disabledAt: row.disabled_at,
  };
}
export type ServiceAccountView = ReturnType<typeof serviceAccountView>;

// ---------------------------------------------------------------------------------------------
// Principals

const PrincipalUser = z.object({
  id: z.string().uuid(),
  lifecycle_state: LifecycleState,
  active: z.boolean(),
  scim_deleted: z.boolean(),
});

/** The user, locked against a concurrent suspension until the caller's transaction ends. */
async function lockUser(tx: Tx, tenantId: string, userId: string) {
  if (!isUuid(userId)) return null;
  claimLocks(tx, 'users', [userId]);
  return tx.maybeOne(sql.type(PrincipalUser)`
    SELECT id, lifecycle_state, active, scim_deleted_at IS NOT NULL AS scim_deleted
      FROM users WHERE tenant_id = ${tenantId} AND id = ${userId} ${ROW_LOCK}`);
}

/**
 * A user who may receive new credentials: exists in this tenant (404 otherwise) and is neither
 * suspended nor deleted (409). A provisioned user may: the credential works once they are active.
 */
async function requireIssuableUser(tx: Tx, tenantId: string, userId: string): Promise<void> {
  const user = await lockUser(tx, tenantId, userId);
  if (!user) throw new DomainError(404, 'not_found', 'no such user in this tenant');
  if (!user.active || user.scim_deleted || user.lifecycle_state === 'suspended' || user.lifecycle_state === 'deleted') {
    throw new DomainError(409, 'user_not_active', 'the user is suspended or deleted and cannot receive new credentials');
  }
}

/** A live (not SCIM-deleted) user's id by userName, compared under the SCIM case fold. */
export async function findUserIdByUserName(tx: Tx, tenantId: string, userName: string): Promise<string | null> {
  return tx.maybeOneFirst(sql.type(z.object({ id: z.string().uuid() }))`
    SELECT id FROM users WHERE tenant_id = ${tenantId} AND user_name_key = ${foldKey(userName)} AND scim_deleted_at IS NULL`);
}

/** Throws 404 unless the user exists in this tenant (any lifecycle state). */
export async function requireUser(tx: Tx, tenantId: string, userId: string): Promise<void> {
  if (!(await lockUser(tx, tenantId, userId))) throw new DomainError(404, 'not_found', 'no such user in this tenant');
}

// ---------------------------------------------------------------------------------------------
// Issuing

export interface IssuedCredential {
  credential: CredentialView;
  /** The secret, returned once; only its SHA-256 is stored. */
  token: string;
}

async function insertCredential(
  tx: Tx,
  tenantId: string,
  input: {
    kind: CredentialKind;
    userId?: string;
    serviceAccountId?: string;
    name?: string | undefined;
    scopes: readonly string[];
    requiredRoles?: readonly string[] | undefined;
    expiresInSeconds?: number | undefined;
  },
  actor: Actor,
): Promise<IssuedCredential> {
  const prefix = CREDENTIAL_PREFIXES[input.kind];
  const token = generateSecret(prefix);
  const scopes = [...new Set(input.scopes)];
  const requiredRoles = [...new Set(input.requiredRoles ?? [])];
  const row = await tx.one(sql.type(CredentialRow)`
    INSERT INTO credentials AS c (tenant_id, kind, user_id, service_account_id, name, scopes, required_roles,
                                  token_prefix, token_hash, expires_at)
    VALUES (${tenantId}, ${input.kind}, ${input.userId ?? null}, ${input.serviceAccountId ?? null}, ${input.name ?? null},
            ${sql.array(scopes, 'text')}, ${sql.array(requiredRoles, 'text')}, ${displayPrefix(token, prefix)},
            ${sql.binary(hashSecret(token))},
            ${input.expiresInSeconds === undefined ? null : sql.fragment`now() + make_interval(secs => ${input.expiresInSeconds})`})
    RETURNING ${CREDENTIAL_COLUMNS}`);
  await appendAudit(tx, tenantId, [
    {
      actor,
      action: 'credential.issued',
      targetType: 'credential',
      targetId: row.id,
      data: {
        kind: row.kind,
        userId: row.user_id,
        serviceAccountId: row.service_account_id,
        scopes: row.scopes,
        requiredRoles: row.required_roles,
        tokenPrefix: row.token_prefix,
        expiresAt: row.expires_at,
      },
    },
  ]);
  return { credential: credentialView(row), token };
}

/** A login session for a user (default lifetime 12 hours). */
export async function issueSession(
  tx: Tx,
  tenantId: string,
  input: { userId: string; ttlSeconds?: number | undefined; scopes?: readonly string[] },
  actor: Actor,
): Promise<IssuedCredential> {
  await requireIssuableUser(tx, tenantId, input.userId);
  return insertCredential(
    tx,
    tenantId,
    { kind: 'session', userId: input.userId, scopes: input.scopes ?? [], expiresInSeconds: input.ttlSeconds ?? DEFAULT_SESSION_TTL_SECONDS },
    actor,
  );
}

/** A personal API token; `requiredRoles` are the roles it depends on (losing one revokes it). */
export async function issuePersonalToken(
  tx: Tx,
  tenantId: string,
  input: { userId: string; name: string; scopes: readonly string[]; requiredRoles?: readonly string[] | undefined; expiresInSeconds?: number | undefined },
  actor: Actor,
): Promise<IssuedCredential> {
  await requireIssuableUser(tx, tenantId, input.userId);
  return insertCredential(tx, tenantId, { kind: 'personal_token', ...input }, actor);
}

/** A token for an active service account of this tenant. */
export async function issueServiceAccountToken(
  tx: Tx,
  tenantId: string,
  input: { serviceAccountId: string; name: string; scopes: readonly string[]; expiresInSeconds?: number | undefined },
  actor: Actor,
): Promise<IssuedCredential> {
  const account = await findServiceAccount(tx, tenantId, input.serviceAccountId, { forUpdate: true });
  if (!account) throw new DomainError(404, 'not_found', 'no such service account in this tenant');
  if (account.status !== 'active') throw new DomainError(409, 'service_account_disabled', 'the service account is disabled');
  return insertCredential(tx, tenantId, { kind: 'service_account_token', ...input }, actor);
}

/** Records that a user authorised a third-party integration (OAuth client) with these scopes. */
export async function recordOAuthGrant(
  tx: Tx,
  tenantId: string,
  input: { userId: string; clientId: string; clientName?: string | undefined; scopes: readonly string[] },
  actor: Actor,
): Promise<OAuthGrantView> {
  await requireIssuableUser(tx, tenantId, input.userId);
  const row = await tx.one(sql.type(OAuthGrantRow)`
    INSERT INTO oauth_grants AS g (tenant_id, user_id, client_id, client_name, scopes)
    VALUES (${tenantId}, ${input.userId}, ${input.clientId}, ${input.clientName ?? null}, ${sql.array([...new Set(input.scopes)], 'text')})
    RETURNING ${GRANT_COLUMNS}`);
  await appendAudit(tx, tenantId, [
    {
      actor,
      action: 'oauth_grant.recorded',
      targetType: 'oauth_grant',
      targetId: row.id,
      data: { userId: row.user_id, clientId: row.client_id, clientName: row.client_name, scopes: row.scopes },
    },
  ]);
  return oauthGrantView(row);
}

// ---------------------------------------------------------------------------------------------
// Reading

export async function findCredential(tx: Tx, tenantId: string, id: string): Promise<CredentialRow | null> {
  if (!isUuid(id)) return null;
  return tx.maybeOne(sql.type(CredentialRow)`SELECT ${CREDENTIAL_COLUMNS} FROM credentials c WHERE c.tenant_id = ${tenantId} AND c.id = ${id}`);
}

export async function listUserCredentials(tx: Tx, tenantId: string, userId: string): Promise<readonly CredentialRow[]> {
  return tx.any(sql.type(CredentialRow)`
    SELECT ${CREDENTIAL_COLUMNS} FROM credentials c
     WHERE c.tenant_id = ${tenantId} AND c.user_id = ${userId} ORDER BY c.created_at, c.id`);
}

export async function listServiceAccountTokens(tx: Tx, tenantId: string, serviceAccountIds: readonly string[]): Promise<readonly CredentialRow[]> {
  if (serviceAccountIds.length === 0) return [];
  return tx.any(sql.type(CredentialRow)`
    SELECT ${CREDENTIAL_COLUMNS} FROM credentials c
     WHERE c.tenant_id = ${tenantId} AND c.service_account_id = ANY(${sql.array([...serviceAccountIds], 'uuid')})
     ORDER BY c.created_at, c.id`);
}

export async function listUserOAuthGrants(tx: Tx, tenantId: string, userId: string): Promise<readonly OAuthGrantRow[]> {
  return tx.any(sql.type(OAuthGrantRow)`
    SELECT ${GRANT_COLUMNS} FROM oauth_grants g
     WHERE g.tenant_id = ${tenantId} AND g.user_id = ${userId} ORDER BY g.created_at, g.id`);
}

/** Everything a user owns, revoked items included (with when and why); no secrets, no hashes. */
export async function listUserAccess(tx: Tx, tenantId: string, userId: string) {
  await requireUser(tx, tenantId, userId);
  const credentials = await listUserCredentials(tx, tenantId, userId);
  const serviceAccounts = await listServiceAccounts(tx, tenantId, { ownerUserId: userId });
  const saTokens = await listServiceAccountTokens(tx, tenantId, serviceAccounts.map((s) => s.id));
  return {
    userId,
    sessions: credentials.filter((c) => c.kind === 'session').map(credentialView),
    personalTokens: credentials.filter((c) => c.kind === 'personal_token').map(credentialView),
    oauthGrants: (await listUserOAuthGrants(tx, tenantId, userId)).map(oauthGrantView),
    serviceAccounts: serviceAccounts.map((s) => ({
      ...serviceAccountView(s),
      tokens: saTokens.filter((t) => t.service_account_id === s.id).map(credentialView),
    })),
  };
}
export type UserAccess = Awaited<ReturnType<typeof listUserAccess>>;

// ---------------------------------------------------------------------------------------------
// Revoking

const Revoked = z.object({ id: z.string().uuid(), kind: z.string(), user_id: z.string().uuid().nullable(), service_account_id: z.string().uuid().nullable() });
type Revoked = z.infer<typeof Revoked>;

function revokedAudit(rows: readonly Revoked[], actor: Actor, reason: string, extra: Record<string, unknown> = {}): AuditEventInput[] {
  return rows.map((r) => ({
    actor,
    action: 'credential.revoked',
    targetType: 'credential',
    targetId: r.id,
    data: { kind: r.kind, userId: r.user_id, serviceAccountId: r.service_account_id, reason, ...extra },
  }));
}

/**
 * Revokes one credential. Idempotent: revoking a revoked credential changes nothing and answers
 * `revoked: false`; an id unknown in this tenant is a 404.
 */
export async function revokeCredential(
  tx: Tx,
  tenantId: string,
  id: string,
  reason: string,
  actor: Actor,
): Promise<{ revoked: boolean; credential: CredentialView }> {
  if (!isUuid(id)) throw new DomainError(404, 'not_found', 'no such credential in this tenant');
  const changed = await tx.maybeOne(sql.type(Revoked)`
    UPDATE credentials SET revoked_at = now(), revoked_reason = ${reason}
     WHERE tenant_id = ${tenantId} AND id = ${id} AND revoked_at IS NULL
     RETURNING id, kind, user_id, service_account_id`);
  const row = await findCredential(tx, tenantId, id);
  if (!row) throw new DomainError(404, 'not_found', 'no such credential in this tenant');
  if (changed) await appendAudit(tx, tenantId, revokedAudit([changed], actor, reason));
  return { revoked: !!changed, credential: credentialView(row) };
}

/** Revokes one OAuth grant; idempotent like `revokeCredential`. */
export async function revokeOAuthGrant(
  tx: Tx,
  tenantId: string,
  id: string,
  reason: string,
  actor: Actor,
): Promise<{ revoked: boolean; grant: OAuthGrantView }> {
  if (!isUuid(id)) throw new DomainError(404, 'not_found', 'no such OAuth grant in this tenant');
  const changed = await tx.maybeOne(sql.type(OAuthGrantRow)`
    UPDATE oauth_grants g SET revoked_at = now(), revoked_reason = ${reason}
     WHERE g.tenant_id = ${tenantId} AND g.id = ${id} AND g.revoked_at IS NULL
     RETURNING ${GRANT_COLUMNS}`);
  const row = changed ?? (await tx.maybeOne(sql.type(OAuthGrantRow)`SELECT ${GRANT_COLUMNS} FROM oauth_grants g WHERE g.tenant_id = ${tenantId} AND g.id = ${id}`));
  if (!row) throw new DomainError(404, 'not_found', 'no such OAuth grant in this tenant');
  if (changed) {
    await appendAudit(tx, tenantId, [
      { actor, action: 'oauth_grant.revoked', targetType: 'oauth_grant', targetId: row.id, data: { userId: row.user_id, clientId: row.client_id, reason } },
    ]);
  }
  return { revoked: !!changed, grant: oauthGrantView(row) };
}

/**
 * Revokes those of `ids` that are live (not revoked, not expired), in one statement, and returns
 * their ids with their `credential.revoked` audit rows for the caller to append with its own. Ids
 * that are unknown, malformed, revoked or expired are left alone: idempotent, like revokeCredential.
 */
export async function revokeLiveCredentials(
  tx: Tx,
  tenantId: string,
  ids: readonly string[],
  reason: string,
  actor: Actor,
): Promise<{ revoked: Set<string>; audit: AuditEventInput[] }> {
  const wanted = [...new Set(ids)].filter(isUuid);
  if (wanted.length === 0) return { revoked: new Set(), audit: [] };
  const rows = await tx.any(sql.type(Revoked)`
    UPDATE credentials SET revoked_at = now(), revoked_reason = ${reason}
     WHERE tenant_id = ${tenantId} AND id = ANY(${sql.array(wanted, 'uuid')}) AND revoked_at IS NULL
       AND (expires_at IS NULL OR expires_at > now())
     RETURNING id, kind, user_id, service_account_id`);
  return { revoked: new Set(rows.map((r) => r.id)), audit: revokedAudit(rows, actor, reason) };
}

/** `revokeLiveCredentials` for OAuth grants (`oauth_grant.revoked` audit rows). */
export async function revokeLiveOAuthGrants(
  tx: Tx,
  tenantId: string,
  ids: readonly string[],
  reason: string,
  actor: Actor,
): Promise<{ revoked: Set<string>; audit: AuditEventInput[] }> {
  const wanted = [...new Set(ids)].filter(isUuid);
  if (wanted.length === 0) return { revoked: new Set(), audit: [] };
  const rows = await tx.any(sql.type(z.object({ id: z.string().uuid(), user_id: z.string().uuid(), client_id: z.string() }))`
    UPDATE oauth_grants SET revoked_at = now(), revoked_reason = ${reason}
     WHERE tenant_id = ${tenantId} AND id = ANY(${sql.array(wanted, 'uuid')}) AND revoked_at IS NULL
     RETURNING id, user_id, client_id`);
  return {
    revoked: new Set(rows.map((r) => r.id)),
    audit: rows.map((r) => ({ actor, action: 'oauth_grant.revoked', targetType: 'oauth_grant', targetId: r.id, data: { userId: r.user_id, clientId: r.client_id, reason } })),
  };
}

export interface RevokedUserAccess {
  sessions: string[];
  personalTokens: string[];
  oauthGrants: string[];
}

const RevokedAccessRow = z.object({
  credentials: z.array(Revoked),
  grants: z.array(z.object({ id: z.string().uuid(), client_id: z.string() })),
  owns_service_accounts: z.boolean(),
});

/**
 * Revokes every live session, personal token and OAuth grant of a user in one statement, and reads
 * with it whether the user still owns service accounts (which a leaver hands over). Writes no
 * audit: it returns the rows for the caller to write (`revokeAllUserAccess`, or a leaver's closing
 * statement). A repeated call revokes nothing and returns no audit rows.
 */
export async function revokeUserAccessRows(
  tx: Tx,
  tenantId: string,
  userId: string,
  reason: string,
  actor: Actor,
): Promise<{ revoked: RevokedUserAccess; audit: AuditEventInput[]; ownsServiceAccounts: boolean }> {
  const row = await tx.one(sql.type(RevokedAccessRow)`
    WITH c AS (
      UPDATE credentials SET revoked_at = now(), revoked_reason = ${reason}
       WHERE tenant_id = ${tenantId} AND user_id = ${userId} AND revoked_at IS NULL
       RETURNING id, kind, user_id, service_account_id
    ), g AS (
      UPDATE oauth_grants SET revoked_at = now(), revoked_reason = ${reason}
       WHERE tenant_id = ${tenantId} AND user_id = ${userId} AND revoked_at IS NULL
       RETURNING id, client_id
    )
    SELECT (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.id), '[]') FROM c) AS credentials,
           (SELECT coalesce(jsonb_agg(to_jsonb(g) ORDER BY g.id), '[]') FROM g) AS grants,
           EXISTS (SELECT 1 FROM service_accounts s WHERE s.tenant_id = ${tenantId} AND s.owner_user_id = ${userId} AND NOT s.orphaned) AS owns_service_accounts`);
  return {
    revoked: {
      sessions: row.credentials.filter((c) => c.kind === 'session').map((c) => c.id),
      personalTokens: row.credentials.filter((c) => c.kind === 'personal_token').map((c) => c.id),
      oauthGrants: row.grants.map((g) => g.id),
    },
    audit: [
      ...revokedAudit(row.credentials, actor, reason),
      ...row.grants.map((g) => ({ actor, action: 'oauth_grant.revoked', targetType: 'oauth_grant', targetId: g.id, data: { userId, clientId: g.client_id, reason } })),
    ],
    ownsServiceAccounts: row.owns_service_accounts,
  };
}

/**
 * Revokes every live session, personal token and OAuth grant of a user (the leaver). Returns the
 * ids this call changed; a repeated call returns empty lists and audits nothing.
 */
export async function revokeAllUserAccess(tx: Tx, tenantId: string, userId: string, reason: string, actor: Actor): Promise<RevokedUserAccess> {
  const { revoked, audit } = await revokeUserAccessRows(tx, tenantId, userId, reason, actor);
  await appendAudit(tx, tenantId, audit);
  return revoked;
}

/** Revokes the user's live credentials that depend on any of `lostRoles` (the mover). */
export async function revokeCredentialsRequiringRoles(
  tx: Tx,
  tenantId: string,
  userId: string,
  lostRoles: readonly string[],
  actor: Actor,
): Promise<string[]> {
  if (lostRoles.length === 0) return [];
  const rows = await tx.any(sql.type(Revoked.extend({ required_roles: z.array(z.string()) }))`
    UPDATE credentials SET revoked_at = now(), revoked_reason = ${RevocationReason.rolesLost}
     WHERE tenant_id = ${tenantId} AND user_id = ${userId} AND revoked_at IS NULL
       AND required_roles && ${sql.array([...lostRoles], 'text')}
     RETURNING id, kind, user_id, service_account_id, required_roles`);
  await appendAudit(
    tx,
    tenantId,
    rows.flatMap((r) => revokedAudit([r], actor, RevocationReason.rolesLost, { lostRoles: r.required_roles.filter((role) => lostRoles.includes(role)) })),
  );
  return rows.map((r) => r.id);
}

// ---------------------------------------------------------------------------------------------
// Service accounts

export async function findServiceAccount(tx: Tx, tenantId: string, id: string, options: { forUpdate?: boolean } = {}): Promise<ServiceAccountRow | null> {
  if (!isUuid(id)) return null;
  return tx.maybeOne(sql.type(ServiceAccountRow)`
    SELECT ${SA_COLUMNS} FROM service_accounts s WHERE s.tenant_id = ${tenantId} AND s.id = ${id}
    ${options.forUpdate ? sql.fragment`FOR UPDATE` : sql.fragment``}`);
}

export async function listServiceAccounts(
  tx: Tx,
  tenantId: string,
  filter: { ownerUserId?: string; orphaned?: boolean } = {},
): Promise<readonly ServiceAccountRow[]> {
  const where = [sql.fragment`s.tenant_id = ${tenantId}`];
  if (filter.ownerUserId !== undefined) where.push(sql.fragment`s.owner_user_id = ${filter.ownerUserId}`);
  if (filter.orphaned !== undefined) where.push(sql.fragment`s.orphaned = ${filter.orphaned}`);
  return tx.any(sql.type(ServiceAccountRow)`
    SELECT ${SA_COLUMNS} FROM service_accounts s WHERE ${sql.join(where, sql.fragment` AND `)} ORDER BY s.created_at, s.id`);
}

/** Service accounts queued for a new owner (their owner left and nobody took them over). */
export async function listOrphanedServiceAccounts(tx: Tx, tenantId: string): Promise<readonly ServiceAccountRow[]> {
  return listServiceAccounts(tx, tenantId, { orphaned: true });
}

/** The owner must be a live user of the tenant: provisioned or active, not suspended or deleted. */
export async function createServiceAccount(
  tx: Tx,
  tenantId: string,
  input: { name: string; ownerUserId: string },
  actor: Actor,
): Promise<ServiceAccountView> {
  await requireIssuableUser(tx, tenantId, input.ownerUserId);
  const row = await tx.one(sql.type(ServiceAccountRow)`
    INSERT INTO service_accounts AS s (tenant_id, name, owner_user_id)
    VALUES (${tenantId}, ${input.name}, ${input.ownerUserId})
    RETURNING ${SA_COLUMNS}`);
  await appendAudit(tx, tenantId, [
    { actor, action: 'service_account.created', targetType: 'service_account', targetId: row.id, data: { name: row.name, ownerUserId: row.owner_user_id } },
  ]);
  return serviceAccountView(row);
}

/**
 * Gives a service account a new owner (a live user of the tenant) and takes it off the orphan
 * queue. It stays disabled if it was: re-enabling is a separate decision. Idempotent.
 */
export async function reassignServiceAccountOwner(
  tx: Tx,
  tenantId: string,
  id: string,
  newOwnerUserId: string,
  actor: Actor,
): Promise<{ changed: boolean; serviceAccount: ServiceAccountView }> {
  const current = await findServiceAccount(tx, tenantId, id, { forUpdate: true });
  if (!current) throw new DomainError(404, 'not_found', 'no such service account in this tenant');
  if (current.owner_user_id === newOwnerUserId && !current.orphaned) return { changed: false, serviceAccount: serviceAccountView(current) };
  await requireIssuableUser(tx, tenantId, newOwnerUserId);
  const row = await tx.one(sql.type(ServiceAccountRow)`
    UPDATE service_accounts s SET owner_user_id = ${newOwnerUserId}, orphaned = false, orphaned_at = NULL, updated_at = now()
     WHERE s.tenant_id = ${tenantId} AND s.id = ${id}
     RETURNING ${SA_COLUMNS}`);
  await appendAudit(tx, tenantId, [
    {
      actor,
      action: 'service_account.owner_changed',
      targetType: 'service_account',
      targetId: id,
      data: { before: { ownerUserId: current.owner_user_id, orphaned: current.orphaned }, after: { ownerUserId: newOwnerUserId, orphaned: false } },
    },
  ]);
  return { changed: true, serviceAccount: serviceAccountView(row) };
}

/**
 * Disables a service account and revokes its live tokens; with `orphan`, also queues it for a
 * new owner. Idempotent: only what actually changes is written and audited.
 */
export async function disableServiceAccount(
  tx: Tx,
  tenantId: string,
  id: string,
  options: { orphan?: boolean },
  actor: Actor,
): Promise<{ changed: boolean; revokedTokens: string[]; serviceAccount: ServiceAccountView }> {
  const current = await findServiceAccount(tx, tenantId, id, { forUpdate: true });
  if (!current) throw new DomainError(404, 'not_found', 'no such service account in this tenant');
  const disable = current.status !== 'disabled';
  const orphan = !!options.orphan && !current.orphaned;
  let row = current;
  if (disable || orphan) {
    row = await tx.one(sql.type(ServiceAccountRow)`
      UPDATE service_accounts s SET
             status = 'disabled', disabled_at = coalesce(s.disabled_at, now()),
             orphaned = s.orphaned OR ${orphan}, orphaned_at = CASE WHEN ${orphan} THEN now() ELSE s.orphaned_at END,
             updated_at = now()
       WHERE s.tenant_id = ${tenantId} AND s.id = ${id}
       RETURNING ${SA_COLUMNS}`);
  }
  const tokens = await tx.any(sql.type(Revoked)`
    UPDATE credentials SET revoked_at = now(), revoked_reason = ${RevocationReason.serviceAccountDisabled}
     WHERE tenant_id = ${tenantId} AND service_account_id = ${id} AND revoked_at IS NULL
     RETURNING id, kind, user_id, service_account_id`);
  const events: AuditEventInput[] = [];
  if (disable) {
    events.push({ actor, action: 'service_account.disabled', targetType: 'service_account', targetId: id, data: { ownerUserId: row.owner_user_id } });
  }
  if (orphan) {
    events.push({ actor, action: 'service_account.orphaned', targetType: 'service_account', targetId: id, data: { previousOwnerUserId: row.owner_user_id } });
  }
  events.push(...revokedAudit(tokens, actor, RevocationReason.serviceAccountDisabled));
  await appendAudit(tx, tenantId, events);
  return { changed: disable || orphan || tokens.length > 0, revokedTokens: tokens.map((t) => t.id), serviceAccount: serviceAccountView(row) };
}

// ---------------------------------------------------------------------------------------------
// Introspection (RFC 7662)

export const IntrospectionResponse = z.union([
  z.object({ active: z.literal(false) }),
  z.object({
    active: z.literal(true),
    /** The user id or the service account id (no PII). */
    sub: z.string().uuid(),
    principal_type: z.enum(['user', 'service_account']),
    scope: z.string(),
    iat: z.number().int(),
    exp: z.number().int().optional(),
    token_type: CredentialKind,
    client_id: z.string().optional(),
    tenant: z.string().uuid(),
    roles: z.array(z.string()),
  }),
]);
export type IntrospectionResponse = z.infer<typeof IntrospectionResponse>;

/** One row of credential_introspect: `active` is its verdict (credential and principal live, roles held). */
const IntrospectionRow = z.object({
  kind: CredentialKind,
  user_id: z.string().uuid().nullable(),
  service_account_id: z.string().uuid().nullable(),
  scopes: z.array(z.string()),
  token_hash: z.instanceof(Buffer),
  iat: z.number(),
  exp: z.number().nullable(),
  roles: z.array(z.string()),
  active: z.boolean(),
});

const INACTIVE = { active: false } as const;
const TOKEN_PREFIXES = Object.values(CREDENTIAL_PREFIXES);

/**
 * Answers whether `token` is a live credential of this tenant. The principal's current state is
 * checked on every call (user active and holding every required role; service account active), so
 * a SCIM suspension stops the user's credentials the moment it commits, before any workflow runs.
 *
 * One statement in its own implicit transaction (credential_introspect sets the tenant for it, with
 * row-level security in force, and touches last_used_at of an active credential): takes the pool,
 * not a transaction, since inside an explicit one the tenant setting would outlive the statement.
 */
export async function introspect(db: Pick<Statements, 'maybeOne'>, tenantId: string, token: string): Promise<IntrospectionResponse> {
  if (token.length > 200 || !TOKEN_PREFIXES.some((p) => token.startsWith(p))) return INACTIVE;
  const row = await db.maybeOne(sql.type(IntrospectionRow)`SELECT * FROM credential_introspect(${tenantId}, ${sql.binary(hashSecret(token))})`);
  const sub = row?.user_id ?? row?.service_account_id;
  if (!row || !sub || !row.active || !secretMatches(token, row.token_hash)) return INACTIVE;
  return {
    active: true,
    sub,
    principal_type: row.user_id ? 'user' : 'service_account',
    scope: row.scopes.join(' '),
    iat: row.iat,
    ...(row.exp !== null ? { exp: row.exp } : {}),
    token_type: row.kind,
    tenant: tenantId,
    roles: row.user_id ? row.roles : [],
  };
}

// ---------------------------------------------------------------------------------------------
// Exposure report (the leaver's verification step)


/**
 * Re-reads everything the user owns: their sessions, personal tokens and OAuth grants, and the
 * service accounts still in their name with those accounts' tokens. A service account counts as
 * live while it is active and still owned by the user (not reassigned, not orphaned).
 */
export async function buildExposureReport(tx: Tx, tenantId: string, userId: string): Promise<ExposureReport> {
  const now = await tx.oneFirst(sql.type(z.object({ now: z.string() }))`SELECT now() AS now`);
  const isLiveCredential = (c: CredentialRow) => c.revoked_at === null && (c.expires_at === null || c.expires_at > now);
  const credentials = await listUserCredentials(tx, tenantId, userId);
  const grants = await listUserOAuthGrants(tx, tenantId, userId);
  const accounts = await listServiceAccounts(tx, tenantId, { ownerUserId: userId });
  const saTokens = await listServiceAccountTokens(tx, tenantId, accounts.map((a) => a.id));
  const credentialItem = (c: CredentialRow): ExposureItem => ({
    kind: c.kind,
    id: c.id,
    live: isLiveCredential(c),
    createdAt: c.created_at,
    revokedAt: c.revoked_at,
    revokedReason: c.revoked_reason,
    expiresAt: c.expires_at,
    ...(c.service_account_id ? { serviceAccountId: c.service_account_id } : {}),
  });
  const items: ExposureItem[] = [
    ...credentials.map(credentialItem),
    ...grants.map((g) => ({ kind: 'oauth_grant' as const, id: g.id, live: g.revoked_at === null, createdAt: g.created_at, revokedAt: g.revoked_at, revokedReason: g.revoked_reason })),
    ...accounts.map((a) => ({
      kind: 'service_account' as const,
      id: a.id,
      live: a.status === 'active' && !a.orphaned,
      createdAt: a.created_at,
      revokedAt: a.disabled_at,
      status: a.status,
      orphaned: a.orphaned,
    })),
    ...saTokens.map(credentialItem),
  ];
  const tally = (kind: ExposureItem['kind']) => {
    const of = items.filter((i) => i.kind === kind);
    return { total: of.length, live: of.filter((i) => i.live).length };
  };
  return {
    userId,
    generatedAt: now,
    sessions: tally('session'),
    personalTokens: tally('personal_token'),
    oauthGrants: tally('oauth_grant'),
    serviceAccounts: tally('service_account'),
    serviceAccountTokens: tally('service_account_token'),
    liveCredentials: items.filter((i) => i.live).length,
    items,
  };
}

/**
 * Stores the report once per (run key, user): a retried verification returns the report the first
 * attempt stored and writes no second row or audit event.
 */
export async function recordExposureReport(
  tx: Tx,
  tenantId: string,
  input: { userId: string; runKey: string; report: ExposureReport },
  actor: Actor,
): Promise<{ created: boolean; report: ExposureReport }> {
  const stored = await insertExposureReport(tx, tenantId, input, actor);
  await appendAudit(tx, tenantId, stored.audit);
  return { created: stored.created, report: stored.report };
}

/**
 * recordExposureReport without its audit row, which it returns for the caller's closing statement
 * (none when the report was stored before: then that report is returned).
 */
export async function insertExposureReport(
  tx: Tx,
  tenantId: string,
  input: { userId: string; runKey: string; report: ExposureReport },
  actor: Actor,
): Promise<{ created: boolean; report: ExposureReport; audit: AuditEventInput[] }> {
  const inserted = await tx.maybeOne(sql.type(z.object({ id: z.number() }))`
    INSERT INTO exposure_reports (tenant_id, user_id, workflow_id, report, live_credentials)
    VALUES (${tenantId}, ${input.userId}, ${input.runKey}, ${sql.jsonb(input.report)}, ${input.report.liveCredentials})
    ON CONFLICT (tenant_id, workflow_id, user_id) DO NOTHING
    RETURNING id`);
  if (!inserted) {
    const stored = await tx.oneFirst(sql.type(z.object({ report: ExposureReport }))`
      SELECT report FROM exposure_reports WHERE tenant_id = ${tenantId} AND workflow_id = ${input.runKey} AND user_id = ${input.userId}`);
    return { created: false, report: stored, audit: [] };
  }
  const audit: AuditEventInput = {
    actor,
    action: 'exposure_report.recorded',
    targetType: 'user',
    targetId: input.userId,
    data: { reportId: inserted.id, liveCredentials: input.report.liveCredentials },
  };
  return { created: true, report: input.report, audit: [audit] };
}

// ---------------------------------------------------------------------------------------------
// Leaver: service accounts the user owns

const OwnerContext = z.object({
  orphan_policy: z.enum(['reassign', 'disable']),
  manager_id: z.string().uuid().nullable(),
});

/** The tenant's orphan policy and the user's manager, if that manager is a live active user. */
export async function ownerSuccession(tx: Tx, tenantId: string, userId: string): Promise<z.infer<typeof OwnerContext>> {
  return tx.one(sql.type(OwnerContext)`
    SELECT t.orphan_policy,
           (SELECT m.id FROM users m
             WHERE m.tenant_id = t.id AND m.id <> u.id
               AND m.lifecycle_state = 'active' AND m.active AND m.scim_deleted_at IS NULL
               AND (m.id::text = u.enterprise->'manager'->>'value' OR m.external_id = u.enterprise->'manager'->>'value')
             ORDER BY (m.id::text = u.enterprise->'manager'->>'value') DESC
             LIMIT 1) AS manager_id
      FROM tenants t JOIN users u ON u.tenant_id = t.id
     WHERE t.id = ${tenantId} AND u.id = ${userId}`);
}

/**
 * Service accounts the leaver still owns go to their manager (tenant policy 'reassign' and the
 * manager is a live active user), otherwise they are disabled, their tokens revoked, and they are
 * queued for a new owner. Returns the ids this call changed. It locks the manager's row (through the
 * lock ledger, in `reassignServiceAccountOwner`), so callers run it in a transaction that holds no other user
 * row: two user rows in one transaction would have to be taken in id order.
 */
export async function handOverServiceAccounts(tx: Tx, tenantId: string, userId: string, actor: Actor): Promise<{ reassigned: string[]; disabled: string[] }> {
  const owned = (await listServiceAccounts(tx, tenantId, { ownerUserId: userId })).filter((a) => !a.orphaned);
  const result = { reassigned: [] as string[], disabled: [] as string[] };
  if (owned.length === 0) return result;
  const { orphan_policy: policy, manager_id: managerId } = await ownerSuccession(tx, tenantId, userId);
  for (const account of owned) {
    if (policy === 'reassign' && managerId) {
      const r = await reassignServiceAccountOwner(tx, tenantId, account.id, managerId, actor);
      if (r.changed) result.reassigned.push(account.id);
    } else {
      const r = await disableServiceAccount(tx, tenantId, account.id, { orphan: true }, actor);
      if (r.changed) result.disabled.push(account.id);
    }
  }
  return result;
}
