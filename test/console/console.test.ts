import { createHash } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { listAudit } from '../../core/repositories/audit.js';
import { loadSecretsKey } from '../../core/secret-box.js';
import { createPortalApi } from '../../api/portal/router.js';
import { consoleClient, portalClient } from '../helpers/portal.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

type Client = Awaited<ReturnType<typeof consoleClient>>;

let stack: TestStack;
let tenant: TestTenant;
let op: Client;
let admin: Awaited<ReturnType<typeof portalClient>>;
/** Every console answer of this file, to check that none carries a person's data. */
const seen: unknown[] = [];
const PEOPLE = ['console-secret-alice@example.com', 'alice.personal@example.org', 'Alice Secretname', 'console-portal-admin@example.com'];

async function call(method: string, path: string, body?: unknown) {
  const res = await op.request(method, path, body);
  seen.push(res.body);
  return res;
}

beforeAll(async () => {
  stack = await startStack({ env: { SCIM_ACTIVITY_FLUSH_MS: '100' } });
  tenant = await stack.createTenant();
  // People in the tenant: SCIM users with names and e-mails, and a portal admin.
  const alice = await stack.scim(tenant, 'POST', '/Users', {
    userName: PEOPLE[0],
    name: { givenName: 'Alice', familyName: 'Secretname', formatted: PEOPLE[2] },
    displayName: PEOPLE[2],
    emails: [{ value: PEOPLE[1], primary: true }],
  });
  expect(alice.status).toBe(201);
  expect((await stack.scim(tenant, 'POST', '/Users', { userName: PEOPLE[0] })).status).toBe(409);
  admin = await portalClient(stack, tenant, { roles: ['admin'], email: PEOPLE[3] });
  op = await consoleClient(stack);
});
afterAll(async () => stack?.close());

