import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { approveAndWait, setApprovalPolicy, waitingRequestOf } from '../helpers/approvals.js';
import { portalClient, type PortalTestClient } from '../helpers/portal.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/**
 * The portal's change routes once a change needs approval (issue 8): each answers 202 with the
 * request instead of changing anything; another person approves in the inbox; the change applies
 * through the same service; a secret it produced is collected once by the requester. Refusals
 * (self-approval, the subject, roles, other tenants) change nothing.
 */
let stack: TestStack;
let tenant: TestTenant;
let other: TestTenant;
let admin: PortalTestClient;
let secondAdmin: PortalTestClient;
let approver: PortalTestClient;
let auditor: PortalTestClient;
let otherAdmin: PortalTestClient;
/** SCIM users and a group for the role-mapping case (made before the token rotation retires the fixture token). */
const ids: Record<string, string> = {};
let group = '';

beforeAll(async () => {
  stack = await startStack({ worker: true });
  [tenant, other] = [await stack.createTenant(), await stack.createTenant()];
  await setApprovalPolicy(stack, tenant.id, {
    'scim_connection.rotate': { approvals: 1 },
    'role_mapping.set': { approvals: 1, eligibleRoles: ['approver'] },
    'webhook.create': { approvals: 1 },
    'portal_roles.set': { approvals: 2 },
  });
  admin = await portalClient(stack, tenant, { roles: ['admin'] });
  secondAdmin = await portalClient(stack, tenant, { roles: ['admin'] });
  approver = await portalClient(stack, tenant, { roles: ['approver'] });
  auditor = await portalClient(stack, tenant, { roles: ['auditor'] });
  otherAdmin = await portalClient(stack, other, { roles: ['admin'] });
  for (const name of ['dora', 'eli']) ids[name] = (await stack.scim(tenant, 'POST', '/Users', { userName: `${name}@example.com` })).body.id;
  group = (await stack.scim(tenant, 'POST', '/Groups', { displayName: 'Finance', members: [{ value: ids.dora }, { value: ids.eli }] })).body.id;
});
afterAll(async () => stack?.close());

const createUser = (token: string, userName: string) => stack.scim(token, 'POST', '/Users', { userName });

async function decide(client: PortalTestClient, requestId: string, verdict: 'approve' | 'reject', comment?: string) {
  const seen = await client.request('GET', `/approvals/${requestId}`);
  return client.request('POST', `/approvals/${requestId}/decide`, { verdict, changeHash: seen.body.changeHash, ...(comment ? { comment } : {}) });
}

