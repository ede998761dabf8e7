import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import type { Tx } from '../db/pool.js';

/**
 * Personal attribute values in the audit trail, encrypted under a per-identity key (AES-256-GCM).
 * Erasing the identity deletes the key: the values become unreadable while the hash chain, which
 * covers only the ciphertext, still verifies.
 */
export const SealedPersonalData = z.object({
  alg: z.literal('A256GCM'),
  /** The identity whose key encrypted this (the key row is looked up by it). */
  subject: z.string().uuid(),
  iv: z.string(),
  tag: z.string(),
  ciphertext: z.string(),
});
export type SealedPersonalData = z.infer<typeof SealedPersonalData>;

/** The identity's key, created on first use. */
export async function personalDataKey(tx: Tx, tenantId: string, userId: string): Promise<Buffer> {
  return tx.oneFirst(sql.type(z.object({ data_key: z.instanceof(Buffer) }))`
    WITH created AS (
      INSERT INTO personal_data_keys (tenant_id, user_id, data_key)
      VALUES (${tenantId}, ${userId}, ${sql.binary(randomBytes(32))})
      ON CONFLICT DO NOTHING RETURNING data_key)
    SELECT data_key FROM created
    UNION ALL
    SELECT data_key FROM personal_data_keys WHERE tenant_id = ${tenantId} AND user_id = ${userId}
    LIMIT 1`);
}

export async function sealPersonalData(tx: Tx, tenantId: string, userId: string, value: unknown): Promise<SealedPersonalData> {
  return sealWithKey(await personalDataKey(tx, tenantId, userId), tenantId, userId, value);
}

/** A fresh identity's key, for callers that store it in the same statement as the identity. */
export const newDataKey = (): Buffer => randomBytes(32);

export function sealWithKey(key: Buffer, tenantId: string, userId: string, value: unknown): SealedPersonalData {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(`${tenantId}:${userId}`));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return { alg: 'A256GCM', subject: userId, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ciphertext: ciphertext.toString('base64') };
}

/** The plaintext, or null once the identity's personal data has been erased. */
export async function openPersonalData(tx: Tx, tenantId: string, sealed: SealedPersonalData): Promise<unknown> {
  const key = await tx.maybeOneFirst(sql.type(z.object({ data_key: z.instanceof(Buffer) }))`
    SELECT data_key FROM personal_data_keys WHERE tenant_id = ${tenantId} AND user_id = ${sealed.subject}`);
  if (!key) return null;
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
  decipher.setAAD(Buffer.from(`${tenantId}:${sealed.subject}`));
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
  const plain = Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]);
  return JSON.parse(plain.toString('utf8')) as unknown;
}

/** Erases an identity's personal values from the audit trail (crypto-shredding). */
export async function erasePersonalData(tx: Tx, tenantId: string, userId: string): Promise<boolean> {
  const res = await tx.query(sql.unsafe`DELETE FROM personal_data_keys WHERE tenant_id = ${tenantId} AND user_id = ${userId}`);
  return res.rowCount > 0;
}
