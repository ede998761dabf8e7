import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { Client, Connection } from '@temporalio/client';
import { Command, InvalidArgumentError } from 'commander';
import { sql } from 'slonik';
import { z } from 'zod';
import { signalReleased } from '../api/hold-release.js';
import type { Actor } from '../core/repositories/audit.js';
import { releaseHolds } from '../core/repositories/lifecycle.js';
import { foldKey } from '../core/scim/fold.js';
import { loadConfig, publicUrl } from '../core/config.js';
import { migrate } from '../core/db/migrate.js';
import { createDatabasePool, type Db, withTenant } from '../core/db/pool.js';
import { DomainError } from '../core/errors.js';
import { createAppKey, revokeAppKey } from '../core/repositories/app-keys.js';
import { appendAudit, sealAuditChains, verifyAuditChain } from '../core/repositories/audit.js';
import { findUserIdByUserName, issuePersonalToken } from '../core/repositories/credentials.js';
import { CreatePersonalTokenBody } from '../api/app-api-schemas.js';
import {
  createScimConnection,
  listScimConnections,
  listScimTokens,
  revokeScimConnection,
  revokeScimToken,
  rotateScimToken,
} from '../core/repositories/scim-tokens.js';
import { createTenant, findTenantBySlug, setDeletionGrace, type TenantRow } from '../core/repositories/tenants.js';
import { EventType } from '../core/repositories/events.js';
import {
  createWebhookEndpoint,
  DEFAULT_ROTATION_OVERLAP_SECONDS,
  disableWebhookEndpoint,
  listWebhookEndpoints,
  parseWebhookUrl,
  rotateWebhookSecret,
} from '../core/repositories/webhooks.js';
import { loadSecretsKey } from '../core/secret-box.js';
import { registerPortalCommands } from './cli/commands/portal.js';
import { registerRoleMappingCommands } from './cli/commands/role-mapping.js';

/**
 * Operator CLI. It connects with the owner credentials (DATABASE_URL), like migrations: operators
 * act across tenants, tenant admins never get this tool. Secrets are printed once, never stored.
 */
const config = loadConfig(withRuntimeDefaults(process.env));
const scimBaseUrl = `${publicUrl(config)}/scim/v2`;

/** Without DATABASE_URL, use what `npm start` recorded (it may be running an embedded server). */
function withRuntimeDefaults(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const file = join(env.DATA_DIR ?? '.data', 'runtime.json');
  if (env.DATABASE_URL || !existsSync(file)) return env;
  const recorded = JSON.parse(readFileSync(file, 'utf8')) as { DATABASE_URL?: string; PORT?: number; TEMPORAL_ADDRESS?: string };
  return {
    ...env,
    DATABASE_URL: recorded.DATABASE_URL,
    PORT: env.PORT ?? (recorded.PORT ? String(recorded.PORT) : undefined),
    TEMPORAL_ADDRESS: env.TEMPORAL_ADDRESS ?? recorded.TEMPORAL_ADDRESS,
  };
}

const operator: Actor = { type: 'operator', id: `cli:${userInfo().username}` };

async function userByName(tenantId: string, userName: string): Promise<string> {
  const id = await (await db()).maybeOneFirst(sql.type(z.object({ id: z.string() }))`
    SELECT id::text FROM users WHERE tenant_id = ${tenantId} AND user_name_key = ${foldKey(userName)} AND scim_deleted_at IS NULL`);
  if (!id) throw new DomainError(404, 'not_found', `no user "${userName}" in this tenant`);
  return id;
}


let pool: Db | undefined;
async function db(): Promise<Db> {
  if (!pool) {
    await migrate({ databaseUrl: config.DATABASE_URL, appPassword: config.APP_DATABASE_PASSWORD });
    pool = await createDatabasePool(config.DATABASE_URL, { maximumPoolSize: 2 });
  }
  return pool;
}

async function tenantBySlug(slug: string): Promise<TenantRow> {
  const tenant = await findTenantBySlug(await db(), slug);
  if (!tenant) throw new DomainError(404, 'not_found', `no tenant "${slug}"`);
  return tenant;
}

function print(json: boolean, value: object, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

const intArg = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
};

const program = new Command('roster').description('Roster operator tool').showHelpAfterError();

