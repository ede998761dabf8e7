import type { Command } from 'commander';
import type { AppRole } from '../../../core/config.js';
import type { Actor } from '../../../core/audit/schema.js';
import { type Db, withTenant } from '../../../core/db/pool.js';
import { DomainError } from '../../../core/errors.js';
import { listRoleMappings, searchGroups, setDefaultRole, setGroupRoles } from '../../../core/entitlements/service.js';
import type { RoleChangeResult } from '../../../core/entitlements/schema.js';

/** What these commands need from the CLI's composition root (scripts/cli.ts). */
export interface RoleMappingCliDeps {
  db(): Promise<Db>;
  tenantBySlug(slug: string): Promise<{ id: string; slug: string }>;
  catalogue: readonly AppRole[];
  actor: Actor;
}

const list = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);

function print(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
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

/** `roster role-mapping set|list` and `roster default-role`: the entitlements service, nothing else. */
export function registerRoleMappingCommands(program: Command, deps: RoleMappingCliDeps): void {
  const mapping = program.command('role-mapping').description('IdP group → app role mappings');
  mapping
    .command('set')
    .description('set the roles a group grants (applied to every member through their workflows)')
    .requiredOption('--tenant <slug>')
    .requiredOption('--group <displayName>')
    .requiredOption('--roles <roles>', 'comma-separated; empty to remove the mapping', list)
    .option('--dry-run', 'show who would gain or lose which roles, change nothing')
    .option('--fingerprint <fp>', "apply only if the effect is still the dry run's (its fingerprint)")
    .option('--json')
    .action(async (opts: { tenant: string; group: string; roles: string[]; dryRun?: boolean; fingerprint?: string; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const d = await deps.db();
      const groupId = await groupByName(d, t.id, opts.group);
      const r = await withTenant(d, t.id, (tx) =>
        setGroupRoles(tx, { tenantId: t.id, catalogue: deps.catalogue, actor: deps.actor }, { groupId, roles: opts.roles }, opts.dryRun ? { mode: 'preview' } : { mode: 'apply', fingerprint: opts.fingerprint }),
      );
      print(!!opts.json, r, () => describe(r));
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
    .option('--json')
    .action(async (opts: { tenant: string; role: string; dryRun?: boolean; fingerprint?: string; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const role = opts.role === 'none' ? null : opts.role;
      const r = await withTenant(await deps.db(), t.id, (tx) =>
        setDefaultRole(tx, { tenantId: t.id, catalogue: deps.catalogue, actor: deps.actor }, { role }, opts.dryRun ? { mode: 'preview' } : { mode: 'apply', fingerprint: opts.fingerprint }),
      );
      print(!!opts.json, r, () => describe(r));
    });
}
