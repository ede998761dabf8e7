import type { Command } from 'commander';
import { sealAuditChains, verifyAuditChain } from '../../../core/repositories/audit.js';
import { type CliDeps, print } from '../deps.js';

/** `roster audit-verify`: seal pending audit events and verify a tenant's hash chain. */
export function registerAuditCommands(program: Command, deps: CliDeps): void {
  program
    .command('audit-verify')
    .description("seal pending audit events and verify a tenant's hash chain")
    .requiredOption('--tenant <slug>')
    .option('--json')
    .action(async (opts: { tenant: string; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const db = await deps.db();
      await sealAuditChains(db);
      const v = await verifyAuditChain(db, t.id);
      print(!!opts.json, { sealed: v.sealed, intact: v.first_bad_seq === null, firstBadSeq: v.first_bad_seq }, () =>
        v.first_bad_seq === null ? `chain intact: ${v.sealed} events` : `chain BROKEN at seq ${v.first_bad_seq}`,
      );
      if (v.first_bad_seq !== null) process.exitCode = 3;
    });
}
