import type { Command } from 'commander';
import { withTenant } from '../../../core/db/pool.js';
import { updateSettings } from '../../../core/tenants/service.js';
import { printWaiting, requestChange } from '../approvals.js';
import { type CliDeps, intArg, numberArg, print, serviceContext } from '../deps.js';

/**
 * `roster guard release|set`: the mass-deprovisioning guard. A release is a change request
 * (scripts/cli/approvals.ts); the thresholds are tenant settings and apply at once (audited).
 */
export function registerGuardCommands(program: Command, deps: CliDeps): void {
  const guard = program.command('guard').description('the mass-deprovisioning guard');
  guard
    .command('release')
    .description('let held leavers proceed (all of the tenant, or one user)')
    .requiredOption('--tenant <slug>')
    .option('--user <userName>')
    .option('--approve-as-operator', 'apply at once (only for a tenant without portal users; audited)')
    .option('--json')
    .action(async (opts: { tenant: string; user?: string; approveAsOperator?: boolean; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const r = await requestChange(deps, t.id, 'guard.release', opts.user === undefined ? {} : { userName: opts.user }, opts);
      if (!r.applied) return printWaiting(!!opts.json, r, t.slug);
      // Applied and verified: the released leavers' workflows were signalled (core/tenants/change-kinds.ts).
      const { released } = r.applied.result as { released: string[] };
      print(!!opts.json, { released }, () => `released ${released.length} held leaver(s)`);
    });
  guard
    .command('set')
    .description("the tenant's guard thresholds (audited)")
    .requiredOption('--tenant <slug>')
    .option('--max-suspensions <n>', 'leavers allowed per window', intArg)
    .option('--max-share <fraction>', 'share of identities allowed per window (0-1)', numberArg)
    .option('--window <seconds>', 'window length', intArg)
    .option('--json')
    .action(async (opts: { tenant: string; maxSuspensions?: number; maxShare?: number; window?: number; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const guardChange = { maxSuspensions: opts.maxSuspensions, maxShare: opts.maxShare, windowSeconds: opts.window };
      const after = await withTenant(await deps.db(), t.id, (tx) => updateSettings(tx, serviceContext(deps, t.id), { guard: dropUndefined(guardChange) }));
      print(!!opts.json, after.guard, () => `guard of ${t.slug}: ${after.guard.maxSuspensions} leavers or ${after.guard.maxShare * 100} % per ${after.guard.windowSeconds} s`);
    });
}

function dropUndefined<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
