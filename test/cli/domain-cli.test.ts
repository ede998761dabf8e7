import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { claimDomain } from '../../core/domains/service.js';
import { createWebhookTargetPolicy } from '../../core/net/webhook-target.js';
import { createSsoConnection } from '../../core/sso/service.js';
import { makeCertificate, samlMetadata } from '../helpers/saml.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

const run = promisify(execFile);
let stack: TestStack;
let tenant: TestTenant;
let other: TestTenant;
beforeAll(async () => {
  stack = await startStack();
  tenant = await stack.createTenant();
  other = await stack.createTenant();
});
afterAll(async () => stack?.close());

async function roster(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['scripts/roster.mjs', ...args], { env: { ...process.env, DATABASE_URL: stack.databaseUrl, PUBLIC_URL: stack.url, LOG_LEVEL: 'silent' } });
  return stdout;
}

describe('roster domain list / sso list', () => {
  it("lists one tenant's domains with the record to publish, and its SSO connections, nothing of another tenant", async () => {
    const ctx = { tenantId: tenant.id, actor: { type: 'operator' as const, id: 'cli-test' } };
    const d = await withTenant(stack.app, tenant.id, (tx) => claimDomain(tx, ctx, { name: 'cli.example' }));
    await withTenant(stack.app, tenant.id, (tx) =>
      createSsoConnection(tx, ctx, { targets: createWebhookTargetPolicy({ allowedNetworks: [] }), allowHttp: false }, { protocol: 'saml', name: 'CLI IdP', metadataXml: samlMetadata({ certificates: [makeCertificate()] }), allowedDomains: [] }),
    );
    const text = await roster('domain', 'list', '--tenant', tenant.slug);
    expect(text).toContain(`${d.id} cli.example pending (publish _roster-challenge.cli.example TXT "${d.challenge.value}"`);
    expect(JSON.parse(await roster('domain', 'list', '--tenant', tenant.slug, '--json'))).toEqual([expect.objectContaining({ id: d.id, state: 'pending' })]);
    const sso = JSON.parse(await roster('sso', 'list', '--tenant', tenant.slug, '--json')) as { name: string; saml: { entityId: string } }[];
    expect(sso.map((c) => [c.name, c.saml.entityId])).toEqual([['CLI IdP', 'https://idp.example.com/metadata']]);
    expect(await roster('domain', 'list', '--tenant', other.slug)).toBe('no domains\n');
    expect(await roster('sso', 'list', '--tenant', other.slug)).toBe('no SSO connections\n');
  });
});
