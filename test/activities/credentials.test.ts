import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CredentialActivities, createCredentialActivities } from '../../activities/credentials.js';
import { withTenant } from '../../core/db/pool.js';
import * as credentials from '../../core/repositories/credentials.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { activeUser, api, type AppTenant, appTenant, deactivate, introspect, markActivated } from '../helpers/app-api-fixtures.js';

const actor = { type: 'system' as const, id: 'test-setup' };
const count = z.object({ n: z.number() });

let stack: TestStack;
let activities: CredentialActivities;
let a: AppTenant;
let b: AppTenant;

beforeAll(async () => {
  stack = await startStack();
  activities = createCredentialActivities({ db: stack.app });
  a = await appTenant(stack);
  b = await appTenant(stack);
});
afterAll(async () => stack?.close());

const inTenant = <T>(t: TestTenant, fn: Parameters<typeof withTenant<T>>[2]) => withTenant(stack.app, t.id, fn);

async function auditCount(t: TestTenant, actorId: string): Promise<number> {
  return stack.owner.oneFirst(sql.type(count)`SELECT count(*)::int AS n FROM audit_events WHERE tenant_id = ${t.id} AND actor_id = ${actorId}`);
}

async function setOrphanPolicy(t: TestTenant, policy: 'reassign' | 'disable') {
  await stack.owner.query(sql.unsafe`UPDATE tenants SET orphan_policy = ${policy} WHERE id = ${t.id}`);
}

/** A user holding two sessions, a personal token (plus one already revoked) and an OAuth grant. */
async function userWithAccess(t: AppTenant, userName: string, options: { managerId?: string } = {}) {
  const userId = await activeUser(stack, t, userName, options);
  return inTenant(t, async (tx) => {
    const s1 = await credentials.issueSession(tx, t.id, { userId }, actor);
    const s2 = await credentials.issueSession(tx, t.id, { userId, ttlSeconds: 60 }, actor);
    const p = await credentials.issuePersonalToken(tx, t.id, { userId, name: 'p', scopes: ['read'] }, actor);
    const old = await credentials.issuePersonalToken(tx, t.id, { userId, name: 'old', scopes: [] }, actor);
    await credentials.revokeCredential(tx, t.id, old.credential.id, 'revoked_by_app', actor);
    const g = await credentials.recordOAuthGrant(tx, t.id, { userId, clientId: 'zapier', scopes: ['read'] }, actor);
    return { userId, tokens: [s1.token, s2.token, p.token], grantId: g.id };
  });
}

async function serviceAccountWithToken(t: AppTenant, ownerUserId: string, name: string) {
  return inTenant(t, async (tx) => {
    const sa = await credentials.createServiceAccount(tx, t.id, { name, ownerUserId }, actor);
    const tok = await credentials.issueServiceAccountToken(tx, t.id, { serviceAccountId: sa.id, name: 't', scopes: [] }, actor);
    return { id: sa.id, token: tok.token };
  });
}

async function serviceAccount(t: TestTenant, id: string) {
  return inTenant(t, async (tx) => credentials.findServiceAccount(tx, t.id, id));
}

describe('revokeUserAccess', () => {
  it('revokes every live session, personal token and grant once; a retry revokes nothing and audits nothing', async () => {
    const u = await userWithAccess(a, 'leaver-1@example.com');
    const workflowId = 'identity/test/leaver-1';
    const first = await activities.revokeUserAccess({ tenantId: a.id, userId: u.userId, workflowId });
    expect(first).toEqual({ sessions: 2, personalTokens: 1, oauthGrants: 1 });
    const audited = await auditCount(a, workflowId);
    expect(audited).toBe(4);
    for (const t of u.tokens) expect(await introspect(stack, a.appKey, t)).toEqual({ active: false });

    const second = await activities.revokeUserAccess({ tenantId: a.id, userId: u.userId, workflowId });
    expect(second).toEqual({ sessions: 0, personalTokens: 0, oauthGrants: 0 });
    expect(await auditCount(a, workflowId)).toBe(audited);

    const reasons = await stack.owner.anyFirst(sql.type(z.object({ r: z.string().nullable() }))`
      SELECT revoked_reason AS r FROM credentials WHERE user_id = ${u.userId} AND name IS DISTINCT FROM 'old'`);
    expect(new Set(reasons)).toEqual(new Set(['user_left']));
  });

  it('revoked credentials stay revoked when the user is reactivated', async () => {
    const u = await userWithAccess(a, 'leaver-2@example.com');
    await deactivate(stack, a, u.userId);
    await activities.revokeUserAccess({ tenantId: a.id, userId: u.userId, workflowId: 'wf-2' });
    await deactivate(stack, a, u.userId, true);
    await markActivated(stack, a, u.userId);
    for (const t of u.tokens) expect(await introspect(stack, a.appKey, t)).toEqual({ active: false });
  });

  it("changes nothing when the user belongs to another tenant", async () => {
    const u = await userWithAccess(b, 'other-tenant@example.com');
    expect(await activities.revokeUserAccess({ tenantId: a.id, userId: u.userId, workflowId: 'wf-x' })).toEqual({ sessions: 0, personalTokens: 0, oauthGrants: 0 });
    for (const t of u.tokens) expect((await introspect(stack, b.appKey, t)).active).toBe(true);
  });
});

