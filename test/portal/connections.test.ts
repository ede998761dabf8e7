import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { portalClient, type PortalTestClient } from '../helpers/portal.js';
import { applyAtOnce, approveAndWait, PORTAL_DIRECT_KINDS, setApprovalPolicy, waitingRequestOf } from '../helpers/approvals.js';

/**
 * The portal's Connections API over real HTTP: roles, tokens shown once, rotation, revocation,
 * tenancy. Creating and rotating apply at once under these tenants' policy (approvals: 0); revoking
 * a connection is privileged and always waits for an approver (test/portal/approvals-routes.test.ts
 * covers the approval paths themselves).
 */
let stack: TestStack;
let tenant: TestTenant;
let other: TestTenant;
let admin: PortalTestClient;
let auditor: PortalTestClient;
let approver: PortalTestClient;
let otherAdmin: PortalTestClient;

beforeAll(async () => {
  stack = await startStack({ worker: true, env: { SCIM_ACTIVITY_FLUSH_MS: '200' } });
  tenant = await stack.createTenant();
  other = await stack.createTenant();
  for (const t of [tenant, other]) await applyAtOnce(stack, t.id, PORTAL_DIRECT_KINDS);
  await setApprovalPolicy(stack, tenant.id, { 'scim_connection.revoke': { approvals: 1 } });
  admin = await portalClient(stack, tenant, { roles: ['admin'] });
  auditor = await portalClient(stack, tenant, { roles: ['auditor'] });
  approver = await portalClient(stack, tenant, { roles: ['approver'] });
  otherAdmin = await portalClient(stack, other, { roles: ['admin'] });
});
afterAll(async () => stack?.close());

const createUser = (token: string, userName: string) => stack.scim(token, 'POST', '/Users', { userName });

