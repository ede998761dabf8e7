import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Bearer secrets: 256 random bits behind a recognisable prefix (so leaked tokens are easy to
 * spot and secret scanners can match them), stored only as SHA-256.
 */
export function generateSecret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(secret: string, storedHash: Uint8Array): boolean {
  const presented = hashSecret(secret);
  return storedHash.length === presented.length && timingSafeEqual(presented, storedHash);
}

/** The part of a secret that may be shown again and logged: prefix plus four characters. */
export function displayPrefix(secret: string, prefix: string): string {
  return `${secret.slice(0, prefix.length + 4)}…`;
}

export const SCIM_TOKEN_PREFIX = 'roster_scim_';
export const APP_KEY_PREFIX = 'roster_app_';
/** Credentials Roster issues on behalf of the vendor's app (introspected at /oauth2/introspect). */
export const CREDENTIAL_PREFIXES = {
  session: 'roster_ses_',
  personal_token: 'roster_pat_',
  service_account_token: 'roster_sat_',
} as const;
