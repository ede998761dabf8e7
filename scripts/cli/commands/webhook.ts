import { webhookTargets } from '../../../core/config.js';
import type { Command } from 'commander';
import { withTenant } from '../../../core/db/pool.js';
import { EventType } from '../../../core/events/schema.js';
import { loadSecretsKey } from '../../../core/secret-box.js';
import { checkWebhookUrl, listWebhooks } from '../../../core/webhooks/service.js';
import { printWaiting, requestChange } from '../approvals.js';
import { type CliDeps, intArg, listArg, print } from '../deps.js';

const APPROVE_AS_OPERATOR = 'apply at once (only for a tenant without portal users; audited)';

/**
 * `roster webhook add|rotate|list|delete`: signed webhook endpoints of the vendor's app. Adding,
 * rotating and deleting an endpoint are change requests (scripts/cli/approvals.ts).
 */
export function registerWebhookCommands(program: Command, deps: CliDeps): void {
  const webhook = program.command('webhook').description("signed webhook endpoints of the vendor's app (secrets shown once)");
  const policy = () => ({ secretKey: loadSecretsKey(deps.config), allowHttpLoopback: deps.config.NODE_ENV !== 'production', targets: webhookTargets(deps.config) });
  webhook
    .command('add')
    .requiredOption('--tenant <slug>')
    .requiredOption('--url <url>', 'https URL (http only to localhost outside production)')
    .option('--events <types>', `comma-separated event types (default: all): ${EventType.options.join(', ')}`)
    .option('--approve-as-operator', APPROVE_AS_OPERATOR)
    .option('--json')
    .action(async (opts: { tenant: string; url: string; events?: string; approveAsOperator?: boolean; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const eventTypes = opts.events ? EventType.array().parse(listArg(opts.events)) : undefined;
      // The SSRF check (DNS included) before submitting: a bad URL never becomes a request.
      const url = await checkWebhookUrl(opts.url, policy());
      const r = await requestChange(deps, t.id, 'webhook.create', { url, eventTypes }, opts);
      if (!r.applied) return printWaiting(!!opts.json, r, t.slug);
      const { endpointId } = r.applied.result as { endpointId: string };
      const secret = r.applied.secret;
      print(!!opts.json, { tenantId: t.id, id: endpointId, url, eventTypes: eventTypes ?? null, secret }, () =>
        `webhook ${endpointId} -> ${url}\nsigning secret (shown once): ${secret}`,
      );
    });
  webhook
    .command('rotate')
    .requiredOption('--tenant <slug>')
    .requiredOption('--id <endpointId>')
    .option('--overlap <seconds>', 'how long the old secret keeps signing', intArg)
    .option('--approve-as-operator', APPROVE_AS_OPERATOR)
    .option('--json')
    .action(async (opts: { tenant: string; id: string; overlap?: number; approveAsOperator?: boolean; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const r = await requestChange(deps, t.id, 'webhook.rotate', { endpointId: opts.id, overlapSeconds: opts.overlap }, opts);
      if (!r.applied) return printWaiting(!!opts.json, r, t.slug);
      const { endpointId, previousSecretExpiresAt } = r.applied.result as { endpointId: string; previousSecretExpiresAt: string | null };
      const secret = r.applied.secret;
      print(!!opts.json, { tenantId: t.id, id: endpointId, secret, previousSecretExpiresAt }, () =>
        `signing secret (shown once): ${secret}\nprevious secret signs until ${previousSecretExpiresAt ?? 'now (no overlap)'}`,
      );
    });
  webhook
    .command('list')
    .requiredOption('--tenant <slug>')
    .option('--json')
    .action(async (opts: { tenant: string; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const rows = await withTenant(await deps.db(), t.id, (tx) => listWebhooks(tx, t.id));
      print(!!opts.json, rows, () => rows.map((w) => `${w.id} ${w.url} ${w.eventTypes?.join(',') ?? '(all events)'} ${w.secretPrefix}`).join('\n'));
    });
  webhook
    .command('delete')
    .requiredOption('--tenant <slug>')
    .requiredOption('--id <endpointId>')
    .option('--approve-as-operator', APPROVE_AS_OPERATOR)
    .option('--json')
    .action(async (opts: { tenant: string; id: string; approveAsOperator?: boolean; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const r = await requestChange(deps, t.id, 'webhook.delete', { endpointId: opts.id }, opts);
      if (!r.applied) return printWaiting(!!opts.json, r, t.slug);
      print(!!opts.json, { deleted: opts.id }, () => 'deleted');
    });
}
