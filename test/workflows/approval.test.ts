import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApprovalWorkflow, submitChange } from '../../activities/approval-client.js';
import { applyApprovedChange, approvalDepsFromConfig, recordDecision } from '../../core/approvals/service.js';
import { withTenant } from '../../core/db/pool.js';
import { loadSecretsKey } from '../../core/secret-box.js';
import { setApprovalPolicy } from '../helpers/approvals.js';
import { maybeRecordHistory } from '../helpers/histories.js';
import { portalClient, type PortalTestClient } from '../helpers/portal.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { approvalWorkflowId, identityWorkflowId } from '../../workflows/ids.js';
import { identityStatusQuery } from '../../workflows/messages.js';

/**
 * The approval workflow against the real Temporal dev server, driven through the portal API.
 * Policy hours run as APPROVAL_HOUR_MS = 250 ms here (the workflow gets its timers as durations
 * computed from the policy), so reminders, escalation, expiry and cooling-off take seconds.
 */

const HOUR_MS = 250;
let stack: TestStack;

beforeAll(async () => {
  stack = await startStack({ worker: true, env: { APPROVAL_HOUR_MS: String(HOUR_MS), APPROVAL_RECONCILE_AFTER_SECONDS: '1' } });
});
afterAll(async () => stack?.close());

interface Team {
  tenant: TestTenant;
  admin: PortalTestClient;
  approvers: PortalTestClient[];
}

async function team(approvers = 2): Promise<Team> {
  const tenant = await stack.createTenant();
  const admin = await portalClient(stack, tenant, { roles: ['admin'] });
  const list: PortalTestClient[] = [];
  for (let i = 0; i < approvers; i++) list.push(await portalClient(stack, tenant, { roles: ['approver'] }));
  return { tenant, admin, approvers: list };
}

async function submit(client: PortalTestClient, kind: string, payload: unknown) {
  const res = await client.request('POST', '/approvals', { kind, payload, reason: 'test' });
  expect([201, 202], JSON.stringify(res.body)).toContain(res.status);
  return res.body.request;
}

async function decide(client: PortalTestClient, request: { id: string; changeHash: string }, verdict: 'approve' | 'reject' = 'approve', comment?: string) {
  return client.request('POST', `/approvals/${request.id}/decide`, { verdict, changeHash: request.changeHash, ...(comment ? { comment } : {}) });
}

async function stateOf(client: PortalTestClient, id: string, want: string) {
  return eventually(async () => {
    const res = await client.request('GET', `/approvals/${id}`);
    return res.body.state === want ? res.body : null;
  }, 20_000);
}

const Action = z.object({ action: z.string() });
async function auditActions(tenantId: string, requestId: string): Promise<string[]> {
  const rows = await withTenant(stack.owner, tenantId, (tx) =>
    tx.anyFirst(sql.type(Action)`SELECT action FROM audit_events WHERE tenant_id = ${tenantId} AND target_id = ${requestId} ORDER BY id`),
  );
  return [...rows];
}

const EventRow = z.object({ type: z.string(), data: z.record(z.unknown()) });
/** The request's events on the tenant's feed (what webhooks deliver), oldest first. */
async function eventsOf(tenantId: string, requestId: string) {
  return withTenant(stack.owner, tenantId, (tx) =>
    tx.any(sql.type(EventRow)`SELECT type, data FROM events WHERE tenant_id = ${tenantId} AND subject_id = ${requestId} ORDER BY created_at, id`),
  );
}

