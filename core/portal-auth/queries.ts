import { sql } from 'slonik';
import { z } from 'zod';
import type { Db, Tx } from '../db/pool.js';
import { PortalRole } from './schema.js';

/**
 * Plain queries for portal sign-in. Tenant-scoped functions take the tenant explicitly and filter on
 * it (RLS restricts the app role as well); the few cross-tenant lookups go through SECURITY DEFINER
 * functions from the migration.
 */

export const PortalUserRow = z.object({
  id: z.string().uuid(),
  tenant_id: z.string().uuid(),
  email: z.string(),
  display_name: z.string().nullable(),
  password_hash: z.string().nullable(),
  status: z.enum(['invited', 'active', 'disabled']),
  totp_secret: z.instanceof(Buffer).nullable(),
  totp_pending_secret: z.instanceof(Buffer).nullable(),
  totp_enabled_at: z.string().nullable(),
  totp_last_step: z.number().nullable(),
  created_at: z.string(),
  last_sign_in_at: z.string().nullable(),
  roles: z.array(PortalRole),
});
export type PortalUserRow = z.infer<typeof PortalUserRow>;

const userColumns = sql.fragment`
  u.id, u.tenant_id, u.email, u.display_name, u.password_hash, u.status, u.totp_secret, u.totp_pending_secret,
  u.totp_enabled_at, u.totp_last_step, u.created_at, u.last_sign_in_at,
  coalesce((SELECT array_agg(r.role ORDER BY r.role) FROM portal_user_roles r
             WHERE r.tenant_id = u.tenant_id AND r.user_id = u.id), '{}') AS roles`;

export async function findPortalUser(tx: Tx, tenantId: string, userId: string): Promise<PortalUserRow | null> {
  return tx.maybeOne(sql.type(PortalUserRow)`
    SELECT ${userColumns} FROM portal_users u WHERE u.tenant_id = ${tenantId} AND u.id = ${userId}`);
}

export async function findPortalUserByEmail(tx: Tx, tenantId: string, email: string): Promise<PortalUserRow | null> {
  return tx.maybeOne(sql.type(PortalUserRow)`
    SELECT ${userColumns} FROM portal_users u WHERE u.tenant_id = ${tenantId} AND lower(u.email) = lower(${email})`);
}

export async function listPortalUsers(tx: Tx, tenantId: string): Promise<readonly PortalUserRow[]> {
  return tx.any(sql.type(PortalUserRow)`
    SELECT ${userColumns} FROM portal_users u WHERE u.tenant_id = ${tenantId} ORDER BY lower(u.email), u.id`);
}

/** Row-locks the person (FOR NO KEY UPDATE) before their roles, links or sessions change. */
export async function lockPortalUser(tx: Tx, tenantId: string, userId: string): Promise<PortalUserRow | null> {
  const locked = await tx.maybeOneFirst(sql.type(z.object({ id: z.string() }))`
    SELECT id FROM portal_users WHERE tenant_id = ${tenantId} AND id = ${userId} FOR NO KEY UPDATE`);
  return locked ? findPortalUser(tx, tenantId, userId) : null;
}

/**
 * Admins who can sign in (active; an invitation may never be accepted), locked, so two concurrent
 * demotions cannot both pass the last-admin check.
 */
export async function lockActiveAdmins(tx: Tx, tenantId: string): Promise<readonly string[]> {
  return tx.anyFirst(sql.type(z.object({ id: z.string() }))`
    SELECT u.id FROM portal_users u
     WHERE u.tenant_id = ${tenantId} AND u.status = 'active'
       AND EXISTS (SELECT 1 FROM portal_user_roles r WHERE r.tenant_id = u.tenant_id AND r.user_id = u.id AND r.role = 'admin')
     ORDER BY u.id FOR NO KEY UPDATE`);
}

export async function insertPortalUser(tx: Tx, tenantId: string, input: { email: string; displayName?: string | null }): Promise<string> {
  return tx.oneFirst(sql.type(z.object({ id: z.string() }))`
    INSERT INTO portal_users (tenant_id, email, display_name) VALUES (${tenantId}, ${input.email}, ${input.displayName ?? null})
    RETURNING id`);
}

export async function setPortalUserRoles(tx: Tx, tenantId: string, userId: string, roles: readonly PortalRole[]): Promise<void> {
  await tx.query(sql.unsafe`
    DELETE FROM portal_user_roles WHERE tenant_id = ${tenantId} AND user_id = ${userId}
       AND NOT (role = ANY(${sql.array([...roles], 'text')}))`);
  await tx.query(sql.unsafe`
    INSERT INTO portal_user_roles (tenant_id, user_id, role)
    SELECT ${tenantId}, ${userId}, r FROM unnest(${sql.array([...roles], 'text')}::text[]) AS r
    ON CONFLICT DO NOTHING`);
}

