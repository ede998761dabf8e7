import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFetch, consoleClient, portalBase, portalClient } from '../helpers/portal.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

let stack: TestStack;
let tenant: TestTenant;

beforeAll(async () => {
  stack = await startStack();
  tenant = await stack.createTenant();
});
afterAll(async () => stack?.close());

describe('portal sign-in (smoke)', () => {
  it('a setup link signs an admin in; the session answers with roles, tenant and a CSRF token', async () => {
    const admin = await portalClient(stack, tenant, { roles: ['admin'] });
    const session = await admin.request('GET', '/session');
    expect(session.status).toBe(200);
    expect(session.body.user).toMatchObject({ id: admin.userId, email: admin.email, roles: ['admin'], tenant: { slug: tenant.slug } });
    expect(session.body.csrfToken).toBe(admin.csrfToken);
    const members = await admin.request('GET', '/members');
    expect(members.status).toBe(200);
    expect(members.body.members.map((m: any) => m.email)).toEqual([admin.email]);
  });

  it('no session is 401, unknown portal paths are JSON 404s', async () => {
    expect((await apiFetch(portalBase(stack), 'GET', '/members')).status).toBe(401);
    const missing = await apiFetch(portalBase(stack), 'GET', '/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: 'not_found' });
  });

  it('an operator signs in to the console', async () => {
    const op = await consoleClient(stack);
    const s = await op.request('GET', '/session');
    expect(s.status).toBe(200);
    expect(s.body.operator.email).toBe(op.email);
  });
});
