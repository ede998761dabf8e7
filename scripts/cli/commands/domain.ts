import type { Command } from 'commander';
import { withTenant } from '../../../core/db/pool.js';
import { listDomains } from '../../../core/domains/service.js';
import { listSsoConnections } from '../../../core/sso/service.js';
import { type CliDeps, print } from '../deps.js';

/**
 * `roster domain list` and `roster sso list`: a tenant's domains (with the TXT record to publish)
 * and SSO connections, read-only. Claims and connection changes are change requests (portal).
 */
export function registerDomainCommands(program: Command, deps: CliDeps): void {
  program
    .command('domain')
    .description("a tenant's claimed domains and their verification")
    .command('list')
    .requiredOption('--tenant <slug>')
    .option('--json')
    .action(async (opts: { tenant: string; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const rows = await withTenant(await deps.db(), t.id, (tx) => listDomains(tx, t.id));
      print(!!opts.json, rows, () =>
        rows.map((d) => `${d.id} ${d.name} ${d.state}${d.state === 'pending' ? ` (publish ${d.challenge.name} TXT "${d.challenge.value}" by ${d.expiresAt})` : ''}`).join('\n') || 'no domains',
      );
    });
  program
    .command('sso')
    .description("a tenant's SSO connections")
    .command('list')
    .requiredOption('--tenant <slug>')
    .option('--json')
    .action(async (opts: { tenant: string; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const rows = await withTenant(await deps.db(), t.id, (tx) => listSsoConnections(tx, t.id));
      print(!!opts.json, rows, () =>
        rows
          .map((c) => `${c.id} ${c.protocol} "${c.name}" ${c.oidc?.issuer ?? c.saml?.entityId ?? ''}${c.certificateExpiresAt ? ` certificate until ${c.certificateExpiresAt}` : ''}`)
          .join('\n') || 'no SSO connections',
      );
    });
}
