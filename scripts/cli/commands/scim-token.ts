import type { Command } from 'commander';
import { createConnection, listConnections, revokeConnection, revokeToken, rotateToken, soleLiveConnection } from '../../../core/connections/service.js';
import { withTenant } from '../../../core/db/pool.js';
import { type CliDeps, intArg, print, serviceContext } from '../deps.js';

/** `roster scim-token create|rotate|revoke|list`: SCIM connections and their bearer tokens. */
export function registerScimTokenCommands(program: Command, deps: CliDeps): void {
  const token = program.command('scim-token').description('SCIM bearer tokens');
  token
    .command('create')
    .description('create a new SCIM connection with its token')
    .requiredOption('--tenant <slug>')
    .option('--name <name>', 'connection name', 'default')
    .option('--json')
    .action(async (opts: { tenant: string; name: string; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const conn = await withTenant(await deps.db(), t.id, (tx) => createConnection(tx, serviceContext(deps, t.id), { name: opts.name }));
      print(!!opts.json, { tenantId: t.id, connectionId: conn.connectionId, tokenId: conn.tokenId, scimBaseUrl: deps.scimBaseUrl, scimToken: conn.token }, () =>
        `connection ${conn.connectionId}\nSCIM token (shown once): ${conn.token}`,
      );
    });
  token
    .command('rotate')
    .description('issue a new token; older tokens keep working for the overlap')
    .requiredOption('--tenant <slug>')
    .option('--connection <id>', 'connection id (default: the only active one)')
    .option('--overlap <seconds>', 'how long older tokens keep working', intArg)
    .option('--json')
    .action(async (opts: { tenant: string; connection?: string; overlap?: number; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const result = await withTenant(await deps.db(), t.id, async (tx) =>
        rotateToken(tx, serviceContext(deps, t.id), {
          connectionId: opts.connection ?? (await soleLiveConnection(tx, t.id)),
          overlapSeconds: opts.overlap ?? deps.config.SCIM_TOKEN_ROTATION_OVERLAP_SECONDS,
        }),
      );
      print(!!opts.json, { tenantId: t.id, connectionId: result.connectionId, tokenId: result.tokenId, scimToken: result.token, previousValidUntil: result.previousValidUntil }, () =>
        `SCIM token (shown once): ${result.token}\nprevious tokens valid until ${result.previousValidUntil}`,
      );
    });
  token
    .command('revoke')
    .description('revoke a token, or a whole connection; effective on the next request')
    .requiredOption('--tenant <slug>')
    .option('--connection <id>')
    .option('--token <id>')
    .option('--json')
    .action(async (opts: { tenant: string; connection?: string; token?: string; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const ctx = serviceContext(deps, t.id);
      const revoked = await withTenant(await deps.db(), t.id, async (tx) => {
        if (opts.token) {
          await revokeToken(tx, ctx, { tokenId: opts.token, connectionId: opts.connection });
          return opts.token;
        }
        const connectionId = opts.connection ?? (await soleLiveConnection(tx, t.id));
        await revokeConnection(tx, ctx, { connectionId });
        return connectionId;
      });
      print(!!opts.json, { revoked }, () => 'revoked');
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
