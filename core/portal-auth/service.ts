import { randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import type { Config } from '../config.js';
import { type Db, type Tx, withTenant } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { type Actor, appendAudit, type AuditEventInput } from '../repositories/audit.js';
import { openSecret, sealSecret } from '../secret-box.js';
import { assertPasswordAcceptable, hashPassword, verifyPassword } from './password.js';
import {
  findPortalUser,
  findPortalUserByEmail,
  insertPortalUser,
  insertSession,
  insertSetupLink,
  listLiveSessions,
  listPortalUsers,
  lockActiveAdmins,
  lockPortalUser,
  type PortalUserRow,
  replaceRecoveryCodes,
  resolveSession,
  resolveSetupLink,
  retireSetupLinks,
  revokeSessions,
  setPortalUserRoles,
  signInLookup,
  tenantName,
  updatePortalUser,
  useRecoveryCode,
  useSetupLink,
} from './queries.js';
import type { AccountSession, Member, PortalRole, SessionResponse, SetupInspectResponse, SetupLinkResponse } from './schema.js';
import { accountKey, addressKey, assertNotThrottled, clearFailures, RateLimitedError, recordFailure, type ThrottleLimits } from './throttle.js';
import { csrfTokenFor, hashToken, newToken } from './tokens.js';

/**
 * Tenant portal sign-in: setup links, passwords, sessions, TOTP and members. Every state change
 * writes its audit row in the same transaction; secrets (tokens, links, recovery codes) are
 * returned once and stored hashed.
 */

/** A signed-in portal user, as the API sees them on each request. */
export interface PortalPrincipal {
  tenantId: string;
  userId: string;
  sessionId: string;
  email: string;
  roles: PortalRole[];
}

export type PortalAuthConfig = ThrottleLimits &
  Pick<Config, 'PORTAL_SESSION_IDLE_SECONDS' | 'PORTAL_SESSION_ABSOLUTE_SECONDS' | 'SETUP_LINK_TTL_SECONDS'>;

/** What sign-in needs besides the database: limits, the key that seals TOTP secrets, the public URL. */
export interface PortalAuthSettings {
  config: PortalAuthConfig;
  secretKey: Buffer;
  publicUrl: string;
}

export interface ClientInfo {
  ip?: string | undefined;
  userAgent?: string | undefined;
}

const userActor = (userId: string): Actor => ({ type: 'user', id: userId });

// --- members and setup links --------------------------------------------------------------------

/** Creates an invited person with roles (no password yet). */
export async function createPortalUser(
  tx: Tx,
  tenantId: string,
  input: { email: string; displayName?: string | null; roles: readonly PortalRole[]; actor: Actor },
): Promise<string> {
  const email = input.email.trim();
  if (await findPortalUserByEmail(tx, tenantId, email)) throw new DomainError(409, 'member_exists', `${email} is already a member of this tenant`);
  const userId = await insertPortalUser(tx, tenantId, { email, displayName: input.displayName ?? null });
  await setPortalUserRoles(tx, tenantId, userId, input.roles);
  await appendAudit(tx, tenantId, [
    { actor: input.actor, action: 'portal.member_created', targetType: 'portal_user', targetId: userId, data: { email, roles: [...input.roles] } },
  ]);
  return userId;
}

export interface IssueSetupLinkInput {
  tenantId: string;
  email: string;
  roles: readonly PortalRole[];
  createdBy: Actor;
  /** `${publicUrl}/setup#token=…` */
  publicUrl: string;
  ttlSeconds?: number;
  /** `setup` when an operator issues it, `invite` when a tenant admin does. */
  purpose?: 'setup' | 'invite';
}

/**
 * A one-time link with which a person chooses their password. Creates the person (invited) when
 * the tenant does not know the e-mail yet; re-issuing to someone who has not finished setup (or was
 * removed) retires their older links and sets the roles given. Active members get 409.
 */
export async function issueSetupLinkTx(tx: Tx, input: IssueSetupLinkInput): Promise<SetupLinkResponse & { userId: string }> {
  const { tenantId } = input;
  const email = input.email.trim();
  const existing = await findPortalUserByEmail(tx, tenantId, email);
  let userId: string;
  if (!existing) {
    userId = await createPortalUser(tx, tenantId, { email, roles: input.roles, actor: input.createdBy });
  } else {
    if (existing.status === 'active') throw new DomainError(409, 'member_exists', `${existing.email} is already an active member of this tenant`);
    userId = existing.id;
    await lockPortalUser(tx, tenantId, userId);
    await retireSetupLinks(tx, tenantId, userId);
    if (existing.status === 'disabled') await updatePortalUser(tx, tenantId, userId, { status: 'invited', passwordHash: null });
    await setPortalUserRoles(tx, tenantId, userId, input.roles);
  }
  const token = newToken();
  const purpose = input.purpose ?? 'setup';
  const link = await insertSetupLink(tx, tenantId, {
    userId,
    tokenHash: hashToken(token),
    purpose,
    createdBy: input.createdBy,
    ttlSeconds: input.ttlSeconds ?? 259_200,
  });
  await appendAudit(tx, tenantId, [
    {
      actor: input.createdBy,
      action: purpose === 'invite' ? 'portal.member_invited' : 'portal.setup_link_issued',
      targetType: 'portal_user',
      targetId: userId,
      data: { email, roles: [...input.roles], expiresAt: link.expires_at },
    },
  ]);
  return { url: `${input.publicUrl.replace(/\/$/, '')}/setup#token=${token}`, expiresAt: link.expires_at, userId };
}

/** The same as issueSetupLinkTx in a transaction of its own (CLI, console). */
export async function issueSetupLink(db: Db, input: IssueSetupLinkInput): Promise<SetupLinkResponse> {
  const { url, expiresAt } = await withTenant(db, input.tenantId, (tx) => issueSetupLinkTx(tx, input));
  return { url, expiresAt };
}

async function liveLink(db: Db, token: string) {
  const link = await resolveSetupLink(db, hashToken(token));
  if (!link) throw new DomainError(404, 'link_not_found', 'This setup link is not valid. Ask your administrator for a new one.');
  if (link.used_at !== null) throw new DomainError(410, 'link_used', 'This setup link was already used. Sign in, or ask your administrator for a new one.');
  if (Date.parse(link.expires_at) <= Date.now()) throw new DomainError(410, 'link_expired', 'This setup link has expired. Ask your administrator for a new one.');
  return link;
}

export async function inspectSetupLink(db: Db, token: string): Promise<SetupInspectResponse> {
  const link = await liveLink(db, token);
  return withTenant(db, link.tenant_id, async (tx) => {
    const user = await findPortalUser(tx, link.tenant_id, link.user_id);
    if (!user) throw new DomainError(404, 'link_not_found', 'This setup link is not valid.');
    return { email: user.email, tenant: await tenantName(tx, link.tenant_id), expiresAt: link.expires_at };
  });
}

export interface NewSession {
  token: string;
  principal: PortalPrincipal;
}

async function startSession(tx: Tx, user: PortalUserRow, settings: PortalAuthSettings, client: ClientInfo): Promise<NewSession> {
  const token = newToken();
  const sessionId = await insertSession(tx, user.tenant_id, {
    userId: user.id,
    tokenHash: hashToken(token),
    absoluteSeconds: settings.config.PORTAL_SESSION_ABSOLUTE_SECONDS,
    ip: client.ip,
    userAgent: client.userAgent,
  });
  await updatePortalUser(tx, user.tenant_id, user.id, { signedIn: true });
  return { token, principal: { tenantId: user.tenant_id, userId: user.id, sessionId, email: user.email, roles: user.roles } };
}

/** Sets the password chosen through a setup link, uses the link up and signs the person in. */
export async function completeSetup(
  db: Db,
  settings: PortalAuthSettings,
  input: { token: string; password: string; displayName?: string | undefined } & ClientInfo,
): Promise<NewSession> {
  const link = await liveLink(db, input.token);
  const email = await withTenant(db, link.tenant_id, async (tx) => (await findPortalUser(tx, link.tenant_id, link.user_id))?.email);
  if (!email) throw new DomainError(404, 'link_not_found', 'This setup link is not valid.');
  assertPasswordAcceptable(input.password, email);
  // Hashed outside the transaction: argon2 takes tens of milliseconds, a row lock should not.
  const passwordHash = await hashPassword(input.password);
  return withTenant(db, link.tenant_id, async (tx) => {
    const user = await lockPortalUser(tx, link.tenant_id, link.user_id);
    if (!user) throw new DomainError(404, 'link_not_found', 'This setup link is not valid.');
    if (!(await useSetupLink(tx, link.tenant_id, link.link_id))) {
      throw new DomainError(410, 'link_used', 'This setup link was already used. Sign in, or ask your administrator for a new one.');
    }
    await retireSetupLinks(tx, link.tenant_id, user.id);
    await updatePortalUser(tx, link.tenant_id, user.id, {
      passwordHash,
      status: 'active',
      ...(input.displayName !== undefined ? { displayName: input.displayName } : {}),
    });
    const session = await startSession(tx, { ...user, status: 'active' }, settings, input);
    await appendAudit(tx, link.tenant_id, [
      { actor: userActor(user.id), action: 'portal.password_set', targetType: 'portal_user', targetId: user.id, data: { via: 'setup_link' } },
      { actor: userActor(user.id), action: 'portal.sign_in', targetType: 'portal_user', targetId: user.id, data: { ip: input.ip ?? null, via: 'setup_link' } },
    ]);
    return session;
  });
}

// --- sign-in -------------------------------------------------------------------------------------

const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

function newRecoveryCode(): string {
  const bytes = randomBytes(12);
  const chars = [...bytes].map((b) => RECOVERY_ALPHABET[b % RECOVERY_ALPHABET.length]).join('');
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}`;
}

function recoveryHash(code: string): Buffer {
  return hashToken(`recovery:${code.trim().toLowerCase().replace(/-/g, '')}`);
}

const totpAad = (tenantId: string, userId: string) => `portal-totp:${tenantId}:${userId}`;

function totpFor(secretBase32: string, email: string): TOTP {
  return new TOTP({ issuer: 'Roster', label: email, algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secretBase32) });
}

/** The time step a code belongs to, or null; a step at or before `lastStep` is a replay. */
function acceptTotp(totp: TOTP, code: string, lastStep: number | null): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const delta = totp.validate({ token: code, window: 1 });
  if (delta === null) return null;
  const step = totp.counter() + delta;
  if (lastStep !== null && step <= lastStep) return null;
  return step;
}

export interface SignInInput extends ClientInfo {
  tenant: string;
  email: string;
  password: string;
  code?: string | undefined;
}

/**
 * Email + password (+ TOTP or a recovery code) in a tenant. Wrong password, unknown person and
 * unknown tenant all answer `invalid_credentials` after the same argon2 work; failures count per
 * account and per address, and lock both out for a while.
 */
export async function signIn(db: Db, settings: PortalAuthSettings, input: SignInInput): Promise<NewSession> {
  const limits = settings.config;
  const slug = input.tenant.trim().toLowerCase();
  const keys = { account: accountKey('portal', slug, input.email), address: addressKey('portal', input.ip) };
  await assertNotThrottled(db, keys);

  const found = await signInLookup(db, slug, input.email.trim());
  const user = found?.user_id ? await withTenant(db, found.tenant_id, (tx) => findPortalUser(tx, found.tenant_id, found.user_id!)) : null;
  const passwordOk = await verifyPassword(user?.password_hash ?? null, input.password);

  const fail = async (code: 'invalid_credentials' | 'invalid_code', reason: string): Promise<never> => {
    const locked = await recordFailure(db, keys, limits);
    if (found) {
      const events: AuditEventInput[] = [
        {
          actor: user ? userActor(user.id) : { type: 'system' as const },
          action: 'portal.sign_in_failed',
          targetType: 'portal_user',
          ...(user ? { targetId: user.id } : {}),
          data: { email: input.email.trim().toLowerCase(), reason, ip: input.ip ?? null },
        },
      ];
      if (locked.accountLocked) {
        events.push({ ...events[0]!, action: 'portal.account_locked', data: { ...events[0]!.data, lockedForSeconds: limits.AUTH_LOCKOUT_SECONDS } });
      }
      await withTenant(db, found.tenant_id, (tx) => appendAudit(tx, found.tenant_id, events));
    }
    if (locked.addressLocked) throw new RateLimitedError('too_many_attempts', 'Too many failed sign-ins from this address. Try again later.', limits.AUTH_LOCKOUT_SECONDS);
    if (locked.accountLocked) throw new RateLimitedError('locked', 'This account is now locked after too many failed sign-ins. Try again later.', limits.AUTH_LOCKOUT_SECONDS);
    if (code === 'invalid_code') throw new DomainError(401, 'invalid_code', 'The code is not valid. Use the current code from your authenticator app, or a recovery code.');
    throw new DomainError(401, 'invalid_credentials', 'The organisation, e-mail or password is not right.');
  };

  if (!found || !user || !passwordOk || user.status !== 'active') {
    return fail('invalid_credentials', !found ? 'unknown_tenant' : !user ? 'unknown_user' : user.status !== 'active' ? `status_${user.status}` : 'wrong_password');
  }

  const tenantId = user.tenant_id;
  let usedRecoveryCode = false;
  let totpStep: number | null = null;
  if (user.totp_enabled_at && user.totp_secret) {
    const code = input.code?.trim();
    if (!code) throw new DomainError(401, 'mfa_required', 'Enter the 6-digit code from your authenticator app.');
    totpStep = acceptTotp(totpFor(openSecret(settings.secretKey, user.totp_secret, totpAad(tenantId, user.id)), user.email), code, user.totp_last_step);
    if (totpStep === null) {
      usedRecoveryCode = await withTenant(db, tenantId, (tx) => useRecoveryCode(tx, tenantId, user.id, recoveryHash(code)));
      if (!usedRecoveryCode) return fail('invalid_code', 'invalid_code');
    }
  }

  await clearFailures(db, keys.account);
  return withTenant(db, tenantId, async (tx) => {
    const fresh = await lockPortalUser(tx, tenantId, user.id);
    if (!fresh || fresh.status !== 'active') throw new DomainError(401, 'invalid_credentials', 'The organisation, e-mail or password is not right.');
    if (totpStep !== null) {
      if (fresh.totp_last_step !== null && totpStep <= fresh.totp_last_step) throw new DomainError(401, 'invalid_code', 'This code was already used: wait for the next one.');
      await updatePortalUser(tx, tenantId, user.id, { totpLastStep: totpStep });
    }
    const session = await startSession(tx, fresh, settings, input);
    await appendAudit(tx, tenantId, [
      {
        actor: userActor(user.id),
        action: 'portal.sign_in',
        targetType: 'portal_user',
        targetId: user.id,
        data: { ip: input.ip ?? null, mfa: user.totp_enabled_at ? (usedRecoveryCode ? 'recovery_code' : 'totp') : 'none' },
      },
    ]);
    if (usedRecoveryCode) {
      await appendAudit(tx, tenantId, [{ actor: userActor(user.id), action: 'portal.recovery_code_used', targetType: 'portal_user', targetId: user.id }]);
    }
    return session;
  });
}

/** The principal behind a session cookie, or null when it is unknown, expired, idle or revoked. */
export async function resolvePortalSession(db: Db, config: Pick<Config, 'PORTAL_SESSION_IDLE_SECONDS'>, token: string): Promise<PortalPrincipal | null> {
  const s = await resolveSession(db, hashToken(token), config.PORTAL_SESSION_IDLE_SECONDS);
  return s ? { tenantId: s.tenant_id, userId: s.user_id, sessionId: s.session_id, email: s.email, roles: s.roles } : null;
}

export async function signOut(tx: Tx, principal: PortalPrincipal): Promise<void> {
  await revokeSessions(tx, principal.tenantId, principal.userId, principal.sessionId);
  await appendAudit(tx, principal.tenantId, [
    { actor: userActor(principal.userId), action: 'portal.sign_out', targetType: 'portal_user', targetId: principal.userId, data: { sessionId: principal.sessionId } },
  ]);
}

export async function sessionInfo(tx: Tx, principal: PortalPrincipal, secretKey: Buffer, sessionToken: string): Promise<SessionResponse> {
  const user = await findPortalUser(tx, principal.tenantId, principal.userId);
  if (!user) throw new DomainError(401, 'unauthenticated', 'Sign in again.');
  return {
    user: {
      id: user.id,
      email: user.email,
      displayName: user.display_name,
      roles: user.roles,
      tenant: await tenantName(tx, principal.tenantId),
      totpEnabled: user.totp_enabled_at !== null,
    },
    csrfToken: csrfTokenFor(secretKey, 'portal', sessionToken),
  };
}

// --- members (admin) -----------------------------------------------------------------------------

function toMember(u: PortalUserRow): Member {
  return {
    id: u.id,
    email: u.email,
    displayName: u.display_name,
    roles: u.roles,
    status: u.status,
    totpEnabled: u.totp_enabled_at !== null,
    createdAt: u.created_at,
    lastSignInAt: u.last_sign_in_at,
  };
}

export async function listMembers(tx: Tx, tenantId: string): Promise<Member[]> {
  return (await listPortalUsers(tx, tenantId)).map(toMember);
}

async function memberOrNotFound(tx: Tx, tenantId: string, userId: string): Promise<PortalUserRow> {
  const user = await lockPortalUser(tx, tenantId, userId);
  if (!user) throw new DomainError(404, 'not_found', 'No such member in this tenant.');
  return user;
}

/** Refuses to take admin from the last active admin (the tenant would have nobody to manage it). */
async function assertAnotherAdminRemains(tx: Tx, tenantId: string, userId: string): Promise<void> {
  const admins = await lockActiveAdmins(tx, tenantId);
  if (admins.includes(userId) && admins.length === 1) {
    throw new DomainError(409, 'last_admin', 'This is the last admin of the tenant: make someone else admin first.');
  }
}

/**
 * The rules of a role change, checked before it is requested (an approval request for a change
 * that can never apply helps nobody) and again when it applies: the member exists in this
 * tenant and the last admin keeps admin.
 */
export async function assertMemberRolesChangeAllowed(tx: Tx, tenantId: string, userId: string, roles: readonly PortalRole[]): Promise<void> {
  const before = await memberOrNotFound(tx, tenantId, userId);
  if (before.roles.includes('admin') && !roles.includes('admin')) await assertAnotherAdminRemains(tx, tenantId, userId);
}

export async function updateMemberRoles(tx: Tx, tenantId: string, actor: Actor, userId: string, roles: readonly PortalRole[]): Promise<Member> {
  const before = await memberOrNotFound(tx, tenantId, userId);
  if (before.roles.includes('admin') && !roles.includes('admin')) await assertAnotherAdminRemains(tx, tenantId, userId);
  await setPortalUserRoles(tx, tenantId, userId, roles);
  await appendAudit(tx, tenantId, [
    { actor, action: 'portal.member_roles_changed', targetType: 'portal_user', targetId: userId, data: { before: before.roles, after: [...roles] } },
  ]);
  return toMember((await findPortalUser(tx, tenantId, userId))!);
}

/** Disables the person, revokes their sessions and unused links. */
export async function removeMember(tx: Tx, tenantId: string, actor: Actor, userId: string): Promise<void> {
  const before = await memberOrNotFound(tx, tenantId, userId);
  if (before.status === 'disabled') return;
  if (before.roles.includes('admin')) await assertAnotherAdminRemains(tx, tenantId, userId);
  await updatePortalUser(tx, tenantId, userId, { status: 'disabled' });
  const revoked = await revokeSessions(tx, tenantId, userId);
  await retireSetupLinks(tx, tenantId, userId);
  await appendAudit(tx, tenantId, [
    { actor, action: 'portal.member_removed', targetType: 'portal_user', targetId: userId, data: { email: before.email, sessionsRevoked: revoked } },
  ]);
}

// --- account (self) ------------------------------------------------------------------------------

export async function listAccountSessions(tx: Tx, principal: PortalPrincipal, idleSeconds: number): Promise<AccountSession[]> {
  return (await listLiveSessions(tx, principal.tenantId, principal.userId, idleSeconds)).map((s) => ({
    id: s.id,
    createdAt: s.created_at,
    lastSeenAt: s.last_seen_at,
    expiresAt: s.expires_at,
    ip: s.ip,
    userAgent: s.user_agent,
    current: s.id === principal.sessionId,
  }));
}

export async function revokeAccountSession(tx: Tx, principal: PortalPrincipal, sessionId: string): Promise<void> {
  const n = await revokeSessions(tx, principal.tenantId, principal.userId, sessionId);
  if (n === 0) throw new DomainError(404, 'not_found', 'No such session.');
  await appendAudit(tx, principal.tenantId, [
    { actor: userActor(principal.userId), action: 'portal.session_revoked', targetType: 'portal_user', targetId: principal.userId, data: { sessionId } },
  ]);
}

/** Starts TOTP enrolment: a new secret, kept pending until a code from it is confirmed. */
export async function enrollTotp(tx: Tx, principal: PortalPrincipal, secretKey: Buffer): Promise<{ secret: string; otpauthUri: string }> {
  const user = await memberOrNotFound(tx, principal.tenantId, principal.userId);
  if (user.totp_enabled_at) throw new DomainError(409, 'totp_enabled', 'Two-step sign-in is already on: turn it off first to enrol a new device.');
  const secret = new Secret({ size: 20 }).base32;
  await updatePortalUser(tx, principal.tenantId, user.id, { totpPendingSecret: sealSecret(secretKey, secret, totpAad(principal.tenantId, user.id)) });
  await appendAudit(tx, principal.tenantId, [{ actor: userActor(user.id), action: 'portal.totp_enrollment_started', targetType: 'portal_user', targetId: user.id }]);
  return { secret, otpauthUri: totpFor(secret, user.email).toString() };
}

/** Confirms enrolment with a code from the new secret; returns ten recovery codes, shown once. */
export async function confirmTotp(tx: Tx, principal: PortalPrincipal, secretKey: Buffer, code: string): Promise<{ recoveryCodes: string[] }> {
  const user = await memberOrNotFound(tx, principal.tenantId, principal.userId);
  if (user.totp_enabled_at) throw new DomainError(409, 'totp_enabled', 'Two-step sign-in is already on.');
  if (!user.totp_pending_secret) throw new DomainError(409, 'totp_not_enrolling', 'Start enrolment first.');
  const aad = totpAad(principal.tenantId, user.id);
  const secret = openSecret(secretKey, user.totp_pending_secret, aad);
  const step = acceptTotp(totpFor(secret, user.email), code, null);
  if (step === null) throw new DomainError(400, 'invalid_code', 'The code is not valid: check the time on your device and try the current code.');
  const recoveryCodes = Array.from({ length: 10 }, newRecoveryCode);
  await updatePortalUser(tx, principal.tenantId, user.id, {
    totpSecret: user.totp_pending_secret,
    totpPendingSecret: null,
    totpEnabled: true,
    totpLastStep: step,
  });
  await replaceRecoveryCodes(tx, principal.tenantId, user.id, recoveryCodes.map(recoveryHash));
  await appendAudit(tx, principal.tenantId, [{ actor: userActor(user.id), action: 'portal.totp_enabled', targetType: 'portal_user', targetId: user.id }]);
  return { recoveryCodes };
}

/** Turns TOTP off; needs a current code (or a recovery code). */
export async function disableTotp(tx: Tx, principal: PortalPrincipal, secretKey: Buffer, code: string): Promise<void> {
  const user = await memberOrNotFound(tx, principal.tenantId, principal.userId);
  if (!user.totp_enabled_at || !user.totp_secret) throw new DomainError(409, 'totp_not_enabled', 'Two-step sign-in is not on.');
  const totp = totpFor(openSecret(secretKey, user.totp_secret, totpAad(principal.tenantId, user.id)), user.email);
  const ok = acceptTotp(totp, code, user.totp_last_step) !== null || (await useRecoveryCode(tx, principal.tenantId, user.id, recoveryHash(code)));
  if (!ok) throw new DomainError(400, 'invalid_code', 'The code is not valid.');
  await updatePortalUser(tx, principal.tenantId, user.id, { totpSecret: null, totpPendingSecret: null, totpEnabled: false, totpLastStep: null });
  await replaceRecoveryCodes(tx, principal.tenantId, user.id, []);
  await appendAudit(tx, principal.tenantId, [{ actor: userActor(user.id), action: 'portal.totp_disabled', targetType: 'portal_user', targetId: user.id }]);
}
