import type { Command } from 'commander';
import { type Db, withTenant } from '../../../core/db/pool.js';
import { DomainError } from '../../../core/errors.js';
import { listRoleMappings, searchGroups, setDefaultRole, setGroupRoles } from '../../../core/entitlements/service.js';
import type { RoleChangeResult } from '../../../core/entitlements/schema.js';
import type { SubmitResult } from '../../../core/approvals/service.js';
import { printWaiting, requestChange } from '../approvals.js';
import { type CliDeps, print } from '../deps.js';

const list = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);

/**
 * A `--fingerprint` binds the change to the dry run the operator saw: refused before any request
 * exists when the effect has moved since (the service's own 409 wording).
 */
function checkFingerprint(preview: RoleChangeResult, fingerprint: string | undefined): void {
  if (fingerprint !== undefined && fingerprint !== preview.fingerprint) {
    throw new DomainError(409, 'preview_stale', 'who gains or loses which role has changed since the preview (group members or mappings changed); preview again, then save');
  }
}

/** The applied change as the dry run showed it (names included), or the engine's result when the effect moved meanwhile. */
function appliedView(preview: RoleChangeResult, r: SubmitResult): RoleChangeResult {
  const result = r.applied!.result as RoleChangeResult; // core/entitlements/change-kinds.ts `result`: changes without names
  return result.fingerprint === preview.fingerprint ? { ...preview, applied: true } : result;
}

const describe = (r: RoleChangeResult) =>
  [
    `${r.applied ? 'applied' : 'dry run'}: ${r.affectedUsers} users affected`,
    ...r.changes.map((c) => `  ${c.userName ?? c.userId} +[${c.gains.join(',')}] -[${c.losses.join(',')}]`),
  ].join('\n');

/** The group with exactly this display name (case-insensitive, as SCIM compares it). */
async function groupByName(d: Db, tenantId: string, displayName: string): Promise<string> {
  const page = await withTenant(d, tenantId, (tx) => searchGroups(tx, tenantId, { search: displayName, limit: 20 }));
  const found = page.data.find((g) => g.displayName.toLowerCase() === displayName.toLowerCase());
  if (!found) throw new DomainError(404, 'not_found', `no group "${displayName}" in this tenant`);
  return found.groupId;
}

/**
 * `roster role-mapping set|list` and `roster default-role`. A dry run is the entitlements service's
 * preview; applying is a change request (scripts/cli/approvals.ts) whose description is that preview.
 */
export function registerRoleMappingCommands(program: Command, deps: CliDeps): void {
  const ctx = (tenantId: string) => ({ tenantId, catalogue: deps.config.APP_ROLES, actor: deps.actor });
  const mapping = program.command('role-mapping').description('IdP group → app role mappings');
  mapping
    .command('set')
    .description('set the roles a group grants (applied to every member through their workflows)')
    .requiredOption('--tenant <slug>')
    .requiredOption('--group <displayName>')
    .requiredOption('--roles <roles>', 'comma-separated; empty to remove the mapping', list)
    .option('--dry-run', 'show who would gain or lose which roles, change nothing')
    .option('--fingerprint <fp>', "apply only if the effect is still the dry run's (its fingerprint)")
    .option('--approve-as-operator', 'apply at once (only for a tenant without portal users; audited)')
    .option('--json')
    .action(async (opts: { tenant: string; group: string; roles: string[]; dryRun?: boolean; fingerprint?: string; approveAsOperator?: boolean; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const d = await deps.db();
      const groupId = await groupByName(d, t.id, opts.group);
      const preview = await withTenant(d, t.id, (tx) => setGroupRoles(tx, ctx(t.id), { groupId, roles: opts.roles }, { mode: 'preview' }));
      if (opts.dryRun) return print(!!opts.json, preview, () => describe(preview));
      checkFingerprint(preview, opts.fingerprint);
      const r = await requestChange(deps, t.id, 'role_mapping.set', { groupId, roles: opts.roles }, opts);
      if (!r.applied) return printWaiting(!!opts.json, r, t.slug);
      const view = appliedView(preview, r);
      print(!!opts.json, view, () => describe(view));
    });
  mapping
    .command('list')
    .requiredOption('--tenant <slug>')
    .option('--json')
    .action(async (opts: { tenant: string; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const rows = await withTenant(await deps.db(), t.id, (tx) => listRoleMappings(tx, t.id));
      print(!!opts.json, [...rows], () => rows.map((r) => `${r.display_name}: ${r.roles.join(', ')}`).join('\n'));
    });

  program
    .command('default-role')
    .description("set (or clear with 'none') the role every user of the tenant gets")
    .requiredOption('--tenant <slug>')
    .requiredOption('--role <role>')
    .option('--dry-run')
    .option('--fingerprint <fp>', "apply only if the effect is still the dry run's (its fingerprint)")
    .option('--approve-as-operator', 'apply at once (only for a tenant without portal users; audited)')
    .option('--json')
    .action(async (opts: { tenant: string; role: string; dryRun?: boolean; fingerprint?: string; approveAsOperator?: boolean; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const role = opts.role === 'none' ? null : opts.role;
      const preview = await withTenant(await deps.db(), t.id, (tx) => setDefaultRole(tx, ctx(t.id), { role }, { mode: 'preview' }));
      if (opts.dryRun) return print(!!opts.json, preview, () => describe(preview));
      checkFingerprint(preview, opts.fingerprint);
      const r = await requestChange(deps, t.id, 'default_role.set', { role }, opts);
      if (!r.applied) return printWaiting(!!opts.json, r, t.slug);
      const view = appliedView(preview, r);
      print(!!opts.json, view, () => describe(view));
    });
}
