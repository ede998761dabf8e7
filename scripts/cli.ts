import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { Client, Connection } from '@temporalio/client';
import { Command } from 'commander';
import { ZodError } from 'zod';
import { loadConfig, publicUrl } from '../core/config.js';
import { migrate } from '../core/db/migrate.js';
import { createDatabasePool, type Db } from '../core/db/pool.js';
import { DomainError } from '../core/errors.js';
import type { Actor } from '../core/repositories/audit.js';
import { findTenantBySlug, type TenantRow } from '../core/repositories/tenants.js';
import type { CliDeps } from './cli/deps.js';
import { registerAppKeyCommands } from './cli/commands/app-key.js';
import { registerAuditCommands } from './cli/commands/audit.js';
import { registerGuardCommands } from './cli/commands/guard.js';
import { registerMigrateCommands } from './cli/commands/migrate.js';
import { registerPortalCommands } from './cli/commands/portal.js';
import { registerRoleMappingCommands } from './cli/commands/role-mapping.js';
import { registerScimTokenCommands } from './cli/commands/scim-token.js';
import { registerStreamCommands } from './cli/commands/stream.js';
import { registerTenantCommands } from './cli/commands/tenant.js';
import { registerTokenCommands } from './cli/commands/token.js';
import { registerWebhookCommands } from './cli/commands/webhook.js';
import { registerDomainCommands } from './cli/commands/domain.js';
import { registerApprovalCommands } from './cli/commands/approval.js';

/**
 * Operator CLI: the composition root. It connects with the owner credentials (DATABASE_URL), like
 * migrations: operators act across tenants, tenant admins never get this tool. Each command module
 * (scripts/cli/commands/*.ts) calls core services only. Secrets are printed once, never stored.
 */
const config = loadConfig(withRuntimeDefaults(process.env));

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

/** Audit rows name the operator's OS account. */
const operator: Actor = { type: 'operator', id: `cli:${userInfo().username}` };

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

/** A Temporal client for the duration of `fn`, or undefined when none is configured or reachable. */
async function withTemporal<T>(fn: (client: Client | undefined) => Promise<T>): Promise<T> {
  const connection = config.TEMPORAL_ADDRESS ? await Connection.connect({ address: config.TEMPORAL_ADDRESS }).catch(() => undefined) : undefined;
  try {
    return await fn(connection ? new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }) : undefined);
  } finally {
    await connection?.close();
  }
}

const deps: CliDeps = { config, db, tenantBySlug, actor: operator, scimBaseUrl: `${publicUrl(config)}/scim/v2`, withTemporal };
const program = new Command('roster').description('Roster operator tool').showHelpAfterError();

// One line per command module.
registerTenantCommands(program, deps);
registerScimTokenCommands(program, deps);
registerAppKeyCommands(program, deps);
registerTokenCommands(program, deps);
registerRoleMappingCommands(program, deps);
registerGuardCommands(program, deps);
registerAuditCommands(program, deps);
registerWebhookCommands(program, deps);
registerStreamCommands(program, deps);
registerMigrateCommands(program, deps);
registerPortalCommands(program, { config, db });
registerDomainCommands(program, deps);
registerApprovalCommands(program, deps);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Invalid input (a DomainError or a failed schema) exits 2; anything else is a failure (1).
  const message = err instanceof ZodError ? err.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ') : err instanceof Error ? err.message : String(err);
  process.stderr.write(`roster: ${message}\n`);
  process.exitCode = err instanceof DomainError || err instanceof ZodError ? 2 : 1;
} finally {
  await pool?.end();
}
