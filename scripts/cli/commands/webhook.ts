import { webhookTargets } from '../../../core/config.js';
import type { Command } from 'commander';
import { withTenant } from '../../../core/db/pool.js';
import { EventType } from '../../../core/events/schema.js';
import { loadSecretsKey } from '../../../core/secret-box.js';
import { checkWebhookUrl, createWebhook, deleteWebhook, listWebhooks, rotateWebhook } from '../../../core/webhooks/service.js';
import { type CliDeps, intArg, listArg, print, serviceContext } from '../deps.js';

/** `roster webhook add|rotate|list|delete`: signed webhook endpoints of the vendor's app. */
export function registerWebhookCommands(program: Command, deps: CliDeps): void {
  const webhook = program.command('webhook').description("signed webhook endpoints of the vendor's app (secrets shown once)");
  const policy = () => ({ secretKey: loadSecretsKey(deps.config), allowHttpLoopback: deps.config.NODE_ENV !== 'production', targets: webhookTargets(deps.config) });
  webhook
    .command('add')
    .requiredOption('--tenant <slug>')
    .requiredOption('--url <url>', 'https URL (http only to localhost outside production)')
    .option('--events <types>', `comma-separated event types (default: all): ${EventType.options.join(', ')}`)
    .option('--json')
    .action(async (opts: { tenant: string; url: string; events?: string; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const eventTypes = opts.events ? EventType.array().parse(listArg(opts.events)) : undefined;
      const url = await checkWebhookUrl(opts.url, policy()); // DNS before the transaction
      const created = await withTenant(await deps.db(), t.id, (tx) => createWebhook(tx, serviceContext(deps, t.id), policy(), { url, eventTypes }));
      print(!!opts.json, { tenantId: t.id, id: created.id, url: created.url, eventTypes: created.eventTypes, secret: created.secret }, () =>
        `webhook ${created.id} -> ${created.url}\nsigning secret (shown once): ${created.secret}`,
      );
    });
  webhook
    .command('rotate')
    .requiredOption('--tenant <slug>')
    .requiredOption('--id <endpointId>')
    .option('--overlap <seconds>', 'how long the old secret keeps signing', intArg)
    .option('--json')
    .action(async (opts: { tenant: string; id: string; overlap?: number; json?: boolean }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      const rotated = await withTenant(await deps.db(), t.id, (tx) => rotateWebhook(tx, serviceContext(deps, t.id), policy(), { endpointId: opts.id, overlapSeconds: opts.overlap }));
      print(!!opts.json, { tenantId: t.id, id: rotated.id, secret: rotated.secret, previousSecretExpiresAt: rotated.previousSecretExpiresAt }, () =>
        `signing secret (shown once): ${rotated.secret}\nprevious secret signs until ${rotated.previousSecretExpiresAt ?? 'now (no overlap)'}`,
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
    .action(async (opts: { tenant: string; id: string }) => {
      const t = await deps.tenantBySlug(opts.tenant);
      await withTenant(await deps.db(), t.id, (tx) => deleteWebhook(tx, serviceContext(deps, t.id), { endpointId: opts.id }));
      process.stdout.write('deleted\n');
    });
}