const tenant = program.command('tenant').description('tenants');
tenant
  .command('create <slug>')
  .description('create a tenant with a SCIM connection; prints its SCIM base URL and token (shown once)')
  .option('--name <name>', 'display name')
  .option('--json', 'machine-readable output')
  .action(async (slug: string, opts: { name?: string; json?: boolean }) => {
    const d = await db();
    const t = await createTenant(d, { slug, ...(opts.name ? { name: opts.name } : {}) });
    const conn = await withTenant(d, t.id, (tx) => createScimConnection(tx, t.id));
    print(!!opts.json, { tenantId: t.id, slug: t.slug, scimBaseUrl, scimToken: conn.token, connectionId: conn.connectionId }, () =>
      [`tenant ${t.slug} (${t.id})`, `SCIM base URL: ${scimBaseUrl}`, `SCIM token (shown once): ${conn.token}`].join('\n'),
    );
  });
tenant
  .command('set-grace <slug> <seconds>')
  .description('set the deletion grace period after a SCIM DELETE')
  .action(async (slug: string, seconds: string) => {
    const t = await tenantBySlug(slug);
    await setDeletionGrace(await db(), t.id, intArg(seconds));
    process.stdout.write(`grace period of ${slug}: ${seconds} s\n`);
  });

const token = program.command('scim-token').description('SCIM bearer tokens');
token
  .command('create')
  .description('create a new SCIM connection with its token')
  .requiredOption('--tenant <slug>')
  .option('--name <name>', 'connection name', 'default')
  .option('--json')
  .action(async (opts: { tenant: string; name: string; json?: boolean }) => {
    const t = await tenantBySlug(opts.tenant);
    const conn = await withTenant(await db(), t.id, (tx) => createScimConnection(tx, t.id, opts.name));
    print(!!opts.json, { tenantId: t.id, connectionId: conn.connectionId, tokenId: conn.tokenId, scimBaseUrl, scimToken: conn.token }, () =>
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
    const t = await tenantBySlug(opts.tenant);
    const result = await withTenant(await db(), t.id, async (tx) => {
      const connectionId = opts.connection ?? (await soleConnection(tx, t.id));
      return { connectionId, ...(await rotateScimToken(tx, t.id, connectionId, opts.overlap ?? config.SCIM_TOKEN_ROTATION_OVERLAP_SECONDS)) };
    });
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
    const t = await tenantBySlug(opts.tenant);
    await withTenant(await db(), t.id, async (tx) => {
      if (opts.token) await revokeScimToken(tx, t.id, opts.token);
      else await revokeScimConnection(tx, t.id, opts.connection ?? (await soleConnection(tx, t.id)));
    });
    print(!!opts.json, { revoked: opts.token ?? opts.connection ?? 'connection' }, () => 'revoked');
  });
token
  .command('list')
  .requiredOption('--tenant <slug>')
  .option('--json')
  .action(async (opts: { tenant: string; json?: boolean }) => {
    const t = await tenantBySlug(opts.tenant);
    const rows = await withTenant(await db(), t.id, async (tx) => {
      const out = [];
      for (const c of await listScimConnections(tx, t.id)) out.push({ ...c, tokens: await listScimTokens(tx, t.id, c.id) });
      return out;
    });
    print(!!opts.json, rows, () =>
      rows.map((c) => `${c.id} ${c.name}${c.revoked_at ? ' (revoked)' : ''}\n${c.tokens.map((k) => `  ${k.id} ${k.token_prefix} last used ${k.last_used_at ?? 'never'}${k.revoked_at ? ' revoked' : k.expires_at ? ` expires ${k.expires_at}` : ''}`).join('\n')}`).join('\n'),
    );
  });

async function soleConnection(tx: Parameters<Parameters<typeof withTenant>[2]>[0], tenantId: string): Promise<string> {
  const live = (await listScimConnections(tx, tenantId)).filter((c) => !c.revoked_at);
  if (live.length !== 1) throw new DomainError(400, 'ambiguous', `tenant has ${live.length} active SCIM connections; pass --connection`);
  return live[0]!.id;
}

const appKey = program.command('app-key').description("API keys for the vendor's application (app API, introspection)");
appKey
  .command('create')
  .requiredOption('--tenant <slug>')
  .option('--name <name>', 'key name', 'default')
  .option('--json')
  .action(async (opts: { tenant: string; name: string; json?: boolean }) => {
    const t = await tenantBySlug(opts.tenant);
    const key = await withTenant(await db(), t.id, (tx) => createAppKey(tx, t.id, opts.name));
    print(!!opts.json, { tenantId: t.id, keyId: key.keyId, appKey: key.appKey }, () => `app key ${key.keyId}
app key (shown once): ${key.appKey}`);
  });
appKey
  .command('revoke')
  .requiredOption('--tenant <slug>')
  .requiredOption('--key <id>')
  .action(async (opts: { tenant: string; key: string }) => {
    const t = await tenantBySlug(opts.tenant);
    await withTenant(await db(), t.id, (tx) => revokeAppKey(tx, t.id, opts.key));
    process.stdout.write('revoked\n');
  });

const credentialToken = program.command('token').description('personal API tokens for scripts (introspected at /oauth2/introspect)');
credentialToken
  .command('issue')
  .description("issue a personal API token for a live user (shown once)")
  .requiredOption('--tenant <slug>')
  .requiredOption('--user <userName>')
  .option('--name <name>', 'token name', 'cli')
  .option('--scopes <scopes>', 'comma-separated scopes', '')
  .option('--json')
  .action(async (opts: { tenant: string; user: string; name: string; scopes: string; json?: boolean }) => {
    const t = await tenantBySlug(opts.tenant);
    const body = CreatePersonalTokenBody.parse({ name: opts.name, scopes: opts.scopes.split(',').map((s) => s.trim()).filter(Boolean) });
    const issued = await withTenant(await db(), t.id, async (tx) => {
      const userId = await findUserIdByUserName(tx, t.id, opts.user);
      if (!userId) throw new DomainError(404, 'not_found', `no live user "${opts.user}" in tenant ${opts.tenant}`);
      return issuePersonalToken(tx, t.id, { userId, ...body }, { type: 'operator', id: 'cli' });
    });
    print(!!opts.json, { token: issued.token, credentialId: issued.credential.id, userId: issued.credential.userId }, () =>
      `token ${issued.credential.id} for user ${issued.credential.userId}\ntoken (shown once): ${issued.token}`,
    );
  });

registerRoleMappingCommands(program, { db, tenantBySlug, catalogue: config.APP_ROLES, actor: operator });

const guard = program.command('guard').description('the mass-deprovisioning guard');
guard
  .command('release')
  .description('let held leavers proceed (all of the tenant, or one user)')
  .requiredOption('--tenant <slug>')
  .option('--user <userName>')
  .option('--json')
  .action(async (opts: { tenant: string; user?: string; json?: boolean }) => {
    const t = await tenantBySlug(opts.tenant);
    const userId = opts.user ? await userByName(t.id, opts.user) : undefined;
    const released = await withTenant(await db(), t.id, (tx) => releaseHolds(tx, t.id, { ...(userId ? { userId } : {}), by: operator.id! }));
    // The database row is the release; the signal spares the workflows their periodic re-check.
    if (released.length && config.TEMPORAL_ADDRESS) {
      const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS }).catch(() => undefined);
      if (connection) {
        await signalReleased(new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }), t.id, released, operator.id!);
        await connection.close();
      }
    }
    print(!!opts.json, { released }, () => `released ${released.length} held leaver(s)`);
  });
