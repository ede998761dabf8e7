import type { Command } from 'commander';
import { withTenant } from '../../../core/db/pool.js';
import { DomainError } from '../../../core/errors.js';
import { findUserIdByUserName } from '../../../core/repositories/credentials.js';
import { openStreamParks } from '../../../core/repositories/stream-parks.js';
import { identityWorkflowId } from '../../../workflows/ids.js';
import { resolveStreamUpdate } from '../../../workflows/messages.js';
import { type CliDeps, print } from '../deps.js';

/**
 * `roster stream list|retry|skip`: an identity's lifecycle stream parked on an event it could not
 * apply (docs/operations.md). Retry and skip are the workflow's resolveStream Update: a synchronous
 * answer, refused by its validator when nothing is parked.
 */
export function registerStreamCommands(program: Command, deps: CliDeps): void {
  const stream = program.command('stream').description("an identity's lifecycle stream parked on an event that could not be applied");
  stream
    .command('list')
    .description('parked streams of a tenant (open stream_parked alerts)')
    .requiredOption('--tenant <slug>')
    .option('--json')
    .action(async (opts: { tenant: string; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const parked = await withTenant(await deps.db(), t.id, (tx) => openStreamParks(tx, t.id));
      print(!!opts.json, { parked }, () => (parked.length ? parked.map((p) => `${p.userId} seq ${p.seq} ${p.eventType}: ${p.failureType} ${p.message}`).join('\n') : 'no parked streams'));
    });
  for (const action of ['retry', 'skip'] as const) {
    stream
      .command(action)
      .description(action === 'retry' ? 'run the parked event again' : 'move the stream past the parked event (audited)')
      .requiredOption('--tenant <slug>')
      .requiredOption('--user <userName|id>')
      .option('--reason <text>')
      .option('--json')
      .action(async (opts: { tenant: string; user: string; reason?: string; json?: boolean }) => {
        const t = await deps.tenantBySlug(opts.tenant);
        const userId = /^[0-9a-f-]{36}$/i.test(opts.user) ? opts.user : await withTenant(await deps.db(), t.id, (tx) => findUserIdByUserName(tx, t.id, opts.user));
        if (!userId) throw new DomainError(404, 'not_found', `no user "${opts.user}" in this tenant`);
        const result = await deps.withTemporal(async (client) => {
          if (!client) throw new Error('Temporal is not configured or not reachable (TEMPORAL_ADDRESS)');
          const handle = client.workflow.getHandle(identityWorkflowId(t.id, userId));
          return handle.executeUpdate(resolveStreamUpdate, { args: [{ action, by: deps.actor.id ?? 'cli', ...(opts.reason ? { reason: opts.reason } : {}) }] }).catch((err: unknown) => {
            // The validator's refusal (nothing parked, a decision in flight) or no such workflow.
            const cause = (err as { cause?: { message?: string } }).cause;
            throw new DomainError(409, 'not_parked', cause?.message ?? (err instanceof Error ? err.message : String(err)));
          });
        });
        print(!!opts.json, result, () => (result.outcome === 'parked' ? `still parked at seq ${result.seq}: ${result.failureType} ${result.message}` : `${result.outcome} seq ${result.seq}`));
        if (result.outcome === 'parked') process.exitCode = 4;
      });
  }
}
