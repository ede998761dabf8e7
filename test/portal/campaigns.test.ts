import { createHash } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { EVIDENCE_COLUMNS } from '../../core/campaigns/schema.js';
import { type CampaignTenant, campaignTenant, rolesOf } from '../helpers/campaigns.js';
import { portalClient, type PortalTestClient } from '../helpers/portal.js';
import { ENT, GROUP, PATCH_OP, USER } from '../helpers/scim.js';
import { eventually, startStack, type TestStack } from '../helpers/stack.js';
import { type EventTypeReceiver, startEventTypeReceiver } from '../helpers/webhook-receiver.js';

/**
 * Access reviews through the portal's JSON API (issue 9), over real HTTP against the real app, with
 * the real worker running the campaign workflow (CAMPAIGN_HOUR_MS = 200 ms). People are provisioned
 * over SCIM; their managers are portal users (matched by e-mail), so the manager rule assigns their
 * items to the people who sign in here.
 */

const HOUR_MS = 200;
let stack: TestStack;
/** The vendor's webhook endpoint: each tenant's deliveries at its slug. */
let receiver: EventTypeReceiver;

beforeAll(async () => {
  stack = await startStack({ worker: true, env: { CAMPAIGN_HOUR_MS: String(HOUR_MS) } });
  receiver = await startEventTypeReceiver();
});
afterAll(async () => {
  await stack?.close();
  await receiver?.close();
});

