import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppClient, appClient } from '../helpers/app-api.js';
import { portalClient } from '../helpers/portal.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/**
 * The app API's change requests: a change the vendor's app asks for (here a webhook endpoint) is a
 * request that waits for the tenant's approvers, readable at /api/v1/change-requests; the app
 * collects the secret the applied change produced, once. Tenant-scoped like every app route.
 */

let stack: TestStack;
let tenant: TestTenant;
let app: AppClient;
let other: AppClient;

beforeAll(async () => {
  stack = await startStack({ worker: true });
  tenant = await stack.createTenant();
  app = await appClient(stack, tenant);
  other = await appClient(stack, await stack.createTenant());
});
afterAll(async () => stack?.close());

describe('app API change requests', () => {
  it('a webhook the app adds waits for approval (202), then applies; the app collects its secret once', async () => {
    const submitted = await app.call('POST', '/api/v1/webhooks', { url: 'http://127.0.0.1:9/hooks', eventTypes: ['user.deleted'] });
    expect(submitted.status).toBe(202);
    const request = submitted.body.request;
    expect(request).toMatchObject({ kind: 'webhook.create', state: 'pending', requestedBy: { type: 'system' } });
    expect((await app.call('GET', '/api/v1/webhooks')).body.data).toEqual([]);

    const listed = await app.call('GET', '/api/v1/change-requests');
    expect(listed.body.data.map((r: { id: string }) => r.id)).toEqual([request.id]);
    expect((await other.call('GET', `/api/v1/change-requests/${request.id}`)).status).toBe(404);
    expect((await other.call('GET', '/api/v1/change-requests')).body.data).toEqual([]);

    const approver = await portalClient(stack, tenant, { roles: ['approver'] });
    const decided = await approver.request('POST', `/approvals/${request.id}/decide`, { verdict: 'approve', changeHash: request.changeHash });
    expect(decided.body.outcome).toBe('approved');
    await eventually(async () => (await app.call('GET', `/api/v1/change-requests/${request.id}`)).body.state === 'applied');
    expect((await app.call('GET', '/api/v1/webhooks')).body.data).toHaveLength(1);

    expect((await other.call('POST', `/api/v1/change-requests/${request.id}/collect-secret`)).status).toBe(404);
    const secret = await app.call('POST', `/api/v1/change-requests/${request.id}/collect-secret`);
    expect(secret.status).toBe(200);
    expect(secret.body.secret).toMatch(/^whsec_/);
    expect((await app.call('POST', `/api/v1/change-requests/${request.id}/collect-secret`)).status).toBe(410);
  });

  it('submits any kind; an unknown kind or a bad payload is a 400 and nothing is requested', async () => {
    expect((await app.call('POST', '/api/v1/change-requests', { kind: 'nope', payload: {} })).status).toBe(400);
    expect((await app.call('POST', '/api/v1/change-requests', { kind: 'scim_connection.rotate', payload: { connectionId: 'x' } })).status).toBe(400);
    expect((await app.call('POST', '/api/v1/change-requests', { kind: 'domain.claim', payload: {} })).body.error).toBe('invalid_request');
    const before = (await app.call('GET', '/api/v1/change-requests')).body.data.length;
    const ok = await app.call('POST', '/api/v1/change-requests', { kind: 'scim_connection.rotate', payload: { connectionId: tenant.connectionId, overlapSeconds: 60 }, reason: 'quarterly' });
    expect(ok.status).toBe(202);
    expect(ok.body.request).toMatchObject({ reason: 'quarterly', state: 'pending' });
    expect((await app.call('GET', '/api/v1/change-requests')).body.data).toHaveLength(before + 1);
  });

  it('a role change that could never apply (the last admin losing admin) is refused at request time, here as in the portal', async () => {
    const t = await stack.createTenant();
    const a = await appClient(stack, t);
    const admin = await portalClient(stack, t, { roles: ['admin'] });
    const refused = await a.call('POST', '/api/v1/change-requests', { kind: 'portal_roles.set', payload: { userId: admin.userId, roles: ['auditor'] } });
    expect([refused.status, refused.body.error]).toEqual([409, 'last_admin']);
    expect((await a.call('GET', '/api/v1/change-requests')).body.data).toHaveLength(0);
    // With a second admin it is a request like any other.
    await portalClient(stack, t, { roles: ['admin'] });
    const ok = await a.call('POST', '/api/v1/change-requests', { kind: 'portal_roles.set', payload: { userId: admin.userId, roles: ['auditor'] } });
    expect(ok.status).toBe(202);
  });
});