export async function updatePortalUser(
  tx: Tx,
  tenantId: string,
  userId: string,
  patch: {
    passwordHash?: string | null;
    status?: 'invited' | 'active' | 'disabled';
    displayName?: string | null;
    totpSecret?: Buffer | null;
    totpPendingSecret?: Buffer | null;
    totpEnabled?: boolean;
    totpLastStep?: number | null;
    signedIn?: boolean;
  },
): Promise<void> {
  const sets = [];
  if (patch.passwordHash !== undefined) sets.push(sql.fragment`password_hash = ${patch.passwordHash}`);
  if (patch.status !== undefined) sets.push(sql.fragment`status = ${patch.status}`);
  if (patch.displayName !== undefined) sets.push(sql.fragment`display_name = ${patch.displayName}`);
  if (patch.totpSecret !== undefined) sets.push(sql.fragment`totp_secret = ${patch.totpSecret === null ? null : sql.binary(patch.totpSecret)}`);
  if (patch.totpPendingSecret !== undefined)
    sets.push(sql.fragment`totp_pending_secret = ${patch.totpPendingSecret === null ? null : sql.binary(patch.totpPendingSecret)}`);
  if (patch.totpEnabled !== undefined) sets.push(patch.totpEnabled ? sql.fragment`totp_enabled_at = now()` : sql.fragment`totp_enabled_at = NULL`);
  if (patch.totpLastStep !== undefined) sets.push(sql.fragment`totp_last_step = ${patch.totpLastStep}`);
  if (patch.signedIn) sets.push(sql.fragment`last_sign_in_at = now()`);
  if (sets.length === 0) return;
  await tx.query(sql.unsafe`UPDATE portal_users SET ${sql.join(sets, sql.fragment`, `)} WHERE tenant_id = ${tenantId} AND id = ${userId}`);
}

// --- setup links ---------------------------------------------------------------------------------

export async function insertSetupLink(
  tx: Tx,
  tenantId: string,
  input: { userId: string; tokenHash: Buffer; purpose: 'setup' | 'invite'; createdBy: { type: string; id?: string | undefined }; ttlSeconds: number },
): Promise<{ id: string; expires_at: string }> {
  return tx.one(sql.type(z.object({ id: z.string(), expires_at: z.string() }))`
    INSERT INTO portal_setup_links (tenant_id, user_id, token_hash, purpose, created_by_type, created_by_id, expires_at)
    VALUES (${tenantId}, ${input.userId}, ${sql.binary(input.tokenHash)}, ${input.purpose}, ${input.createdBy.type},
            ${input.createdBy.id ?? null}, now() + make_interval(secs => ${input.ttlSeconds}))
    RETURNING id, expires_at`);
}