describe('approval workflow', () => {
  it('N of M: two distinct approvers apply a SCIM token rotation; the new token works and the old one stops after its overlap', async () => {
    const { tenant, admin, approvers } = await team(2);
    await setApprovalPolicy(stack, tenant.id, { 'scim_connection.rotate': { approvals: 2 } });
    const request = await submit(admin, 'scim_connection.rotate', { connectionId: tenant.connectionId, overlapSeconds: 2 });
    expect(request).toMatchObject({ state: 'pending', approvalsNeeded: 2, kind: 'scim_connection.rotate' });
    expect(request.changeHash).toMatch(/^[0-9a-f]{64}$/);

    const self = await decide(admin, request);
    expect(self.status).toBe(409);
    expect(self.body.error).toBe('refused_requester');

    const first = await decide(approvers[0]!, request);
    expect(first.status).toBe(200);
    expect(first.body.outcome).toBe('recorded');
    const again = await decide(approvers[0]!, request);
    expect(again.body.error).toBe('refused_already_decided_by_you');

    const second = await decide(approvers[1]!, request);
    expect(second.body.outcome).toBe('approved');

    const applied = await stateOf(admin, request.id, 'applied');
    expect(applied.secretWaiting).toBe(true);
    const verified = await eventually(async () => {
      const res = await admin.request('GET', `/approvals/${request.id}`);
      return res.body.result?.verification ? res.body.result.verification : null;
    });
    expect(verified.ok).toBe(true);

    // Only the requester collects the token, once.
    expect((await approvers[0]!.request('POST', `/approvals/${request.id}/collect-secret`)).status).toBe(403);
    const collected = await admin.request('POST', `/approvals/${request.id}/collect-secret`);
    expect(collected.status).toBe(200);
    expect((await admin.request('POST', `/approvals/${request.id}/collect-secret`)).status).toBe(410);

    expect((await stack.scim(collected.body.secret, 'GET', '/Users?count=1')).status).toBe(200);
    expect((await stack.scim(tenant, 'GET', '/Users?count=1')).status).toBe(200);
    await eventually(async () => (await stack.scim(tenant, 'GET', '/Users?count=1')).status === 401, 10_000);

    expect(await auditActions(tenant.id, request.id)).toEqual(
      expect.arrayContaining(['approval.requested', 'approval.decided', 'approval.applied', 'approval.verified', 'approval.secret_collected']),
    );
    await maybeRecordHistory(stack.client!, approvalWorkflowId(tenant.id, request.id), 'approval');
  });

  it('refuses the subject and people who are not approvers, and a rejection without a comment; a rejection closes the request', async () => {
    const { tenant, admin, approvers } = await team(1);
    const auditor = await portalClient(stack, tenant, { roles: ['auditor'] });
    const subject = await portalClient(stack, tenant, { roles: ['approver'] });
    const request = await submit(admin, 'portal_roles.set', { userId: subject.userId, roles: ['admin'] });
    expect(request.description.subjectUserIds).toEqual([subject.userId]);

    expect((await decide(subject, request)).body.error).toBe('refused_subject');
    expect((await decide(auditor, request)).body.error).toBe('refused_not_eligible');
    expect((await decide(approvers[0]!, request, 'reject')).status).toBe(400);

    const rejected = await decide(approvers[0]!, request, 'reject', 'not without a ticket');
    expect(rejected.body.outcome).toBe('rejected');
    expect(rejected.body.request.state).toBe('rejected');
    const late = await decide(approvers[0]!, request);
    expect(late.body.error).toBe('already_closed');
  });

  it('an edit voids earlier approvals: the old hash is stale, approvers are asked again', async () => {
    const { tenant, admin, approvers } = await team(2);
    await setApprovalPolicy(stack, tenant.id, { 'scim_connection.create': { approvals: 2 } });
    const request = await submit(admin, 'scim_connection.create', { name: 'Okta' });
    expect((await decide(approvers[0]!, request)).body.outcome).toBe('recorded');

    const edited = await admin.request('POST', `/approvals/${request.id}/edit`, { payload: { name: 'Entra' } });
    expect(edited.status).toBe(200);
    expect(edited.body.outcome).toBe('edited');
    const next = edited.body.request;
    expect(next.changeHash).not.toBe(request.changeHash);
    expect(next.approvals).toEqual([expect.objectContaining({ userId: approvers[0]!.userId, valid: false })]);

    expect((await approvers[1]!.request('POST', `/approvals/${request.id}/edit`, { payload: { name: 'x' } })).body.error).toBe('refused_requester');
    expect((await decide(approvers[1]!, request)).body.error).toBe('refused_stale_hash');
    expect((await decide(approvers[0]!, next)).body.outcome).toBe('recorded');
    expect((await decide(approvers[1]!, next)).body.outcome).toBe('approved');
    const applied = await stateOf(admin, request.id, 'applied');
    const connections = await admin.request('GET', '/connections');
    expect(connections.body.connections.map((c: { id: string; name: string }) => c.name)).toContain('Entra');
    expect(connections.body.connections.map((c: { name: string }) => c.name)).not.toContain('Okta');
    expect(applied.result.connectionId).toBeTruthy();
  });

  it('withdrawal by the requester only', async () => {
    const { admin, approvers } = await team(1);
    const request = await submit(admin, 'scim_connection.create', { name: 'Withdrawn' });
    expect((await approvers[0]!.request('POST', `/approvals/${request.id}/withdraw`)).body.error).toBe('refused_requester');
    const withdrawn = await admin.request('POST', `/approvals/${request.id}/withdraw`);
    expect(withdrawn.body.outcome).toBe('withdrawn');
    expect((await decide(approvers[0]!, request)).body.error).toBe('already_closed');
    const closed = (await eventsOf(admin.tenant.id, request.id)).filter((e) => e.type === 'approval.closed');
    expect(closed).toEqual([{ type: 'approval.closed', data: expect.objectContaining({ state: 'withdrawn', by: admin.userId }) }]);
  });

  it('reminds, then escalates to admins (who become eligible), then an admin approves', async () => {
    const tenant = await stack.createTenant();
    const requester = await portalClient(stack, tenant, { roles: ['admin'] });
    const otherAdmin = await portalClient(stack, tenant, { roles: ['admin'] });
    const approver = await portalClient(stack, tenant, { roles: ['approver'] });
    await setApprovalPolicy(stack, tenant.id, {
      'webhook.delete': { approvals: 1, eligibleRoles: ['approver'], remindEveryHours: 1, escalateAfterHours: 6, expiresAfterHours: 80 },
    });
    const hook = await requester.request('POST', '/approvals', { kind: 'webhook.create', payload: { url: 'http://127.0.0.1:9/hook', eventTypes: ['user.deleted'] } });
    // webhook.create needs an approver under the defaults: approve it to get an endpoint.
    expect((await decide(approver, hook.body.request)).body.outcome).toBe('approved');
    const created = await stateOf(requester, hook.body.request.id, 'applied');

    const request = await submit(requester, 'webhook.delete', { endpointId: created.result.endpointId });
    expect((await decide(otherAdmin, request)).body.error).toBe('refused_not_eligible');
    await eventually(async () => (await auditActions(tenant.id, request.id)).filter((a) => a === 'approval.reminded').length >= 2 || null);
    await eventually(async () => (await auditActions(tenant.id, request.id)).includes('approval.escalated') || null, 60_000);
    expect((await otherAdmin.request('GET', '/approvals?box=waiting')).body.data.map((r: { id: string }) => r.id)).toContain(request.id);
    // Each reminder and the escalation are events too (webhooks turn them into mail or chat),
    // naming who still has to decide: before escalation the approver, after it the admins as well.
    const events = await eventsOf(tenant.id, request.id);
    const reminded = events.filter((e) => e.type === 'approval.reminded');
    expect(reminded.length).toBeGreaterThanOrEqual(2);
    expect(reminded.map((e) => e.data.n)).toEqual(reminded.map((_, i) => i + 1));
    expect(reminded[0]!.data.approverIds).toEqual([approver.userId]);
    const escalated = events.filter((e) => e.type === 'approval.escalated');
    expect(escalated).toHaveLength(1);
    expect(escalated[0]!.data.approverIds).toEqual(expect.arrayContaining([approver.userId, otherAdmin.userId]));
    expect(escalated[0]!.data.approverIds).not.toContain(requester.userId);
    expect((await decide(otherAdmin, request)).body.outcome).toBe('approved');
    await stateOf(requester, request.id, 'applied');
    await maybeRecordHistory(stack.client!, approvalWorkflowId(tenant.id, request.id), 'approval-escalation');
  });

  it('expires when nobody decides in time', async () => {
    const { tenant, admin, approvers } = await team(1);
    await setApprovalPolicy(stack, tenant.id, { 'scim_connection.create': { approvals: 1, expiresAfterHours: 4 } });
    const request = await submit(admin, 'scim_connection.create', { name: 'Late' });
    await stateOf(admin, request.id, 'expired');
    expect((await decide(approvers[0]!, request)).body.error).toBe('expired');
    expect(await auditActions(tenant.id, request.id)).toContain('approval.expired');
  });

  it('cooling-off: a lone admin cannot self-approve; the change applies after the period unless cancelled', async () => {
    const tenant = await stack.createTenant();
    const lone = await portalClient(stack, tenant, { roles: ['admin'] });
    await setApprovalPolicy(stack, tenant.id, { 'scim_connection.revoke': { approvals: 2, coolingOffHours: 4 } });
    const request = await submit(lone, 'scim_connection.revoke', { connectionId: tenant.connectionId });
    expect((await decide(lone, request)).body.error).toBe('refused_requester');
    const cooling = await stateOf(lone, request.id, 'cooling_off');
    expect(cooling.appliesAt).toBeTruthy();
    // Nobody else can approve: the tenant is told when the change will apply unless cancelled.
    const coolingEvents = (await eventsOf(tenant.id, request.id)).filter((e) => e.type === 'approval.cooling_off');
    expect(coolingEvents).toEqual([{ type: 'approval.cooling_off', data: expect.objectContaining({ kind: 'scim_connection.revoke', appliesAt: cooling.appliesAt }) }]);
    await stateOf(lone, request.id, 'applied');
    expect((await stack.scim(tenant, 'GET', '/Users?count=1')).status).toBe(401);

    // Two admins, three approvals needed: after the one possible approval it cools off; the other admin cancels.
    const t2 = await stack.createTenant();
    const a = await portalClient(stack, t2, { roles: ['admin'] });
    const b = await portalClient(stack, t2, { roles: ['admin'] });
    await setApprovalPolicy(stack, t2.id, { 'scim_connection.revoke': { approvals: 3, coolingOffHours: 40 } });
    const r2 = await submit(a, 'scim_connection.revoke', { connectionId: t2.connectionId });
    expect((await decide(b, r2)).body.outcome).toBe('recorded');
    await stateOf(a, r2.id, 'cooling_off');
    expect((await a.request('POST', `/approvals/${r2.id}/cancel`, {})).body.error).toBe('refused_requester');
    const cancelled = await b.request('POST', `/approvals/${r2.id}/cancel`, { comment: 'not now' });
    expect(cancelled.body.outcome).toBe('cancelled');
    expect((await stack.scim(t2, 'GET', '/Users?count=1')).status).toBe(200);
    expect((await eventsOf(t2.id, r2.id)).map((e) => [e.type, e.data.state ?? null])).toEqual(
      expect.arrayContaining([['approval.closed', 'cancelled']]),
    );
  });

  it('an approved guard release lets the held leavers go on at once (their workflows are signalled, not left to their re-check)', async () => {
    const { tenant, admin, approvers } = await team(1);
    await stack.owner.query(sql.unsafe`UPDATE tenants SET guard_max_suspensions = 1, guard_max_share = 1 WHERE id = ${tenant.id}`);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await stack.scim(tenant, 'POST', '/Users', { userName: `held${i}@example.com` })).body.id);
    const Status = z.object({ lifecycle_state: z.string() });
    const stateOfUser = (id: string) => stack.owner.oneFirst(sql.type(Status)`SELECT lifecycle_state FROM users WHERE id = ${id}`);
    await eventually(async () => (await Promise.all(ids.map(stateOfUser))).every((s) => s === 'active') || null);
    for (const id of ids) {
      const res = await stack.scim(tenant, 'PATCH', `/Users/${id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] });
      expect(res.status).toBe(200);
    }
    const Held = z.object({ n: z.number() });
    const heldCount = () => stack.owner.oneFirst(sql.type(Held)`SELECT count(*)::int AS n FROM deprovision_holds WHERE tenant_id = ${tenant.id} AND released_at IS NULL`);
    await eventually(async () => (await heldCount()) === 2 || null);

    const request = await submit(admin, 'guard.release', {});
    expect(request.description.after.released).toHaveLength(2);
    expect((await decide(approvers[0]!, request)).body.outcome).toBe('approved');
    await stateOf(admin, request.id, 'applied');
    expect(await heldCount()).toBe(0);
    // The held workflows re-check the database only every 10 minutes: finishing now means they were told.
    const status = (id: string) => stack.client!.workflow.getHandle(identityWorkflowId(tenant.id, id)).query(identityStatusQuery);
    await eventually(async () => (await Promise.all(ids.map(status))).every((st) => st.leaverDone && !st.held) || null, 20_000);
  });

  it('a role mapping change carries its dry run; once approved, exactly those people gain the roles', async () => {
    const { tenant, admin, approvers } = await team(1);
    const ids: Record<string, string> = {};
    for (const name of ['ann', 'bob', 'cat']) ids[name] = (await stack.scim(tenant, 'POST', '/Users', { userName: `${name}@example.com` })).body.id;
    const ops = (await stack.scim(tenant, 'POST', '/Groups', { displayName: 'Ops', members: [{ value: ids.ann }, { value: ids.bob }] })).body.id;
    const request = await submit(admin, 'role_mapping.set', { groupId: ops, roles: ['member'] });
    expect(request.description.effects).toMatchObject({
      affectedUsers: 2,
      changes: expect.arrayContaining([expect.objectContaining({ userId: ids.ann, gains: ['member'], losses: [] }), expect.objectContaining({ userId: ids.bob, gains: ['member'] })]),
    });
    expect(request.description.after.effectFingerprint).toBe(request.description.effects.fingerprint);
    expect((await decide(approvers[0]!, request)).body.outcome).toBe('approved');
    const applied = await stateOf(admin, request.id, 'applied');
    expect(applied.result).toMatchObject({ applied: true, affectedUsers: 2, fingerprint: request.description.effects.fingerprint });
    const verification = await eventually(async () => (await admin.request('GET', `/approvals/${request.id}`)).body.result?.verification);
    expect(verification.ok).toBe(true);
    const Roles = z.object({ user_id: z.string(), role: z.string() });
    const granted = await eventually(async () => {
      const rows = await withTenant(stack.owner, tenant.id, (tx) => tx.any(sql.type(Roles)`SELECT user_id, role FROM user_roles WHERE tenant_id = ${tenant.id}`));
      return rows.length >= 2 ? rows : null;
    });
    expect(granted.map((r) => r.user_id).sort()).toEqual([ids.ann, ids.bob].sort());
  });

  it('a change whose world moved after approval fails with the reason instead of applying', async () => {
    const { tenant, admin, approvers } = await team(2);
    await setApprovalPolicy(stack, tenant.id, { 'scim_connection.rotate': { approvals: 2 } });
    const request = await submit(admin, 'scim_connection.rotate', { connectionId: tenant.connectionId, overlapSeconds: 60 });
    expect((await decide(approvers[0]!, request)).body.outcome).toBe('recorded');
    // Someone rotates directly meanwhile: the live tokens the approvers saw are not the ones now.
    await withTenant(stack.owner, tenant.id, (tx) => tx.query(sql.unsafe`UPDATE scim_tokens SET expires_at = now() - interval '1 second' WHERE tenant_id = ${tenant.id}`));
    expect((await decide(approvers[1]!, request)).body.outcome).toBe('approved');
    const failed = await stateOf(admin, request.id, 'failed');
    expect(failed.result).toMatchObject({ error: expect.any(String) });
    expect(await auditActions(tenant.id, request.id)).toContain('approval.apply_failed');
  });

  it('the API is tenant-scoped: another tenant sees no request and cannot decide it', async () => {
    const { admin } = await team(0);
    const other = await team(1);
    const request = await submit(admin, 'scim_connection.create', { name: 'Mine' });
    expect((await other.approvers[0]!.request('GET', `/approvals/${request.id}`)).status).toBe(404);
    expect((await decide(other.approvers[0]!, request)).status).toBe(404);
    expect((await other.admin.request('POST', `/approvals/${request.id}/withdraw`)).status).toBe(404);
    expect((await other.approvers[0]!.request('GET', '/approvals?box=history')).body.data).toEqual([]);
  });

  it('an approver who joined after the request started still approves it fully, whichever of their decision and the cooling-off comes first', async () => {
    // Nobody but the requester could approve at submission: the workflow expects to cool off (M = 0 < N = 1).
    const tenant = await stack.createTenant();
    const lone = await portalClient(stack, tenant, { roles: ['admin'] });
    await setApprovalPolicy(stack, tenant.id, { 'scim_connection.create': { approvals: 1, eligibleRoles: ['approver'], coolingOffHours: 400 } });
    const cooled = await submit(lone, 'scim_connection.create', { name: 'Cooled first' });
    await stateOf(lone, cooled.id, 'cooling_off');
    const racing = await submit(lone, 'scim_connection.create', { name: 'Decided first' });
    const joined = await portalClient(stack, tenant, { roles: ['approver'] });
    // After the cooling-off began: the workflow asks for the full N, and gets it.
    expect((await decide(joined, cooled)).body.outcome).toBe('approved');
    await stateOf(lone, cooled.id, 'applied');
    // Before the workflow moved to cooling off (the decision's step runs with the cooling rule, as
    // it would when the decision wins that race): the full N approve it all the same.
    const r = await recordDecision(stack.app, {
      tenantId: tenant.id,
      requestId: racing.id,
      userId: joined.userId,
      verdict: 'approve',
      changeHash: racing.changeHash,
      closeAt: { approvals: 0, then: 'cooling_off', appliesAt: new Date(Date.now() + 3_600_000).toISOString() },
    });
    expect([r.outcome, r.state]).toEqual(['approved', 'approved']);
  });

  it('applies exactly once however often the apply step is retried', async () => {
    const { tenant, admin, approvers } = await team(1);
    const request = await submit(admin, 'scim_connection.create', { name: 'Once' });
    expect((await decide(approvers[0]!, request)).body.outcome).toBe('approved');
    await stateOf(admin, request.id, 'applied');
    const deps = approvalDepsFromConfig(stack.config, loadSecretsKey(stack.config));
    // What a retried activity (a worker killed after commit) does: it finds the stored outcome.
    const again = await applyApprovedChange(stack.app, deps, { tenantId: tenant.id, requestId: request.id });
    expect(again.state).toBe('applied');
    const Count = z.object({ n: z.number() });
    const n = await withTenant(stack.owner, tenant.id, (tx) => tx.oneFirst(sql.type(Count)`SELECT count(*)::int AS n FROM scim_connections WHERE tenant_id = ${tenant.id} AND name = 'Once'`));
    expect(n).toBe(1);
    expect((await auditActions(tenant.id, request.id)).filter((a) => a === 'approval.applied')).toHaveLength(1);
  });

  it('the reconciler starts the workflow of a request committed without one (a crash between commit and start)', async () => {
    const { tenant, admin, approvers } = await team(1);
    const deps = { ...approvalDepsFromConfig(stack.config, loadSecretsKey(stack.config)), taskQueue: stack.taskQueue };
    // No Temporal client: the request is committed and nobody starts its workflow.
    const { request } = await submitChange(stack.app, undefined, { tenantId: tenant.id, actor: { type: 'user', id: admin.userId } }, deps, { kind: 'scim_connection.create', payload: { name: 'Orphan' } });
    expect(request.state).toBe('pending');
    const res = await eventually(async () => {
      const r = await decide(approvers[0]!, request);
      return r.status === 200 ? r : null;
    }, 20_000, 300);
    expect(res.body.outcome).toBe('approved');
    await stateOf(admin, request.id, 'applied');
    // A second start (a slow committer racing the reconciler) is a no-op.
    await startApprovalWorkflow(stack.app, stack.client!, deps, tenant.id, request.id);
  });
});
