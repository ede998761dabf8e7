import type { Command } from 'commander';
import { createAppKey, revokeAppKey } from '../../../core/app-keys/service.js';
import { withTenant } from '../../../core/db/pool.js';
import { type CliDeps, print, serviceContext } from '../deps.js';

/** `roster app-key create|revoke`: API keys of the vendor's application. */
export function registerAppKeyCommands(program: Command, deps: CliDeps): void {
  const appKey = program.command('app-key').description("API keys for the vendor's application (app API, introspection)");
  appKey
    .command('create')
    .requiredOption('--tenant <slug>')
    .option('--name <name>', 'key name', 'default')
    .option('--json')
    .action(async (opts: { tenant: string; name: string; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const key = await withTenant(await deps.db(), t.id, (tx) => createAppKey(tx, serviceContext(deps, t.id), { name: opts.name }));
      print(!!opts.json, { tenantId: t.id, keyId: key.keyId, appKey: key.appKey }, () => `app key ${key.keyId}\napp key (shown once): ${key.appKey}`);
    });
  appKey
    .command('revoke')
    .requiredOption('--tenant <slug>')
    .requiredOption('--key <id>')
    .action(async (opts: { tenant: string; key: string }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      await withTenant(await deps.db(), t.id, (tx) => revokeAppKey(tx, serviceContext(deps, t.id), { keyId: opts.key }));
      process.stdout.write('revoked\n');
    });
}
