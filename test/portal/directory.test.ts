import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { issuePersonalToken, recordOAuthGrant } from '../../core/repositories/credentials.js';
import { setDefaultRole, setDirectGrant, setGroupRoles } from '../../core/entitlements/service.js';
import { compactCounts } from '../../core/repositories/list-page.js';
import { completeIdentityDeletion } from '../../core/repositories/lifecycle.js';
import { activeUser, deactivate } from '../helpers/app-api-fixtures.js';
import { portalClient } from '../helpers/portal.js';
import { ENT, USER } from '../helpers/scim.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/**
 * The directory part of the portal API (GET /users, /users/:id, /timeline, /exposure, /groups,
 * /groups/:id, /overview) against the real app and database: paging, search, the state filter,
 * role sources, who may read, and that another tenant's ids are simply not found.
 */

let stack: TestStack;
let tenant: TestTenant;
let other: TestTenant;
type Client = Awaited<ReturnType<typeof portalClient>>;
let admin: Client;
let auditor: Client;
let reviewer: Client;
let approver: Client;
let otherAdmin: Client;

const system = { type: 'system' as const, id: 'test' };

async function scimUser(t: TestTenant, userName: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await stack.scim(t, 'POST', '/Users', { schemas: [USER], userName, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

async function walk(client: Client, path: string): Promise<{ ids: string[]; pages: any[] }> {
  const ids: string[] = [];
  const pages: any[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 100; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const res = await client.request('GET', cursor ? `${path}${sep}cursor=${cursor}` : path);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    pages.push(res.body);
    ids.push(...res.body.items.map((u: { id: string }) => u.id));
    cursor = res.body.next;
    if (!cursor) break;
  }
  return { ids, pages };
}

beforeAll(async () => {
  stack = await startStack();
  [tenant, other] = await Promise.all([stack.createTenant(), stack.createTenant()]);
  [admin, auditor, reviewer, approver, otherAdmin] = await Promise.all([
    portalClient(stack, tenant, { roles: ['admin'] }),
    portalClient(stack, tenant, { roles: ['auditor'] }),
    portalClient(stack, tenant, { roles: ['reviewer'] }),
    portalClient(stack, tenant, { roles: ['approver'] }),
    portalClient(stack, other, { roles: ['admin'] }),
  ]);
});

afterAll(async () => {
  await stack?.close();
});

describe('GET /users', () => {
  const created: string[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 23; i++) created.push(await scimUser(tenant, `pager${String(i).padStart(2, '0')}@example.com`));
  });

  it('pages newest first with opaque cursors: no duplicates or gaps while users are being added', async () => {
    const seen: string[] = [];
    const added: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    for (;;) {
      const res: Awaited<ReturnType<Client['request']>> = await admin.request('GET', `/users?search=pager&limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      pages++;
      seen.push(...res.body.items.map((u: { id: string }) => u.id));
      // Someone is provisioning while the admin pages: new users land before the first page.
      added.push(await scimUser(tenant, `pager-late${pages}@example.com`));
      cursor = res.body.next;
      if (!cursor) break;
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of created) expect(seen).toContain(id);
    for (const id of added) expect(seen).not.toContain(id);
    expect(pages).toBe(5);
  });

  it('walks back with prev to the first page, which has no prev', async () => {
    const forward = await walk(admin, '/users?search=pager0&limit=4');
    expect(forward.ids).toHaveLength(10);
    const last = forward.pages.at(-1);
    expect(last.next).toBeNull();
    expect(last.prev).not.toBeNull();
    const back: string[][] = [];
    let prev: string | null = last.prev;
    while (prev) {
      const res = await admin.request('GET', `/users?search=pager0&limit=4&cursor=${prev}`);
      expect(res.status).toBe(200);
      back.unshift(res.body.items.map((u: { id: string }) => u.id));
      prev = res.body.prev;
    }
    expect(back.flat()).toEqual(forward.ids.slice(0, forward.ids.length - last.items.length));
    expect(back[0]).toEqual(forward.pages[0].items.map((u: { id: string }) => u.id));
  });

  it('searches userName, displayName, email and externalId, case-insensitively, by substring', async () => {
    const id = await scimUser(tenant, 'grace.hopper@navy.example', {
      displayName: 'Rear Admiral Grace Hopper',
      externalId: 'EMP-ZX81',
      emails: [{ value: 'amazing.grace@cobol.example', type: 'work', primary: true }],
    });
    for (const term of ['hopper@navy', 'ADMIRAL', 'amazing.grace', 'emp-zx8', 'cobol.example']) {
      const res = await admin.request('GET', `/users?search=${encodeURIComponent(term)}`);
      expect(res.status).toBe(200);
      expect(res.body.items.map((u: { id: string }) => u.id), term).toEqual([id]);
      expect(res.body.total).toBe(1);
    }
    const hit = (await admin.request('GET', '/users?search=hopper')).body.items[0];
    expect(hit).toMatchObject({ id, userName: 'grace.hopper@navy.example', displayName: 'Rear Admiral Grace Hopper', email: 'amazing.grace@cobol.example', externalId: 'EMP-ZX81', state: 'provisioned' });
    // LIKE wildcards in the term match only themselves.
    expect((await admin.request('GET', `/users?search=${encodeURIComponent('%%%')}`)).body.items).toEqual([]);
    expect((await admin.request('GET', `/users?search=${encodeURIComponent('pager_0')}`)).body.items).toEqual([]);
  });

  it('forgets a deleted identity: once its personal data is erased, searching its old name, email or external id finds nothing', async () => {
    const id = await scimUser(tenant, 'erasable.person@example.com', { displayName: 'Erasable Person', externalId: 'ERASE-77', emails: [{ value: 'erase.me@private.example', primary: true }] });
    expect((await stack.scim(tenant, 'DELETE', `/Users/${id}`)).status).toBe(204);
    expect((await admin.request('GET', '/users?search=erasable')).body.items.map((u: { id: string }) => u.id)).toEqual([id]);
    // What the identity workflow does when the grace period ends.
    await withTenant(stack.owner, tenant.id, (tx) => completeIdentityDeletion(tx, { tenantId: tenant.id, userId: id, workflowId: 'test' }));
    for (const term of ['erasable', 'erase.me@private', 'erase-77']) {
      const res = await admin.request('GET', `/users?search=${encodeURIComponent(term)}`);
      expect(res.body.items, term).toEqual([]);
    }
    const detail = await admin.request('GET', `/users/${id}`);
    expect(detail.body).toMatchObject({ state: 'deleted', displayName: null });
    expect(JSON.stringify(detail.body)).not.toMatch(/erase/i);
  });

  it('refuses searches shorter than three characters and bad cursors with a readable 400', async () => {
    const short = await admin.request('GET', '/users?search=ab');
    expect(short.status).toBe(400);
    expect(short.body.error).toBe('invalid_request');
    expect(JSON.stringify(short.body)).toMatch(/at least 3 characters/);
    const bad = await admin.request('GET', '/users?cursor=bm90LWEtY3Vyc29y');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_cursor');
    expect((await admin.request('GET', '/users?limit=1000')).status).toBe(400);
  });

  it('filters by lifecycle state, with totals from the maintained counts', async () => {
    const a = await activeUser(stack, tenant, 'state-active@example.com');
    const s = await activeUser(stack, tenant, 'state-suspended@example.com');
    expect((await deactivate(stack, tenant, s)).status).toBe(200);
    const suspended = await admin.request('GET', '/users?state=suspended');
    expect(suspended.body.items.map((u: { id: string }) => u.id)).toEqual([s]);
    expect(suspended.body.total).toBe(1);
    const active = await admin.request('GET', '/users?state=active');
    expect(active.body.items.map((u: { id: string }) => u.id)).toEqual([a]);
    const all = await admin.request('GET', '/users?limit=1');
    const counted = await stack.owner.oneFirst(sql.unsafe`SELECT count(*)::int FROM users WHERE tenant_id = ${tenant.id}`);
    expect(all.body.total).toBe(counted);
    expect((await admin.request('GET', '/users?state=gone')).status).toBe(400);
  });
});

describe('GET /users: counting', () => {
  let big: TestTenant;
  let bigAdmin: Client;
  beforeAll(async () => {
    big = await stack.createTenant();
    bigAdmin = await portalClient(stack, big, { roles: ['auditor'] });
    // 1,500 users in one statement: every one matches "zebra", one in 100 also "okapi", every 3rd is suspended.
    await stack.owner.transaction(async (tx) => {
      await tx.query(sql.unsafe`SELECT set_config('app.tenant_id', ${big.id}, true)`);
      await tx.query(sql.unsafe`
        INSERT INTO users (tenant_id, user_name, user_name_key, display_name, lifecycle_state, active, created_at)
        SELECT ${big.id}, 'zebra' || g || CASE WHEN g % 100 = 0 THEN '-okapi' ELSE '' END || '@example.com',
               'zebra' || g || CASE WHEN g % 100 = 0 THEN '-okapi' ELSE '' END || '@example.com', 'Zebra ' || g,
               CASE WHEN g % 3 = 0 THEN 'suspended' ELSE 'active' END, g % 3 <> 0, now() - make_interval(secs => 1500 - g)
          FROM generate_series(1, 1500) g`);
    });
    await stack.owner.query(sql.unsafe`ANALYZE users`);
  });

  it('counts on the first page only, in the same answer; later pages say null and keep paging right', async () => {
    const all = await walk(bigAdmin, '/users?limit=100&state=suspended');
    expect(all.pages[0].total).toBe(500);
    expect(all.pages.slice(1).every((p) => p.total === null)).toBe(true);
    expect(new Set(all.ids).size).toBe(500);
  });

  it('a search with a state filter fills whole pages from the matches in that state', async () => {
    const page = await bigAdmin.request('GET', '/users?search=okapi&state=suspended&limit=3');
    expect(page.status).toBe(200);
    // okapi: g = 100, 200, …, 1500; suspended: g % 3 = 0 → 300, 600, 900, 1200, 1500 (newest first).
    expect(page.body.items.map((u: { userName: string }) => u.userName)).toEqual(['zebra1500-okapi@example.com', 'zebra1200-okapi@example.com', 'zebra900-okapi@example.com']);
    expect(page.body).toMatchObject({ total: 5, totalIsLowerBound: false, totalIsEstimate: false });
    const rest = await walk(bigAdmin, '/users?search=okapi&state=suspended&limit=3');
    expect(rest.ids).toHaveLength(5);
    const back = await bigAdmin.request('GET', `/users?search=okapi&state=suspended&limit=3&cursor=${rest.pages[1].prev}`);
    expect(back.body.items.map((u: { userName: string }) => u.userName)).toEqual(page.body.items.map((u: { userName: string }) => u.userName));
  });

  it('a term matching more than 1,000 users is counted by estimate ("about"), not by reading every match', async () => {
    const res = await bigAdmin.request('GET', '/users?search=zebra&limit=25');
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(25);
    expect(res.body.items[0].userName).toBe('zebra1500-okapi@example.com');
    expect(res.body.totalIsEstimate).toBe(true);
    expect(res.body.totalIsLowerBound).toBe(false);
    expect(res.body.total).toBeGreaterThan(1000);
    expect(res.body.total).toBeLessThan(3000);
  });
});

describe('GET /users/:id', () => {
  it('marks IdP attributes, shows every role with its source, groups and owned credentials', async () => {
    const userId = await activeUser(stack, tenant, 'roles.person@example.com');
    await stack.scim(tenant, 'PATCH', `/Users/${userId}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [
        { op: 'add', path: 'displayName', value: 'Roles Person' },
        { op: 'add', path: 'title', value: 'Engineer' },
        { op: 'add', value: { [ENT]: { department: 'R&D' } } },
      ],
    });
    const group = await stack.scim(tenant, 'POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Engineering', members: [{ value: userId }] });
    expect(group.status).toBe(201);
    const catalogue = stack.config.APP_ROLES;
    // One change per transaction, as the services make them (each takes its locks in order).
    const inTenant = <T>(fn: Parameters<typeof withTenant<T>>[2]) => withTenant(stack.owner, tenant.id, fn);
    await inTenant((tx) => setDefaultRole(tx, { tenantId: tenant.id, catalogue, actor: system }, { role: 'viewer' }, { mode: 'apply' }));
    await inTenant((tx) => setGroupRoles(tx, { tenantId: tenant.id, catalogue, actor: system }, { groupId: group.body.id, roles: ['member', 'viewer'] }, { mode: 'apply' }));
    await inTenant((tx) => setDirectGrant(tx, { tenantId: tenant.id, catalogue, actor: system }, { userId, role: 'billing-admin', granted: true }));
    await inTenant((tx) => issuePersonalToken(tx, tenant.id, { userId, name: 'ci deploy', scopes: ['deploy'] }, system));
    await inTenant((tx) => recordOAuthGrant(tx, tenant.id, { userId, clientId: 'figma', clientName: 'Figma', scopes: ['files:read'] }, system));
    await stack.owner.query(sql.unsafe`INSERT INTO user_roles (tenant_id, user_id, role) VALUES (${tenant.id}, ${userId}, 'viewer')`);

    const res = await auditor.request('GET', `/users/${userId}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const u = res.body;
    expect(u).toMatchObject({ id: userId, userName: 'roles.person@example.com', displayName: 'Roles Person', state: 'active', held: false });
    const attr = (path: string) => u.attributes.find((a: { path: string }) => a.path === path);
    expect(attr('userName')).toMatchObject({ value: 'roles.person@example.com', idpManaged: true });
    expect(attr('title')).toMatchObject({ value: 'Engineer', idpManaged: true });
    expect(attr('enterprise.department')).toMatchObject({ label: 'Department', value: 'R&D', idpManaged: true });
    expect(u.attributes.every((a: { idpManaged: boolean }) => a.idpManaged)).toBe(true);

    const role = (name: string) => u.roles.find((r: { role: string }) => r.role === name);
    expect(role('viewer')).toEqual({
      role: 'viewer',
      granted: true,
      inCatalogue: true,
      sources: [{ kind: 'default' }, { kind: 'group', groupId: group.body.id, groupName: 'Engineering' }],
    });
    expect(role('member')).toMatchObject({ granted: false, sources: [{ kind: 'group', groupName: 'Engineering' }] });
    expect(role('billing-admin').sources).toEqual([{ kind: 'direct', grantedBy: 'system:test', grantedAt: expect.any(String) }]);
    expect(u.groups).toEqual([{ id: group.body.id, displayName: 'Engineering' }]);
    expect(u.tokens).toEqual([expect.objectContaining({ kind: 'personal_token', name: 'ci deploy', scopes: ['deploy'], live: true })]);
    expect(u.tokens[0]).not.toHaveProperty('token_hash');
    expect(u.oauthGrants).toEqual([expect.objectContaining({ clientId: 'figma', clientName: 'Figma', revokedAt: null })]);
  });

  it('answers 404 for an unknown id, a malformed id and a user of another tenant', async () => {
    const foreign = await scimUser(other, 'foreign@example.com');
    for (const path of [`/users/${foreign}`, `/users/${foreign}/timeline`, `/users/${foreign}/exposure`, '/users/00000000-0000-4000-8000-000000000000', '/users/not-a-uuid']) {
      const res = await admin.request('GET', path);
      expect(res.status, path).toBe(404);
      expect(res.body.error).toBe('not_found');
    }
    expect((await otherAdmin.request('GET', `/users/${foreign}`)).status).toBe(200);
    const list = await otherAdmin.request('GET', '/users?limit=100');
    expect(list.body.items.map((u: { id: string }) => u.id)).toEqual([foreign]);
  });
});

describe('timeline and exposure', () => {
  it('lists the audit events newest first and says the workflow status is unknown without Temporal', async () => {
    const userId = await scimUser(tenant, 'timeline@example.com');
    expect((await deactivate(stack, tenant, userId)).status).toBe(200);
    const res = await reviewer.request('GET', `/users/${userId}/timeline`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.state).toBe('suspended');
    const actions = res.body.events.map((e: { action: string }) => e.action);
    expect(actions.at(-1)).toBe('user.created');
    expect(actions.length).toBeGreaterThan(1);
    const ids = res.body.events.map((e: { id: number }) => e.id);
    expect([...ids].sort((a, b) => b - a)).toEqual(ids);
    expect(res.body.workflow).toMatchObject({ status: 'unknown', workflowId: `identity/${tenant.id}/${userId}`, live: null });
    expect(res.body.workflow.reason).toMatch(/not configured/);
  });

  it("shows a leaver's exposure: what is still open, then what was revoked and why", async () => {
    const userId = await activeUser(stack, tenant, 'leaver@example.com');
    const token = await withTenant(stack.owner, tenant.id, (tx) => issuePersonalToken(tx, tenant.id, { userId, name: 'laptop', scopes: ['read'] }, system));
    expect((await deactivate(stack, tenant, userId)).status).toBe(200);
    // No worker in this stack: the leaver sequence has not run, so the token is still open.
    const before = await auditor.request('GET', `/users/${userId}/exposure`);
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ userId, state: 'suspended', leaver: true, recorded: [] });
    expect(before.body.current.liveCredentials).toBe(1);
    expect(before.body.current.personalTokens).toEqual({ total: 1, live: 1 });

    const revoke = await admin.request('POST', `/tokens/${token.credential.id}/revoke`);
    expect(revoke.status, JSON.stringify(revoke.body)).toBe(200);
    const after = await auditor.request('GET', `/users/${userId}/exposure`);
    expect(after.body.current.liveCredentials).toBe(0);
    expect(after.body.current.items).toEqual([
      expect.objectContaining({ kind: 'personal_token', id: token.credential.id, live: false, revokedReason: 'revoked_in_portal', revokedAt: expect.any(String) }),
    ]);
  });
});

describe('GET /groups', () => {
  it('lists and searches groups and pages a group\'s members', async () => {
    const members: string[] = [];
    for (let i = 0; i < 7; i++) members.push(await scimUser(tenant, `member${i}@example.com`));
    const g = await stack.scim(tenant, 'POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Quantum Team', externalId: 'qt-1', members: members.map((value) => ({ value })) });
    expect(g.status).toBe(201);
    await stack.scim(tenant, 'POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Finance' });

    const search = await reviewer.request('GET', '/groups?search=quantum');
    expect(search.status).toBe(200);
    expect(search.body.items).toEqual([expect.objectContaining({ id: g.body.id, displayName: 'Quantum Team', externalId: 'qt-1', memberCount: 7, roles: [] })]);
    const all = await walk(reviewer, '/groups?limit=1');
    expect(new Set(all.ids).size).toBe(all.ids.length);
    expect(all.pages[0].total).toBe(all.ids.length);
    expect(all.ids).toContain(g.body.id);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: Awaited<ReturnType<Client['request']>> = await auditor.request('GET', `/groups/${g.body.id}?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.group).toMatchObject({ displayName: 'Quantum Team', memberCount: 7 });
      seen.push(...res.body.members.items.map((u: { id: string }) => u.id));
      cursor = res.body.members.next;
    } while (cursor);
    expect([...seen].sort()).toEqual([...members].sort());

    expect((await otherAdmin.request('GET', `/groups/${g.body.id}`)).status).toBe(404);
    expect((await otherAdmin.request('GET', '/groups?search=quantum')).body.items).toEqual([]);
  });
});