describe('portal change routes under an approval policy', () => {
  it('a SCIM token rotation waits for approval; the requester cannot approve it; the new token is collected once, works, and the old one stops after the overlap', async () => {
    const before = (await admin.request('GET', `/connections/${tenant.connectionId}`)).body.tokens;
    expect((await auditor.request('POST', `/connections/${tenant.connectionId}/rotate`, { overlapSeconds: 3 })).status).toBe(403);
    const answer = await admin.request('POST', `/connections/${tenant.connectionId}/rotate`, { overlapSeconds: 3 });
    const request = waitingRequestOf(answer);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.body.token).toBeUndefined();
    expect(request).toMatchObject({ kind: 'scim_connection.rotate', approvalsNeeded: 1, secretWaiting: false, requestedBy: { type: 'user', id: admin.userId } });
    expect(request.description.before).toMatchObject({ connection: { id: tenant.connectionId } });
    // Nothing changed yet: same tokens, the old token works.
    expect((await admin.request('GET', `/connections/${tenant.connectionId}`)).body.tokens).toEqual(before);
    expect((await createUser(tenant.token, 'before-approval@example.com')).status).toBe(201);

    // It waits in the approver's inbox (with a badge count), and in the requester's own box.
    expect((await approver.request('GET', '/approvals?box=waiting')).body.data.map((r: { id: string }) => r.id)).toContain(request.id);
    expect((await approver.request('GET', '/approvals/counts')).body.waiting).toBeGreaterThanOrEqual(1);
    expect((await admin.request('GET', '/approvals?box=mine')).body.data.map((r: { id: string }) => r.id)).toContain(request.id);

    // The requester is refused by the workflow's validator (typed, 409, nothing counted).
    const self = await decide(admin, request.id, 'approve');
    expect(self.status).toBe(409);
    expect(self.body).toMatchObject({ error: 'refused_requester', outcome: 'refused_requester' });
    // Another tenant neither sees nor decides it.
    expect((await otherAdmin.request('GET', `/approvals/${request.id}`)).status).toBe(404);
    expect((await otherAdmin.request('POST', `/approvals/${request.id}/decide`, { verdict: 'approve', changeHash: request.changeHash })).status).toBe(404);
    expect((await otherAdmin.request('GET', '/approvals?box=history')).body.data).toEqual([]);

    const applied = await approveAndWait(secondAdmin, request.id);
    expect(applied).toMatchObject({ state: 'applied', secretWaiting: true });
    // Only the requester collects the token, once.
    expect((await secondAdmin.request('POST', `/approvals/${request.id}/collect-secret`)).status).toBe(403);
    const collected = await admin.request('POST', `/approvals/${request.id}/collect-secret`);
    expect(collected.status).toBe(200);
    expect(collected.body.secret).toMatch(/^roster_scim_/);
    expect((await admin.request('POST', `/approvals/${request.id}/collect-secret`)).status).toBe(410);
    expect((await admin.request('GET', `/approvals/${request.id}`)).body.secretWaiting).toBe(false);

    expect((await createUser(collected.body.secret, 'new-token@example.com')).status).toBe(201);
    // The old token stops once the 3-second overlap has passed.
    await eventually(async () => (await createUser(tenant.token, `old-${Date.now()}@example.com`)).status === 401, 20_000, 500);
    expect((await createUser(collected.body.secret, 'new-still-works@example.com')).status).toBe(201);
  });

  it('a role-mapping save carries its dry run into the request; an approver approves and exactly those roles change', async () => {
    const preview = await admin.request('POST', '/role-mappings/preview', { groupId: group, roles: ['viewer'] });
    expect(preview.body.affectedUsers).toBe(2);

    // A stale fingerprint is refused before any request exists.
    const stale = await admin.request('PUT', `/role-mappings/${group}`, { roles: ['member'], fingerprint: preview.body.fingerprint });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toBe('preview_stale');
    expect((await admin.request('GET', '/approvals?box=mine')).body.data.filter((r: { kind: string }) => r.kind === 'role_mapping.set')).toEqual([]);

    const request = waitingRequestOf(await admin.request('PUT', `/role-mappings/${group}`, { roles: ['viewer'], fingerprint: preview.body.fingerprint }));
    expect(request.description.effects).toMatchObject({ affectedUsers: 2, fingerprint: preview.body.fingerprint, changes: preview.body.changes });
    expect((await admin.request('GET', '/role-mappings')).body.mappings.find((m: { groupId: string }) => m.groupId === group)).toBeUndefined();

    // Eligible here: approvers only. Another admin is refused; the approver's approval applies it.
    expect((await decide(secondAdmin, request.id, 'approve')).body.outcome).toBe('refused_not_eligible');
    expect(await approveAndWait(approver, request.id)).toMatchObject({ state: 'applied', result: expect.objectContaining({ applied: true }) });
    const roles = await eventually(async () => {
      const rows = await withTenant(stack.owner, tenant.id, (tx) =>
        tx.any(sql.type(z.object({ user_id: z.string(), role: z.string() }))`SELECT user_id::text, role FROM user_roles WHERE tenant_id = ${tenant.id} AND user_id = ANY(${sql.array([ids.dora!, ids.eli!], 'uuid')})`),
      );
      return rows.length === 2 ? rows : undefined;
    });
    expect(roles.map((r) => [r.user_id, r.role]).sort()).toEqual([[ids.dora, 'viewer'], [ids.eli, 'viewer']].sort());
  });

  it('a rejection needs a comment, closes the request and changes nothing; the requester can withdraw an open one', async () => {
    const created = waitingRequestOf(await admin.request('POST', '/settings/webhooks', { url: 'https://hooks.example.com/a' }));
    const noComment = await approver.request('POST', `/approvals/${created.id}/decide`, { verdict: 'reject', changeHash: created.changeHash });
    expect(noComment.status).toBe(400);
    const rejected = await decide(approver, created.id, 'reject', 'Not our receiver');
    expect(rejected.body).toMatchObject({ outcome: 'rejected', request: { state: 'rejected' } });
    expect((await admin.request('GET', '/settings/webhooks')).body.data).toEqual([]);
    expect((await decide(secondAdmin, created.id, 'approve')).body.outcome).toBe('already_closed');

    const second = waitingRequestOf(await admin.request('POST', '/settings/webhooks', { url: 'https://hooks.example.com/b' }));
    expect((await approver.request('POST', `/approvals/${second.id}/withdraw`)).status).toBe(409);
    const withdrawn = await admin.request('POST', `/approvals/${second.id}/withdraw`);
    expect(withdrawn.body).toMatchObject({ outcome: 'withdrawn', request: { state: 'withdrawn' } });
    expect((await admin.request('GET', '/settings/webhooks')).body.data).toEqual([]);
  });

  it('a portal role grant: the member it is about cannot approve it, two others must', async () => {
    const member = await portalClient(stack, tenant, { roles: ['approver'] });
    const request = waitingRequestOf(await admin.request('PATCH', `/members/${member.userId}`, { roles: ['admin', 'approver'] }));
    expect(request).toMatchObject({ kind: 'portal_roles.set', approvalsNeeded: 2, description: { subjectUserIds: [member.userId] } });
    expect((await decide(member, request.id, 'approve')).body.outcome).toBe('refused_subject');
    expect((await decide(approver, request.id, 'approve')).body.outcome).toBe('recorded');
    expect((await decide(approver, request.id, 'approve')).body.outcome).toBe('refused_already_decided_by_you');
    expect((await admin.request('GET', '/members')).body.members.find((m: { id: string }) => m.id === member.userId).roles).toEqual(['approver']);
    expect(await approveAndWait(secondAdmin, request.id)).toMatchObject({ state: 'applied' });
    expect((await admin.request('GET', '/members')).body.members.find((m: { id: string }) => m.id === member.userId).roles).toEqual(['admin', 'approver']);
    // Another tenant's admin cannot even ask for a change to this member.
    expect((await otherAdmin.request('PATCH', `/members/${member.userId}`, { roles: ['auditor'] })).status).toBe(404);
  });

  it('/openapi.json describes both answers of a rerouted route (202 with the request, or the usual body)', async () => {
    const doc = await (await fetch(`${stack.url}/openapi.json`)).json();
    for (const [path, method] of [['/portal/api/connections/{id}/rotate', 'post'], ['/portal/api/role-mappings/{groupId}', 'put'], ['/portal/api/members/{id}', 'patch'], ['/portal/api/settings/webhooks', 'post']] as const) {
      const responses = doc.paths[path][method].responses;
      expect(Object.keys(responses), path).toEqual(expect.arrayContaining(['202']));
      expect(responses['202'].content['application/json'].schema, path).toBeDefined();
      expect(doc.paths[path][method].description, path).toContain('Needs approval');
    }
  });
});
