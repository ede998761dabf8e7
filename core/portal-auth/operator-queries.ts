import { sql } from 'slonik';
import { z } from 'zod';
import type { CommonQueryMethods } from 'slonik';

type Db = CommonQueryMethods;

/** Operators are not tenant data: these run on the app pool without a tenant. */

export const OperatorRow = z.object({
  id: z.string().uuid(),
  email: z.string(),
  display_name: z.string().nullable(),
  password_hash: z.string().nullable(),
  status: z.enum(['invited', 'active', 'disabled']),
  created_at: z.string(),
  last_sign_in_at: z.string().nullable(),
});
export type OperatorRow = z.infer<typeof OperatorRow>;

export async function findOperatorByEmail(db: Db, email: string): Promise<OperatorRow | null> {
  return db.maybeOne(sql.type(OperatorRow)`SELECT * FROM operators WHERE lower(email) = lower(${email.trim()})`);
}

export async function findOperator(db: Db, id: string): Promise<OperatorRow | null> {
  return db.maybeOne(sql.type(OperatorRow)`SELECT * FROM operators WHERE id = ${id}`);
}

export async function insertOperator(db: Db, email: string): Promise<OperatorRow> {
  return db.one(sql.type(OperatorRow)`INSERT INTO operators (email) VALUES (${email.trim()}) RETURNING *`);
}

export async function insertOperatorSetupLink(db: Db, input: { operatorId: string; tokenHash: Buffer; createdBy: string | null; ttlSeconds: number }): Promise<string> {
  return db.oneFirst(sql.type(z.object({ expires_at: z.string() }))`
    INSERT INTO operator_setup_links (operator_id, token_hash, created_by, expires_at)
    VALUES (${input.operatorId}, ${sql.binary(input.tokenHash)}, ${input.createdBy}, now() + make_interval(secs => ${input.ttlSeconds}))
    RETURNING expires_at`);
}

export const OperatorLinkRow = z.object({ id: z.string().uuid(), operator_id: z.string().uuid(), expires_at: z.string(), used_at: z.string().nullable() });
export async function findOperatorSetupLink(db: Db, tokenHash: Buffer): Promise<z.infer<typeof OperatorLinkRow> | null> {
  return db.maybeOne(sql.type(OperatorLinkRow)`
    SELECT id, operator_id, expires_at, used_at FROM operator_setup_links WHERE token_hash = ${sql.binary(tokenHash)}`);
}

export const OperatorSessionLookup = z.object({ session_id: z.string().uuid(), operator_id: z.string().uuid(), email: z.string() });
export async function resolveOperatorSession(db: Db, tokenHash: Buffer, idleSeconds: number): Promise<z.infer<typeof OperatorSessionLookup> | null> {
  const touch = Math.max(0, Math.min(60, Math.floor(idleSeconds / 10)));
  const row = await db.maybeOne(sql.type(OperatorSessionLookup)`
    SELECT s.id AS session_id, s.operator_id, o.email
      FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
     WHERE s.token_hash = ${sql.binary(tokenHash)} AND s.revoked_at IS NULL AND s.expires_at > now()
       AND s.last_seen_at > now() - make_interval(secs => ${idleSeconds}) AND o.status = 'active'`);
  if (row) {
    await db.query(sql.unsafe`
      UPDATE operator_sessions SET last_seen_at = now()
       WHERE id = ${row.session_id} AND last_seen_at < now() - make_interval(secs => ${touch})`);
  }
  return row;
}

export async function appendOperatorAudit(db: Pick<Db, 'query'>, operatorId: string | null, action: string, data: Record<string, unknown> = {}): Promise<void> {
  await db.query(sql.unsafe`INSERT INTO operator_audit (operator_id, action, data) VALUES (${operatorId}, ${action}, ${JSON.stringify(data)}::jsonb)`);
}
