import { createConnection } from '../connections/service.js';
import type { CreatedConnection } from '../connections/schema.js';
import { type Db, type Tx, withTenant } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { type Actor, appendAudit } from '../repositories/audit.js';
import { findUserIdByUserName } from '../repositories/credentials.js';
import { releaseHolds } from '../repositories/lifecycle.js';
import { createTenant as insertTenant, type TenantRow } from '../repositories/tenants.js';
import { auditEntry, type ServiceContext } from '../shared/service-context.js';
import * as q from './queries.js';
import { type HeldLeaver, TenantSettings, UpdateTenantSettingsBody } from './schema.js';

/**
 * A tenant's own settings (deletion grace period, mass-deprovisioning guard) and its held leavers:
 * the one place their rules and audit rows live, for the app API, the portal API and the CLI.
 * Releasing a hold is a database row; telling the held workflows at once is the caller's job
 * (activities/lifecycle-signals.ts `signalReleased`, after commit), since core has no Temporal client.
 */

export async function getSettings(tx: Tx, tenantId: string): Promise<TenantSettings> {
  const settings = await q.findSettings(tx, tenantId);
  if (!settings) throw new DomainError(404, 'not_found', 'no such tenant');
  return settings;
}

/**
 * Changes some settings; the rest stay. The audit row keeps before and after of what changed (a
 * change to nothing writes nothing). A new grace period applies to deletions scheduled after it.
 */
export async function updateSettings(tx: Tx, ctx: ServiceContext, change: UpdateTenantSettingsBody): Promise<TenantSettings> {
  const patch = UpdateTenantSettingsBody.parse(change);
  const before = await q.findSettings(tx, ctx.tenantId, { forUpdate: true });
  if (!before) throw new DomainError(404, 'not_found', 'no such tenant');
  const next = TenantSettings.parse({
    deletionGraceSeconds: patch.deletionGraceSeconds ?? before.deletionGraceSeconds,
    guard: { ...before.guard, ...definedOnly(patch.guard ?? {}) },
  });
  const changed = diff(before, next);
  if (Object.keys(changed.before).length === 0) return before;
  const after = await q.writeSettings(tx, ctx.tenantId, next);
  await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'tenant.settings_updated', 'tenant', ctx.tenantId, changed)]);
  return after;
}

export async function listHeldLeavers(tx: Tx, tenantId: string): Promise<HeldLeaver[]> {
  return q.listOpenHolds(tx, tenantId);
}

/**
 * Lets held leavers proceed (every one of the tenant, or one); returns the released identities, each
 * audited. Signal their workflows after commit: until then they notice within their periodic re-check.
 */
export async function releaseHeldLeavers(
  tx: Tx,
  ctx: ServiceContext,
  input: { userId?: string | undefined; userName?: string | undefined } = {},
): Promise<string[]> {
  let userId = input.userId;
  if (input.userName !== undefined) {
    userId = (await findUserIdByUserName(tx, ctx.tenantId, input.userName)) ?? undefined;
    if (!userId) throw new DomainError(404, 'not_found', `no user "${input.userName}" in this tenant`);
  }
  const by = ctx.actor.id ?? ctx.actor.type;
  const released = await releaseHolds(tx, ctx.tenantId, { ...(userId ? { userId } : {}), by, actor: ctx.actor, requestId: ctx.requestId });
  if (userId && released.length === 0) throw new DomainError(404, 'not_found', 'that identity is not held');
  return released;
}

/**
 * A new tenant with its first SCIM connection (the token shown once). Tenants exist outside any
 * tenant's scope, so this takes the owner pool; the audit rows land in the new tenant's log.
 */
export async function createTenant(
  owner: Db,
  actor: Actor,
  input: { slug: string; name?: string | undefined },
): Promise<{ tenant: TenantRow; connection: CreatedConnection }> {
  const tenant = await insertTenant(owner, { slug: input.slug, ...(input.name ? { name: input.name } : {}) });
  const connection = await withTenant(owner, tenant.id, async (tx) => {
    const ctx = { tenantId: tenant.id, actor };
    await appendAudit(tx, tenant.id, [auditEntry(ctx, 'tenant.created', 'tenant', tenant.id, { slug: tenant.slug, name: tenant.name })]);
    return createConnection(tx, ctx, { name: 'default' });
  });
  return { tenant, connection };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The settings that differ, flattened (`guard.maxShare`), before and after. */
function diff(before: TenantSettings, after: TenantSettings): { before: Record<string, unknown>; after: Record<string, unknown> } {
  const flat = (s: TenantSettings): Record<string, unknown> => ({
    deletionGraceSeconds: s.deletionGraceSeconds,
    ...Object.fromEntries(Object.entries(s.guard).map(([k, v]) => [`guard.${k}`, v])),
  });
  const [b, a] = [flat(before), flat(after)];
  const keys = Object.keys(a).filter((k) => a[k] !== b[k]);
  return { before: Object.fromEntries(keys.map((k) => [k, b[k]])), after: Object.fromEntries(keys.map((k) => [k, a[k]])) };
}
