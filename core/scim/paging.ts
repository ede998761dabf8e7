/**
 * List paging for /Users, /Groups and their `.search`: index paging (RFC 7644 §3.4.2.4) served
 * from keyset positions, and cursor paging (RFC 9865).
 *
 * Index paging: the position reached at the end of each served page is recorded (table
 * list_positions, keyed by tenant + query + index, shared by every API process), so
 * `startIndex = k` continues from the page that ended at k-1 with a keyset range instead of
 * skipping k-1 rows. A miss (nobody served that page in the last 10 minutes) falls back to OFFSET
 * once and records where that page ended. Under concurrent writes this differs from plain OFFSET in the
 * client's favour: a resource deleted before the position no longer shifts later resources
 * forward (OFFSET would skip one), and one created before it does not push a resource already
 * served into the next page (OFFSET would serve it twice); new resources sort last by default
 * (created_at), so a traversal sees each resource that exists throughout exactly once, plus the
 * ones created meanwhile. `startIndex` therefore means "the position after the page that ended
 * at startIndex-1", which equals the OFFSET meaning whenever nothing changed in between.
 *
 * Cursors: opaque, HMAC-signed tokens holding the tenant, a digest of the query (resource type,
 * filter, sortBy, sortOrder), the direction, the keyset position and an expiry. Nothing in a
 * cursor reaches SQL unless its signature verifies and its tenant and query are this request's;
 * a cursor from another tenant or query is as invalid as a forged one (RFC 9865, Security
 * Considerations: identical errors, nothing disclosed).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ScimError } from '../errors.js';
import { Boundary } from '../repositories/list-page.js';

/** What the SCIM service needs for paging; one per API process. */
export interface ScimPaging {
  /** HMAC key for cursors (derived from the secrets key, so every API process shares it). */
  cursorKey: Buffer;
}

export function createScimPaging(secretsKey: Buffer): ScimPaging {
  return {
    cursorKey: createHmac('sha256', secretsKey).update('roster scim list cursor v1').digest(),
  };
}

/** Identifies a query across its pages: RFC 9865 §2 requires identical parameters but the cursor. */
export function querySignature(resourceType: 'User' | 'Group', filter: string | undefined, sortBy: string | undefined, descending: boolean): string {
  return createHash('sha256')
    .update(JSON.stringify([resourceType, filter ?? null, sortBy?.toLowerCase() ?? null, descending]))
    .digest('base64url')
    .slice(0, 22);
}

const CursorPayload = z
  .object({
    t: z.string().uuid(), // tenant
    q: z.string(), // query signature
    d: z.enum(['n', 'p']), // next page (after k) or previous page (before k)
    k: z.tuple([z.string().nullable(), z.string(), z.string().uuid()]),
    x: z.number().int(), // expiry, seconds since the epoch
  })
  .strict();

export interface CursorPosition {
  direction: 'after' | 'before';
  boundary: Boundary;
}

const MAC_BYTES = 16;

/** base64url(JSON) "." base64url(HMAC): only RFC 3986 unreserved characters (RFC 9865 §2). */
export function encodeCursor(
  key: Buffer,
  claims: { tenantId: string; signature: string; position: CursorPosition; ttlSeconds: number },
  now = Date.now(),
): string {
  const b = claims.position.boundary;
  const payload = Buffer.from(
    JSON.stringify({
      t: claims.tenantId,
      q: claims.signature,
      d: claims.position.direction === 'after' ? 'n' : 'p',
      k: [b.sortKey, b.createdAt, b.id],
      x: Math.floor(now / 1000) + claims.ttlSeconds,
    }),
  ).toString('base64url');
  return `${payload}.${mac(key, payload).toString('base64url')}`;
}

const mac = (key: Buffer, payload: string) => createHmac('sha256', key).update(payload).digest().subarray(0, MAC_BYTES);

const invalidCursor = () =>
  ScimError.badRequest('invalidCursor', 'cursor is not valid for this query: send an empty cursor for the first page, then nextCursor or previousCursor');

/**
 * Verifies a client's cursor: signature first (a forged or altered cursor is rejected before any
 * of it is read), then tenant and query (each just as invalid), then expiry (RFC 9865 §2:
 * `expiredCursor`, after `cursorTimeout`).
 */
export function decodeCursor(key: Buffer, cursor: string, expect: { tenantId: string; signature: string }, now = Date.now()): CursorPosition {
  const dot = cursor.indexOf('.');
  if (dot <= 0 || cursor.length > 2048 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(cursor)) throw invalidCursor();
  const payload = cursor.slice(0, dot);
  const given = Buffer.from(cursor.slice(dot + 1), 'base64url');
  const wanted = mac(key, payload);
  if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) throw invalidCursor();
  let claims: z.infer<typeof CursorPayload>;
  try {
    claims = CursorPayload.parse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
  } catch {
    throw invalidCursor();
  }
  if (claims.t !== expect.tenantId || claims.q !== expect.signature) throw invalidCursor();
  if (claims.x * 1000 < now) {
    throw ScimError.badRequest('expiredCursor', 'cursor has expired (see cursorTimeout in ServiceProviderConfig): start again with an empty cursor');
  }
  return {
    direction: claims.d === 'n' ? 'after' : 'before',
    boundary: { sortKey: claims.k[0], createdAt: claims.k[1], id: claims.k[2] },
  };
}
