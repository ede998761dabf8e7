import type { Command } from 'commander';
import { issuePersonalTokenForUserName } from '../../../core/credentials/service.js';
import { withTenant } from '../../../core/db/pool.js';
import { type CliDeps, listArg, print, serviceContext } from '../deps.js';

/** `roster token issue`: personal API tokens for scripts. */
export function registerTokenCommands(program: Command, deps: CliDeps): void {
  const credentialToken = program.command('token').description('personal API tokens for scripts (introspected at /oauth2/introspect)');
  credentialToken
    .command('issue')
    .description('issue a personal API token for a live user (shown once)')
    .requiredOption('--tenant <slug>')
    .requiredOption('--user <userName>')
    .option('--name <name>', 'token name', 'cli')
    .option('--scopes <scopes>', 'comma-separated scopes', '')
    .option('--json')
    .action(async (opts: { tenant: string; user: string; name: string; scopes: string; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const issued = await withTenant(await deps.db(), t.id, (tx) =>
        issuePersonalTokenForUserName(tx, serviceContext(deps, t.id), { userName: opts.user, name: opts.name, scopes: listArg(opts.scopes) }),
      );
      print(!!opts.json, { token: issued.token, credentialId: issued.credential.id, userId: issued.credential.userId }, () =>
        `token ${issued.credential.id} for user ${issued.credential.userId}\ntoken (shown once): ${issued.token}`,
      );
    });
}
