import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { sealAuditChains, verifyAuditChain } from '../../core/repositories/audit.js';
import { openPersonalData, SealedPersonalData } from '../../core/repositories/personal-data.js';
import { identityWorkflowId } from '../../workflows/ids.js';
import { identityStatusQuery } from '../../workflows/messages.js';
import { type AppClient, appClient } from '../helpers/app-api.js';
import { maybeRecordHistory } from '../helpers/histories.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { APP_API_CHANGE_KINDS, applyAtOnce } from '../helpers/approvals.js';

const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const n = z.object({ n: z.number() });

let stack: TestStack;
let tenant: TestTenant;
let app: AppClient;
let adminsGroup: string;

beforeAll(async () => {
  stack = await startStack({ worker: true });
  tenant = await stack.createTenant({ graceSeconds: 3 });
  await applyAtOnce(stack, tenant.id, APP_API_CHANGE_KINDS);
  // The guard has its own test below; here many leavers in one small tenant are intended.
  await stack.owner.query(sql.unsafe`UPDATE tenants SET guard_max_share = 1 WHERE id = ${tenant.id}`);
  app = await appClient(stack, tenant);
  expect((await app.call('PUT', '/api/v1/default-role', { role: 'member' })).status).toBe(200);
  adminsGroup = (await stack.scim(tenant, 'POST', '/Groups', { displayName: 'Admins' })).body.id;
  const mapped = await app.call('PUT', `/api/v1/role-mappings/${adminsGroup}`, { roles: ['admin'] });
  expect(mapped.status, JSON.stringify(mapped.body)).toBe(200);
});
afterAll(async () => stack?.close());

const rolesOf = async (userId: string) => (await app.call('GET', `/api/v1/users/${userId}/lifecycle`)).body.roles as string[];
const lifecycleOf = async (userId: string) => (await app.call('GET', `/api/v1/users/${userId}/lifecycle`)).body;
const eventTypes = (userId: string) =>
  stack.owner.anyFirst(sql.type(z.object({ type: z.string() }))`SELECT type FROM events WHERE subject_id = ${userId} ORDER BY position NULLS LAST, created_at`);
