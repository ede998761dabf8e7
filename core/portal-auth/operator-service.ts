import { sql } from 'slonik';
import { z } from 'zod';
import type { Db } from '../db/pool.js';
import { DomainError } from '../errors.js';
import {
  appendOperatorAudit,
  findOperator,
  findOperatorByEmail,
  findOperatorSetupLink,
  insertOperator,
  insertOperatorSetupLink,
  resolveOperatorSession,
} from './operator-queries.js';
import { assertPasswordAcceptable, hashPassword, verifyPassword } from './password.js';
import type { SetupInspectResponse, SetupLinkResponse } from './schema.js';
import type { ClientInfo, PortalAuthSettings } from './service.js';
import { accountKey, addressKey, assertNotThrottled, clearFailures, RateLimitedError, recordFailure } from './throttle.js';
import { hashToken, newToken } from './tokens.js';

/**
 * Operator accounts (the vendor's staff, `/console`). Their own account events go to
 * `operator_audit`; what they do to a tenant is audited in that tenant's log by the feature.
 */

export interface OperatorPrincipal {
  operatorId: string;
  email: string;
  sessionId: string;
}

/** Creates an operator (or re-issues the link of one who has not finished setup). */
export async function createOperator(
  db: Db,
  input: { email: string; createdBy: string | null; publicUrl: string; ttlSeconds: number },
): Promise<SetupLinkResponse & { operatorId: string }> {
  const email = z.string().trim().email().parse(input.email);
  return db.transaction(async (tx) => {
    const existing = await findOperatorByEmail(tx, email);
    if (existing?.status === 'active') throw new DomainError(409, 'operator_exists', `${email} is already an operator`);
    const operator = existing ?? (await insertOperator(tx, email));
    await tx.query(sql.unsafe`UPDATE operator_setup_links SET expires_at = least(expires_at, now()) WHERE operator_id = ${operator.id} AND used_at IS NULL`);
    const token = newToken();
    const expiresAt = await insertOperatorSetupLink(tx, { operatorId: operator.id, tokenHash: hashToken(token), createdBy: input.createdBy, ttlSeconds: input.ttlSeconds });
    await appendOperatorAudit(tx, operator.id, 'operator.setup_link_issued', { email, createdBy: input.createdBy, expiresAt });
    return { url: `${input.publicUrl.replace(/\/$/, '')}/console/setup#token=${token}`, expiresAt, operatorId: operator.id };
  });
}

async function liveOperatorLink(db: Db, token: string) {
  const link = await findOperatorSetupLink(db, hashToken(token));
  if (!link) throw new DomainError(404, 'link_not_found', 'This setup link is not valid.');
  if (link.used_at !== null) throw new DomainError(410, 'link_used', 'This setup link was already used.');
  if (Date.parse(link.expires_at) <= Date.now()) throw new DomainError(410, 'link_expired', 'This setup link has expired. Ask for a new one.');
  return link;
}

export async function inspectOperatorSetupLink(db: Db, token: string): Promise<SetupInspectResponse> {
  const link = await liveOperatorLink(db, token);
  const operator = await findOperator(db, link.operator_id);
  if (!operator) throw new DomainError(404, 'link_not_found', 'This setup link is not valid.');
  return { email: operator.email, expiresAt: link.expires_at };
}

async function startOperatorSession(db: Pick<Db, 'oneFirst' | 'query'>, operatorId: string, settings: PortalAuthSettings, client: ClientInfo): Promise<{ token: string; sessionId: string }> {
  const token = newToken();
  const sessionId = await db.oneFirst(sql.type(z.object({ id: z.string() }))`
    INSERT INTO operator_sessions (operator_id, token_hash, expires_at, ip, user_agent)
    VALUES (${operatorId}, ${sql.binary(hashToken(token))}, now() + make_interval(secs => ${settings.config.PORTAL_SESSION_ABSOLUTE_SECONDS}),
            ${client.ip ?? null}, ${client.userAgent?.slice(0, 400) ?? null})
    RETURNING id`);
  await db.query(sql.unsafe`UPDATE operators SET last_sign_in_at = now() WHERE id = ${operatorId}`);
  return { token, sessionId };
}

