import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Opaque bearer secrets (session cookies, setup links): 32 random bytes, stored as sha256 only. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * The CSRF token of a session: derived from the session token with the server key, so nothing is
 * stored and a token from one session is worthless in another (the double-submit pattern, signed).
 */
export function csrfTokenFor(secretKey: Buffer, realm: 'portal' | 'console', sessionToken: string): string {
  return createHmac('sha256', secretKey).update(`csrf:${realm}:${sessionToken}`).digest('base64url');
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
