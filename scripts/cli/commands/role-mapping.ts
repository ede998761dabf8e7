import type { Command } from 'commander';
import type { AppRole } from '../../../core/config.js';
import { type Db, withTenant } from '../../../core/db/pool.js';
import type { Actor } from '../../../core/repositories/audit.js';
import { listRoleMappings, setDefaultRole, setGroupRoles } from '../../../core/repositories/entitlements.js';
import { findGroupIdByDisplayName } from '../../../core/repositories/groups.js';
import { DomainError } from '../../../core/errors.js';
import { listArg, print } from '../deps.js';

/** What these commands need from the CLI's composition root (scripts/cli.ts). */
export interface RoleMappingCliDeps {
  db(): Promise<Db>;
  tenantBySlug(slug: string): Promise<{ id: string; slug: string }>;
  catalogue: readonly AppRole[];
  actor: Actor;
}

/** `roster role-mapping set|list` and `roster default-role`. */
export function registerRoleMappingCommands(program: Command, deps: RoleMappingCliDeps): void {
  const mapping = program.command('role-mapping').description('IdP group → app role mappings');
  mapping
    .command('set')
    .description('set the roles a group grants (applied to every member through their workflows)')
    .requiredOption('--tenant <slug>')
    .requiredOption('--group <displayName>')
    .requiredOption('--roles <roles>', 'comma-separated; empty to remove the mapping', listArg)
    .option('--dry-run', 'show who would gain or lose which roles, change nothing')
    .option('--json')
    .action(async (opts: { tenant: string; group: string; roles: string[]; dryRun?: boolean; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const r = await withTenant(await deps.db(), t.id, async (tx) => {
        const groupId = await findGroupIdByDisplayName(tx, t.id, opts.group);
        if (!groupId) throw new DomainError(404, 'not_found', `no group "${opts.group}" in this tenant`);
        return setGroupRoles(tx, { tenantId: t.id, groupId, roles: opts.roles, catalogue: deps.catalogue, dryRunOnly: !!opts.dryRun, actor: deps.actor });
      });
      print(!!opts.json, r, () => `${r.applied ? 'applied' : 'dry run'}: ${r.affectedUsers} users affected\n${r.changes.map((c) => `  ${c.userId} +[${c.gains.join(',')}] -[${c.losses.join(',')}]`).join('\n')}`);
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
    .option('--json')
    .action(async (opts: { tenant: string; role: string; dryRun?: boolean; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const role = opts.role === 'none' ? null : opts.role;
      const r = await withTenant(await deps.db(), t.id, (tx) =>
        setDefaultRole(tx, { tenantId: t.id, role, catalogue: deps.catalogue, dryRunOnly: !!opts.dryRun, actor: deps.actor }),
      );
      print(!!opts.json, r, () => `${r.applied ? 'applied' : 'dry run'}: ${r.affectedUsers} users affected`);
    });
}
