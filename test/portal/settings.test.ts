import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { portalClient, type PortalTestClient } from '../helpers/portal.js';
import { applyAtOnce, PORTAL_DIRECT_KINDS } from '../helpers/approvals.js';

/**
 * The portal's Settings API over real HTTP: grace period, guard, held leavers, webhooks. Webhook
 * changes and releases apply at once under these tenants' policy (approvals: 0); the approval
 * paths are in test/portal/approvals-routes.test.ts.
 */
let stack: TestStack;
let tenant: TestTenant;
let other: TestTenant;
let admin: PortalTestClient;
let auditor: PortalTestClient;
let reviewer: PortalTestClient;
let otherAdmin: PortalTestClient;

beforeAll(async () => {
  stack = await startStack();
  tenant = await stack.createTenant();
  other = await stack.createTenant();
  admin = await portalClient(stack, tenant, { roles: ['admin'] });
  auditor = await portalClient(stack, tenant, { roles: ['auditor'] });
  reviewer = await portalClient(stack, tenant, { roles: ['reviewer'] });
  otherAdmin = await portalClient(stack, other, { roles: ['admin'] });
  for (const t of [tenant, other]) await applyAtOnce(stack, t.id, PORTAL_DIRECT_KINDS);
});
afterAll(async () => stack?.close());

const Audit = z.object({ actor_type: z.string(), actor_id: z.string().nullable(), target_id: z.string().nullable(), data: z.record(z.unknown()) });
const audits = (action: string) =>
  stack.owner.any(sql.type(Audit)`SELECT actor_type, actor_id, target_id, data FROM audit_events WHERE tenant_id = ${tenant.id} AND action = ${action} ORDER BY id`);

describe('portal settings API', () => {
  it('reads settings (admin, auditor), changes them (admin only), audited with before and after', async () => {
    expect((await admin.request('GET', '/settings')).body).toEqual({ deletionGraceSeconds: 2_592_000, guard: { maxSuspensions: 50, maxShare: 0.2, windowSeconds: 3600 } });
    expect((await auditor.request('GET', '/settings')).status).toBe(200);
    expect((await reviewer.request('GET', '/settings')).status).toBe(403);
    expect((await auditor.request('PATCH', '/settings', { deletionGraceSeconds: 0 })).status).toBe(403);

    const changed = await admin.request('PATCH', '/settings', { deletionGraceSeconds: 7 * 86_400, guard: { maxSuspensions: 10, windowSeconds: 1800 } });
    expect(changed.status).toBe(200);
    expect(changed.body).toEqual({ deletionGraceSeconds: 604_800, guard: { maxSuspensions: 10, maxShare: 0.2, windowSeconds: 1800 } });
    expect((await auditor.request('GET', '/settings')).body).toEqual(changed.body);
    expect(await audits('tenant.settings_updated')).toEqual([
      {
        actor_type: 'user',
        actor_id: admin.userId,
        target_id: tenant.id,
        data: { before: { deletionGraceSeconds: 2_592_000, 'guard.maxSuspensions': 50, 'guard.windowSeconds': 3600 }, after: { deletionGraceSeconds: 604_800, 'guard.maxSuspensions': 10, 'guard.windowSeconds': 1800 } },
      },
    ]);
    // The other tenant is untouched.
    expect((await otherAdmin.request('GET', '/settings')).body.deletionGraceSeconds).toBe(2_592_000);
  });

  it('answers 400 with the field for out-of-range or empty changes', async () => {
    const share = await admin.request('PATCH', '/settings', { guard: { maxShare: 1.5 } });
    expect(share.status).toBe(400);
    expect(share.body).toMatchObject({ error: 'invalid_request', issues: [expect.objectContaining({ path: 'guard.maxShare' })] });
    expect((await admin.request('PATCH', '/settings', { deletionGraceSeconds: -1 })).status).toBe(400);
    expect((await admin.request('PATCH', '/settings', {})).status).toBe(400);
    expect((await admin.request('PATCH', '/settings', { somethingElse: 1 })).status).toBe(400);
  });

  it('lists held leavers and releases them (admin only), audited; other tenants see nothing', async () => {
    const user = await stack.scim(tenant, 'POST', '/Users', { userName: 'held-portal@example.com', displayName: 'Held Person' });
    await withTenant(stack.owner, tenant.id, (tx) => tx.query(sql.unsafe`INSERT INTO deprovision_holds (tenant_id, user_id) VALUES (${tenant.id}, ${user.body.id})`));
    const held = await auditor.request('GET', '/settings/held-leavers');
    expect(held.body.data).toEqual([{ userId: user.body.id, userName: 'held-portal@example.com', displayName: 'Held Person', heldAt: expect.any(String) }]);
    expect((await otherAdmin.request('GET', '/settings/held-leavers')).body.data).toEqual([]);
    expect((await otherAdmin.request('POST', '/settings/held-leavers/release', { userId: user.body.id })).status).toBe(404);
    expect((await auditor.request('POST', '/settings/held-leavers/release', {})).status).toBe(403);

    const released = await admin.request('POST', '/settings/held-leavers/release', { userId: user.body.id });
    expect(released.body).toEqual({ released: [user.body.id], changeRequestId: expect.any(String) });
    expect((await admin.request('GET', '/settings/held-leavers')).body.data).toEqual([]);
    expect(await audits('leaver.released')).toEqual([expect.objectContaining({ actor_type: 'user', actor_id: admin.userId, target_id: user.body.id })]);
    expect((await admin.request('POST', '/settings/held-leavers/release', {})).body).toEqual({ released: [] });
  });

  it('manages webhook endpoints: secret shown once, rotate, delete, each audited; auditors read only', async () => {
    expect((await auditor.request('POST', '/settings/webhooks', { url: 'https://hooks.example.com/roster' })).status).toBe(403);
    expect((await admin.request('POST', '/settings/webhooks', { url: 'ftp://example.com' })).status).toBe(400);
    const created = await admin.request('POST', '/settings/webhooks', { url: 'https://hooks.example.com/roster', eventTypes: ['user.suspended', 'user.deleted'] });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    expect(created.body).toMatchObject({ secret: expect.stringMatching(/^whsec_/), eventTypes: ['user.suspended', 'user.deleted'] });
    const listed = await auditor.request('GET', '/settings/webhooks');
    expect(listed.body.data).toEqual([expect.objectContaining({ id: created.body.id, url: 'https://hooks.example.com/roster' })]);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.secret);
    expect((await otherAdmin.request('GET', '/settings/webhooks')).body.data).toEqual([]);

    const rotated = await admin.request('POST', `/settings/webhooks/${created.body.id}/rotate`, { overlapSeconds: 3600 });
    expect(rotated.body.secret).not.toBe(created.body.secret);
    expect(rotated.body.previousSecretExpiresAt).not.toBeNull();
    expect((await otherAdmin.request('DELETE', `/settings/webhooks/${created.body.id}`)).status).toBe(404);
    expect((await admin.request('DELETE', `/settings/webhooks/${created.body.id}`)).status).toBe(204);
    expect((await admin.request('GET', '/settings/webhooks')).body.data).toEqual([]);
    for (const action of ['webhook.created', 'webhook.secret_rotated', 'webhook.deleted']) {
      expect(await audits(action)).toEqual([expect.objectContaining({ actor_type: 'user', actor_id: admin.userId, target_id: created.body.id })]);
    }
  });
});