/** A person over SCIM (userName doubles as e-mail), optionally with a manager and in groups; waits for the joiner's roles. */
async function scimPerson(t: CampaignTenant, userName: string, options: { managerId?: string; groups?: string[]; roles?: string[] } = {}): Promise<string> {
  const res = await stack.scim(t.tenant, 'POST', '/Users', {
    schemas: [USER, ENT],
    userName,
    emails: [{ value: userName, primary: true }],
    ...(options.managerId ? { [ENT]: { manager: { value: options.managerId } } } : {}),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const id = res.body.id as string;
  for (const g of options.groups ?? []) await addToGroup(t, g, id);
  const want = JSON.stringify(options.roles ?? ['member']);
  await eventually(async () => JSON.stringify(await rolesOf(stack, t.tenant.id, id)) === want, 30_000);
  return id;
}

async function addToGroup(t: CampaignTenant, groupId: string, userId: string) {
  const res = await stack.scim(t.tenant, 'PATCH', `/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: userId }] }] });
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
}

const definition = (fallback: string, extra: Record<string, unknown> = {}) => ({
  name: 'Quarterly access review',
  scope: [{ kind: 'all_roles' }],
  reviewers: { people: 'manager', nonHuman: 'owner', reviewerIds: [], fallbackReviewerId: fallback },
  // Long enough that no timer fires while the test decides (hours of 200 ms): close-now ends it.
  durationHours: 2000,
  remindEveryHours: 720,
  escalateAfterHours: 1500,
  ...extra,
});

async function openCampaign(client: PortalTestClient, campaignId: string) {
  return eventually(async () => {
    const res = await client.request('GET', `/campaigns/${campaignId}`);
    return res.status === 200 && res.body.state === 'open' ? res.body : null;
  }, 30_000);
}

const auditActions = (tenantId: string, targetId: string) =>
  withTenant(stack.owner, tenantId, (tx) => tx.anyFirst(sql.type(z.object({ action: z.string() }))`SELECT action FROM audit_events WHERE tenant_id = ${tenantId} AND target_id = ${targetId} ORDER BY id`));

const definitionCount = (tenantId: string) =>
  withTenant(stack.owner, tenantId, (tx) => tx.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int8 AS n FROM campaign_definitions WHERE tenant_id = ${tenantId}`));

describe('campaign definitions', () => {
  let t: CampaignTenant;
  let security: PortalTestClient;
  let auditor: PortalTestClient;
  let approver: PortalTestClient;
  beforeAll(async () => {
    t = await campaignTenant(stack);
    security = await portalClient(stack, t.tenant, { roles: ['reviewer'] });
    auditor = await portalClient(stack, t.tenant, { roles: ['auditor'] });
    approver = await portalClient(stack, t.tenant, { roles: ['approver'] });
  });

  it('refuses a body that breaks a rule, each issue at its field, and stores nothing', async () => {
    const bad = await security.request('POST', '/campaign-definitions', {
      ...definition('00000000-0000-4000-8000-000000000001', { escalateAfterHours: 2100 }),
      scope: [{ kind: 'groups', groupIds: ['00000000-0000-4000-8000-000000000002'] }],
      reviewers: { people: 'named', nonHuman: 'owner', reviewerIds: [approver.userId, '00000000-0000-4000-8000-000000000003'], fallbackReviewerId: '00000000-0000-4000-8000-000000000001' },
      schedule: { kind: 'cron', cron: '0 0 1 * MON', timezone: 'Mars/Olympus' },
    });
    expect(bad.status, JSON.stringify(bad.body)).toBe(400);
    expect(bad.body.error).toBe('invalid_request');
    expect(bad.body.issues.map((i: { path: string }) => i.path).sort()).toEqual(
      ['escalateAfterHours', 'reviewers.fallbackReviewerId', 'reviewers.reviewerIds.1', 'schedule.cron', 'schedule.timezone', 'scope.0.groupIds.0'].sort(),
    );
    expect(bad.body.issues.find((i: { path: string }) => i.path === 'schedule.cron').message).toContain('not both');
    // The shape itself (zod): an unknown scope kind, a duration out of range.
    const shape = await security.request('POST', '/campaign-definitions', { ...definition(security.userId), scope: [{ kind: 'everything' }], durationHours: 0 });
    expect(shape.status).toBe(400);
    expect(shape.body.issues.map((i: { path: string }) => i.path)).toEqual(expect.arrayContaining(['scope.0.kind', 'durationHours']));
    // Named reviewers, but nobody named.
    const nobody = await security.request('POST', '/campaign-definitions', { ...definition(security.userId), reviewers: { people: 'named', reviewerIds: [], fallbackReviewerId: security.userId } });
    expect(nobody.status).toBe(400);
    expect(nobody.body.issues).toEqual([expect.objectContaining({ path: 'reviewers.reviewerIds' })]);
    // A disabled portal user is not a reviewer any more.
    const disabled = await portalClient(stack, t.tenant, { roles: ['approver'] });
    await withTenant(stack.owner, t.tenant.id, (tx) => tx.query(sql.unsafe`UPDATE portal_users SET status = 'disabled' WHERE id = ${disabled.userId}`));
    const gone = await security.request('POST', '/campaign-definitions', definition(disabled.userId));
    expect(gone.body.issues).toEqual([expect.objectContaining({ path: 'reviewers.fallbackReviewerId' })]);
    expect(await definitionCount(t.tenant.id)).toBe(0);
    // Only security users define campaigns.
    expect((await approver.request('POST', '/campaign-definitions', definition(security.userId))).status).toBe(403);
    expect((await auditor.request('POST', '/campaign-definitions', definition(security.userId))).status).toBe(403);
    expect(await definitionCount(t.tenant.id)).toBe(0);
  });

  it('create, read, replace, pause, resume and delete: every change bumps the revision, is audited and the next run follows the schedule', async () => {
    const group = (await stack.scim(t.tenant, 'POST', '/Groups', { schemas: [GROUP], displayName: 'Finance' })).body.id as string;
    const created = await security.request('POST', '/campaign-definitions', {
      ...definition(security.userId),
      scope: [{ kind: 'privileged_roles' }, { kind: 'groups', groupIds: [group] }],
      reviewers: { people: 'named', nonHuman: 'named', reviewerIds: [approver.userId], fallbackReviewerId: security.userId },
      schedule: { kind: 'monthly' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const def = created.body;
    expect(def).toMatchObject({ revision: 1, paused: false, openCampaignId: null, noResponse: { action: 'keep_and_flag', escalate: true, revokeCapPercent: 10 }, rubberStampSeconds: 5 });
    const now = new Date();
    expect(def.nextRunAt).toBe(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString());

    expect((await auditor.request('GET', `/campaign-definitions/${def.id}`)).body).toEqual(def);
    const list = await auditor.request('GET', '/campaign-definitions');
    expect(list.body.data.map((d: { id: string }) => d.id)).toContain(def.id);
    expect((await approver.request('GET', '/campaign-definitions')).status).toBe(403);

    const replaced = await security.request('PUT', `/campaign-definitions/${def.id}`, {
      ...definition(security.userId),
      name: 'Monthly privileged review',
      schedule: { kind: 'cron', cron: '0 9 * * MON', timezone: 'Europe/Paris' },
    });
    expect(replaced.status, JSON.stringify(replaced.body)).toBe(200);
    expect(replaced.body).toMatchObject({ name: 'Monthly privileged review', revision: 2, scope: [{ kind: 'all_roles' }] });
    expect(new Date(replaced.body.nextRunAt).getUTCDay()).toBe(1);
    // A refused replacement changes nothing.
    const refused = await security.request('PUT', `/campaign-definitions/${def.id}`, { ...definition(security.userId), schedule: { kind: 'cron', cron: '0 9 * * 8' } });
    expect(refused.status).toBe(400);
    expect((await security.request('GET', `/campaign-definitions/${def.id}`)).body).toMatchObject({ revision: 2, name: 'Monthly privileged review' });

    const paused = await security.request('POST', `/campaign-definitions/${def.id}/pause`);
    expect(paused.body).toMatchObject({ paused: true, revision: 3, nextRunAt: null });
    expect((await security.request('POST', `/campaign-definitions/${def.id}/pause`)).body).toMatchObject({ paused: true, revision: 3 });
    const resumed = await security.request('POST', `/campaign-definitions/${def.id}/resume`);
    expect(resumed.body).toMatchObject({ paused: false, revision: 4 });
    expect(resumed.body.nextRunAt).not.toBeNull();

    expect((await security.request('DELETE', `/campaign-definitions/${def.id}`)).status).toBe(204);
    expect((await security.request('GET', `/campaign-definitions/${def.id}`)).status).toBe(404);
    expect((await security.request('DELETE', `/campaign-definitions/${def.id}`)).status).toBe(404);
    expect((await security.request('POST', `/campaign-definitions/${def.id}/launch`)).status).toBe(404);
    const row = await withTenant(stack.owner, t.tenant.id, (tx) =>
      tx.one(sql.type(z.object({ revision: z.number(), deleted: z.boolean() }))`SELECT revision, deleted_at IS NOT NULL AS deleted FROM campaign_definitions WHERE id = ${def.id}`),
    );
    expect(row).toEqual({ revision: 5, deleted: true });
    expect(await auditActions(t.tenant.id, def.id)).toEqual([
      'campaign.definition.created',
      'campaign.definition.updated',
      'campaign.definition.paused',
      'campaign.definition.resumed',
      'campaign.definition.deleted',
    ]);
  });

  it('the pickers list active portal users and groups for security users only', async () => {
    const reviewers = await security.request('GET', `/campaign-reviewers?search=${encodeURIComponent(approver.email.slice(0, 6))}`);
    expect(reviewers.status).toBe(200);
    expect(reviewers.body.data).toEqual([expect.objectContaining({ id: approver.userId, email: approver.email, roles: ['approver'] })]);
    const everyone = (await security.request('GET', '/campaign-reviewers')).body.data.map((r: { id: string }) => r.id);
    expect(everyone).toEqual(expect.arrayContaining([security.userId, auditor.userId, approver.userId]));
    const groups = await security.request('GET', '/campaign-groups?search=fin');
    expect(groups.body.data).toEqual([{ id: expect.any(String), displayName: 'Finance', members: 0 }]);
    expect((await approver.request('GET', '/campaign-reviewers')).status).toBe(403);
    expect((await auditor.request('GET', '/campaign-groups')).status).toBe(403);
  });
});

describe('a campaign from launch to evidence', () => {
  let t: CampaignTenant;
  let security: PortalTestClient;
  let managerA: PortalTestClient;
  let managerB: PortalTestClient;
  let bystander: PortalTestClient;
  let auditor: PortalTestClient;
  const people: Record<string, string> = {};
  let campaignId = '';
  let definitionId = '';
  let membersGroup = '';

  beforeAll(async () => {
    t = await campaignTenant(stack);
    security = await portalClient(stack, t.tenant, { roles: ['reviewer'] });
    managerA = await portalClient(stack, t.tenant, { roles: ['approver'] });
    managerB = await portalClient(stack, t.tenant, { roles: ['approver'] });
    bystander = await portalClient(stack, t.tenant, { roles: ['approver'] });
    auditor = await portalClient(stack, t.tenant, { roles: ['auditor'] });
    // The managers' own identities (their userName is their portal e-mail): reviewed by the fallback.
    people.bossA = await scimPerson(t, managerA.email);
    people.bossB = await scimPerson(t, managerB.email);
    people.alice = await scimPerson(t, 'alice@example.com', { managerId: people.bossA, groups: [t.adminsGroup], roles: ['admin', 'member'] });
    people.bob = await scimPerson(t, 'bob@example.com', { managerId: people.bossA });
    people.dave = await scimPerson(t, 'dave@example.com', { managerId: people.bossA });
    people.carol = await scimPerson(t, 'carol@example.com', { managerId: people.bossB });
    membersGroup = (await stack.scim(t.tenant, 'POST', '/Groups', { schemas: [GROUP], displayName: 'Members' })).body.id as string;
    const hook = await t.app.call('POST', '/api/v1/webhooks', { url: `${receiver.url}/${t.tenant.slug}`, eventTypes: ['campaign.started', 'campaign.item.decided', 'campaign.closed'] });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
    expect((await t.app.call('PUT', `/api/v1/role-mappings/${membersGroup}`, { roles: ['member'] })).status).toBe(200);
  });

  const item = async (client: PortalTestClient, userId: string, role: string, view = 'mine') => {
    const res = await client.request('GET', `/campaigns/${campaignId}/items?view=${view}&limit=200`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.data.find((i: { subject: { userId: string }; access: string }) => i.subject.userId === userId && i.access === role);
  };

  it('launches once: the campaign opens and a second launch is refused while it runs', async () => {
    const created = await security.request('POST', '/campaign-definitions', definition(security.userId));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    definitionId = created.body.id;
    expect((await managerA.request('POST', `/campaign-definitions/${definitionId}/launch`)).status).toBe(403);
    const launched = await security.request('POST', `/campaign-definitions/${definitionId}/launch`);
    expect(launched.status, JSON.stringify(launched.body)).toBe(201);
    campaignId = launched.body.campaignId;
    const again = await security.request('POST', `/campaign-definitions/${definitionId}/launch`);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: 'campaign_running', campaignId });

    const open = await openCampaign(security, campaignId);
    // alice: admin + member; bob, dave, carol, bossA, bossB: member.
    expect(open).toMatchObject({ id: campaignId, definitionId, trigger: 'manual', itemsTotal: 7, progress: { items: 7, pending: 7, decided: 0 }, summary: null });
    expect(open.settings).toMatchObject({ name: 'Quarterly access review', durationHours: 2000 });
    expect((await security.request('GET', `/campaign-definitions/${definitionId}`)).body.openCampaignId).toBe(campaignId);
    expect(await auditActions(t.tenant.id, campaignId)).toEqual(expect.arrayContaining(['campaign.launched', 'campaign.started']));
  });

  it('worklists: each reviewer sees their own items riskiest first; all items for security users and auditors only', async () => {
    const listA = (await managerA.request('GET', '/campaigns')).body.data;
    expect(listA).toEqual([expect.objectContaining({ id: campaignId, mine: 4, decided: 0, state: 'open' })]);
    expect((await managerB.request('GET', '/campaigns')).body.data).toEqual([expect.objectContaining({ id: campaignId, mine: 1 })]);
    expect((await security.request('GET', '/campaigns')).body.data).toEqual([expect.objectContaining({ id: campaignId, mine: 2 })]);
    // Someone with nothing to review does not see the campaign.
    expect((await bystander.request('GET', '/campaigns')).body.data).toEqual([]);
    expect((await bystander.request('GET', `/campaigns/${campaignId}`)).status).toBe(404);

    const mine = await managerA.request('GET', `/campaigns/${campaignId}/items`);
    const names = mine.body.data.map((i: { subject: { name: string }; access: string }) => `${i.subject.name}:${i.access}`);
    // The privileged role first; the rest (same risk) in item order.
    expect(names[0]).toBe('alice@example.com:admin');
    expect(names.slice(1).sort()).toEqual(['alice@example.com:member', 'bob@example.com:member', 'dave@example.com:member']);
    const first = mine.body.data[0];
    expect(first).toMatchObject({ riskReasons: ['privileged_role'], reviewerId: managerA.userId, assignedBy: 'manager', drift: 'unchanged', outcome: 'pending', decision: null });
    expect(first.sources).toEqual([{ kind: 'group', groupId: t.adminsGroup, groupName: 'Admins' }]);
    // A manager sees their own line of the breakdown only.
    const view = (await managerA.request('GET', `/campaigns/${campaignId}`)).body;
    expect(view.progress.reviewers).toEqual([expect.objectContaining({ reviewerId: managerA.userId, assigned: 4 })]);
    expect((await security.request('GET', `/campaigns/${campaignId}`)).body.progress.reviewers).toHaveLength(3);

    expect((await managerA.request('GET', `/campaigns/${campaignId}/items?view=all`)).status).toBe(403);
    // Every item, a page of two at a time, riskiest first, each once.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await auditor.request('GET', `/campaigns/${campaignId}/items?view=all&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      seen.push(...res.body.data.map((i: { id: string }) => i.id));
      cursor = res.body.next;
    } while (cursor);
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
    const byReviewer = await security.request('GET', `/campaigns/${campaignId}/items?view=all&reviewerId=${managerB.userId}`);
    expect(byReviewer.body.data.map((i: { subject: { userId: string } }) => i.subject.userId)).toEqual([people.carol]);
    const search = await security.request('GET', `/campaigns/${campaignId}/items?view=all&search=ali`);
    expect(search.body.data).toHaveLength(2);
    expect((await security.request('GET', `/campaigns/${campaignId}/items?cursor=not-a-cursor`)).body.error).toBe('invalid_cursor');
  });

  it('decisions: bulk keep, refusals per item, revoke needs a reason, and a revoke takes the role away (the credential that needed it stops working)', async () => {
    const [aliceAdmin, aliceMember, bobMember, carolMember] = [
      await item(managerA, people.alice!, 'admin'),
      await item(managerA, people.alice!, 'member'),
      await item(managerA, people.bob!, 'member'),
      await item(managerB, people.carol!, 'member'),
    ];
    const kept = await managerA.request('POST', `/campaigns/${campaignId}/decisions`, { itemIds: [aliceMember.id, bobMember.id], decision: 'keep', elapsedMs: 8000 });
    expect(kept.status, JSON.stringify(kept.body)).toBe(200);
    expect(kept.body).toEqual({
      decided: 2,
      refused: 0,
      results: [
        { itemId: aliceMember.id, result: 'decided', outcome: 'kept' },
        { itemId: bobMember.id, result: 'decided', outcome: 'kept' },
      ],
    });
    // Someone else's item, an item decided already, an unknown id: refused, nothing changes.
    const refused = await managerA.request('POST', `/campaigns/${campaignId}/decisions`, { itemIds: [carolMember.id, aliceMember.id, '999999999'], decision: 'keep' });
    expect(refused.body).toEqual({
      decided: 0,
      refused: 3,
      results: [
        { itemId: carolMember.id, result: 'refused', code: 'not_your_item' },
        { itemId: aliceMember.id, result: 'refused', code: 'already_decided' },
        { itemId: '999999999', result: 'refused', code: 'not_found' },
      ],
    });
    expect(await item(managerB, people.carol!, 'member')).toMatchObject({ outcome: 'pending', decision: null });
    // Revoking needs a reason (400, nothing changed).
    const noReason = await managerA.request('POST', `/campaigns/${campaignId}/decisions`, { itemIds: [aliceAdmin.id], decision: 'revoke' });
    expect(noReason.status).toBe(400);
    expect(noReason.body.issues).toEqual([expect.objectContaining({ path: 'reason' })]);
    expect(await item(managerA, people.alice!, 'admin')).toMatchObject({ outcome: 'pending' });

    const token = await t.app.call('POST', `/api/v1/users/${people.alice}/tokens`, { name: 'admin-cli', scopes: ['admin:write'], requiredRoles: ['admin'] });
    expect(token.status, JSON.stringify(token.body)).toBe(201);
    expect((await t.app.introspect(token.body.token)).active).toBe(true);
    const revoked = await managerA.request('POST', `/campaigns/${campaignId}/decisions`, { itemIds: [aliceAdmin.id], decision: 'revoke', reason: 'Moved to sales: no admin work', elapsedMs: 20000 });
    expect(revoked.body).toEqual({ decided: 1, refused: 0, results: [{ itemId: aliceAdmin.id, result: 'decided', outcome: 'revoked' }] });
    expect(await item(managerA, people.alice!, 'admin')).toMatchObject({
      decision: 'revoke',
      decisionReason: 'Moved to sales: no admin work',
      outcome: 'revoked',
      applied: { via: 'identity_stream', userId: people.alice },
    });
    await eventually(async () => JSON.stringify(await rolesOf(stack, t.tenant.id, people.alice!)) === '["member"]', 30_000);
    await eventually(async () => (await t.app.introspect(token.body.token)).active === false, 60_000);
    const decidedMs = await withTenant(stack.owner, t.tenant.id, (tx) =>
      tx.anyFirst(sql.type(z.object({ ms: z.number() }))`SELECT decision_ms AS ms FROM campaign_items WHERE campaign_id = ${campaignId} AND decision IS NOT NULL ORDER BY id`),
    );
    expect([...decidedMs].sort((a, b) => a - b)).toEqual([4000, 4000, 20000]);
    expect(await auditActions(t.tenant.id, campaignId)).toEqual(expect.arrayContaining(['campaign.item.decided', 'campaign.item.revoked']));
  });

  it('access that changed after the snapshot must be acknowledged; access that disappeared closes itself; unused privileged access needs a reason to keep', async () => {
    // carol now also holds `member` through the Members group: her item's sources changed.
    await addToGroup(t, membersGroup, people.carol!);
    const carol = await eventually(async () => {
      const i = await item(managerB, people.carol!, 'member');
      return i.drift === 'changed' ? i : null;
    }, 60_000);
    const unacknowledged = await managerB.request('POST', `/campaigns/${campaignId}/decisions`, { itemIds: [carol.id], decision: 'keep' });
    expect(unacknowledged.body.results).toEqual([{ itemId: carol.id, result: 'refused', code: 'access_changed' }]);
    const acknowledged = await managerB.request('POST', `/campaigns/${campaignId}/decisions`, { itemIds: [carol.id], decision: 'keep', acknowledgeChanges: true });
    expect(acknowledged.body.results).toEqual([{ itemId: carol.id, result: 'decided', outcome: 'kept' }]);

    // dave leaves: his item has nothing left to decide.
    const dave = await item(managerA, people.dave!, 'member');
    expect((await stack.scim(t.tenant, 'DELETE', `/Users/${people.dave}`)).status).toBe(204);
    const gone = await managerA.request('POST', `/campaigns/${campaignId}/decisions`, { itemIds: [dave.id], decision: 'keep' });
    expect(gone.body).toEqual({ decided: 0, refused: 0, results: [{ itemId: dave.id, result: 'gone', outcome: 'gone' }] });

    // A privileged role unused for 90 days (risk reasons as generation records them for such access).
    const bossB = await item(security, people.bossB!, 'member');
    await withTenant(stack.owner, t.tenant.id, (tx) =>
      tx.query(sql.unsafe`UPDATE campaign_items SET risk_reasons = '{privileged_role,unused_90_days}' WHERE campaign_id = ${campaignId} AND id = ${bossB.id}::int8`),
    );
    const keepSilently = await security.request('POST', `/campaigns/${campaignId}/decisions`, { itemIds: [bossB.id], decision: 'keep' });
    expect(keepSilently.body.results).toEqual([{ itemId: bossB.id, result: 'refused', code: 'reason_required' }]);
  });

  it('reassign: named items or all of a reviewer, never to the subject themself', async () => {
    const bossB = await item(security, people.bossB!, 'member');
    const bossA = await item(security, people.bossA!, 'member');
    const toSelf = await security.request('POST', `/campaigns/${campaignId}/reassign`, { itemIds: [bossB.id], toReviewerId: managerB.userId });
    expect(toSelf.status).toBe(409);
    expect(toSelf.body.error).toBe('reviewer_is_subject');
    const unknown = await security.request('POST', `/campaigns/${campaignId}/reassign`, { itemIds: [bossB.id], toReviewerId: '00000000-0000-4000-8000-000000000009' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.issues).toEqual([expect.objectContaining({ path: 'toReviewerId' })]);
    expect((await managerA.request('POST', `/campaigns/${campaignId}/reassign`, { itemIds: [bossB.id], toReviewerId: managerA.userId })).status).toBe(403);

    const moved = await security.request('POST', `/campaigns/${campaignId}/reassign`, { itemIds: [bossB.id], toReviewerId: managerA.userId });
    expect(moved.body).toEqual({ reassigned: 1 });
    expect(await item(managerA, people.bossB!, 'member')).toMatchObject({ reviewerId: managerA.userId, assignedBy: 'reassigned' });
    // All of the security user's pending items to bossA's own portal user: bossA's item stays.
    const all = await security.request('POST', `/campaigns/${campaignId}/reassign`, { fromReviewerId: security.userId, toReviewerId: managerA.userId });
    expect(all.body).toEqual({ reassigned: 0 });
    expect(await item(security, people.bossA!, 'member')).toMatchObject({ id: bossA.id, reviewerId: security.userId });
    expect(await auditActions(t.tenant.id, campaignId)).toContain('campaign.items.reassigned');
  });

  it('close now, then the evidence (CSV and JSON) matches the signed summary; the events feed carries the campaign', async () => {
    const early = await auditor.request('GET', `/campaigns/${campaignId}/evidence.csv`);
    expect(early.status).toBe(409);
    expect(early.body.error).toBe('campaign_not_closed');
    expect((await managerA.request('POST', `/campaigns/${campaignId}/close`)).status).toBe(403);
    const closing = await security.request('POST', `/campaigns/${campaignId}/close`);
    expect(closing.status, JSON.stringify(closing.body)).toBe(200);
    expect(closing.body).toEqual({ outcome: 'closing' });
    const closed = await eventually(async () => {
      const res = await security.request('GET', `/campaigns/${campaignId}`);
      return res.body.state === 'closed' && res.body.summary ? res.body : null;
    }, 30_000);
    const again = await security.request('POST', `/campaigns/${campaignId}/close`);
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('already_closed');
    expect(closed.summary.progress).toMatchObject({ items: 7, kept: 3, revoked: 1, gone: 1, noResponseKept: 2, pending: 0 });
    // A late decision is refused.
    const bossA = await item(security, people.bossA!, 'member');
    expect((await security.request('POST', `/campaigns/${campaignId}/decisions`, { itemIds: [bossA.id], decision: 'keep' })).body.results).toEqual([
      { itemId: bossA.id, result: 'refused', code: 'campaign_not_open' },
    ]);

    const csv = await auditor.request('GET', `/campaigns/${campaignId}/evidence.csv`);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toBe(`attachment; filename="campaign-${campaignId}-evidence.csv"`);
    const lines = (csv.body as string).trim().split('\r\n');
    expect(lines[0]).toBe(EVIDENCE_COLUMNS.join(','));
    expect(lines).toHaveLength(8);
    expect(lines.find((l) => l.includes('Moved to sales: no admin work'))).toMatch(/,revoke,Moved to sales: no admin work,.*,revoked,/);

    const json = await security.request('GET', `/campaigns/${campaignId}/evidence.json`);
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const rows = json.body as Record<string, unknown>[];
    expect(rows.map((r) => r.outcome).sort()).toEqual(['gone', 'kept', 'kept', 'kept', 'no_response_kept', 'no_response_kept', 'revoked']);
    expect(rows.find((r) => r.outcome === 'revoked')).toMatchObject({ subjectName: 'alice@example.com', access: 'admin', reviewerId: managerA.userId, decision: 'revoke', decisionMs: 20000 });
    // The summary's digest is the sha256 of exactly these rows (JSON lines, item id order).
    const digest = createHash('sha256').update(rows.map((r) => `${JSON.stringify(r)}\n`).join('')).digest('hex');
    expect(closed.summary.evidenceDigest).toBe(digest);
    expect((await managerA.request('GET', `/campaigns/${campaignId}/evidence.json`)).status).toBe(403);
    expect(await auditActions(t.tenant.id, campaignId)).toEqual(expect.arrayContaining(['campaign.close_requested', 'campaign.closed', 'campaign.evidence.downloaded']));

    const types = await eventually(async () => {
      const feed = await t.app.call('GET', '/api/v1/events?type=campaign.started,campaign.item.decided,campaign.closed&limit=100');
      const mine = feed.body.data.filter((e: { data: { campaignId?: string } }) => e.data.campaignId === campaignId).map((e: { type: string }) => e.type);
      return mine.includes('campaign.closed') ? mine : null;
    }, 60_000);
    expect(types).toEqual(['campaign.started', ...Array(4).fill('campaign.item.decided'), 'campaign.closed']);
    // The same events reached the vendor's webhook, through the campaign's delivery workflow.
    const delivered = () => receiver.typesAt(t.tenant.slug);
    await eventually(async () => delivered().length >= types.length, 60_000);
    expect(delivered()).toEqual(types);
  });

  it("another tenant's security user sees none of it", async () => {
    const other = await campaignTenant(stack);
    const outsider = await portalClient(stack, other.tenant, { roles: ['admin', 'reviewer', 'auditor'] });
    expect((await outsider.request('GET', '/campaigns')).body.data).toEqual([]);
    expect((await outsider.request('GET', '/campaign-definitions')).body.data).toEqual([]);
    for (const path of [`/campaigns/${campaignId}`, `/campaigns/${campaignId}/items?view=all`, `/campaigns/${campaignId}/evidence.csv`, `/campaign-definitions/${definitionId}`]) {
      expect((await outsider.request('GET', path)).status, path).toBe(404);
    }
    expect((await outsider.request('POST', `/campaign-definitions/${definitionId}/launch`)).status).toBe(404);
    const pickable = (await outsider.request('GET', '/campaign-reviewers')).body.data.map((r: { id: string }) => r.id);
    expect(pickable).toContain(outsider.userId);
    expect(pickable).not.toContain(security.userId);
    expect(pickable).not.toContain(managerA.userId);
  });
});

describe('no-response revokes held by the cap', () => {
  it('wait for a security user, who confirms them: the role goes through the mover', async () => {
    const t = await campaignTenant(stack);
    const security = await portalClient(stack, t.tenant, { roles: ['admin'] });
    const reviewer = await portalClient(stack, t.tenant, { roles: ['approver'] });
    const erin = await scimPerson(t, 'erin@example.com', { groups: [t.adminsGroup], roles: ['admin', 'member'] });
    const created = await security.request('POST', '/campaign-definitions', {
      ...definition(security.userId),
      scope: [{ kind: 'privileged_roles' }],
      reviewers: { people: 'named', nonHuman: 'named', reviewerIds: [reviewer.userId], fallbackReviewerId: security.userId },
      durationHours: 10, // 2 s
      noResponse: { action: 'revoke', escalate: false, revokeCapPercent: 0 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const { campaignId } = (await security.request('POST', `/campaign-definitions/${created.body.id}/launch`)).body;
    const closed = await eventually(async () => {
      const res = await security.request('GET', `/campaigns/${campaignId}`);
      return res.body.state === 'closed' ? res.body : null;
    }, 30_000);
    expect(closed.progress).toMatchObject({ items: 1, awaitingConfirmation: 1, noResponseRevoked: 0 });
    expect(await rolesOf(stack, t.tenant.id, erin)).toEqual(['admin', 'member']);

    expect((await reviewer.request('POST', `/campaigns/${campaignId}/no-response`, { confirm: true, reason: 'policy' })).status).toBe(403);
    expect((await security.request('POST', `/campaigns/${campaignId}/no-response`, { confirm: true })).status).toBe(400);
    const confirmed = await security.request('POST', `/campaigns/${campaignId}/no-response`, { confirm: true, reason: 'Nobody vouched for it' });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    expect(confirmed.body).toEqual({ revoked: 1, kept: 0 });
    await eventually(async () => JSON.stringify(await rolesOf(stack, t.tenant.id, erin)) === '["member"]', 30_000);
    const again = await security.request('POST', `/campaigns/${campaignId}/no-response`, { confirm: false, reason: 'twice' });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('nothing_awaiting');
    expect((await security.request('GET', `/campaigns/${campaignId}`)).body.progress).toMatchObject({ awaitingConfirmation: 0, noResponseRevoked: 1 });
  });
});
