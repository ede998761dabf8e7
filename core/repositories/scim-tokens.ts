import { sql } from 'slonik';
import { z } from 'zod';
import type { Db } from '../db/pool.js';
import { SCIM_TOKEN_PREFIX, hashSecret, secretMatches } from '../secrets.js';

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
