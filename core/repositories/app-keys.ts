import { sql } from 'slonik';
import { z } from 'zod';
import type { Db, Tx } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { APP_KEY_PREFIX, displayPrefix, generateSecret, hashSecret, secretMatches } from '../secrets.js';

export const AppKeyRow = z.object({
  id: z.string().uuid(),
  tenant_id: z.string().uuid(),
  name: z.string(),
  key_prefix: z.string(),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});
export type AppKeyRow = z.infer<typeof AppKeyRow>;

const AuthRow = z.object({ tenant_id: z.string().uuid(), key_id: z.string().uuid(), key_hash: z.instanceof(Buffer) });

export interface AppPrincipal {
  tenantId: string;
  keyId: string;
}

/** Resolves a presented app API key to its tenant, or null (one statement, on the lean executor). */
export async function authenticateAppKey(db: Db, key: string): Promise<AppPrincipal | null> {
  if (!key.startsWith(APP_KEY_PREFIX) || key.length > 200) return null;
  const row = await db.statements.maybeOne(sql.type(AuthRow)`SELECT * FROM app_key_authenticate(${sql.binary(hashSecret(key))})`);
  if (!row || !secretMatches(key, row.key_hash)) return null;
  return { tenantId: row.tenant_id, keyId: row.key_id };
}

/** Issues an app API key; the key itself is returned once and only its hash is stored. */
export async function createAppKey(tx: Tx, tenantId: string, name = 'default'): Promise<{ keyId: string; appKey: string }> {
  const appKey = generateSecret(APP_KEY_PREFIX);
  const row = await tx.one(sql.type(AppKeyRow)`
    INSERT INTO app_api_keys (tenant_id, name, key_prefix, key_hash)
    VALUES (${tenantId}, ${name}, ${displayPrefix(appKey, APP_KEY_PREFIX)}, ${sql.binary(hashSecret(appKey))})
    RETURNING id, tenant_id, name, key_prefix, created_at, last_used_at, revoked_at`);
  return { keyId: row.id, appKey };
}

export async function listAppKeys(tx: Tx, tenantId: string) {
  return tx.any(sql.type(AppKeyRow)`
    SELECT id, tenant_id, name, key_prefix, created_at, last_used_at, revoked_at FROM app_api_keys
     WHERE tenant_id = ${tenantId} ORDER BY created_at`);
}

export async function revokeAppKey(tx: Tx, tenantId: string, keyId: string): Promise<void> {
  const res = await tx.query(sql.unsafe`
    UPDATE app_api_keys SET revoked_at = now() WHERE tenant_id = ${tenantId} AND id = ${keyId} AND revoked_at IS NULL`);
  if (res.rowCount === 0) throw new DomainError(404, 'not_found', 'no such live app key');
}