describe('handleOwnedServiceAccounts', () => {
  it("policy 'reassign': the leaver's service accounts go to their live manager and keep working", async () => {
    await setOrphanPolicy(a, 'reassign');
    const manager = await activeUser(stack, a, 'manager-1@example.com');
    const leaver = await activeUser(stack, a, 'report-1@example.com', { managerId: manager });
    const sa1 = await serviceAccountWithToken(a, leaver, 'bot one');
    const sa2 = await serviceAccountWithToken(a, leaver, 'bot two');
    const workflowId = 'wf-reassign';
    const result = await activities.handleOwnedServiceAccounts({ tenantId: a.id, userId: leaver, workflowId });
    expect(result.reassigned.sort()).toEqual([sa1.id, sa2.id].sort());
    expect(result.disabled).toEqual([]);
    expect(await serviceAccount(a, sa1.id)).toMatchObject({ owner_user_id: manager, status: 'active', orphaned: false });
    expect((await introspect(stack, a.appKey, sa1.token)).active).toBe(true);

    const audited = await auditCount(a, workflowId);
    expect(await activities.handleOwnedServiceAccounts({ tenantId: a.id, userId: leaver, workflowId })).toEqual({ reassigned: [], disabled: [] });
    expect(await auditCount(a, workflowId)).toBe(audited);
  });

  it('the manager may be named by externalId', async () => {
    const manager = await activeUser(stack, a, 'manager-ext@example.com', { externalId: 'okta-00u1' });
    const leaver = await activeUser(stack, a, 'report-ext@example.com', { managerId: 'okta-00u1' });
    const sa = await serviceAccountWithToken(a, leaver, 'ext bot');
    expect((await activities.handleOwnedServiceAccounts({ tenantId: a.id, userId: leaver, workflowId: 'wf-ext' })).reassigned).toEqual([sa.id]);
    expect((await serviceAccount(a, sa.id))?.owner_user_id).toBe(manager);
  });

  it("policy 'reassign' without a live manager: disabled, tokens revoked, queued as an orphan", async () => {
    const manager = await activeUser(stack, a, 'manager-gone@example.com');
    await deactivate(stack, a, manager);
    const leaver = await activeUser(stack, a, 'report-2@example.com', { managerId: manager });
    const noManager = await activeUser(stack, a, 'report-3@example.com');
    const sa1 = await serviceAccountWithToken(a, leaver, 'orphan one');
    const sa2 = await serviceAccountWithToken(a, noManager, 'orphan two');

    expect(await activities.handleOwnedServiceAccounts({ tenantId: a.id, userId: leaver, workflowId: 'wf-o1' })).toEqual({ reassigned: [], disabled: [sa1.id] });
    expect(await activities.handleOwnedServiceAccounts({ tenantId: a.id, userId: noManager, workflowId: 'wf-o2' })).toEqual({ reassigned: [], disabled: [sa2.id] });
    for (const sa of [sa1, sa2]) {
      expect(await serviceAccount(a, sa.id)).toMatchObject({ status: 'disabled', orphaned: true, orphaned_at: expect.any(String) });
      expect(await introspect(stack, a.appKey, sa.token)).toEqual({ active: false });
    }
    const orphans = await inTenant(a, (tx) => credentials.listOrphanedServiceAccounts(tx, a.id));
    expect(orphans.map((o) => o.id)).toEqual(expect.arrayContaining([sa1.id, sa2.id]));
    const listed = await api(stack, a.appKey, 'GET', '/api/v1/service-accounts?orphaned=true');
    expect(listed.status).toBe(200);
    expect(listed.body.serviceAccounts.map((o: { id: string }) => o.id).sort()).toEqual(orphans.map((o) => o.id).sort());
    expect((await api(stack, a.appKey, 'GET', '/api/v1/service-accounts?orphaned=maybe')).status).toBe(400);
    expect(await activities.handleOwnedServiceAccounts({ tenantId: a.id, userId: leaver, workflowId: 'wf-o1' })).toEqual({ reassigned: [], disabled: [] });

    // A new owner takes it off the queue (it stays disabled until someone re-enables it).
    const taker = await activeUser(stack, a, 'taker@example.com');
    await inTenant(a, (tx) => credentials.reassignServiceAccountOwner(tx, a.id, sa1.id, taker, actor));
    expect(await serviceAccount(a, sa1.id)).toMatchObject({ owner_user_id: taker, orphaned: false, status: 'disabled' });
  });

  it("policy 'disable' disables even when a live manager exists", async () => {
    const t = await appTenant(stack);
    await setOrphanPolicy(t, 'disable');
    const manager = await activeUser(stack, t, 'manager-d@example.com');
    const leaver = await activeUser(stack, t, 'report-d@example.com', { managerId: manager });
    const sa = await serviceAccountWithToken(t, leaver, 'policy bot');
    expect(await activities.handleOwnedServiceAccounts({ tenantId: t.id, userId: leaver, workflowId: 'wf-d' })).toEqual({ reassigned: [], disabled: [sa.id] });
    expect(await serviceAccount(t, sa.id)).toMatchObject({ owner_user_id: leaver, status: 'disabled', orphaned: true });
    expect(await introspect(stack, t.appKey, sa.token)).toEqual({ active: false });
  });
});

