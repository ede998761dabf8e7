import { InvalidArgumentError } from 'commander';
import type { Client } from '@temporalio/client';
import type { Config } from '../../core/config.js';
import type { Db } from '../../core/db/pool.js';
import type { Actor } from '../../core/repositories/audit.js';
import type { TenantRow } from '../../core/repositories/tenants.js';
import type { ServiceContext } from '../../core/shared/service-context.js';

/**
 * What every command module needs from the CLI's composition root (scripts/cli.ts). Commands call
 * core services only: no SQL here, no imports from api/.
 */
export interface CliDeps {
  config: Config;
  /** The owner pool, migrated on first use. */
  db(): Promise<Db>;
  tenantBySlug(slug: string): Promise<TenantRow>;
  /** The operator running the CLI, as audit rows name them. */
  actor: Actor;
  /** `${PUBLIC_URL}/scim/v2`. */
  scimBaseUrl: string;
  /** A Temporal client for signals after commit, or undefined when Temporal is not configured or unreachable. */
  withTemporal<T>(fn: (client: Client | undefined) => Promise<T>): Promise<T>;
}

export const serviceContext = (deps: Pick<CliDeps, 'actor'>, tenantId: string): ServiceContext => ({ tenantId, actor: deps.actor });

export function print(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

export const intArg = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
};

export const numberArg = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
};

export const listArg = (v: string): string[] => v.split(',').map((x) => x.trim()).filter(Boolean);
