import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { portalClient, type PortalTestClient } from '../helpers/portal.js';
import { applyAtOnce } from '../helpers/approvals.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

let stack: TestStack;
let t: TestTenant;
let admin: PortalTestClient;
const ids: Record<string, string> = {};
let ops = '';

/** user_roles as the movers left them, per user name. */
async function grantedRoles(): Promise<Record<string, string[]>> {
  const rows = await withTenant(stack.owner, t.id, (tx) =>
    tx.any(sql.type(z.object({ user_name: z.string(), roles: z.array(z.string()) }))`
      SELECT u.user_name, coalesce(array_agg(r.role ORDER BY r.role) FILTER (WHERE r.role IS NOT NULL), '{}') AS roles
        FROM users u LEFT JOIN user_roles r ON r.tenant_id = u.tenant_id AND r.user_id = u.id
       WHERE u.tenant_id = ${t.id} GROUP BY u.user_name`),
  );
  return Object.fromEntries(rows.map((r) => [r.user_name.split('@')[0]!, r.roles]));
}

beforeAll(async () => {
  stack = await startStack({ worker: true });
  t = await stack.createTenant();
  // Saves apply at once here (the approval path of a mapping change is in test/portal/approvals-routes.test.ts).
  await applyAtOnce(stack, t.id, ['role_mapping.set', 'default_role.set']);
  for (const name of ['ann', 'bob', 'cat']) ids[name] = (await stack.scim(t, 'POST', '/Users', { userName: `${name}@example.com`, displayName: name.toUpperCase() })).body.id;
  ops = (await stack.scim(t, 'POST', '/Groups', { displayName: 'Ops', members: [{ value: ids.ann }, { value: ids.bob }] })).body.id;
  admin = await portalClient(stack, t, { roles: ['admin'] });
  // The joiners have run: nobody holds a role yet.
  await eventually(async () => Object.values(await grantedRoles()).length === 3);
});
afterAll(async () => stack?.close());

