import { createServer, type Server } from 'node:net';
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createWebhookTargetPolicy, isAllowedAddress, isPublicAddress } from '../../core/net/webhook-target.js';
import { appClient, type AppClient } from '../helpers/app-api.js';
import { TestDnsServer } from '../helpers/dns-server.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { APP_API_CHANGE_KINDS, applyAtOnce } from '../helpers/approvals.js';

describe('which addresses are public', () => {
  it.each([
    ['93.184.216.34', true],
    ['8.8.8.8', true],
    ['2606:4700:4700::1111', true],
    ['127.0.0.1', false],
    ['10.1.2.3', false],
    ['172.20.0.1', false],
    ['192.168.0.10', false],
    ['169.254.169.254', false], // cloud metadata
    ['100.100.100.200', false], // shared address space (and Alibaba's metadata)
    ['0.0.0.0', false],
    ['224.0.0.1', false],
    ['198.18.0.1', false],
    ['::1', false],
    ['::', false],
    ['fe80::1', false],
    ['fd00::1', false],
    ['::ffff:127.0.0.1', false], // IPv4-mapped loopback
    ['::ffff:10.0.0.1', false],
    ['2001:db8::1', false],
    ['not-an-ip', false],
  ])('%s → %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });

  it('an allowlist admits the networks it names and nothing else', () => {
    const policy = createWebhookTargetPolicy({ allowedNetworks: ['127.0.0.0/8', '::1', '10.9.0.0/16'] });
    expect(isAllowedAddress('127.0.0.5', policy)).toBe(true);
    expect(isAllowedAddress('::1', policy)).toBe(true);
    expect(isAllowedAddress('10.9.3.4', policy)).toBe(true);
    expect(isAllowedAddress('10.8.3.4', policy)).toBe(false);
    expect(isAllowedAddress('169.254.169.254', policy)).toBe(false);
  });
});

describe('SSRF guard on webhook endpoints (a real DNS server on loopback)', () => {
  let dns: TestDnsServer;
  let stack: TestStack;
  let tenant: TestTenant;
  let app: AppClient;
  let trap: Server;
  let trapPort = 0;
  let trapConnections = 0;

  beforeAll(async () => {
    dns = new TestDnsServer();
    await dns.start();
    // Something listening on loopback that a rebinding attack would like the worker to reach.
    trap = createServer((socket) => {
      trapConnections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
    trapPort = (trap.address() as { port: number }).port;
    // Production rules: no network is allowed beyond the public internet.
    stack = await startStack({ worker: true, env: { WEBHOOK_DNS_SERVERS: dns.address, WEBHOOK_ALLOWED_NETWORKS: '' } });
    tenant = await stack.createTenant();
    await applyAtOnce(stack, tenant.id, APP_API_CHANGE_KINDS);
    app = await appClient(stack, tenant);
  });
  afterAll(async () => {
    await stack?.close();
    await dns?.close();
    trap?.close();
  });

  it('refuses receivers that are, or resolve to, non-public addresses at registration, and changes nothing', async () => {
    dns.records.set('internal.example.test', ['192.168.1.10']);
    dns.records.set('mixed.example.test', ['93.184.216.34', '10.0.0.8']);
    for (const url of [
      'https://10.0.0.7/hook',
      'https://169.254.169.254/latest/meta-data/',
      'https://[::ffff:127.0.0.1]/hook',
      'https://[fd00::5]/hook',
      'http://127.0.0.1:9/hook',
      'https://internal.example.test/hook',
      'https://mixed.example.test/hook',
    ]) {
      const res = await app.call('POST', '/api/v1/webhooks', { url });
      expect(res.status, url).toBe(400);
      expect(res.body.error_description, url).toMatch(/not a public address/);
    }
    expect((await app.call('GET', '/api/v1/webhooks')).body.data).toEqual([]);
    // A name without DNS yet is accepted: each delivery checks again when it connects.
    expect((await app.call('POST', '/api/v1/webhooks', { url: 'https://not-yet.example.test/hook' })).status).toBe(201);
  });

  it('checks again when delivering: a name rebound to loopback after registration is never connected to', async () => {
    dns.records.set('rebind.example.test', ['93.184.216.34']);
    const created = await app.call('POST', '/api/v1/webhooks', { url: `https://rebind.example.test:${trapPort}/hook` });
    expect(created.status).toBe(201);
    dns.records.set('rebind.example.test', ['127.0.0.1']);

    // A joiner emits user.provisioned, which the endpoint takes.
    expect((await stack.scim(tenant, 'POST', '/Users', { userName: 'rebound@example.com' })).status).toBe(201);
    const attempt = await eventually(async () => {
      const row = await stack.owner.maybeOne(sql.type(z.object({ attempts: z.number(), last_error: z.string().nullable(), delivered_at: z.string().nullable() }))`
        SELECT attempts, last_error, delivered_at::text FROM webhook_deliveries WHERE endpoint_id = ${created.body.id as string} ORDER BY attempts DESC LIMIT 1`);
      return row && row.attempts >= 1 && row;
    }, 60_000);
    expect(attempt.delivered_at).toBeNull();
    expect(attempt.last_error).toMatch(/127\.0\.0\.1, which is not a public address/);
    expect(trapConnections).toBe(0);
  });
});