export interface NewOperatorSession {
  token: string;
  principal: OperatorPrincipal;
}

export async function completeOperatorSetup(
  db: Db,
  settings: PortalAuthSettings,
  input: { token: string; password: string; displayName?: string | undefined } & ClientInfo,
): Promise<NewOperatorSession> {
  const link = await liveOperatorLink(db, input.token);
  const operator = await findOperator(db, link.operator_id);
  if (!operator) throw new DomainError(404, 'link_not_found', 'This setup link is not valid.');
  assertPasswordAcceptable(input.password, operator.email);
  const passwordHash = await hashPassword(input.password);
  return db.transaction(async (tx) => {
    const used = await tx.query(sql.unsafe`
      UPDATE operator_setup_links SET used_at = now() WHERE id = ${link.id} AND used_at IS NULL AND expires_at > now()`);
    if (used.rowCount !== 1) throw new DomainError(410, 'link_used', 'This setup link was already used.');
    await tx.query(sql.unsafe`
      UPDATE operators SET password_hash = ${passwordHash}, status = 'active',
             display_name = coalesce(${input.displayName ?? null}, display_name)
       WHERE id = ${operator.id}`);
    const session = await startOperatorSession(tx, operator.id, settings, input);
    await appendOperatorAudit(tx, operator.id, 'operator.password_set', { via: 'setup_link' });
    await appendOperatorAudit(tx, operator.id, 'operator.sign_in', { ip: input.ip ?? null, via: 'setup_link' });
    return { token: session.token, principal: { operatorId: operator.id, email: operator.email, sessionId: session.sessionId } };
  });
}

export async function operatorSignIn(db: Db, settings: PortalAuthSettings, input: { email: string; password: string } & ClientInfo): Promise<NewOperatorSession> {
  const keys = { account: accountKey('console', '', input.email), address: addressKey('console', input.ip) };
  await assertNotThrottled(db, keys);
  const operator = await findOperatorByEmail(db, input.email);
  const ok = await verifyPassword(operator?.password_hash ?? null, input.password);
  if (!operator || !ok || operator.status !== 'active') {
    const locked = await recordFailure(db, keys, settings.config);
    await appendOperatorAudit(db, operator?.id ?? null, 'operator.sign_in_failed', { email: input.email.trim().toLowerCase(), ip: input.ip ?? null });
    if (locked.accountLocked) await appendOperatorAudit(db, operator?.id ?? null, 'operator.account_locked', { email: input.email.trim().toLowerCase() });
    if (locked.addressLocked) throw new RateLimitedError('too_many_attempts', 'Too many failed sign-ins from this address. Try again later.', settings.config.AUTH_LOCKOUT_SECONDS);
    if (locked.accountLocked) throw new RateLimitedError('locked', 'This account is now locked after too many failed sign-ins. Try again later.', settings.config.AUTH_LOCKOUT_SECONDS);
    throw new DomainError(401, 'invalid_credentials', 'The e-mail or password is not right.');
  }
  await clearFailures(db, keys.account);
  return db.transaction(async (tx) => {
    const session = await startOperatorSession(tx, operator.id, settings, input);
    await appendOperatorAudit(tx, operator.id, 'operator.sign_in', { ip: input.ip ?? null });
    return { token: session.token, principal: { operatorId: operator.id, email: operator.email, sessionId: session.sessionId } };
  });
}

export async function resolveOperator(db: Db, config: PortalAuthSettings['config'], token: string): Promise<OperatorPrincipal | null> {
  const row = await resolveOperatorSession(db, hashToken(token), config.PORTAL_SESSION_IDLE_SECONDS);
  return row ? { operatorId: row.operator_id, email: row.email, sessionId: row.session_id } : null;
}

export async function operatorSignOut(db: Db, principal: OperatorPrincipal): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(sql.unsafe`UPDATE operator_sessions SET revoked_at = now() WHERE id = ${principal.sessionId} AND revoked_at IS NULL`);
    await appendOperatorAudit(tx, principal.operatorId, 'operator.sign_out', { sessionId: principal.sessionId });
  });
}