guard
  .command('set')
  .description("the tenant's guard thresholds")
  .requiredOption('--tenant <slug>')
  .option('--max-suspensions <n>', 'leavers allowed per window', intArg)
  .option('--max-share <fraction>', 'share of identities allowed per window (0-1)', Number)
  .option('--window <seconds>', 'window length', intArg)
  .action(async (opts: { tenant: string; maxSuspensions?: number; maxShare?: number; window?: number }) => {
    const t = await tenantBySlug(opts.tenant);
    await (await db()).query(sql.unsafe`
      UPDATE tenants SET guard_max_suspensions = coalesce(${opts.maxSuspensions ?? null}::int, guard_max_suspensions),
             guard_max_share = coalesce(${opts.maxShare ?? null}::numeric, guard_max_share),
             guard_window_seconds = coalesce(${opts.window ?? null}::int, guard_window_seconds)
       WHERE id = ${t.id}`);
    process.stdout.write('guard updated\n');
  });

program
  .command('audit-verify')
  .description("seal pending audit events and verify a tenant's hash chain")
  .requiredOption('--tenant <slug>')
  .option('--json')
  .action(async (opts: { tenant: string; json?: boolean }) => {
    const t = await tenantBySlug(opts.tenant);
    await sealAuditChains(await db());
    const v = await verifyAuditChain(await db(), t.id);
    print(!!opts.json, { sealed: v.sealed, intact: v.first_bad_seq === null, firstBadSeq: v.first_bad_seq }, () =>
      v.first_bad_seq === null ? `chain intact: ${v.sealed} events` : `chain BROKEN at seq ${v.first_bad_seq}`,
    );
    if (v.first_bad_seq !== null) process.exitCode = 3;
  });