describe('console API', () => {
  it('lists tenants with connection count, last SCIM request, error rate, backlog, stuck and held', async () => {
    const res = await eventually(async () => {
      const r = await call('GET', '/tenants?stuckAfterMinutes=0');
      const t = (r.body.tenants as { id: string; requests1h: number }[]).find((x) => x.id === tenant.id);
      return t && t.requests1h === 2 ? r : undefined;
    }, 60_000);
    expect(res.status).toBe(200);
    const row = res.body.tenants.find((x: { id: string }) => x.id === tenant.id);
    expect(row).toMatchObject({ slug: tenant.slug, connections: 1, requests1h: 2, errors1h: 1, errorRate1h: 0.5, outboxBacklog: 1, stuck: 1, held: 0 });
    expect(row.lastRequestAt).toEqual(expect.any(String));
    expect((await call('GET', '/tenants?stuckAfterMinutes=-1')).status).toBe(400);
  });

  it('creates a tenant, validates the slug, refuses a taken one, and audits it in the new tenant as the operator', async () => {
    const created = await call('POST', '/tenants', { slug: 'globex', name: 'Globex Corporation' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ slug: 'globex', name: 'Globex Corporation', id: expect.any(String) });
    const audit = await withTenant(stack.app, created.body.id, (tx) => listAudit(tx));
    expect(audit.map((a) => [a.actor_type, a.actor_id, a.action])).toEqual([['operator', op.operatorId, 'tenant.created']]);

    const bad = await call('POST', '/tenants', { slug: 'Not a slug!', name: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_request');
    expect((await call('POST', '/tenants', { slug: 'globex', name: 'Again' })).body).toMatchObject({ error: 'tenant_exists' });
    expect((await call('POST', '/tenants', { slug: 'globex', name: 'Again' })).status).toBe(409);
    expect((await call('POST', '/tenants', { slug: 'no-name' })).status).toBe(400);
  });

  it("shows one tenant's connections with last request and error rate, and 404s unknown tenants", async () => {
    const res = await call('GET', `/tenants/${tenant.id}`);
    expect(res.status).toBe(200);
    expect(res.body.tenant).toMatchObject({ id: tenant.id, slug: tenant.slug });
    expect(res.body.connections).toEqual([
      expect.objectContaining({ id: tenant.connectionId, name: 'default', revokedAt: null, liveTokens: 1, requests1h: 2, errors1h: 1, errorRate1h: 0.5 }),
    ]);
    expect((await call('GET', '/tenants/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await call('GET', '/tenants/not-a-uuid')).status).toBe(400);
  });

  it('issues a setup link (default role admin) shown once and stored only as a hash', async () => {
    const res = await call('POST', `/tenants/${tenant.id}/setup-links`, { email: 'first-admin@example.net' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ url: expect.stringMatching(new RegExp(`^${stack.url}/setup#token=`)), expiresAt: expect.any(String) });
    const hoursLeft = (Date.parse(res.body.expiresAt) - Date.now()) / 3_600_000;
    expect(hoursLeft).toBeGreaterThan(71);
    expect(hoursLeft).toBeLessThanOrEqual(72);
    const token = new URL(res.body.url).hash.replace('#token=', '');
    const stored = await stack.owner.any(sql.type(z.object({ token_hash: z.instanceof(Buffer) }))`
      SELECT token_hash FROM portal_setup_links WHERE tenant_id = ${tenant.id}`);
    expect(stored.some((s) => s.token_hash.equals(createHash('sha256').update(token).digest()))).toBe(true);
    const roles = await stack.owner.anyFirst(sql.type(z.object({ role: z.string() }))`
      SELECT r.role FROM portal_user_roles r JOIN portal_users u ON u.tenant_id = r.tenant_id AND u.id = r.user_id
       WHERE u.tenant_id = ${tenant.id} AND u.email = 'first-admin@example.net'`);
    expect(roles).toEqual(['admin']);
    const audit = await withTenant(stack.app, tenant.id, (tx) => listAudit(tx));
    const issued = audit.filter((a) => a.action === 'portal.setup_link_issued' && a.data.email === 'first-admin@example.net');
    expect(issued).toEqual([expect.objectContaining({ actor_type: 'operator', actor_id: op.operatorId, data: expect.objectContaining({ roles: ['admin'] }) })]);

    const approver = await call('POST', `/tenants/${tenant.id}/setup-links`, { email: 'approver@example.net', roles: ['approver'] });
    expect(approver.status).toBe(201);
    expect((await call('POST', `/tenants/${tenant.id}/setup-links`, { email: 'not an email' })).status).toBe(400);
    expect((await call('POST', `/tenants/${tenant.id}/setup-links`, { email: 'x@example.net', roles: ['owner'] })).status).toBe(400);
    expect((await call('POST', '/tenants/00000000-0000-4000-8000-000000000000/setup-links', { email: 'x@example.net' })).status).toBe(404);
  });

  it('reports fleet health: backlog, relay, stuck identities by id', async () => {
    const res = await call('GET', '/fleet?stuckAfterMinutes=0');
    expect(res.status).toBe(200);
    expect(res.body.outbox).toMatchObject({ backlog: 1, failing: 0 });
    expect(res.body.relay.status).toBe('healthy');
    expect(res.body.tenants).toEqual([{ id: tenant.id, slug: tenant.slug, outboxBacklog: 1, stuck: 1, held: 0 }]);
    expect(res.body.identities).toEqual([expect.objectContaining({ tenantId: tenant.id, kind: 'stuck', identityId: expect.any(String) })]);
  });

  it('no console answer carries a userName, e-mail or name of anyone in the tenant', () => {
    expect(seen.length).toBeGreaterThan(10);
    const all = JSON.stringify(seen);
    for (const value of PEOPLE) expect(all).not.toContain(value);
    expect(all).not.toContain('Secretname');
  });

  it('needs an operator session; a console session opens nothing of the portal', async () => {
    for (const [method, path] of [['GET', '/tenants'], ['POST', '/tenants'], ['GET', `/tenants/${tenant.id}`], ['POST', `/tenants/${tenant.id}/setup-links`], ['GET', '/fleet']] as const) {
      const res = await fetch(`${stack.url}/console/api${path}`, { method, headers: { 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
      expect(res.status, `${method} ${path}`).toBe(401);
      // A portal session is no console session either.
      const portal = await fetch(`${stack.url}/console/api${path}`, { method, headers: { 'content-type': 'application/json', cookie: `roster_portal=${admin.cookie}`, 'x-csrf-token': admin.csrfToken }, body: method === 'POST' ? '{}' : undefined });
      expect(portal.status, `${method} ${path} with a portal session`).toBe(401);
    }
    // Every signed-in portal route, whatever features are mounted (GET /users among them once the
    // directory is): the console's cookie is not a portal session.
    const portalRoutes = createPortalApi({ db: stack.app, config: stack.config, secretKey: loadSecretsKey(stack.config), publicUrl: stack.url }).routes.filter((r) => r.access !== 'public');
    expect(portalRoutes.length).toBeGreaterThan(2);
    for (const route of portalRoutes) {
      const path = route.path.replace(/:[A-Za-z]+/g, '00000000-0000-4000-8000-000000000000');
      for (const cookie of [`roster_console=${op.cookie}`, `roster_portal=${op.cookie}`]) {
        const res = await fetch(`${stack.url}/portal/api${path}`, {
          method: route.method.toUpperCase(),
          headers: { cookie, 'x-csrf-token': op.csrfToken, 'content-type': 'application/json' },
          body: route.method === 'get' ? undefined : '{}',
        });
        expect(res.status, `${route.method} ${route.path} with ${cookie.split('=')[0]}`).toBe(401);
      }
    }
  });
});