describe('GET /overview', () => {
  it('shows connection health, identities by state, open alerts, held leavers and recent lifecycle activity', async () => {
    const fresh = await stack.createTenant();
    const client = await portalClient(stack, fresh, { roles: ['reviewer'] });
    const empty = await client.request('GET', '/overview');
    expect(empty.status, JSON.stringify(empty.body)).toBe(200);
    expect(empty.body.connections).toEqual([expect.objectContaining({ id: fresh.connectionId, liveTokens: 1, revokedAt: null })]);
    expect(empty.body.identities).toEqual({ total: 0, byState: { provisioned: 0, active: 0, suspended: 0, deleted: 0 } });
    expect(empty.body.recentActivity).toEqual([]);

    const a = await scimUser(fresh, 'ov-a@example.com');
    const b = await scimUser(fresh, 'ov-b@example.com');
    await scimUser(fresh, 'ov-c@example.com');
    await deactivate(stack, fresh, b);
    await stack.owner.query(sql.unsafe`INSERT INTO deprovision_holds (tenant_id, user_id) VALUES (${fresh.id}, ${b})`);
    await stack.owner.query(sql.unsafe`INSERT INTO tenant_alerts (tenant_id, kind, data) VALUES (${fresh.id}, 'mass_deprovisioning', '{"recentSuspensions": 60}')`);
    await stack.owner.query(sql.unsafe`INSERT INTO tenant_alerts (tenant_id, kind, resolved_at) VALUES (${fresh.id}, 'old', now())`);

    const res = await client.request('GET', '/overview');
    expect(res.body.identities).toEqual({ total: 3, byState: { provisioned: 2, active: 0, suspended: 1, deleted: 0 } });
    // The worker's compactor folds the state counts and changes no number.
    await compactCounts(stack.app, 0);
    const folded = await stack.owner.oneFirst(sql.unsafe`SELECT count(*)::int FROM user_state_count_deltas WHERE tenant_id = ${fresh.id}`);
    expect(folded).toBe(2);
    expect((await client.request('GET', '/overview')).body.identities).toEqual(res.body.identities);
    expect(res.body.alerts).toEqual([expect.objectContaining({ kind: 'mass_deprovisioning', data: { recentSuspensions: 60 } })]);
    expect(res.body.heldLeavers).toBe(1);
    const activity = res.body.recentActivity;
    expect(activity[0]).toMatchObject({ targetId: b, userName: 'ov-b@example.com' });
    expect(activity.map((e: { action: string }) => e.action)).toContain('user.created');
    expect(activity.some((e: { targetId: string }) => e.targetId === a)).toBe(true);
    // Never another tenant's activity.
    expect(activity.every((e: { targetId: string; userName: string }) => [a, b].includes(e.targetId) || e.userName === 'ov-c@example.com')).toBe(true);
  });
});

describe('who may read the directory', () => {
  it('admins, auditors and reviewers read; approvers and anonymous callers do not', async () => {
    const userId = await scimUser(tenant, 'who@example.com');
    const paths = ['/overview', '/users', `/users/${userId}`, `/users/${userId}/timeline`, `/users/${userId}/exposure`, '/groups'];
    for (const path of paths) {
      for (const client of [admin, auditor, reviewer]) expect((await client.request('GET', path)).status, path).toBe(200);
      const denied = await approver.request('GET', path);
      expect(denied.status, path).toBe(403);
      expect(denied.body.error).toBe('forbidden');
      const anonymous = await fetch(`${stack.url}/portal/api${path}`);
      expect(anonymous.status, path).toBe(401);
    }
  });
});