const webhook = program.command('webhook').description("signed webhook endpoints of the vendor's app (secrets shown once)");
const webhookActor = { type: 'operator' as const, id: 'cli' };
webhook
  .command('add')
  .requiredOption('--tenant <slug>')
  .requiredOption('--url <url>', 'https URL (http only to localhost outside production)')
  .option('--events <types>', `comma-separated event types (default: all): ${EventType.options.join(', ')}`)
  .option('--json')
  .action(async (opts: { tenant: string; url: string; events?: string; json?: boolean }) => {
    const t = await tenantBySlug(opts.tenant);
    const url = parseWebhookUrl(opts.url, { allowHttpLoopback: config.NODE_ENV !== 'production' });
    const eventTypes = opts.events ? EventType.array().parse(opts.events.split(',').map((s) => s.trim()).filter(Boolean)) : undefined;
    const key = loadSecretsKey(config);
    const { endpoint, secret } = await withTenant(await db(), t.id, async (tx) => {
      const created = await createWebhookEndpoint(tx, t.id, { url, eventTypes }, key);
      await appendAudit(tx, t.id, [{ actor: webhookActor, action: 'webhook.created', targetType: 'webhook_endpoint', targetId: created.endpoint.id, data: { origin: new URL(url).origin, eventTypes: created.endpoint.eventTypes } }]);
      return created;
    });
    print(!!opts.json, { tenantId: t.id, id: endpoint.id, url: endpoint.url, eventTypes: endpoint.eventTypes, secret }, () =>
      `webhook ${endpoint.id} -> ${endpoint.url}\nsigning secret (shown once): ${secret}`,
    );
  });
webhook
  .command('rotate')
  .requiredOption('--tenant <slug>')
  .requiredOption('--id <endpointId>')
  .option('--overlap <seconds>', 'how long the old secret keeps signing', intArg)
  .option('--json')
  .action(async (opts: { tenant: string; id: string; overlap?: number; json?: boolean }) => {
    const t = await tenantBySlug(opts.tenant);
    const overlap = opts.overlap ?? DEFAULT_ROTATION_OVERLAP_SECONDS;
    const key = loadSecretsKey(config);
    const { endpoint, secret } = await withTenant(await db(), t.id, async (tx) => {
      const rotated = await rotateWebhookSecret(tx, t.id, opts.id, overlap, key);
      await appendAudit(tx, t.id, [{ actor: webhookActor, action: 'webhook.secret_rotated', targetType: 'webhook_endpoint', targetId: opts.id, data: { overlapSeconds: overlap } }]);
      return rotated;
    });
    print(!!opts.json, { tenantId: t.id, id: endpoint.id, secret, previousSecretExpiresAt: endpoint.previousSecretExpiresAt }, () =>
      `signing secret (shown once): ${secret}\nprevious secret signs until ${endpoint.previousSecretExpiresAt ?? 'now (no overlap)'}`,
    );
  });
webhook
  .command('list')
  .requiredOption('--tenant <slug>')
  .option('--json')
  .action(async (opts: { tenant: string; json?: boolean }) => {
    const t = await tenantBySlug(opts.tenant);
    const rows = await withTenant(await db(), t.id, (tx) => listWebhookEndpoints(tx, t.id));
    print(!!opts.json, rows, () => rows.map((w) => `${w.id} ${w.url} ${w.eventTypes?.join(',') ?? '(all events)'} ${w.secretPrefix}`).join('\n'));
  });
webhook
  .command('delete')
  .requiredOption('--tenant <slug>')
  .requiredOption('--id <endpointId>')
  .action(async (opts: { tenant: string; id: string }) => {
    const t = await tenantBySlug(opts.tenant);
    await withTenant(await db(), t.id, async (tx) => {
      await disableWebhookEndpoint(tx, t.id, opts.id);
      await appendAudit(tx, t.id, [{ actor: webhookActor, action: 'webhook.deleted', targetType: 'webhook_endpoint', targetId: opts.id }]);
    });
    process.stdout.write('deleted\n');
  });

registerPortalCommands(program, { config, db });

program.command('migrate').description('apply pending migrations').action(async () => {
  await db();
  process.stdout.write('migrations applied\n');
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`roster: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = err instanceof DomainError ? 2 : 1;
} finally {
  await pool?.end();
}
