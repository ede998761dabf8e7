import { sql } from 'slonik';
import { z } from 'zod';
import type { Tx } from '../db/pool.js';
import type { HeldLeaver, TenantSettings } from './schema.js';

// SQL for a tenant's settings and its held leavers; tenant always explicit. Rules and audit: service.ts.

const SettingsRow = z.object({
  deletion_grace_seconds: z.number(),
  guard_max_suspensions: z.number(),
  guard_max_share: z.number(),
  guard_window_seconds: z.number(),
});
type SettingsRow = z.infer<typeof SettingsRow>;

const settingsColumns = sql.fragment`deletion_grace_seconds, guard_max_suspensions, guard_max_share::float8 AS guard_max_share, guard_window_seconds`;

const toSettings = (row: SettingsRow): TenantSettings => ({
  deletionGraceSeconds: row.deletion_grace_seconds,
  guard: { maxSuspensions: row.guard_max_suspensions, maxShare: row.guard_max_share, windowSeconds: row.guard_window_seconds },
});

/** The tenant's settings; `forUpdate` locks the row so a read-modify-write sees no concurrent change. */
export async function findSettings(tx: Tx, tenantId: string, options: { forUpdate?: boolean } = {}): Promise<TenantSettings | null> {
  const row = await tx.maybeOne(sql.type(SettingsRow)`
    SELECT ${settingsColumns} FROM tenants WHERE id = ${tenantId} ${options.forUpdate ? sql.fragment`FOR NO KEY UPDATE` : sql.fragment``}`);
  return row ? toSettings(row) : null;
}

export async function writeSettings(tx: Tx, tenantId: string, settings: TenantSettings): Promise<TenantSettings> {
  const row = await tx.one(sql.type(SettingsRow)`
    UPDATE tenants
       SET deletion_grace_seconds = ${settings.deletionGraceSeconds},
           guard_max_suspensions = ${settings.guard.maxSuspensions},
           guard_max_share = ${settings.guard.maxShare},
           guard_window_seconds = ${settings.guard.windowSeconds}
     WHERE id = ${tenantId}
    RETURNING ${settingsColumns}`);
  return toSettings(row);
}

const HeldRow = z.object({ user_id: z.string().uuid(), user_name: z.string(), display_name: z.string().nullable(), held_at: z.string() });

/** Leavers the guard holds right now, longest-held first. */
export async function listOpenHolds(tx: Tx, tenantId: string, limit = 500): Promise<HeldLeaver[]> {
  const rows = await tx.any(sql.type(HeldRow)`
    SELECT h.user_id, u.user_name, u.display_name, min(h.held_at) AS held_at
      FROM deprovision_holds h JOIN users u ON u.tenant_id = h.tenant_id AND u.id = h.user_id
     WHERE h.tenant_id = ${tenantId} AND h.released_at IS NULL
     GROUP BY h.user_id, u.user_name, u.display_name
     ORDER BY min(h.held_at), h.user_id
     LIMIT ${limit}`);
  return rows.map((r) => ({ userId: r.user_id, userName: r.user_name, displayName: r.display_name, heldAt: r.held_at }));
}