describe('revokeCredentialsForLostRoles', () => {
  it('revokes only the credentials that depend on a lost role, once', async () => {
    const userId = await activeUser(stack, a, 'mover@example.com', { roles: ['admin', 'member'] });
    const [admin, member, plain] = await inTenant(a, async (tx) => [
      await credentials.issuePersonalToken(tx, a.id, { userId, name: 'admin', scopes: [], requiredRoles: ['admin', 'member'] }, actor),
      await credentials.issuePersonalToken(tx, a.id, { userId, name: 'member', scopes: [], requiredRoles: ['member'] }, actor),
      await credentials.issueSession(tx, a.id, { userId }, actor),
    ]);
    const input = { tenantId: a.id, userId, lostRoles: ['admin', 'billing-admin'], workflowId: 'wf-mover' };
    expect(await activities.revokeCredentialsForLostRoles(input)).toBe(1);
    expect(await activities.revokeCredentialsForLostRoles(input)).toBe(0);
    expect(await auditCount(a, 'wf-mover')).toBe(1);
    expect(await introspect(stack, a.appKey, admin.token)).toEqual({ active: false });
    expect((await introspect(stack, a.appKey, member.token)).active).toBe(true);
    expect((await introspect(stack, a.appKey, plain.token)).active).toBe(true);
    expect(await activities.revokeCredentialsForLostRoles({ ...input, lostRoles: [] })).toBe(0);
  });
});

