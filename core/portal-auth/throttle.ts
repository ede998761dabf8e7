import { createHash } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import type { Config } from '../config.js';
import type { Db } from '../db/pool.js';
import { DomainError } from '../errors.js';

/** A refused attempt the client may repeat later: surfaces add `Retry-After`. */
export class RateLimitedError extends DomainError {
  constructor(
    code: 'locked' | 'too_many_attempts',
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(429, code, message);
  }
}

export type ThrottleLimits = Pick<Config, 'AUTH_ACCOUNT_MAX_FAILURES' | 'AUTH_ADDRESS_MAX_FAILURES' | 'AUTH_FAILURE_WINDOW_SECONDS' | 'AUTH_LOCKOUT_SECONDS'>;

export type Realm = 'portal' | 'console';

/** The throttle key of an account: hashed, so the table holds no e-mail addresses. */
export function accountKey(realm: Realm, tenantSlug: string, email: string): string {
  return `${realm}:account:${createHash('sha256').update(`${tenantSlug}\n${email.trim().toLowerCase()}`).digest('hex')}`;
}

export function addressKey(realm: Realm, address: string | undefined): string {
  return `${realm}:address:${address ?? 'unknown'}`;
}

const Locked = z.object({ key: z.string(), seconds: z.number() });

/** Refuses the attempt before any password is checked when the account or the address is locked. */
export async function assertNotThrottled(db: Db, keys: { account: string; address: string }): Promise<void> {
  const rows = await db.any(sql.type(Locked)`
    SELECT key, ceil(extract(epoch FROM locked_until - now()))::int AS seconds FROM auth_throttle
     WHERE key = ANY(${sql.array([keys.account, keys.address], 'text')}) AND locked_until > now()`);
  const address = rows.find((r) => r.key === keys.address);
  if (address) throw new RateLimitedError('too_many_attempts', 'Too many failed sign-ins from this address. Try again later.', Math.max(1, address.seconds));
  const account = rows[0];
  if (account) throw new RateLimitedError('locked', 'This account is locked after too many failed sign-ins. Try again later.', Math.max(1, account.seconds));
}

const Counted = z.object({ failures: z.number(), locked_until: z.string().nullable() });

async function countFailure(db: Db, key: string, max: number, limits: ThrottleLimits): Promise<number | null> {
  const row = await db.one(sql.type(Counted)`
    INSERT INTO auth_throttle AS t (key, window_started_at, failures) VALUES (${key}, now(), 1)
    ON CONFLICT (key) DO UPDATE SET
      failures = CASE WHEN t.window_started_at < now() - make_interval(secs => ${limits.AUTH_FAILURE_WINDOW_SECONDS}) THEN 1 ELSE t.failures + 1 END,
      window_started_at = CASE WHEN t.window_started_at < now() - make_interval(secs => ${limits.AUTH_FAILURE_WINDOW_SECONDS}) THEN now() ELSE t.window_started_at END
    RETURNING failures, locked_until`);
  if (row.failures < max) return null;
  await db.query(sql.unsafe`
    UPDATE auth_throttle SET locked_until = now() + make_interval(secs => ${limits.AUTH_LOCKOUT_SECONDS}), failures = 0, window_started_at = now()
     WHERE key = ${key}`);
  return limits.AUTH_LOCKOUT_SECONDS;
}

/** Counts a failed attempt; says which lock (if any) it just closed. */
export async function recordFailure(db: Db, keys: { account: string; address: string }, limits: ThrottleLimits): Promise<{ accountLocked: boolean; addressLocked: boolean }> {
  // Now and then, forget windows that ended and locks that expired (the table only grows on failures).
  if (Math.random() < 0.02) {
    await db.query(sql.unsafe`
      DELETE FROM auth_throttle
       WHERE window_started_at < now() - make_interval(secs => ${limits.AUTH_FAILURE_WINDOW_SECONDS})
         AND (locked_until IS NULL OR locked_until < now())`);
  }
  const account = await countFailure(db, keys.account, limits.AUTH_ACCOUNT_MAX_FAILURES, limits);
  const address = await countFailure(db, keys.address, limits.AUTH_ADDRESS_MAX_FAILURES, limits);
  return { accountLocked: account !== null, addressLocked: address !== null };
}

/** A successful sign-in forgets the account's failures (not the address's). */
export async function clearFailures(db: Db, accountKeyValue: string): Promise<void> {
  await db.query(sql.unsafe`DELETE FROM auth_throttle WHERE key = ${accountKeyValue} AND (locked_until IS NULL OR locked_until <= now())`);
}
