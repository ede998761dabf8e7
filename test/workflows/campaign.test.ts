import { defaultPayloadConverter } from '@temporalio/common';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeCampaignNow, notifyCampaignDecided, startCampaignWorkflow } from '../../activities/campaign-client.js';
import { withTenant } from '../../core/db/pool.js';
import { campaignStatusQuery, type CampaignWorkflowInput } from '../../workflows/messages.js';
import { campaignWorkflowId } from '../../workflows/ids.js';
import {
  campaignAudit,
  campaignEvents,
  campaignHandle,
  campaignInState,
  campaignRow,
  campaignTenant,
  decideWithSql,
  defineCampaign,
  itemsOf,
  launch,
  membersWithSql,
  person,
  portalUser,
  rolesOf,
} from '../helpers/campaigns.js';
import { maybeRecordHistory } from '../helpers/histories.js';
import { eventually, startStack, type TestStack } from '../helpers/stack.js';
import { type EventTypeReceiver, startEventTypeReceiver } from '../helpers/webhook-receiver.js';

/**
 * The campaign workflow against the real Temporal dev server and the real worker. Campaign hours
 * run as CAMPAIGN_HOUR_MS = 200 ms (the workflow gets its timers as durations from the database),
 * so reminders, escalation and the deadline take seconds. People are provisioned over SCIM: the
 * joiner grants their roles, and a revoke goes through their lifecycle workflow (the mover).
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

const base = (reviewer: string, fallback: string) => ({
  name: 'Quarterly access review',
  scope: [{ kind: 'all_roles' as const }],
  reviewers: { people: 'named' as const, nonHuman: 'named' as const, reviewerIds: [reviewer], fallbackReviewerId: fallback },
});

describe('campaign workflow', () => {
  it('generates, opens, reminds, escalates to the fallback reviewer and closes at its deadline (webhooks, audit, evidence summary)', async () => {
    const t = await campaignTenant(stack);
    const hook = await t.app.call('POST', '/api/v1/webhooks', { url: `${receiver.url}/${t.tenant.slug}` });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
    const alice = await person(stack, t, 'alice@example.com', { admin: true });
    const bob = await person(stack, t, 'bob@example.com');
    const definitionId = await defineCampaign(stack, t.tenant.id, {
      ...base(t.reviewer, t.fallback),
      durationHours: 40, // 8 s
      remindEveryHours: 10, // reminders at 2, 4 and 6 s
      escalateAfterHours: 25, // 5 s
    });
    const campaignId = await launch(stack, t.tenant.id, definitionId);
    const opened = await campaignInState(stack, t.tenant.id, campaignId, 'open');
    expect(opened.items_total).toBe(3);
    // The row opens inside the open step; the workflow's own state follows once the step answered.
    const status = await eventually(async () => {
      const s = await campaignHandle(stack, t.tenant.id, campaignId).query(campaignStatusQuery);
      return s.phase === 'open' && s;
    }, 60_000);
    expect(status).toMatchObject({ tenantId: t.tenant.id, campaignId, phase: 'open', items: 3, escalated: false });

    const items = await itemsOf(stack, t.tenant.id, campaignId);
    expect(items.map((i) => [i.user_id, i.access_ref, i.reviewer_id, i.assigned_by]).sort()).toEqual(
      [
        [alice, 'admin', t.reviewer, 'named'],
        [alice, 'member', t.reviewer, 'named'],
        [bob, 'member', t.reviewer, 'named'],
      ].sort(),
    );
    const bobMember = items.find((i) => i.user_id === bob)!;
    await decideWithSql(stack, t.tenant.id, campaignId, [bobMember.id], t.reviewer);
    await notifyCampaignDecided(stack.client!, t.tenant.id, campaignId, 1);
    await eventually(async () => (await campaignHandle(stack, t.tenant.id, campaignId).query(campaignStatusQuery)).pending === 2, 60_000);

    // Escalation: the undecided items move to the fallback reviewer; the decided one stays.
    await eventually(async () => (await campaignRow(stack, t.tenant.id, campaignId)).escalated_at !== null, 60_000);
    const escalated = await itemsOf(stack, t.tenant.id, campaignId);
    for (const i of escalated.filter((i) => i.user_id === alice)) expect(i).toMatchObject({ reviewer_id: t.fallback, assigned_by: 'escalation', outcome: 'pending' });
    expect(escalated.find((i) => i.id === bobMember.id)).toMatchObject({ reviewer_id: t.reviewer, outcome: 'kept' });

    const closed = await campaignInState(stack, t.tenant.id, campaignId, 'closed', 20_000);
    expect(Date.parse(closed.closed_at!)).toBeGreaterThanOrEqual(Date.parse(closed.due_at!));
    expect(await campaignHandle(stack, t.tenant.id, campaignId).result()).toBe('closed');
    // The default no-response policy keeps the access and flags it.
    const final = await itemsOf(stack, t.tenant.id, campaignId);
    expect(final.filter((i) => i.user_id === alice).map((i) => i.outcome)).toEqual(['no_response_kept', 'no_response_kept']);
    expect(await rolesOf(stack, t.tenant.id, alice)).toEqual(['admin', 'member']);
    expect(closed.summary).toMatchObject({ progress: { items: 3, kept: 1, noResponseKept: 2, revoked: 0 }, evidenceDigest: expect.stringMatching(/^[0-9a-f]{64}$/) });

    const events = await campaignEvents(stack, t.tenant.id, campaignId);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('campaign.started');
    expect(types.at(-1)).toBe('campaign.closed');
    expect(types).toContain('campaign.escalated');
    const reminders = events.filter((e) => e.type === 'campaign.reminded');
    expect(reminders.length).toBeGreaterThanOrEqual(2);
    expect(reminders.map((e) => e.data.round)).toEqual(reminders.map((_, i) => i + 1));
    expect(reminders[0]!.data.reviewers).toEqual([{ reviewerId: t.reviewer, pending: 2 }]);
    expect(events.find((e) => e.type === 'campaign.escalated')!.data).toMatchObject({ escalated: 2, toReviewerId: t.fallback });
    expect(await campaignAudit(stack, t.tenant.id, campaignId)).toEqual(expect.arrayContaining(['campaign.launched', 'campaign.started', 'campaign.escalated', 'campaign.closed']));
    // Every event reached the vendor's webhook through the campaign's delivery workflow.
    const delivered = () => receiver.typesAt(t.tenant.slug).filter((type) => type.startsWith('campaign.'));
    await eventually(async () => delivered().length >= types.length, 60_000);
    expect(delivered()).toEqual(types);

    const final2 = await campaignHandle(stack, t.tenant.id, campaignId).query(campaignStatusQuery);
    expect(final2).toMatchObject({ phase: 'closed', pending: 0, escalated: true, remindersSent: reminders.length });
    await maybeRecordHistory(stack.client!, campaignWorkflowId(t.tenant.id, campaignId), 'campaign');
  });

  it('close-now: refused while generating, accepted when open, refused once closed', async () => {
    const t = await campaignTenant(stack);
    await person(stack, t, 'carol@example.com');
    const definitionId = await defineCampaign(stack, t.tenant.id, { ...base(t.reviewer, t.fallback), durationHours: 1000 });
    const campaignId = await launch(stack, t.tenant.id, definitionId, { start: false });

    // Hold the campaign row: the first generation batch waits on it, so the run stays generating.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holding = stack.owner.transaction(async (tx) => {
      await tx.query(sql.unsafe`SELECT id FROM campaigns WHERE id = ${campaignId} FOR UPDATE`);
      locked();
      await released;
    });
    await isLocked;
    const started = startCampaignWorkflow(stack.app, stack.client!, stack.taskQueue, { tenantId: t.tenant.id, campaignId });
    await eventually(async () => (await campaignHandle(stack, t.tenant.id, campaignId).query(campaignStatusQuery)).phase === 'generating', 60_000);
    expect(await closeCampaignNow(stack.client!, t.tenant.id, campaignId, { by: t.admin })).toBe('still_generating');
    release();
    await holding;
    await started;

    await campaignInState(stack, t.tenant.id, campaignId, 'open');
    await eventually(async () => (await campaignHandle(stack, t.tenant.id, campaignId).query(campaignStatusQuery)).phase === 'open', 60_000);
    expect(await closeCampaignNow(stack.client!, t.tenant.id, campaignId, { by: t.admin, reason: 'done early' })).toBe('closing');
    const closed = await campaignInState(stack, t.tenant.id, campaignId, 'closed');
    expect(Date.parse(closed.closed_at!)).toBeLessThan(Date.parse(closed.due_at!));
    expect(await campaignHandle(stack, t.tenant.id, campaignId).result()).toBe('closed');
    expect(await closeCampaignNow(stack.client!, t.tenant.id, campaignId, { by: t.admin })).toBe('already_closed');
    expect((await itemsOf(stack, t.tenant.id, campaignId)).map((i) => i.outcome)).toEqual(['no_response_kept']);
  });

  it('closes early once every item is decided', async () => {
    const t = await campaignTenant(stack);
    await person(stack, t, 'dave@example.com', { admin: true });
    const definitionId = await defineCampaign(stack, t.tenant.id, { ...base(t.reviewer, t.fallback), durationHours: 1000 });
    const campaignId = await launch(stack, t.tenant.id, definitionId);
    await campaignInState(stack, t.tenant.id, campaignId, 'open');
    const items = await itemsOf(stack, t.tenant.id, campaignId);
    expect(items).toHaveLength(2);
    await decideWithSql(stack, t.tenant.id, campaignId, [items[0]!.id], t.reviewer);
    await notifyCampaignDecided(stack.client!, t.tenant.id, campaignId, 1);
    await eventually(async () => (await campaignHandle(stack, t.tenant.id, campaignId).query(campaignStatusQuery)).pending === 1, 60_000);
    expect((await campaignRow(stack, t.tenant.id, campaignId)).state).toBe('open');
    await decideWithSql(stack, t.tenant.id, campaignId, [items[1]!.id], t.reviewer);
    await notifyCampaignDecided(stack.client!, t.tenant.id, campaignId, 1);
    const closed = await campaignInState(stack, t.tenant.id, campaignId, 'closed', 10_000);
    expect(closed.summary.progress).toMatchObject({ items: 2, kept: 2, pending: 0, noResponseKept: 0 });
  });

  it('no-response revoke under the cap: the person loses the role through the mover and a token that required it stops introspecting', async () => {
    const t = await campaignTenant(stack);
    const erin = await person(stack, t, 'erin@example.com', { admin: true });
    const frank = await person(stack, t, 'frank@example.com');
    const gina = await person(stack, t, 'gina@example.com');
    const token = await t.app.call('POST', `/api/v1/users/${erin}/tokens`, { name: 'admin-cli', scopes: ['admin:write'], requiredRoles: ['admin'] });
    expect(token.status, JSON.stringify(token.body)).toBe(201);
    const plain = (await t.app.call('POST', `/api/v1/users/${erin}/tokens`, { name: 'cli', scopes: ['read'] })).body.token as string;
    expect((await t.app.introspect(token.body.token)).active).toBe(true);

    const definitionId = await defineCampaign(stack, t.tenant.id, {
      ...base(t.reviewer, t.fallback),
      durationHours: 15, // 3 s
      noResponse: { action: 'revoke', escalate: false, revokeCapPercent: 30 },
    });
    const campaignId = await launch(stack, t.tenant.id, definitionId);
    await campaignInState(stack, t.tenant.id, campaignId, 'open');
    const items = await itemsOf(stack, t.tenant.id, campaignId);
    expect(items).toHaveLength(4);
    // Everything but erin's admin role is kept: 1 of 4 undecided (25 %) is within the 30 % cap.
    await decideWithSql(stack, t.tenant.id, campaignId, items.filter((i) => !(i.user_id === erin && i.access_ref === 'admin')).map((i) => i.id), t.reviewer);

    const closed = await campaignInState(stack, t.tenant.id, campaignId, 'closed', 20_000);
    expect(closed.summary.progress).toMatchObject({ items: 4, kept: 3, noResponseRevoked: 1, awaitingConfirmation: 0 });
    const revoked = (await itemsOf(stack, t.tenant.id, campaignId)).find((i) => i.user_id === erin && i.access_ref === 'admin')!;
    expect(revoked.outcome).toBe('no_response_revoked');
    expect(revoked.applied).toMatchObject({ via: 'identity_stream', userId: erin });
    await eventually(async () => JSON.stringify(await rolesOf(stack, t.tenant.id, erin)) === '["member"]', 20_000);
    await eventually(async () => (await t.app.introspect(token.body.token)).active === false, 60_000);
    expect((await t.app.introspect(plain)).active).toBe(true);
    expect(await rolesOf(stack, t.tenant.id, frank)).toEqual(['member']);
    expect(await rolesOf(stack, t.tenant.id, gina)).toEqual(['member']);
  });

  it('no-response revoke over the cap: nothing is revoked, the items wait for an admin and an alert is open', async () => {
    const t = await campaignTenant(stack);
    const hank = await person(stack, t, 'hank@example.com', { admin: true });
    const definitionId = await defineCampaign(stack, t.tenant.id, {
      ...base(t.reviewer, t.fallback),
      durationHours: 10,
      noResponse: { action: 'revoke', escalate: false, revokeCapPercent: 30 },
    });
    const campaignId = await launch(stack, t.tenant.id, definitionId);
    const closed = await campaignInState(stack, t.tenant.id, campaignId, 'closed', 20_000);
    expect(closed.summary.progress).toMatchObject({ items: 2, awaitingConfirmation: 2, noResponseRevoked: 0 });
    expect((await itemsOf(stack, t.tenant.id, campaignId)).map((i) => i.outcome)).toEqual(['awaiting_confirmation', 'awaiting_confirmation']);
    expect(await rolesOf(stack, t.tenant.id, hank)).toEqual(['admin', 'member']);
    const alerts = await withTenant(stack.owner, t.tenant.id, (tx) =>
      tx.anyFirst(sql.type(z.object({ kind: z.string() }))`SELECT kind FROM tenant_alerts WHERE tenant_id = ${t.tenant.id} AND resolved_at IS NULL`),
    );
    expect(alerts).toContain('campaign_revokes_awaiting_confirmation');
  });

  it('keep_and_flag without escalation: nothing moves to the fallback, undecided access stays and is flagged no_response_kept', async () => {
    const t = await campaignTenant(stack);
    const ivy = await person(stack, t, 'ivy@example.com', { admin: true });
    const definitionId = await defineCampaign(stack, t.tenant.id, {
      ...base(t.reviewer, t.fallback),
      durationHours: 10,
      escalateAfterHours: 2, // due well before the deadline, but the policy does not escalate
      noResponse: { action: 'keep_and_flag', escalate: false },
    });
    const campaignId = await launch(stack, t.tenant.id, definitionId);
    const closed = await campaignInState(stack, t.tenant.id, campaignId, 'closed', 20_000);
    expect(closed.summary.progress).toMatchObject({ items: 2, noResponseKept: 2, noResponseRevoked: 0 });
    expect(closed.escalated_at).toBeNull();
    expect((await itemsOf(stack, t.tenant.id, campaignId)).map((i) => [i.reviewer_id, i.assigned_by])).toEqual([
      [t.reviewer, 'named'],
      [t.reviewer, 'named'],
    ]);
    expect((await campaignEvents(stack, t.tenant.id, campaignId)).map((e) => e.type)).not.toContain('campaign.escalated');
    expect(await campaignHandle(stack, t.tenant.id, campaignId).query(campaignStatusQuery)).toMatchObject({ escalated: false });
    expect(await rolesOf(stack, t.tenant.id, ivy)).toEqual(['admin', 'member']);
  });

  it('continues as new while generating and while open, carrying its counts and reminder rounds', async () => {
    const t = await campaignTenant(stack);
    await membersWithSql(stack, t.tenant.id, 60, '@example.com');
    const definitionId = await defineCampaign(stack, t.tenant.id, { ...base(t.reviewer, t.fallback), durationHours: 40, remindEveryHours: 1, escalateAfterHours: 2000 });
    const campaignId = await launch(stack, t.tenant.id, definitionId, { start: false });
    await startCampaignWorkflow(stack.app, stack.client!, stack.taskQueue, { tenantId: t.tenant.id, campaignId, batchSize: 1, historyLimit: 100 });
    const handle = campaignHandle(stack, t.tenant.id, campaignId);
    const { runId: firstRunId } = await handle.describe();

    const closed = await campaignInState(stack, t.tenant.id, campaignId, 'closed', 60_000);
    expect(closed.items_total).toBe(60);
    expect(await handle.result()).toBe('closed');
    // Each run's input says where it resumed: generating runs, then open runs.
    const resumedAt: string[] = [];
    for (let runId: string | undefined = firstRunId; runId; ) {
      const history = await stack.client!.workflow.getHandle(handle.workflowId, runId).fetchHistory();
      const input = defaultPayloadConverter.fromPayload<CampaignWorkflowInput>(history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!);
      resumedAt.push(input.resume?.phase ?? 'start');
      runId = history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
      expect(history.events!.length).toBeLessThan(200);
    }
    expect(resumedAt[0]).toBe('start');
    expect(resumedAt.filter((p) => p === 'generating').length).toBeGreaterThanOrEqual(2);
    expect(resumedAt).toContain('open');
    const events = await campaignEvents(stack, t.tenant.id, campaignId);
    expect(events.filter((e) => e.type === 'campaign.started')).toHaveLength(1);
    const rounds = events.filter((e) => e.type === 'campaign.reminded').map((e) => e.data.round);
    expect(rounds.length).toBeGreaterThanOrEqual(3);
    expect(rounds).toEqual(rounds.map((_, i) => i + 1));
    expect((await handle.query(campaignStatusQuery)).remindersSent).toBe(rounds.length);
  });

  it("a move that changes a person's manager opens a review of their privileged access for the new manager, and its workflow runs", async () => {
    const t = await campaignTenant(stack);
    expect((await t.app.call('POST', '/api/v1/webhooks', { url: `${receiver.url}/${t.tenant.slug}` })).status).toBe(201);
    const mona = await person(stack, t, 'mona@example.com');
    const monaReviewer = await portalUser(stack, t.tenant.id, 'mona@example.com', ['approver']);
    const nick = await person(stack, t, 'nick@example.com', { admin: true });
    const moved = await stack.scim(t.tenant, 'PATCH', `/Users/${nick}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', value: { 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { manager: { value: mona } } } }],
    });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);

    const Review = z.object({ id: z.string(), trigger: z.string(), subject_user_id: z.string().nullable(), workflow_started_at: z.string().nullable() });
    const review = await eventually(
      () => withTenant(stack.owner, t.tenant.id, (tx) => tx.maybeOne(sql.type(Review)`SELECT id, trigger, subject_user_id, workflow_started_at::text FROM campaigns WHERE tenant_id = ${t.tenant.id}`)),
      20_000,
    );
    expect(review).toMatchObject({ trigger: 'event', subject_user_id: nick });
    // Started by the identity's own step after commit, not by the reconciler (which waits 30 s here).
    await eventually(async () => (await campaignHandle(stack, t.tenant.id, review.id).query(campaignStatusQuery)).phase === 'open', 60_000);
    expect((await campaignRow(stack, t.tenant.id, review.id)).state).toBe('open');
    expect(await itemsOf(stack, t.tenant.id, review.id)).toEqual([
      expect.objectContaining({ user_id: nick, access_ref: 'admin', reviewer_id: monaReviewer, assigned_by: 'manager', outcome: 'pending' }),
    ]);
    expect((await campaignHandle(stack, t.tenant.id, review.id).query(campaignStatusQuery)).items).toBe(1);
    // The review's start reaches the vendor's webhook like any campaign's.
    await eventually(async () => receiver.typesAt(t.tenant.slug).includes('campaign.started'), 60_000);
  });

  it('a step that keeps failing unexpectedly does not fail the campaign: it is tried again after a pause until it closes', async () => {
    const t = await campaignTenant(stack);
    await person(stack, t, 'olga@example.com');
    const definitionId = await defineCampaign(stack, t.tenant.id, { ...base(t.reviewer, t.fallback), durationHours: 5 });
    const campaignId = await launch(stack, t.tenant.id, definitionId, { start: false });
    // A fault nobody classified: closing this campaign fails until the trigger is dropped.
    const fn = `fail_close_${campaignId.replaceAll('-', '')}`;
    await stack.owner.query(sql.unsafe`
      CREATE FUNCTION ${sql.identifier([fn])}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.state = 'closed' THEN RAISE EXCEPTION 'simulated fault'; END IF;
        RETURN NEW;
      END $$`);
    await stack.owner.query(sql.unsafe`
      CREATE TRIGGER ${sql.identifier([fn])} BEFORE UPDATE ON campaigns FOR EACH ROW WHEN (NEW.id = ${sql.literalValue(campaignId)}::uuid)
      EXECUTE FUNCTION ${sql.identifier([fn])}()`);
    await startCampaignWorkflow(stack.app, stack.client!, stack.taskQueue, { tenantId: t.tenant.id, campaignId, stepPauseMs: 500 });
    const handle = campaignHandle(stack, t.tenant.id, campaignId);
    // The close ran out of attempts (Unexpected) at least once; the run goes on.
    await eventually(async () => {
      const history = await handle.fetchHistory();
      return history.events!.some((e) => e.activityTaskFailedEventAttributes?.failure?.applicationFailureInfo?.type === 'Unexpected');
    }, 30_000, 250);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    expect((await campaignRow(stack, t.tenant.id, campaignId)).state).toBe('open');

    await stack.owner.query(sql.unsafe`DROP TRIGGER ${sql.identifier([fn])} ON campaigns`);
    await stack.owner.query(sql.unsafe`DROP FUNCTION ${sql.identifier([fn])}()`);
    await campaignInState(stack, t.tenant.id, campaignId, 'closed', 30_000);
    expect(await handle.result()).toBe('closed');
  });

  it('a cancelled campaign ends its workflow cleanly', async () => {
    const t = await campaignTenant(stack);
    await person(stack, t, 'jack@example.com');
    const definitionId = await defineCampaign(stack, t.tenant.id, { ...base(t.reviewer, t.fallback), durationHours: 1000 });
    const campaignId = await launch(stack, t.tenant.id, definitionId);
    await campaignInState(stack, t.tenant.id, campaignId, 'open');
    await withTenant(stack.owner, t.tenant.id, (tx) => tx.query(sql.unsafe`UPDATE campaigns SET state = 'cancelled' WHERE tenant_id = ${t.tenant.id} AND id = ${campaignId}`));
    await notifyCampaignDecided(stack.client!, t.tenant.id, campaignId, 0);
    expect(await campaignHandle(stack, t.tenant.id, campaignId).result()).toBe('cancelled');
    expect((await campaignRow(stack, t.tenant.id, campaignId)).state).toBe('cancelled');
  });
});
