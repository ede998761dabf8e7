import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { publicUrl, type Config } from '../../../core/config.js';
import type { Db } from '../../../core/db/pool.js';
import { DomainError } from '../../../core/errors.js';
import type { Actor } from '../../../core/repositories/audit.js';
import { findTenantBySlug } from '../../../core/repositories/tenants.js';
import { createOperator } from '../../../core/portal-auth/operator-service.js';
import { Email, PortalRole } from '../../../core/portal-auth/schema.js';
import { issueSetupLink } from '../../../core/portal-auth/service.js';

export interface CliContext {
  config: Config;
  /** The owner pool (migrated on first use). */
  db: () => Promise<Db>;
}

function print(json: boolean, value: object, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human}\n`);
}

/**
 * `roster setup-link create` (a tenant's first admin, or anyone the operator lets in) and
 * `roster operator create` (console accounts). Both print a one-time URL whose token sits in the
 * fragment, so it never reaches a server log.
 */
export function registerPortalCommands(program: Command, ctx: CliContext): void {
  const operatorName = `cli:${userInfo().username}`;
  const actor: Actor = { type: 'operator', id: operatorName };

  program
    .command('setup-link')
    .description('one-time portal setup links')
    .command('create')
    .description('create a portal account (if new) and print its one-time setup link')
    .requiredOption('--tenant <slug>')
    .requiredOption('--email <email>')
    .option('--role <role...>', `portal roles (${PortalRole.options.join(', ')})`, ['admin'])
    .option('--json', 'machine-readable output')
    .action(async (opts: { tenant: string; email: string; role: string[]; json?: boolean }) => {
      const db = await ctx.db();
      const tenant = await findTenantBySlug(db, opts.tenant);
      if (!tenant) throw new DomainError(404, 'not_found', `no tenant "${opts.tenant}"`);
      const roles = opts.role.flatMap((r) => r.split(',')).map((r) => PortalRole.parse(r.trim()));
      const link = await issueSetupLink(db, {
        tenantId: tenant.id,
        email: Email.parse(opts.email),
        roles,
        createdBy: actor,
        publicUrl: publicUrl(ctx.config),
        ttlSeconds: ctx.config.SETUP_LINK_TTL_SECONDS,
      });
      print(!!opts.json, link, `setup link for ${opts.email} in ${tenant.slug} (shown once, until ${link.expiresAt}):\n${link.url}`);
    });

  program
    .command('operator')
    .description('operator console accounts')
    .command('create')
    .description('create an operator and print their one-time console setup link')
    .requiredOption('--email <email>')
    .option('--json', 'machine-readable output')
    .action(async (opts: { email: string; json?: boolean }) => {
      const { url, expiresAt } = await createOperator(await ctx.db(), {
        email: Email.parse(opts.email),
        createdBy: operatorName,
        publicUrl: publicUrl(ctx.config),
        ttlSeconds: ctx.config.SETUP_LINK_TTL_SECONDS,
      });
      print(!!opts.json, { url, expiresAt }, `console setup link for ${opts.email} (shown once, until ${expiresAt}):\n${url}`);
    });
}
