import type { Tx } from '../db/pool.js';
import { appendAudit } from '../repositories/audit.js';
import * as q from '../repositories/app-keys.js';
import { auditEntry, type ServiceContext } from '../shared/service-context.js';

/** API keys of the vendor's application (app API, introspection): created shown-once, revoked, both audited. */

export async function createAppKey(tx: Tx, ctx: ServiceContext, input: { name: string }): Promise<{ keyId: string; appKey: string }> {
  const key = await q.createAppKey(tx, ctx.tenantId, input.name);
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'app_key.created', 'app_key', key.keyId, { name: input.name })]);
  return key;
}

export async function revokeAppKey(tx: Tx, ctx: ServiceContext, input: { keyId: string }): Promise<void> {
  await q.revokeAppKey(tx, ctx.tenantId, input.keyId);
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'app_key.revoked', 'app_key', input.keyId)]);
}
