import { sql } from 'slonik';
import { z } from 'zod';
import type { Db, Tx } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { SCIM_TOKEN_PREFIX, displayPrefix, generateSecret, hashSecret, secretMatches } from '../secrets.js';

export const ScimConnectionRow = z.object({
  id: z.string().uuid(),
  tenant_id: z.string().uuid(),
  name: z.string(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});

export const ScimTokenRow = z.object({
  id: z.string().uuid(),
  connection_id: z.string().uuid(),
  token_prefix: z.string(),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  expires_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});
export type ScimTokenRow = z.infer<typeof ScimTokenRow>;

const AuthRow = z.object({
  tenant_id: z.string().uuid(),
  connection_id: z.string().uuid(),
  token_id: z.string().uuid(),
  token_hash: z.instanceof(Buffer),
  expires_at: z.string().nullable(),
});

export interface ScimPrincipal {
  tenantId: string;
  connectionId: string;
  tokenId: string;
  /** Epoch ms after which the token stops working (rotation overlap), or null. */
  expiresAt: number | null;
}

/** Whether a presented bearer token could be a SCIM token at all (checked before any hashing). */
export const isScimTokenShaped = (token: string): boolean => token.startsWith(SCIM_TOKEN_PREFIX) && token.length <= 200;

/** Resolves a presented bearer token, by its SHA-256, to its tenant and connection, or null. */
export async function authenticateScimToken(db: Db, token: string, hash: Buffer = hashSecret(token)): Promise<ScimPrincipal | null> {
  if (!isScimTokenShaped(token)) return null;
  const row = await db.maybeOne(sql.type(AuthRow)`SELECT * FROM scim_authenticate(${sql.binary(hash)})`);
  if (!row || !secretMatches(token, row.token_hash)) return null;
  return {
    tenantId: row.tenant_id,
    connectionId: row.connection_id,
    tokenId: row.token_id,
    expiresAt: row.expires_at === null ? null : Date.parse(row.expires_at),
  };
}

/** Records use of these tokens (last_used_at, minute resolution), batched by the API process. */
export async function touchScimTokens(db: Db, tokenIds: readonly string[]): Promise<void> {
  if (tokenIds.length) await db.query(sql.unsafe`SELECT scim_tokens_touch(${sql.array(tokenIds, 'uuid')})`);
}

async function insertToken(tx: Tx, tenantId: string, connectionId: string): Promise<{ token: string; row: ScimTokenRow }> {
  const token = generateSecret(SCIM_TOKEN_PREFIX);
  const row = await tx.one(sql.type(ScimTokenRow)`
    INSERT INTO scim_tokens (tenant_id, connection_id, token_prefix, token_hash)
    VALUES (${tenantId}, ${connectionId}, ${displayPrefix(token, SCIM_TOKEN_PREFIX)}, ${sql.binary(hashSecret(token))})
    RETURNING id, connection_id, token_prefix, created_at, last_used_at, expires_at, revoked_at`);
  return { token, row };
}

/** Creates a SCIM connection with its first token. The token is returned once and never stored. */
export async function createScimConnection(
  tx: Tx,
  tenantId: string,
  name = 'default',
): Promise<{ connectionId: string; token: string; tokenId: string }> {
  const connection = await tx.one(sql.type(ScimConnectionRow)`
    INSERT INTO scim_connections (tenant_id, name) VALUES (${tenantId}, ${name}) RETURNING *`);
  const { token, row } = await insertToken(tx, tenantId, connection.id);
  return { connectionId: connection.id, token, tokenId: row.id };
}

// Every query names its tenant explicitly as well as relying on RLS: the operator CLI connects as
// the owner, which row-level security does not restrict.

export async function listScimConnections(tx: Tx, tenantId: string) {
  return tx.any(sql.type(ScimConnectionRow)`SELECT * FROM scim_connections WHERE tenant_id = ${tenantId} ORDER BY created_at`);
}

export async function listScimTokens(tx: Tx, tenantId: string, connectionId: string) {
  return tx.any(sql.type(ScimTokenRow)`
    SELECT id, connection_id, token_prefix, created_at, last_used_at, expires_at, revoked_at
      FROM scim_tokens WHERE tenant_id = ${tenantId} AND connection_id = ${connectionId} ORDER BY created_at`);
}

async function requireConnection(tx: Tx, tenantId: string, connectionId: string) {
  const c = await tx.maybeOne(sql.type(ScimConnectionRow)`
    SELECT * FROM scim_connections WHERE tenant_id = ${tenantId} AND id = ${connectionId}`);
  if (!c || c.revoked_at) throw new DomainError(404, 'not_found', 'no such active SCIM connection');
  return c;
}

/**
 * Issues a new token for the connection; live older tokens keep working for `overlapSeconds`
 * so the IdP can be switched over without a failed sync.
 */
export async function rotateScimToken(
  tx: Tx,
  tenantId: string,
  connectionId: string,
  overlapSeconds: number,
): Promise<{ token: string; tokenId: string; previousValidUntil: string }> {
  await requireConnection(tx, tenantId, connectionId);
  const until = await tx.oneFirst(sql.type(z.object({ until: z.string() }))`
    SELECT (now() + make_interval(secs => ${overlapSeconds}))::timestamptz AS until`);
  await tx.query(sql.unsafe`
    UPDATE scim_tokens SET expires_at = LEAST(coalesce(expires_at, ${until}::timestamptz), ${until}::timestamptz)
     WHERE tenant_id = ${tenantId} AND connection_id = ${connectionId} AND revoked_at IS NULL`);
  const { token, row } = await insertToken(tx, tenantId, connectionId);
  return { token, tokenId: row.id, previousValidUntil: until };
}

/** Revokes every token of the connection (or the connection itself): effective on the next request. */
export async function revokeScimConnection(tx: Tx, tenantId: string, connectionId: string): Promise<void> {
  await requireConnection(tx, tenantId, connectionId);
  await tx.query(sql.unsafe`
    UPDATE scim_tokens SET revoked_at = now() WHERE tenant_id = ${tenantId} AND connection_id = ${connectionId} AND revoked_at IS NULL`);
  await tx.query(sql.unsafe`UPDATE scim_connections SET revoked_at = now() WHERE tenant_id = ${tenantId} AND id = ${connectionId}`);
}

export async function revokeScimToken(tx: Tx, tenantId: string, tokenId: string): Promise<void> {
  const res = await tx.query(sql.unsafe`
    UPDATE scim_tokens SET revoked_at = now() WHERE tenant_id = ${tenantId} AND id = ${tokenId} AND revoked_at IS NULL`);
  if (res.rowCount === 0) throw new DomainError(404, 'not_found', 'no such live SCIM token');
}