const patch = (id: string, ops: unknown[]) => stack.scim(tenant, 'PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: ops });
const status = (userId: string) => stack.client!.workflow.getHandle(identityWorkflowId(tenant.id, userId)).query(identityStatusQuery);
const settled = (userId: string) =>
  eventually(async () => {
    const s = await status(userId);
    const row = await stack.owner.one(sql.type(z.object({ event_seq: z.number() }))`SELECT event_seq FROM users WHERE id = ${userId}`);
    return s.appliedSeq === row.event_seq && s.pendingSeqs.length === 0 && s;
  }, 30_000);

async function joiner(userName: string, extra: Record<string, unknown> = {}) {
  const res = await stack.scim(tenant, 'POST', '/Users', { userName, ...extra });
  expect(res.status).toBe(201);
  await settled(res.body.id);
  return res.body.id as string;
}

describe('joiner, mover, leaver', () => {
  it('joiner grants the default and mapped roles and tells the app', async () => {
    const id = await joiner('joiner@example.com');
    expect(await rolesOf(id)).toEqual(['member']);
    await stack.scim(tenant, 'PATCH', `/Groups/${adminsGroup}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: id }] }] });
    await eventually(async () => (await rolesOf(id)).includes('admin'));
    expect(await rolesOf(id)).toEqual(['admin', 'member']);
    await settled(id);
    const types = await eventTypes(id);
    expect(types.slice(0, 2)).toEqual(['role.granted', 'user.provisioned']);
    expect(types).toContain('role.granted');
    expect(types.filter((t) => t === 'role.granted')).toHaveLength(2);
  });

  it('mover: losing a privileged role revokes the credentials that depended on it, and only those', async () => {
    const id = await joiner('mover@example.com');
    await stack.scim(tenant, 'PATCH', `/Groups/${adminsGroup}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: id }] }] });
    await eventually(async () => (await rolesOf(id)).includes('admin'));
    const adminToken = (await app.call('POST', `/api/v1/users/${id}/tokens`, { name: 'admin-cli', scopes: ['admin:write'], requiredRoles: ['admin'] })).body.token;
    const plainToken = (await app.call('POST', `/api/v1/users/${id}/tokens`, { name: 'cli', scopes: ['read'] })).body.token;
    expect((await app.introspect(adminToken)).active).toBe(true);
    expect((await app.introspect(adminToken)).roles).toEqual(['admin', 'member']);

    await stack.scim(tenant, 'PATCH', `/Groups/${adminsGroup}`, { schemas: [PATCH], Operations: [{ op: 'remove', path: `members[value eq "${id}"]` }] });
    await eventually(async () => !(await rolesOf(id)).includes('admin'));
    await settled(id);
    expect((await app.introspect(adminToken)).active).toBe(false);
    expect((await app.introspect(plainToken)).active).toBe(true);
    const revoked = await stack.owner.oneFirst(sql.type(z.object({ r: z.string().nullable() }))`SELECT revoked_reason AS r FROM credentials WHERE user_id = ${id} AND name = 'admin-cli'`);
    expect(revoked).not.toBeNull();
    expect(await eventTypes(id)).toContain('role.revoked');
  });

  it('mapping dry run reports gains and losses without applying them', async () => {
    const id = await joiner('dry@example.com');
    await stack.scim(tenant, 'PATCH', `/Groups/${adminsGroup}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: id }] }] });
    await eventually(async () => (await rolesOf(id)).includes('admin'));
    const dry = await app.call('PUT', `/api/v1/role-mappings/${adminsGroup}`, { roles: ['admin', 'billing-admin'], dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body.applied).toBe(false);
    expect(dry.body.changes).toContainEqual({ userId: id, gains: ['billing-admin'], losses: [] });
    expect((await app.call('GET', '/api/v1/role-mappings')).body.data).toContainEqual({ group_id: adminsGroup, display_name: 'Admins', roles: ['admin'] });
    const unknown = await app.call('PUT', `/api/v1/role-mappings/${adminsGroup}`, { roles: ['root'] });
    expect(unknown.status).toBe(400);
  });

  it('Okta-style leaver: everything the user owns is revoked or handed over, verified, and stays revoked on reactivation', async () => {
    const manager = await joiner('manager@example.com');
    const id = await joiner('leaver@example.com', { [ENTERPRISE]: { manager: { value: manager } } });
    const session = (await app.call('POST', `/api/v1/users/${id}/sessions`, {})).body.token;
    const pat = (await app.call('POST', `/api/v1/users/${id}/tokens`, { name: 'pat', scopes: ['read'] })).body.token;
    const grant = (await app.call('POST', `/api/v1/users/${id}/oauth-grants`, { clientId: 'slack', scopes: ['chat:write'] })).body;
    const sa = (await app.call('POST', '/api/v1/service-accounts', { name: 'ci-bot', ownerUserId: id })).body;
    const saToken = (await app.call('POST', `/api/v1/service-accounts/${sa.serviceAccount?.id ?? sa.id}/tokens`, { name: 'ci', scopes: ['deploy'] })).body.token;
    for (const t of [session, pat, saToken]) expect((await app.introspect(t)).active).toBe(true);

    expect((await patch(id, [{ op: 'replace', value: { active: false } }])).status).toBe(200);
    // Immediate: before any workflow step ran, introspection already says no.
    for (const t of [session, pat]) expect((await app.introspect(t)).active).toBe(false);
    const s = await settled(id);
    expect(s.leaverDone).toBe(true);

    const access = (await app.call('GET', `/api/v1/users/${id}/access`)).body;
    expect(JSON.stringify(access)).not.toContain(session);
    const live = await stack.owner.oneFirst(sql.type(n)`SELECT count(*)::int AS n FROM credentials WHERE user_id = ${id} AND revoked_at IS NULL`);
    expect(live).toBe(0);
    expect(await stack.owner.oneFirst(sql.type(n)`SELECT count(*)::int AS n FROM oauth_grants WHERE id = ${grant.grant?.id ?? grant.id} AND revoked_at IS NULL`)).toBe(0);
    const owner = await stack.owner.oneFirst(sql.type(z.object({ o: z.string().nullable() }))`SELECT owner_user_id::text AS o FROM service_accounts WHERE id = ${sa.serviceAccount?.id ?? sa.id}`);
    expect(owner).toBe(manager);
    expect((await app.introspect(saToken)).active).toBe(true); // the bot keeps working under its new owner
    const report = await stack.owner.one(sql.type(z.object({ live_credentials: z.number() }))`SELECT live_credentials FROM exposure_reports WHERE user_id = ${id}`);
    expect(report.live_credentials).toBe(0);
    expect(await eventTypes(id)).toContain('user.suspended');

    // Reactivation restores the account and its roles, never the revoked credentials.
    await patch(id, [{ op: 'replace', path: 'active', value: true }]);
    await eventually(async () => (await lifecycleOf(id)).lifecycle_state === 'active');
    await settled(id);
    expect(await rolesOf(id)).toEqual(['member']);
    for (const t of [session, pat]) expect((await app.introspect(t)).active).toBe(false);
    expect(await eventTypes(id)).toContain('user.reactivated');
    await maybeRecordHistory(stack.client!, identityWorkflowId(tenant.id, id), 'identity-leaver-reactivation');
  });

  it('leaver with tenant policy "disable": owned service accounts are disabled and queued as orphans', async () => {
    await stack.owner.query(sql.unsafe`UPDATE tenants SET orphan_policy = 'disable' WHERE id = ${tenant.id}`);
    try {
      const id = await joiner('orphaner@example.com');
      const sa = (await app.call('POST', '/api/v1/service-accounts', { name: 'nightly', ownerUserId: id })).body;
      const saId = sa.serviceAccount?.id ?? sa.id;
      const saToken = (await app.call('POST', `/api/v1/service-accounts/${saId}/tokens`, { name: 'n', scopes: ['x'] })).body.token;
      await patch(id, [{ op: 'Replace', path: 'active', value: 'False' }]);
      await settled(id);
      expect((await app.introspect(saToken)).active).toBe(false);
      const row = await stack.owner.one(sql.type(z.object({ status: z.string(), orphaned: z.boolean() }))`
        SELECT status, orphaned_at IS NOT NULL AS orphaned FROM service_accounts WHERE id = ${saId}`);
      expect(row).toEqual({ status: 'disabled', orphaned: true });
    } finally {
      await stack.owner.query(sql.unsafe`UPDATE tenants SET orphan_policy = 'reassign' WHERE id = ${tenant.id}`);
    }
  });

  it('Entra-style soft delete then DELETE: 404 at once, one leaver, grace period, then personal data removed; a new user with the same name is new', async () => {
    const id = await joiner('entra.delete@example.com', { externalId: 'entra-1', name: { givenName: 'Erin' } });
    const pat = (await app.call('POST', `/api/v1/users/${id}/tokens`, { name: 'pat', scopes: ['read'] })).body.token;
    // Entra soft-deletes first (active "False" as a string), and sends DELETE only later.
    expect((await patch(id, [{ op: 'Replace', path: 'active', value: 'False' }])).status).toBe(200);
    expect((await app.introspect(pat)).active).toBe(false);
    expect((await settled(id)).leaverDone).toBe(true);
    expect((await stack.scim(tenant, 'GET', `/Users/${id}`)).body.active).toBe(false);
    expect((await stack.scim(tenant, 'DELETE', `/Users/${id}`)).status).toBe(204);
    expect((await stack.scim(tenant, 'GET', `/Users/${id}`)).status).toBe(404);
    expect((await app.introspect(pat)).active).toBe(false);
    await eventually(async () => (await lifecycleOf(id)).lifecycle_state === 'deleted', 30_000);
    const row = await stack.owner.one(sql.type(z.object({ user_name: z.string(), name: z.unknown(), external_id: z.string().nullable() }))`
      SELECT user_name, name, external_id FROM users WHERE id = ${id}`);
    expect(row.user_name).toMatch(/^deleted-[0-9a-f]{16}$/);
    expect(row.name).toBeNull();
    expect(row.external_id).toBeNull();
    await eventually(async () => (await eventTypes(id)).includes('user.deleted'));
    expect((await eventTypes(id)).filter((t) => t === 'user.suspended')).toHaveLength(1);
    // The audit trail keeps every event but its personal values are erased (their key is gone),
    // and the hash chain still verifies.
    const audit = await stack.owner.anyFirst(sql.type(z.object({ d: z.string() }))`SELECT data::text AS d FROM audit_events WHERE target_id = ${id}`);
    expect(audit.join('\n')).not.toMatch(/Erin|entra\.delete/);
    const sealed = await stack.owner.oneFirst(sql.type(z.object({ p: z.unknown() }))`
      SELECT data->'personal' AS p FROM audit_events WHERE target_id = ${id} AND action = 'user.created'`);
    expect(await withTenant(stack.owner, tenant.id, (tx) => openPersonalData(tx, tenant.id, SealedPersonalData.parse(sealed)))).toBeNull();
    await sealAuditChains(stack.app);
    expect((await verifyAuditChain(stack.app, tenant.id)).first_bad_seq).toBeNull();
    const timeline = (await app.call('GET', `/api/v1/users/${id}/timeline`)).body.data.map((e: { action: string }) => e.action);
    expect(timeline).toEqual(expect.arrayContaining(['user.created', 'user.deleted', 'lifecycle.deleted']));
    const again = await stack.scim(tenant, 'POST', '/Users', { userName: 'entra.delete@example.com', externalId: 'entra-1' });
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(id);
  });

  it('a fresh workflow run in the middle of a stream learns from the database that the leaver ran: a later DELETE runs none', async () => {
    // Seen under the chaos harness: an identity's run gone between its leaver and a later DELETE
    // (here: an operator's terminate) left the next run with no memory of the leaver, which then
    // revoked again and announced user.suspended twice.
    const id = await joiner('fresh.run@example.com');
    expect((await patch(id, [{ op: 'replace', path: 'active', value: false }])).status).toBe(200);
    expect((await settled(id)).leaverDone).toBe(true);
    await stack.client!.workflow.getHandle(identityWorkflowId(tenant.id, id)).terminate('test: the run is gone');
    expect((await patch(id, [{ op: 'replace', path: 'displayName', value: 'Still Gone' }])).status).toBe(200);
    const fresh = await settled(id);
    expect(fresh.state).toBe('suspended');
    expect((await stack.scim(tenant, 'DELETE', `/Users/${id}`)).status).toBe(204);
    await eventually(async () => (await eventTypes(id)).includes('user.deleted'), 30_000);
    expect((await eventTypes(id)).filter((t) => t === 'user.suspended')).toHaveLength(1);
  });

  it('re-creating a deleted user inside the grace period restores the same identity and cancels the deletion', async () => {
    await stack.owner.query(sql.unsafe`UPDATE tenants SET deletion_grace_seconds = 6 WHERE id = ${tenant.id}`);
    try {
      const id = await joiner('restore.me@example.com', { externalId: 'restore-1' });
      expect((await stack.scim(tenant, 'DELETE', `/Users/${id}`)).status).toBe(204);
      await eventually(async () => (await status(id)).awaitingDeletion);
      const back = await stack.scim(tenant, 'POST', '/Users', { userName: 'restore.me@example.com', externalId: 'restore-1' });
      expect(back.status).toBe(201);
      expect(back.body.id).toBe(id);
      await eventually(async () => (await lifecycleOf(id)).lifecycle_state === 'active');
      await new Promise((r) => setTimeout(r, 7000));
      expect((await lifecycleOf(id)).lifecycle_state).toBe('active');
      expect((await stack.scim(tenant, 'GET', `/Users/${id}`)).status).toBe(200);
    } finally {
      await stack.owner.query(sql.unsafe`UPDATE tenants SET deletion_grace_seconds = 3 WHERE id = ${tenant.id}`);
    }
  });
});

describe('mass-deprovisioning guard', () => {
  it('holds leavers past the threshold, alerts the tenant, and lets them proceed on release', async () => {
    const t = await stack.createTenant();
    await applyAtOnce(stack, t.id, APP_API_CHANGE_KINDS);
    const a = await appClient(stack, t);
    await stack.owner.query(sql.unsafe`UPDATE tenants SET guard_max_suspensions = 2, guard_max_share = 1 WHERE id = ${t.id}`);
    const ids: string[] = [];
    const tokens: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await stack.scim(t, 'POST', '/Users', { userName: `mass${i}@example.com` });
      ids.push(res.body.id);
      await eventually(async () => (await a.call('GET', `/api/v1/users/${res.body.id}/lifecycle`)).body.lifecycle_state === 'active');
      tokens.push((await a.call('POST', `/api/v1/users/${res.body.id}/tokens`, { name: 't', scopes: ['x'] })).body.token);
    }
    for (const id of ids) await stack.scim(t, 'PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] });
    const handle = (id: string) => stack.client!.workflow.getHandle(identityWorkflowId(t.id, id)).query(identityStatusQuery);
    await eventually(async () => {
      const statuses = await Promise.all(ids.map(handle));
      return statuses.filter((s) => s.held).length === 3 && statuses.filter((s) => s.leaverDone).length === 2;
    });
    const alerts = await stack.owner.oneFirst(sql.type(n)`SELECT count(*)::int AS n FROM tenant_alerts WHERE tenant_id = ${t.id} AND kind = 'mass_deprovisioning'`);
    expect(alerts).toBe(1);
    const open = (await a.call('GET', '/api/v1/alerts?open=true')).body.data;
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ kind: 'mass_deprovisioning', resolved_at: null });
    // Held leavers have not revoked anything yet (the suspension itself already blocks introspection).
    const live = await stack.owner.oneFirst(sql.type(n)`SELECT count(*)::int AS n FROM credentials WHERE tenant_id = ${t.id} AND revoked_at IS NULL`);
    expect(live).toBe(3);

    const released = await a.call('POST', '/api/v1/guard/release', {});
    expect(released.body.released).toHaveLength(3);
    await eventually(async () => (await Promise.all(ids.map(handle))).every((s) => s.leaverDone && !s.held));
    expect((await a.call('GET', '/api/v1/alerts?open=true')).body.data).toHaveLength(0);
    expect(await stack.owner.oneFirst(sql.type(n)`SELECT count(*)::int AS n FROM credentials WHERE tenant_id = ${t.id} AND revoked_at IS NULL`)).toBe(0);
    const heldOne = await stack.owner.oneFirst(sql.type(z.object({ id: z.string() }))`
      SELECT user_id::text AS id FROM deprovision_holds WHERE tenant_id = ${t.id} ORDER BY held_at LIMIT 1`);
    await maybeRecordHistory(stack.client!, identityWorkflowId(t.id, heldOne), 'identity-guard-hold');
  });
});
