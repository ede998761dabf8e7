import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { changeFingerprint, roleMappingOverview, searchGroups, setDefaultRole, setGroupRoles } from '../../core/entitlements/service.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

let stack: TestStack;
let t: TestTenant;
const ids: Record<string, string> = {};
let ops = '';
const actor = { type: 'user' as const, id: 'admin-1' };

const ctx = () => ({ tenantId: t.id, catalogue: stack.config.APP_ROLES, actor });
const inTenant = <T>(fn: Parameters<typeof withTenant<T>>[2]) => withTenant(stack.app, t.id, fn);

beforeAll(async () => {
  stack = await startStack();
  t = await stack.createTenant();
  for (const name of ['ann', 'bob', 'cat']) {
    const r = await stack.scim(t, 'POST', '/Users', { userName: `${name}@example.com`, displayName: name.toUpperCase() });
    ids[name] = r.body.id;
  }
  const g = await stack.scim(t, 'POST', '/Groups', { displayName: 'Ops', members: [{ value: ids.ann }, { value: ids.bob }] });
  ops = g.body.id;
  await stack.scim(t, 'POST', '/Groups', { displayName: 'Finance', members: [{ value: ids.cat }] });
});
afterAll(async () => stack?.close());

const outboxFor = (userId: string) =>
  inTenant((tx) => tx.anyFirst(sql.type(z.object({ event_type: z.string() }))`
    SELECT event_type FROM outbox WHERE tenant_id = ${t.id} AND stream_id = ${userId} AND event_type = 'entitlements.changed'`));

describe('entitlements service: preview, then save exactly the preview', () => {
  it('a preview names each member with gains, changes nothing, and fingerprints the effect', async () => {
    const p = await inTenant((tx) => setGroupRoles(tx, ctx(), { groupId: ops, roles: ['admin', 'member'] }, { mode: 'preview' }));
    expect(p).toMatchObject({
      applied: false,
      affectedUsers: 2,
      changes: [
        { userId: ids.ann, userName: 'ann@example.com', displayName: 'ANN', gains: ['admin', 'member'], losses: [] },
        { userId: ids.bob, userName: 'bob@example.com', displayName: 'BOB', gains: ['admin', 'member'], losses: [] },
      ],
    });
    expect(p.fingerprint).toBe(changeFingerprint({ cause: 'role_mapping', groupId: ops, roles: ['admin', 'member'] }, p.changes));
    expect((await inTenant((tx) => roleMappingOverview(tx, t.id, stack.config.APP_ROLES))).mappings).toEqual([]);
    expect(await outboxFor(ids.ann!)).toEqual([]);
  });

  it('saving with a stale fingerprint (a member joined since) changes nothing: 409 preview_stale', async () => {
    const p = await inTenant((tx) => setGroupRoles(tx, ctx(), { groupId: ops, roles: ['admin'] }, { mode: 'preview' }));
    await stack.scim(t, 'PATCH', `/Groups/${ops}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: [{ value: ids.cat }] }] });
    await expect(inTenant((tx) => setGroupRoles(tx, ctx(), { groupId: ops, roles: ['admin'] }, { mode: 'apply', fingerprint: p.fingerprint }))).rejects.toMatchObject({ status: 409, code: 'preview_stale' });
    expect((await inTenant((tx) => roleMappingOverview(tx, t.id, stack.config.APP_ROLES))).mappings).toEqual([]);
  });

  it('saving with a fresh fingerprint applies it: mapping stored, one audit row with before/after, an ordered event per affected person', async () => {
    const p = await inTenant((tx) => setGroupRoles(tx, ctx(), { groupId: ops, roles: ['admin'] }, { mode: 'preview' }));
    expect(p.changes.map((c) => c.userId).sort()).toEqual([ids.ann, ids.bob, ids.cat].sort());
    const saved = await inTenant((tx) => setGroupRoles(tx, ctx(), { groupId: ops, roles: ['admin'] }, { mode: 'apply', fingerprint: p.fingerprint }));
    expect(saved).toEqual({ ...p, applied: true });
    const overview = await inTenant((tx) => roleMappingOverview(tx, t.id, stack.config.APP_ROLES));
    expect(overview.mappings).toEqual([{ groupId: ops, displayName: 'Ops', roles: ['admin'], memberCount: 3 }]);
    for (const id of [ids.ann!, ids.bob!, ids.cat!]) expect(await outboxFor(id)).toEqual(['entitlements.changed']);
    const audit = await inTenant((tx) => tx.one(sql.type(z.object({ actor_id: z.string().nullable(), target_id: z.string().nullable(), data: z.record(z.unknown()) }))`
      SELECT actor_id, target_id, data FROM audit_events WHERE tenant_id = ${t.id} AND action = 'role_mapping.changed'`));
    expect(audit).toMatchObject({ actor_id: 'admin-1', target_id: ops, data: { before: [], after: ['admin'], affectedUsers: 3 } });
    expect((audit.data.changes as unknown[]).length).toBe(3);
  });

  it('the default role: preview over everyone, then save; unknown roles are refused', async () => {
    const p = await inTenant((tx) => setDefaultRole(tx, ctx(), { role: 'viewer' }, { mode: 'preview' }));
    expect(p.affectedUsers).toBe(3);
    expect(p.changes.every((c) => c.gains.join() === 'viewer')).toBe(true);
    await inTenant((tx) => setDefaultRole(tx, ctx(), { role: 'viewer' }, { mode: 'apply', fingerprint: p.fingerprint }));
    expect((await inTenant((tx) => roleMappingOverview(tx, t.id, stack.config.APP_ROLES))).defaultRole).toBe('viewer');
    await expect(inTenant((tx) => setDefaultRole(tx, ctx(), { role: 'root' }, { mode: 'preview' }))).rejects.toMatchObject({ status: 400, code: 'unknown_role' });
    await expect(inTenant((tx) => setGroupRoles(tx, ctx(), { groupId: '00000000-0000-4000-8000-000000000000', roles: [] }, { mode: 'preview' }))).rejects.toMatchObject({ status: 404 });
  });

  it('group search: by name prefix, case-insensitive, keyset paged', async () => {
    const first = await inTenant((tx) => searchGroups(tx, t.id, { limit: 1 }));
    expect(first.data.map((g) => g.displayName)).toEqual(['Finance']);
    const second = await inTenant((tx) => searchGroups(tx, t.id, { limit: 1, cursor: first.next! }));
    expect(second).toMatchObject({ data: [{ displayName: 'Ops', roles: ['admin'], memberCount: 3 }], next: null });
    expect((await inTenant((tx) => searchGroups(tx, t.id, { search: 'OP', limit: 10 }))).data.map((g) => g.groupId)).toEqual([ops]);
  });
});
