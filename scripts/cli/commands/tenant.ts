import type { Command } from 'commander';
import { createTenant, updateSettings } from '../../../core/tenants/service.js';
import { withTenant } from '../../../core/db/pool.js';
import { type CliDeps, intArg, print, serviceContext } from '../deps.js';

/** `roster tenant create|set-grace`. */
export function registerTenantCommands(program: Command, deps: CliDeps): void {
  const tenant = program.command('tenant').description('tenants');
  tenant
    .command('create <slug>')
    .description('create a tenant with a SCIM connection; prints its SCIM base URL and token (shown once)')
    .option('--name <name>', 'display name')
    .option('--json', 'machine-readable output')
    .action(async (slug: string, opts: { name?: string; json?: boolean }) => {
      const created = await createTenant(await deps.db(), deps.actor, { slug, ...(opts.name ? { name: opts.name } : {}) });
      const { tenant: t, connection } = created;
      print(!!opts.json, { tenantId: t.id, slug: t.slug, scimBaseUrl: deps.scimBaseUrl, scimToken: connection.token, connectionId: connection.connectionId }, () =>
        [`tenant ${t.slug} (${t.id})`, `SCIM base URL: ${deps.scimBaseUrl}`, `SCIM token (shown once): ${connection.token}`].join('\n'),
      );
    });
  tenant
    .command('set-grace <slug> <seconds>')
    .description('set the deletion grace period after a SCIM DELETE')
    .action(async (slug: string, seconds: string) => {
      const t = await deps.tenantBySlug(slug);
      const after = await withTenant(await deps.db(), t.id, (tx) => updateSettings(tx, serviceContext(deps, t.id), { deletionGraceSeconds: intArg(seconds) }));
      process.stdout.write(`grace period of ${slug}: ${after.deletionGraceSeconds} s\n`);
    });
}
