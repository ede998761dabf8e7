import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures, for Roster (signing) and for receivers and tests (verifying).
 *
 *   Roster-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, `${t}.${body}`)>[,v1=<hex>…]
 *
 * The key is the UTF-8 bytes of the whole secret string as shown at creation (`whsec_…`). During
 * a rotation's overlap the header carries one v1 value per live secret, so a receiver holding
 * either the old or the new secret verifies. The timestamp is inside the MAC, so a captured
 * request cannot be replayed outside the tolerance window.
 */
export const SIGNATURE_HEADER = 'Roster-Signature';
export const EVENT_ID_HEADER = 'Roster-Event-Id';
export const EVENT_TYPE_HEADER = 'Roster-Event-Type';
export const WEBHOOK_SECRET_PREFIX = 'whsec_';
export const DEFAULT_TOLERANCE_SECONDS = 300;

function hmacHex(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${timestamp}.${body}`, 'utf8').digest('hex');
}

/**
 * The Roster-Signature header value for `body`, signed with every secret given (current first).
 * `timestamp` is unix seconds.
 */
export function signPayload(body: string, secrets: string | readonly string[], timestamp: number): string {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  if (list.length === 0) throw new Error('signPayload needs at least one secret');
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new Error('signPayload: timestamp must be unix seconds');
  return [`t=${timestamp}`, ...list.map((s) => `v1=${hmacHex(s, timestamp, body)}`)].join(',');
}

export type VerifyResult =
  | { ok: true; timestamp: number }
  | { ok: false; reason: 'malformed' | 'timestamp_out_of_tolerance' | 'no_matching_signature' };

/**
 * Checks a Roster-Signature header against the raw request body (exactly the bytes received, not
 * a re-serialised object). `now` is unix seconds. Comparison is constant-time.
 */
export function verifySignature(
  header: string | null | undefined,
  body: string,
  secret: string,
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
  now: number = Math.floor(Date.now() / 1000),
): VerifyResult {
  if (!header || header.length > 4096) return { ok: false, reason: 'malformed' };
  let timestamp: number | undefined;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return { ok: false, reason: 'malformed' };
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) return { ok: false, reason: 'malformed' };
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (/^[0-9a-f]{64}$/.test(value)) candidates.push(Buffer.from(value, 'hex'));
    }
    // Other schemes (v0, future v2) are ignored so receivers keep working when one is added.
  }
  if (timestamp === undefined || candidates.length === 0) return { ok: false, reason: 'malformed' };
  if (Math.abs(now - timestamp) > toleranceSeconds) return { ok: false, reason: 'timestamp_out_of_tolerance' };
  const expected = Buffer.from(hmacHex(secret, timestamp, body), 'hex');
  let matched = false;
  // Compare with every candidate (no early exit) so timing says nothing about which one matched.
  for (const candidate of candidates) matched = timingSafeEqual(candidate, expected) || matched;
  return matched ? { ok: true, timestamp } : { ok: false, reason: 'no_matching_signature' };
}