describe('portal connections API', () => {
  it('lists the fixture connection with the SCIM base URL for admins and auditors, not for other roles', async () => {
    const listed = await admin.request('GET', '/connections');
    expect(listed.status).toBe(200);
    expect(listed.body.scimBaseUrl).toBe(`${stack.url}/scim/v2`);
    expect(listed.body.connections).toEqual([expect.objectContaining({ id: tenant.connectionId, revokedAt: null, tokens: [expect.objectContaining({ status: 'active' })] })]);
    expect(JSON.stringify(listed.body)).not.toContain(tenant.token);
    expect((await auditor.request('GET', '/connections')).status).toBe(200);
    expect((await approver.request('GET', '/connections')).status).toBe(403);
  });

  it('creates a connection whose token is shown once (no-store) and works against /scim/v2; auditors cannot create', async () => {
    expect((await auditor.request('POST', '/connections', { name: 'nope' })).status).toBe(403);
    expect((await admin.request('POST', '/connections', { name: '' })).body).toMatchObject({ error: 'invalid_request' });
    const created = await admin.request('POST', '/connections', { name: 'Okta production' });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    expect(created.body).toMatchObject({ token: expect.stringMatching(/^roster_scim_/), connection: { name: 'Okta production', tokens: [{ status: 'active' }] }, changeRequestId: expect.any(String) });
    // Applied at once, and recorded as a request like any change of its kind.
    expect((await admin.request('GET', `/approvals/${created.body.changeRequestId}`)).body).toMatchObject({ kind: 'scim_connection.create', state: 'applied', secretWaiting: false });
    expect((await createUser(created.body.token, 'portal-created@example.com')).status).toBe(201);

    const listed = await auditor.request('GET', '/connections');
    const connection = listed.body.connections.find((c: { id: string }) => c.id === created.body.connectionId);
    expect(connection.tokens).toEqual([expect.objectContaining({ id: created.body.tokenId, prefix: expect.any(String) })]);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.token);
    const audit = await stack.owner.one(sql.type(z.object({ actor_type: z.string(), actor_id: z.string(), data: z.record(z.unknown()) }))`
      SELECT actor_type, actor_id, data FROM audit_events WHERE tenant_id = ${tenant.id} AND action = 'scim_connection.created' AND target_id = ${created.body.connectionId}`);
    expect(audit).toMatchObject({ actor_type: 'user', actor_id: admin.userId, data: { name: 'Okta production' } });
    expect(JSON.stringify(audit)).not.toContain(created.body.token);
  });

  it('rotates with the chosen overlap (old and new work), then revokes a token and the connection', async () => {
    const created = (await admin.request('POST', '/connections', { name: 'Entra' })).body;
    expect((await auditor.request('POST', `/connections/${created.connectionId}/rotate`, { overlapSeconds: 60 })).status).toBe(403);
    expect((await admin.request('POST', `/connections/${created.connectionId}/rotate`, { overlapSeconds: -5 })).status).toBe(400);
    const rotated = await admin.request('POST', `/connections/${created.connectionId}/rotate`, { overlapSeconds: 600 });
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    const until = Date.parse(rotated.body.previousValidUntil) - Date.now();
    expect(until).toBeGreaterThan(550_000);
    expect(until).toBeLessThan(650_000);
    expect((await createUser(created.token, 'old-during-overlap@example.com')).status).toBe(201);
    expect((await createUser(rotated.body.token, 'new-after-rotate@example.com')).status).toBe(201);
    const statuses = (await admin.request('GET', `/connections/${created.connectionId}`)).body.tokens.map((t: { status: string }) => t.status);
    expect(statuses).toEqual(['expiring', 'active']);

    expect((await auditor.request('DELETE', `/connections/${created.connectionId}/tokens/${created.tokenId}`)).status).toBe(403);
    const revoked = await admin.request('DELETE', `/connections/${created.connectionId}/tokens/${created.tokenId}`);
    expect(revoked.body).toMatchObject({ id: created.tokenId, status: 'revoked' });
    expect((await createUser(created.token, 'old-after-revoke@example.com')).status).toBe(401);
    expect((await createUser(rotated.body.token, 'new-still-works@example.com')).status).toBe(201);

    // Revoking a connection waits for an approver; until then the connection works.
    const request = waitingRequestOf(await admin.request('DELETE', `/connections/${created.connectionId}`));
    expect(request).toMatchObject({ kind: 'scim_connection.revoke', approvalsNeeded: 1 });
    expect((await createUser(rotated.body.token, 'before-approval@example.com')).status).toBe(201);
    expect(await approveAndWait(approver, request.id)).toMatchObject({ state: 'applied' });
    expect((await createUser(rotated.body.token, 'after-connection-revoke@example.com')).status).toBe(401);
    expect((await admin.request('DELETE', `/connections/${created.connectionId}`)).status).toBe(404);
    expect((await admin.request('POST', `/connections/${created.connectionId}/rotate`, {})).status).toBe(404);
  });

  it("shows each connection's last request, last hour's traffic and its recent SCIM errors (no query strings)", async () => {
    const created = (await admin.request('POST', '/connections', { name: 'busy' })).body;
    expect((await createUser(created.token, 'traffic-1@example.com')).status).toBe(201);
    const bad = await stack.scim(created.token, 'POST', '/Users', { displayName: 'no userName' });
    expect(bad.status).toBe(400);
    expect((await stack.scim(created.token, 'GET', '/Users/00000000-0000-4000-8000-000000000000?attributes=userName')).status).toBe(404);
    const connection = await eventually(async () => {
      const listed = await auditor.request('GET', '/connections');
      const c = listed.body.connections.find((x: { id: string }) => x.id === created.connectionId);
      return c.activity.requests1h >= 3 && c.recentErrors.length >= 2 ? c : undefined;
    }, 60_000);
    expect(connection.activity).toMatchObject({ lastRequestAt: expect.any(String), requests1h: 3, errors1h: 2 });
    expect(connection.activity.errorRate1h).toBeCloseTo(2 / 3);
    expect(connection.recentErrors.map((e: { method: string; path: string; status: number }) => [e.method, e.path, e.status])).toEqual([
      ['GET', '/scim/v2/Users/00000000-0000-4000-8000-000000000000', 404],
      ['POST', '/scim/v2/Users', 400],
    ]);
    // The other connections' activity is their own.
    const fixture = (await auditor.request('GET', '/connections')).body.connections.find((x: { id: string }) => x.id === tenant.connectionId);
    expect(fixture.recentErrors).toEqual([]);
  });

  it("another tenant's admin neither sees nor changes this tenant's connections", async () => {
    const created = (await admin.request('POST', '/connections', { name: 'mine' })).body;
    const theirs = await otherAdmin.request('GET', '/connections');
    expect(theirs.body.connections.map((c: { id: string }) => c.id)).toEqual([other.connectionId]);
    expect((await otherAdmin.request('GET', `/connections/${created.connectionId}`)).status).toBe(404);
    expect((await otherAdmin.request('POST', `/connections/${created.connectionId}/rotate`, { overlapSeconds: 0 })).status).toBe(404);
    expect((await otherAdmin.request('DELETE', `/connections/${created.connectionId}/tokens/${created.tokenId}`)).status).toBe(404);
    expect((await otherAdmin.request('DELETE', `/connections/${created.connectionId}`)).status).toBe(404);
    expect((await createUser(created.token, 'survives-other-tenant@example.com')).status).toBe(201);
  });

  it('refuses writes without the CSRF token and without a session', async () => {
    expect((await admin.request('POST', '/connections', { name: 'x' }, { 'x-csrf-token': 'wrong' })).body).toMatchObject({ error: 'csrf' });
    const anonymous = await fetch(`${stack.url}/portal/api/connections`);
    expect(anonymous.status).toBe(401);
  });
});