describe('verifyNoLiveCredentials', () => {
  it('reports live credentials before the leaver and zero after; one stored report per run', async () => {
    await setOrphanPolicy(a, 'reassign');
    const u = await userWithAccess(a, 'exposure@example.com');
    const sa = await serviceAccountWithToken(a, u.userId, 'exposed bot');
    const ref = { tenantId: a.id, userId: u.userId };

    const before = await activities.verifyNoLiveCredentials({ ...ref, workflowId: 'wf-exposure', step: 'before' });
    expect(before.liveCredentials).toBe(6); // 2 sessions, 1 token, 1 grant, the service account and its token
    expect(before).toMatchObject({
      sessions: { total: 2, live: 2 },
      personalTokens: { total: 2, live: 1 },
      oauthGrants: { total: 1, live: 1 },
      serviceAccounts: { total: 1, live: 1 },
      serviceAccountTokens: { total: 1, live: 1 },
    });

    await deactivate(stack, a, u.userId);
    const workflowId = 'identity/test/exposure';
    await activities.revokeUserAccess({ ...ref, workflowId });
    expect(await activities.handleOwnedServiceAccounts({ ...ref, workflowId })).toEqual({ reassigned: [], disabled: [sa.id] });
    const after = await activities.verifyNoLiveCredentials({ ...ref, workflowId });
    expect(after.liveCredentials).toBe(0);
    expect(after.items.length).toBe(7);
    expect(after.items.every((i) => !i.live)).toBe(true);
    expect(after.items.find((i) => i.kind === 'service_account')).toMatchObject({ id: sa.id, status: 'disabled', orphaned: true });
    expect(after.items.filter((i) => i.kind === 'session').every((i) => i.revokedAt !== null && i.revokedReason === 'user_left')).toBe(true);

    const audited = await auditCount(a, workflowId);
    const retry = await activities.verifyNoLiveCredentials({ ...ref, workflowId });
    expect(retry).toEqual(after);
    expect(await auditCount(a, workflowId)).toBe(audited);
    const rows = await stack.owner.any(sql.type(z.object({ workflow_id: z.string(), live_credentials: z.number() }))`
      SELECT workflow_id, live_credentials FROM exposure_reports WHERE user_id = ${u.userId} ORDER BY id`);
    expect(rows).toEqual([
      { workflow_id: 'wf-exposure#before', live_credentials: 6 },
      { workflow_id: workflowId, live_credentials: 0 },
    ]);
  });

  it('counts a service account reassigned to the manager as no longer the leaver\'s', async () => {
    const manager = await activeUser(stack, a, 'exp-manager@example.com');
    const leaver = await activeUser(stack, a, 'exp-report@example.com', { managerId: manager });
    await serviceAccountWithToken(a, leaver, 'handed over');
    const ref = { tenantId: a.id, userId: leaver, workflowId: 'wf-handover' };
    await activities.revokeUserAccess(ref);
    await activities.handleOwnedServiceAccounts(ref);
    const report = await activities.verifyNoLiveCredentials(ref);
    expect(report).toMatchObject({ liveCredentials: 0, serviceAccounts: { total: 0, live: 0 } });
  });
});

describe('tenant isolation of the credential tables', () => {
  const tables = ['service_accounts', 'credentials', 'oauth_grants'];

  it('RLS is enabled and forced on every new table', async () => {
    const rows = await stack.owner.any(sql.type(z.object({ relname: z.string(), relrowsecurity: z.boolean(), relforcerowsecurity: z.boolean() }))`
      SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY(${sql.array(tables, 'text')}) AND relkind = 'r'`);
    expect(rows).toHaveLength(tables.length);
    for (const r of rows) expect(r, r.relname).toMatchObject({ relrowsecurity: true, relforcerowsecurity: true });
  });

  it("the app role with tenant A set sees none of B's rows, nothing without a tenant, and cannot write B's", async () => {
    const ub = await userWithAccess(b, 'isolated@example.com');
    await serviceAccountWithToken(b, ub.userId, 'b only');
    for (const table of tables) {
      const total = await stack.owner.oneFirst(sql.type(count)`SELECT count(*)::int AS n FROM ${sql.identifier([table])} WHERE tenant_id = ${b.id}`);
      expect(total, table).toBeGreaterThan(0);
      const seen = await inTenant(a, (tx) => tx.oneFirst(sql.type(count)`SELECT count(*)::int AS n FROM ${sql.identifier([table])} WHERE tenant_id <> ${a.id}`));
      expect(seen, table).toBe(0);
      expect(await stack.app.oneFirst(sql.type(count)`SELECT count(*)::int AS n FROM ${sql.identifier([table])}`), table).toBe(0);
      const touched = await inTenant(a, (tx) => tx.query(sql.unsafe`UPDATE ${sql.identifier([table])} SET tenant_id = tenant_id WHERE tenant_id = ${b.id}`));
      expect(touched.rowCount, table).toBe(0);
    }
    await expect(
      inTenant(a, (tx) => tx.query(sql.unsafe`INSERT INTO oauth_grants (tenant_id, user_id, client_id) VALUES (${b.id}, ${ub.userId}, 'x')`)),
    ).rejects.toThrow(/row-level security/);
    await expect(inTenant(b, (tx) => tx.query(sql.unsafe`DELETE FROM credentials WHERE user_id = ${ub.userId}`))).rejects.toThrow(/permission denied/);
  });
});