/** Unused links of a person stop working when a new one is issued or the person is removed. */
export async function retireSetupLinks(tx: Tx, tenantId: string, userId: string): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE portal_setup_links SET expires_at = least(expires_at, now())
     WHERE tenant_id = ${tenantId} AND user_id = ${userId} AND used_at IS NULL`);
}

export const SetupLinkLookup = z.object({
  link_id: z.string().uuid(),
  tenant_id: z.string().uuid(),
  user_id: z.string().uuid(),
  expires_at: z.string(),
  used_at: z.string().nullable(),
});
export type SetupLinkLookup = z.infer<typeof SetupLinkLookup>;

/** Cross-tenant: which tenant a setup link belongs to, before anyone is signed in. */
export async function resolveSetupLink(db: Db, tokenHash: Buffer): Promise<SetupLinkLookup | null> {
  return db.maybeOne(sql.type(SetupLinkLookup)`SELECT * FROM portal_setup_link_resolve(${sql.binary(tokenHash)})`);
}

/** Marks a link used; false when another request used it first. */
export async function useSetupLink(tx: Tx, tenantId: string, linkId: string): Promise<boolean> {
  const r = await tx.query(sql.unsafe`
    UPDATE portal_setup_links SET used_at = now()
     WHERE tenant_id = ${tenantId} AND id = ${linkId} AND used_at IS NULL AND expires_at > now()`);
  return r.rowCount === 1;
}

// --- sessions ------------------------------------------------------------------------------------

export async function insertSession(
  tx: Tx,
  tenantId: string,
  input: { userId: string; tokenHash: Buffer; absoluteSeconds: number; ip?: string | null | undefined; userAgent?: string | null | undefined },
): Promise<string> {
  return tx.oneFirst(sql.type(z.object({ id: z.string() }))`
    INSERT INTO portal_sessions (tenant_id, user_id, token_hash, expires_at, ip, user_agent)
    VALUES (${tenantId}, ${input.userId}, ${sql.binary(input.tokenHash)}, now() + make_interval(secs => ${input.absoluteSeconds}),
            ${input.ip ?? null}, ${input.userAgent?.slice(0, 400) ?? null})
    RETURNING id`);
}

export const SessionLookup = z.object({
  session_id: z.string().uuid(),
  tenant_id: z.string().uuid(),
  user_id: z.string().uuid(),
  email: z.string(),
  roles: z.array(PortalRole),
  expires_at: z.string(),
});
export type SessionLookup = z.infer<typeof SessionLookup>;

/** Cross-tenant: the live session behind a cookie (idle and absolute expiry checked). */
export async function resolveSession(db: Db, tokenHash: Buffer, idleSeconds: number): Promise<SessionLookup | null> {
  const touch = sessionTouchSeconds(idleSeconds);
  return db.maybeOne(sql.type(SessionLookup)`SELECT * FROM portal_session_resolve(${sql.binary(tokenHash)}, ${idleSeconds}, ${touch})`);
}

/** last_seen_at moves at most this often: min(60 s, idle/10). */
export function sessionTouchSeconds(idleSeconds: number): number {
  return Math.max(0, Math.min(60, Math.floor(idleSeconds / 10)));
}

/** A boolean SQL expression: the session still exists, is live, and its person has exactly these roles. */
export function sessionStillCurrent(sessionId: string, userId: string, roles: readonly string[]) {
  return sql.fragment`portal_session_current(${sessionId}, ${userId}, ${sql.array([...roles].sort(), 'text')})`;
}

/** Cross-tenant: records when each session was last used (by an API process that served it from memory). */
export async function touchSessions(db: Db, uses: ReadonlyMap<string, number>, idleSeconds: number): Promise<void> {
  if (uses.size === 0) return;
  const ids = [...uses.keys()];
  const seen = ids.map((id) => new Date(uses.get(id)!).toISOString());
  await db.query(sql.unsafe`
    SELECT portal_sessions_touch(${sql.array(ids, 'uuid')}, ${sql.array(seen, 'timestamptz')}, ${sessionTouchSeconds(idleSeconds)})`);
}

export const SessionRow = z.object({
  id: z.string().uuid(),
  created_at: z.string(),
  last_seen_at: z.string(),
  expires_at: z.string(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
});
export type SessionRow = z.infer<typeof SessionRow>;

export async function listLiveSessions(tx: Tx, tenantId: string, userId: string, idleSeconds: number): Promise<readonly SessionRow[]> {
  return tx.any(sql.type(SessionRow)`
    SELECT id, created_at, last_seen_at, expires_at, ip, user_agent FROM portal_sessions
     WHERE tenant_id = ${tenantId} AND user_id = ${userId} AND revoked_at IS NULL AND expires_at > now()
       AND last_seen_at > now() - make_interval(secs => ${idleSeconds})
     ORDER BY last_seen_at DESC, id`);
}

/** Revokes one session of a person (or all of them without `sessionId`); returns how many. */
export async function revokeSessions(tx: Tx, tenantId: string, userId: string, sessionId?: string): Promise<number> {
  const r = await tx.query(sql.unsafe`
    UPDATE portal_sessions SET revoked_at = now()
     WHERE tenant_id = ${tenantId} AND user_id = ${userId} AND revoked_at IS NULL
       ${sessionId ? sql.fragment`AND id = ${sessionId}` : sql.fragment``}`);
  return r.rowCount;
}

// --- recovery codes ------------------------------------------------------------------------------

export async function replaceRecoveryCodes(tx: Tx, tenantId: string, userId: string, hashes: readonly Buffer[]): Promise<void> {
  await tx.query(sql.unsafe`DELETE FROM portal_recovery_codes WHERE tenant_id = ${tenantId} AND user_id = ${userId}`);
  for (const h of hashes) {
    await tx.query(sql.unsafe`
      INSERT INTO portal_recovery_codes (tenant_id, user_id, code_hash) VALUES (${tenantId}, ${userId}, ${sql.binary(h)})`);
  }
}

/** Uses a recovery code once; false when there is no such unused code. */
export async function useRecoveryCode(tx: Tx, tenantId: string, userId: string, hash: Buffer): Promise<boolean> {
  const r = await tx.query(sql.unsafe`
    UPDATE portal_recovery_codes SET used_at = now()
     WHERE id = (SELECT id FROM portal_recovery_codes
                  WHERE tenant_id = ${tenantId} AND user_id = ${userId} AND code_hash = ${sql.binary(hash)} AND used_at IS NULL
                  LIMIT 1 FOR UPDATE)`);
  return r.rowCount === 1;
}

// --- sign-in lookup and throttle (no tenant) -----------------------------------------------------

export async function signInLookup(db: Db, slug: string, email: string): Promise<{ tenant_id: string; user_id: string | null } | null> {
  return db.maybeOne(sql.type(z.object({ tenant_id: z.string().uuid(), user_id: z.string().uuid().nullable() }))`
    SELECT * FROM portal_sign_in_lookup(${slug}, ${email}) LIMIT 1`);
}

export const TenantName = z.object({ slug: z.string(), name: z.string() });
export async function tenantName(tx: Tx, tenantId: string): Promise<z.infer<typeof TenantName>> {
  return tx.one(sql.type(TenantName)`SELECT slug, name FROM tenants WHERE id = ${tenantId}`);
}
