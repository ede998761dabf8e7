import type { Command } from 'commander';
import { getChangeRequest, listChangeRequests } from '../../../core/approvals/service.js';
import { withTenant } from '../../../core/db/pool.js';
import { type CliDeps, intArg, print } from '../deps.js';

/**
 * `roster approval list|show`: a tenant's change requests, for operators. Decisions belong to the
 * tenant's approvers (the portal); an operator only approves, with `--approve-as-operator`, changes
 * of tenants that have no portal users yet.
 */
export function registerApprovalCommands(program: Command, deps: CliDeps): void {
  const approval = program.command('approval').description("a tenant's change requests");
  approval
    .command('list')
    .requiredOption('--tenant <slug>')
    .option('--limit <n>', 'newest first', intArg, 25)
    .option('--json')
    .action(async (opts: { tenant: string; limit: number; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const page = await withTenant(await deps.db(), t.id, (tx) => listChangeRequests(tx, t.id, { box: 'history', userId: '', roles: [], limit: Math.max(1, Math.min(100, opts.limit)) }));
      print(!!opts.json, page.data, () => page.data.map((r) => `${r.id} ${r.state.padEnd(11)} ${r.kind.padEnd(24)} ${r.description.summary}`).join('\n'));
    });
  approval
    .command('show')
    .argument('<id>', 'change request id')
    .requiredOption('--tenant <slug>')
    .option('--json')
    .action(async (id: string, opts: { tenant: string; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const r = await withTenant(await deps.db(), t.id, (tx) => getChangeRequest(tx, t.id, id));
      print(!!opts.json, r, () =>
        [
          `${r.id} ${r.kind} ${r.state}`,
          r.description.summary,
          `before: ${JSON.stringify(r.description.before)}`,
          `after:  ${JSON.stringify(r.description.after)}`,
          `approvals ${r.approvals.filter((a) => a.valid && a.verdict === 'approve').length}/${r.approvalsNeeded}, expires ${r.expiresAt}`,
        ].join('\n'),
      );
    });
}