describe('portal role mappings API', () => {
  it('previews a mapping change (who gains what), then saving applies exactly that through the movers', async () => {
    const preview = await admin.request('POST', '/role-mappings/preview', { groupId: ops, roles: ['admin', 'member'] });
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({
      affectedUsers: 2,
      changes: [
        { userId: ids.ann, userName: 'ann@example.com', gains: ['admin', 'member'], losses: [] },
        { userId: ids.bob, userName: 'bob@example.com', gains: ['admin', 'member'], losses: [] },
      ],
    });
    expect(preview.body.applied).toBeUndefined();
    expect((await admin.request('GET', '/role-mappings')).body.mappings).toEqual([]);

    const saved = await admin.request('PUT', `/role-mappings/${ops}`, { roles: ['admin', 'member'], fingerprint: preview.body.fingerprint });
    expect(saved.status, JSON.stringify(saved.body)).toBe(200);
    expect(saved.body).toEqual({ ...preview.body, applied: true, changeRequestId: expect.any(String) });
    const after = await eventually(async () => {
      const roles = await grantedRoles();
      return roles.ann!.length && roles.bob!.length ? roles : undefined;
    });
    expect(after).toEqual({ ann: ['admin', 'member'], bob: ['admin', 'member'], cat: [] });
    expect((await admin.request('GET', '/role-mappings')).body).toMatchObject({
      defaultRole: null,
      mappings: [{ groupId: ops, displayName: 'Ops', roles: ['admin', 'member'], memberCount: 2 }],
    });
  });

  it('a losing change: the preview lists the losses and the movers revoke exactly them', async () => {
    const preview = await admin.request('POST', '/role-mappings/preview', { groupId: ops, roles: ['member'] });
    expect(preview.body.changes.map((c: { userName: string; gains: string[]; losses: string[] }) => [c.userName, c.gains, c.losses])).toEqual([
      ['ann@example.com', [], ['admin']],
      ['bob@example.com', [], ['admin']],
    ]);
    expect((await admin.request('PUT', `/role-mappings/${ops}`, { roles: ['member'], fingerprint: preview.body.fingerprint })).status).toBe(200);
    expect(await eventually(async () => {
      const roles = await grantedRoles();
      return roles.ann!.join() === 'member' && roles.bob!.join() === 'member' ? roles : undefined;
    })).toEqual({ ann: ['member'], bob: ['member'], cat: [] });
  });

  it('refuses to save when the effect changed since the preview (409 preview_stale), and changes nothing', async () => {
    const preview = await admin.request('POST', '/role-mappings/preview', { groupId: ops, roles: ['member', 'viewer'] });
    expect(preview.body.affectedUsers).toBe(2);
    await stack.scim(t, 'PATCH', `/Groups/${ops}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: [{ value: ids.cat }] }] });
    const stale = await admin.request('PUT', `/role-mappings/${ops}`, { roles: ['member', 'viewer'], fingerprint: preview.body.fingerprint });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toBe('preview_stale');
    expect((await admin.request('GET', '/role-mappings')).body.mappings[0].roles).toEqual(['member']);
    // A fingerprint of another change is stale too.
    expect((await admin.request('PUT', `/role-mappings/${ops}`, { roles: ['viewer'], fingerprint: preview.body.fingerprint })).status).toBe(409);
  });

  it('the default role: preview across everyone, save, applied by the movers', async () => {
    const preview = await admin.request('POST', '/default-role/preview', { role: 'viewer' });
    expect(preview.body.affectedUsers).toBe(3);
    expect((await admin.request('PUT', '/default-role', { role: 'viewer', fingerprint: preview.body.fingerprint })).status).toBe(200);
    expect(await eventually(async () => {
      const roles = await grantedRoles();
      return Object.values(roles).every((r) => r.includes('viewer')) ? roles : undefined;
    })).toEqual({ ann: ['member', 'viewer'], bob: ['member', 'viewer'], cat: ['member', 'viewer'] });
    expect((await admin.request('GET', '/role-mappings')).body.defaultRole).toBe('viewer');
  });

  it('validates input: unknown roles 400, unknown group 404', async () => {
    const bad = await admin.request('POST', '/role-mappings/preview', { groupId: ops, roles: ['root'] });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('unknown_role');
    expect((await admin.request('POST', '/role-mappings/preview', { groupId: 'not-a-uuid', roles: [] })).status).toBe(400);
    expect((await admin.request('PUT', '/role-mappings/00000000-0000-4000-8000-000000000000', { roles: [], fingerprint: 'x' })).status).toBe(404);
  });

  it('approvers and auditors read; only admins preview and save; other tenants see nothing', async () => {
    const approver = await portalClient(stack, t, { roles: ['approver'] });
    const auditor = await portalClient(stack, t, { roles: ['auditor'] });
    const reviewer = await portalClient(stack, t, { roles: ['reviewer'] });
    for (const reader of [approver, auditor]) {
      expect((await reader.request('GET', '/role-mappings')).status).toBe(200);
      expect((await reader.request('GET', '/role-mappings/groups?search=op')).body.data.map((g: { groupId: string }) => g.groupId)).toEqual([ops]);
      expect((await reader.request('POST', '/role-mappings/preview', { groupId: ops, roles: [] })).status).toBe(403);
      expect((await reader.request('PUT', `/role-mappings/${ops}`, { roles: [], fingerprint: 'x' })).status).toBe(403);
      expect((await reader.request('PUT', '/default-role', { role: null, fingerprint: 'x' })).status).toBe(403);
    }
    expect((await reviewer.request('GET', '/role-mappings')).status).toBe(403);
    const other = await stack.createTenant();
    const stranger = await portalClient(stack, other, { roles: ['admin'] });
    expect((await stranger.request('GET', '/role-mappings')).body.mappings).toEqual([]);
    expect((await stranger.request('POST', '/role-mappings/preview', { groupId: ops, roles: ['admin'] })).status).toBe(404);
  });

  it('every saved change is in the audit log with who, before and after', async () => {
    const log = await admin.request('GET', '/audit-events?action=role_mapping.changed');
    expect(log.body.data[log.body.data.length - 1]).toMatchObject({
      actor: { type: 'user', id: admin.userId },
      target: { type: 'group', id: ops },
      data: { before: [], after: ['admin', 'member'], affectedUsers: 2 },
    });
    expect((await admin.request('GET', '/audit-events?action=default_role.changed')).body.data[0].data).toMatchObject({ before: null, after: 'viewer', affectedUsers: 3 });
  });
});
