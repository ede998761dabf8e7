import { sql } from 'slonik';
import { z } from 'zod';
import type { Tx } from '../db/pool.js';
import { SCIM_TOKEN_PREFIX, displayPrefix, generateSecret, hashSecret } from '../secrets.js';

// SQL for SCIM connections and their tokens; rules, audit rows and views live in service.ts.
// Every query names its tenant explicitly as well as relying on RLS: the operator CLI connects as
// the owner, which row-level security does not restrict. Token authentication (the SCIM hot path)
// stays in core/repositories/scim-tokens.ts.

export const ScimConnectionRow = z.object({
  id: z.string().uuid(),
  tenant_id: z.string().uuid(),
  name: z.string(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});
export type ScimConnectionRow = z.infer<typeof ScimConnectionRow>;

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

const tokenColumns = sql.fragment`id, connection_id, token_prefix, created_at, last_used_at, expires_at, revoked_at`;

export async function insertConnection(tx: Tx, tenantId: string, name: string): Promise<ScimConnectionRow> {
  return tx.one(sql.type(ScimConnectionRow)`
    INSERT INTO scim_connections (tenant_id, name) VALUES (${tenantId}, ${name})
    RETURNING id, tenant_id, name, created_at, revoked_at`);
}

/** Issues a token for the connection. The token is returned once; only its SHA-256 is stored. */
export async function insertToken(tx: Tx, tenantId: string, connectionId: string): Promise<{ token: string; row: ScimTokenRow }> {
  const token = generateSecret(SCIM_TOKEN_PREFIX);
  const row = await tx.one(sql.type(ScimTokenRow)`
    INSERT INTO scim_tokens (tenant_id, connection_id, token_prefix, token_hash)
    VALUES (${tenantId}, ${connectionId}, ${displayPrefix(token, SCIM_TOKEN_PREFIX)}, ${sql.binary(hashSecret(token))})
    RETURNING ${tokenColumns}`);
  return { token, row };
}

/**
 * A connection and its first token in one go, without an audit row: for test fixtures and
 * benchmarks that set tenants up. Everything else goes through `createConnection` (service.ts).
 */
export async function insertConnectionWithToken(tx: Tx, tenantId: string, name = 'default'): Promise<{ connectionId: string; tokenId: string; token: string }> {
  const connection = await insertConnection(tx, tenantId, name);
  const { token, row } = await insertToken(tx, tenantId, connection.id);
  return { connectionId: connection.id, tokenId: row.id, token };
}

export async function listConnections(tx: Tx, tenantId: string): Promise<readonly ScimConnectionRow[]> {
  return tx.any(sql.type(ScimConnectionRow)`
    SELECT id, tenant_id, name, created_at, revoked_at FROM scim_connections WHERE tenant_id = ${tenantId} ORDER BY created_at, id`);
}

export async function findConnection(tx: Tx, tenantId: string, connectionId: string): Promise<ScimConnectionRow | null> {
  return tx.maybeOne(sql.type(ScimConnectionRow)`
    SELECT id, tenant_id, name, created_at, revoked_at FROM scim_connections WHERE tenant_id = ${tenantId} AND id = ${connectionId}`);
}

/** Tokens of the tenant's connections (all of them, or these), oldest first. */
export async function listTokens(tx: Tx, tenantId: string, connectionIds?: readonly string[]): Promise<readonly ScimTokenRow[]> {
  return tx.any(sql.type(ScimTokenRow)`
    SELECT ${tokenColumns} FROM scim_tokens
     WHERE tenant_id = ${tenantId} ${connectionIds ? sql.fragment`AND connection_id = ANY(${sql.array(connectionIds, 'uuid')})` : sql.fragment``}
     ORDER BY created_at, id`);
}

/** Live tokens of the connection stop working at `now + overlapSeconds` (earlier expiries stay); returns that time. */
export async function expireLiveTokens(tx: Tx, tenantId: string, connectionId: string, overlapSeconds: number): Promise<{ until: string; tokenIds: string[] }> {
  const until = await tx.oneFirst(sql.type(z.object({ until: z.string() }))`
    SELECT (now() + make_interval(secs => ${overlapSeconds}))::timestamptz AS until`);
  const tokenIds = await tx.anyFirst(sql.type(z.object({ id: z.string().uuid() }))`
    UPDATE scim_tokens SET expires_at = LEAST(coalesce(expires_at, ${until}::timestamptz), ${until}::timestamptz)
     WHERE tenant_id = ${tenantId} AND connection_id = ${connectionId} AND revoked_at IS NULL
       AND (expires_at IS NULL OR expires_at > now())
    RETURNING id`);
  return { until, tokenIds: [...tokenIds] };
}

/** Revokes the connection and every token of it; false when there was no live connection. */
export async function revokeConnectionRows(tx: Tx, tenantId: string, connectionId: string): Promise<boolean> {
  const revoked = await tx.maybeOneFirst(sql.type(z.object({ id: z.string().uuid() }))`
    UPDATE scim_connections SET revoked_at = now() WHERE tenant_id = ${tenantId} AND id = ${connectionId} AND revoked_at IS NULL RETURNING id`);
  if (!revoked) return false;
  await tx.query(sql.unsafe`
    UPDATE scim_tokens SET revoked_at = now() WHERE tenant_id = ${tenantId} AND connection_id = ${connectionId} AND revoked_at IS NULL`);
  return true;
}

/** Revokes one live token; returns it (with its connection), or null when there was none. */
export async function revokeTokenRow(tx: Tx, tenantId: string, tokenId: string): Promise<ScimTokenRow | null> {
  return tx.maybeOne(sql.type(ScimTokenRow)`
    UPDATE scim_tokens SET revoked_at = now() WHERE tenant_id = ${tenantId} AND id = ${tokenId} AND revoked_at IS NULL
    RETURNING ${tokenColumns}`);
}
