import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import type { Db, Tx } from '../db/pool.js';
import type { DueRef } from '../domains/queries.js';
import { OidcConfig, SamlConfig, SsoProtocol, type SsoConnectionView } from './schema.js';

// SQL for SSO connections; tenant always explicit. Rules and audit: service.ts.

const SsoRow = z.object({
  id: z.string().uuid(),
  tenant_id: z.string().uuid(),
  protocol: SsoProtocol,
  name: z.string(),
  config: z.record(z.unknown()),
  allowed_domains: z.array(z.string()),
  state: z.enum(['active', 'deleted']),
  cert_not_after: z.string().nullable(),
  cert_alerted_days: z.number().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type SsoRow = z.infer<typeof SsoRow>;
const columns = sql.fragment`id, tenant_id, protocol, name, config, allowed_domains, state, cert_not_after, cert_alerted_days, created_at, updated_at`;

export function toSsoView(row: SsoRow): SsoConnectionView {
  return {
    id: row.id,
    protocol: row.protocol,
    name: row.name,
    allowedDomains: row.allowed_domains,
    oidc: row.protocol === 'oidc' ? OidcConfig.parse(row.config) : null,
    saml: row.protocol === 'saml' ? SamlConfig.parse(row.config) : null,
    certificateExpiresAt: row.cert_not_after,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export interface SsoValues {
  protocol: SsoProtocol;
  name: string;
  config: OidcConfig | SamlConfig;
  allowedDomains: readonly string[];
  certNotAfter: string | null;
}

export async function insertSso(tx: Tx, tenantId: string, v: SsoValues): Promise<SsoRow> {
  return tx.one(sql.type(SsoRow)`
    INSERT INTO sso_connections (id, tenant_id, protocol, name, config, allowed_domains, cert_not_after)
    VALUES (${randomUUID()}, ${tenantId}, ${v.protocol}, ${v.name}, ${sql.jsonb(v.config)}, ${sql.array([...v.allowedDomains], 'text')}, ${v.certNotAfter})
    RETURNING ${columns}`);
}

export async function updateSso(tx: Tx, tenantId: string, id: string, v: SsoValues): Promise<SsoRow> {
  return tx.one(sql.type(SsoRow)`
    UPDATE sso_connections
       SET name = ${v.name}, config = ${sql.jsonb(v.config)}, allowed_domains = ${sql.array([...v.allowedDomains], 'text')},
           cert_alerted_days = CASE WHEN cert_not_after IS DISTINCT FROM ${v.certNotAfter}::timestamptz THEN NULL ELSE cert_alerted_days END,
           cert_not_after = ${v.certNotAfter}, updated_at = now()
     WHERE tenant_id = ${tenantId} AND id = ${id} AND state = 'active'
    RETURNING ${columns}`);
}

export async function markSsoDeleted(tx: Tx, tenantId: string, id: string): Promise<SsoRow | null> {
  return tx.maybeOne(sql.type(SsoRow)`
    UPDATE sso_connections SET state = 'deleted', deleted_at = now(), updated_at = now()
     WHERE tenant_id = ${tenantId} AND id = ${id} AND state = 'active' RETURNING ${columns}`);
}

export async function listSso(tx: Tx, tenantId: string): Promise<readonly SsoRow[]> {
  return tx.any(sql.type(SsoRow)`SELECT ${columns} FROM sso_connections WHERE tenant_id = ${tenantId} AND state = 'active' ORDER BY lower(name), id`);
}

export async function findSso(tx: Tx, tenantId: string, id: string, options: { lock?: boolean } = {}): Promise<SsoRow | null> {
  return tx.maybeOne(sql.type(SsoRow)`
    SELECT ${columns} FROM sso_connections WHERE tenant_id = ${tenantId} AND id = ${id} AND state = 'active'
    ${options.lock ? sql.fragment`FOR NO KEY UPDATE` : sql.fragment``}`);
}

export async function nameTaken(tx: Tx, tenantId: string, name: string, exceptId: string | null): Promise<boolean> {
  return tx.exists(sql.unsafe`
    SELECT 1 FROM sso_connections WHERE tenant_id = ${tenantId} AND state = 'active' AND lower(name) = lower(${name})
       AND (${exceptId}::uuid IS NULL OR id <> ${exceptId}::uuid)`);
}

export async function setCertAlerted(tx: Tx, tenantId: string, id: string, days: number): Promise<void> {
  await tx.query(sql.unsafe`UPDATE sso_connections SET cert_alerted_days = ${days} WHERE tenant_id = ${tenantId} AND id = ${id}`);
}

const DueRow = z.object({ tenant_id: z.string().uuid(), id: z.string().uuid() });

/** Fleet-wide (SECURITY DEFINER, ids only): active connections whose certificate expires within `days`. */
export async function certificatesExpiring(db: Db, days: number, after: DueRef | null, limit: number): Promise<DueRef[]> {
  const rows = await db.any(sql.type(DueRow)`
    SELECT tenant_id, id FROM sso_certificates_expiring(make_interval(days => ${days}), ${after?.tenantId ?? null}, ${after?.id ?? null}, ${limit})`);
  return rows.map((r) => ({ tenantId: r.tenant_id, id: r.id }));
}
