import type { Command } from 'commander';
import { listConnections, revokeToken, soleLiveConnection } from '../../../core/connections/service.js';
import { printWaiting, requestChange } from '../approvals.js';
import { withTenant } from '../../../core/db/pool.js';
import { type CliDeps, intArg, print, serviceContext } from '../deps.js';

/**
 * `roster scim-token create|rotate|revoke|list`: SCIM connections and their bearer tokens. Creating,
 * rotating and revoking a connection are change requests (scripts/cli/approvals.ts).
 */
export function registerScimTokenCommands(program: Command, deps: CliDeps): void {
  const token = program.command('scim-token').description('SCIM bearer tokens');
  token
    .command('create')
    .description('create a new SCIM connection with its token')
    .requiredOption('--tenant <slug>')
    .option('--name <name>', 'connection name', 'default')
    .option('--approve-as-operator', 'apply at once (only for a tenant without portal users; audited)')
    .option('--json')
    .action(async (opts: { tenant: string; name: string; approveAsOperator?: boolean; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const r = await requestChange(deps, t.id, 'scim_connection.create', { name: opts.name }, opts);
      if (!r.applied) return printWaiting(!!opts.json, r, t.slug);
      const { connectionId, tokenId } = r.applied.result as { connectionId: string; tokenId: string };
      print(!!opts.json, { tenantId: t.id, connectionId, tokenId, scimBaseUrl: deps.scimBaseUrl, scimToken: r.applied.secret }, () =>
        `connection ${connectionId}\nSCIM token (shown once): ${r.applied!.secret}`,
      );
    });
  token
    .command('rotate')
    .description('issue a new token; older tokens keep working for the overlap')
    .requiredOption('--tenant <slug>')
    .option('--connection <id>', 'connection id (default: the only active one)')
    .option('--overlap <seconds>', 'how long older tokens keep working', intArg)
    .option('--approve-as-operator', 'apply at once (only for a tenant without portal users; audited)')
    .option('--json')
    .action(async (opts: { tenant: string; connection?: string; overlap?: number; approveAsOperator?: boolean; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const connectionId = opts.connection ?? (await withTenant(await deps.db(), t.id, (tx) => soleLiveConnection(tx, t.id)));
      const r = await requestChange(deps, t.id, 'scim_connection.rotate', { connectionId, overlapSeconds: opts.overlap ?? deps.config.SCIM_TOKEN_ROTATION_OVERLAP_SECONDS }, opts);
      if (!r.applied) return printWaiting(!!opts.json, r, t.slug);
      const result = r.applied.result as { tokenId: string; previousValidUntil: string };
      print(!!opts.json, { tenantId: t.id, connectionId, tokenId: result.tokenId, scimToken: r.applied.secret, previousValidUntil: result.previousValidUntil }, () =>
        `SCIM token (shown once): ${r.applied!.secret}\nprevious tokens valid until ${result.previousValidUntil}`,
      );
    });
  token
    .command('revoke')
    .description('revoke a token, or a whole connection; effective on the next request')
    .requiredOption('--tenant <slug>')
    .option('--connection <id>')
    .option('--token <id>')
    .option('--approve-as-operator', 'revoking a connection: apply at once (only for a tenant without portal users; audited)')
    .option('--json')
    .action(async (opts: { tenant: string; connection?: string; token?: string; approveAsOperator?: boolean; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const ctx = serviceContext(deps, t.id);
      if (opts.token) {
        // Revoking one token only takes access away (a leaked token): it never waits for approval.
        await withTenant(await deps.db(), t.id, (tx) => revokeToken(tx, ctx, { tokenId: opts.token!, connectionId: opts.connection }));
        return print(!!opts.json, { revoked: opts.token }, () => 'revoked');
      }
      const connectionId = opts.connection ?? (await withTenant(await deps.db(), t.id, (tx) => soleLiveConnection(tx, t.id)));
      const r = await requestChange(deps, t.id, 'scim_connection.revoke', { connectionId }, opts);
      if (!r.applied) return printWaiting(!!opts.json, r, t.slug);
      print(!!opts.json, { revoked: connectionId }, () => 'revoked');
    });
  token
    .command('list')
    .requiredOption('--tenant <slug>')
    .option('--json')
    .action(async (opts: { tenant: string; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const connections = await withTenant(await deps.db(), t.id, (tx) => listConnections(tx, t.id));
      // The CLI's JSON keeps the column names it has always printed (scripts depend on them).
      const rows = connections.map((c) => ({
        id: c.id,
        tenant_id: t.id,
        name: c.name,
        created_at: c.createdAt,
        revoked_at: c.revokedAt,
        tokens: c.tokens.map((k) => ({ id: k.id, connection_id: c.id, token_prefix: k.prefix, created_at: k.createdAt, last_used_at: k.lastUsedAt, expires_at: k.expiresAt, revoked_at: k.revokedAt })),
      }));
      print(!!opts.json, rows, () =>
        connections
          .map((c) => `${c.id} ${c.name}${c.revokedAt ? ' (revoked)' : ''}\n${c.tokens.map((k) => `  ${k.id} ${k.prefix} last used ${k.lastUsedAt ?? 'never'} ${k.status}${k.expiresAt && !k.revokedAt ? ` until ${k.expiresAt}` : ''}`).join('\n')}`)
          .join('\n'),
      );
    });
}
