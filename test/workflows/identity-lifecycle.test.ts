import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupWorkflowId, identityWorkflowId } from '../../workflows/ids.js';
import { groupStatusQuery, identityStatusQuery } from '../../workflows/messages.js';
import { maybeRecordHistory } from '../helpers/histories.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const State = z.object({ lifecycle_state: z.string(), applied_seq: z.number(), event_seq: z.number(), activated_at: z.string().nullable(), suspended_at: z.string().nullable(), deleted_at: z.string().nullable() });

let stack: TestStack;
let tenant: TestTenant;
beforeAll(async () => {
  stack = await startStack({ worker: true });
  tenant = await stack.createTenant({ graceSeconds: 3 });
});
afterAll(async () => stack?.close());

const stateOf = (userId: string) =>
  stack.owner.one(sql.type(State)`SELECT lifecycle_state, applied_seq, event_seq, activated_at, suspended_at, deleted_at FROM users WHERE id = ${userId}`);

const lifecycleTrail = (userId: string) =>
  stack.owner.any(sql.type(z.object({ action: z.string(), seq: z.number().nullable(), event: z.string().nullable() }))`
    SELECT action, (data->>'seq')::int AS seq, data->>'event' AS event FROM audit_events
     WHERE target_id = ${userId} AND actor_type = 'system' AND action LIKE 'lifecycle.%' ORDER BY id`);

const OutboxState = z.object({ seq: z.number(), delivered: z.boolean(), deferred: z.boolean() });
/** A stream's outbox rows: delivered (signalled or pulled), deferred by the relay. */
const outboxRows = (on: TestStack, streamId: string) =>
  on.owner.any(sql.type(OutboxState)`
    SELECT seq, delivered_at IS NOT NULL AS delivered, defer_until IS NOT NULL AS deferred FROM outbox WHERE stream_id = ${streamId} ORDER BY seq`);

const patch = (id: string, ops: unknown[]) => stack.scim(tenant, 'PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: ops });

const maybeRecord = (workflowId: string, name: string) => maybeRecordHistory(stack.client!, workflowId, name);

describe('identity lifecycle workflow, through SCIM', () => {
  it('provisioned → active on create; suspension is synchronous; reactivation; delete after the grace period', async () => {
    const created = await stack.scim(tenant, 'POST', '/Users', { userName: 'joiner@example.com', active: true });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    const workflowId = identityWorkflowId(tenant.id, id);
    expect(workflowId).not.toContain('joiner');

    const active = await eventually(async () => {
      const s = await stateOf(id);
      return s.lifecycle_state === 'active' && s;
    });
    expect(active.activated_at).not.toBeNull();
    const handle = stack.client!.workflow.getHandle(workflowId);
    await eventually(async () => (await handle.query(identityStatusQuery)).appliedSeq === 1);
    expect(await handle.query(identityStatusQuery)).toMatchObject({ state: 'active', appliedSeq: 1, pendingSeqs: [], held: false });

    // Okta-style deactivation: the suspension is written before the IdP gets its answer.
    expect((await patch(id, [{ op: 'replace', value: { active: false } }])).status).toBe(200);
    const suspended = await stateOf(id);
    expect(suspended.lifecycle_state).toBe('suspended');
    expect(suspended.suspended_at).not.toBeNull();
    await eventually(async () => (await stateOf(id)).applied_seq === 2);

    // Entra-style reactivation with a string boolean.
    expect((await patch(id, [{ op: 'Replace', path: 'active', value: 'True' }])).status).toBe(200);
    await eventually(async () => {
      const s = await stateOf(id);
      return s.lifecycle_state === 'active' && s.applied_seq === 3;
    });

    // SCIM DELETE: 404 at once, suspended at once, deleted after the tenant's 3 s grace period.
    expect((await stack.scim(tenant, 'DELETE', `/Users/${id}`)).status).toBe(204);
    expect((await stack.scim(tenant, 'GET', `/Users/${id}`)).status).toBe(404);
    expect((await stateOf(id)).lifecycle_state).toBe('suspended');
    await eventually(async () => (await handle.query(identityStatusQuery)).awaitingDeletion);
    expect((await stateOf(id)).lifecycle_state).toBe('suspended');
    const deleted = await eventually(async () => {
      const s = await stateOf(id);
      return s.lifecycle_state === 'deleted' && s;
    }, 30_000);
    expect(deleted.deleted_at).not.toBeNull();
    await handle.result();
    await maybeRecord(workflowId, 'identity-lifecycle');

    const trail = await lifecycleTrail(id);
    expect(trail.map((t) => t.action)).toEqual([
      'lifecycle.active',
      'lifecycle.user.deactivated',
      'lifecycle.active',
      'lifecycle.user.deleted',
      'lifecycle.deleted',
    ]);
    expect(trail.slice(0, 4).map((t) => t.seq)).toEqual([1, 2, 3, 4]);

    // After deletion the userName is free again and belongs to a new identity.
    const again = await stack.scim(tenant, 'POST', '/Users', { userName: 'joiner@example.com' });
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(id);
  });

  it('a user created inactive stays provisioned until activated', async () => {
    const created = await stack.scim(tenant, 'POST', '/Users', { userName: 'later@example.com', active: false });
    const id: string = created.body.id;
    await eventually(async () => (await stateOf(id)).applied_seq === 1);
    expect((await stateOf(id)).lifecycle_state).toBe('provisioned');
    await patch(id, [{ op: 'replace', path: 'active', value: true }]);
    await eventually(async () => (await stateOf(id)).lifecycle_state === 'active');
  });

  it('applies a burst of changes in the order they were accepted, each exactly once', async () => {
    const created = await stack.scim(tenant, 'POST', '/Users', { userName: 'burst@example.com' });
    const id: string = created.body.id;
    const flips = 12;
    for (let i = 0; i < flips; i++) {
      expect((await patch(id, [{ op: 'replace', path: 'active', value: i % 2 === 1 }])).status).toBe(200);
    }
    const final = await eventually(async () => {
      const s = await stateOf(id);
      return s.applied_seq === flips + 1 && s;
    });
    expect(final.event_seq).toBe(flips + 1);
    expect(final.lifecycle_state).toBe('active');
    const trail = await lifecycleTrail(id);
    expect(trail.map((t) => t.seq)).toEqual(Array.from({ length: flips + 1 }, (_, i) => i + 1));
    const delivered = await stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int AS n FROM outbox WHERE stream_id = ${id} AND delivered_at IS NOT NULL`);
    expect(delivered).toBe(flips + 1);
  });

  it('membership events behind a busy identity are pulled by its step, not signalled, and apply as one step', async () => {
    // The relay starts once all four events are written, the worker once the relay has passed over
    // them: the identity's first workflow task holds the joiner, as behind a group push's backlog.
    // The relay signals the joiner but defers the three membership rows (their stream has an
    // unapplied earlier event); the joiner's step pulls them and the next step applies them
    // together. The deferral outlasts the test, so only the pull can bring them.
    const deferred = await startStack({ worker: true, deferWorker: true, deferRelay: true, env: { RELAY_DEFER_MS: '600000' } });
    try {
      const other = await deferred.createTenant();
      const id: string = (await deferred.scim(other, 'POST', '/Users', { userName: 'batched@example.com' })).body.id;
      for (const name of ['B1', 'B2', 'B3']) {
        expect((await deferred.scim(other, 'POST', '/Groups', { displayName: name, members: [{ value: id }] })).status).toBe(201);
      }
      deferred.runRelay();
      const rows = () => outboxRows(deferred, id);
      await eventually(async () => (await rows()).every((r) => r.delivered || r.deferred), 60_000);
      expect(await rows()).toEqual([
        { seq: 1, delivered: true, deferred: false },
        { seq: 2, delivered: false, deferred: true },
        { seq: 3, delivered: false, deferred: true },
        { seq: 4, delivered: false, deferred: true },
      ]);
      deferred.runWorker();
      const handle = deferred.client!.workflow.getHandle(identityWorkflowId(other.id, id));
      await eventually(async () => (await handle.query(identityStatusQuery)).appliedSeq === 4, 60_000);
      expect(await handle.query(identityStatusQuery)).toMatchObject({ state: 'active', appliedSeq: 4, pendingSeqs: [] });
      expect((await rows()).every((r) => r.delivered)).toBe(true);

      const trail = await deferred.owner.any(sql.type(z.object({ action: z.string(), seq: z.number().nullable() }))`
        SELECT action, (data->>'seq')::int AS seq FROM audit_events
         WHERE target_id = ${id} AND actor_type = 'system' AND action LIKE 'lifecycle.%' ORDER BY id`);
      expect(trail).toEqual([
        { action: 'lifecycle.active', seq: 1 },
        { action: 'lifecycle.membership.added', seq: 2 },
        { action: 'lifecycle.membership.added', seq: 3 },
        { action: 'lifecycle.membership.added', seq: 4 },
      ]);
      // One signal (the joiner's), two local activities: the joiner (a fresh run's first event is
      // applied alone; it pulls the rest) and the batch.
      const events = (await handle.fetchHistory()).events ?? [];
      expect(events.filter((e) => e.workflowExecutionSignaledEventAttributes)).toHaveLength(1);
      const markers = events.flatMap((e) => (e.markerRecordedEventAttributes?.markerName ? [e.markerRecordedEventAttributes.markerName] : []));
      expect(markers.filter((m) => m === 'core_local_activity')).toHaveLength(2);
      expect(markers).toContain('core_patch');
      await maybeRecord(identityWorkflowId(other.id, id), 'identity-batched');
    } finally {
      await deferred.close();
    }
  });

  it('a deferred row that no step pulls is signalled by the relay once its stream can apply it', async () => {
    // The stream moves past the event ahead of the deferred row without pulling (as a worker on
    // older code would): the relay's next look at the row finds nothing ahead of it and signals it.
    const deferred = await startStack({ worker: true, deferWorker: true, deferRelay: true, env: { RELAY_DEFER_MS: '300' } });
    try {
      const other = await deferred.createTenant();
      const id: string = (await deferred.scim(other, 'POST', '/Users', { userName: 'unpulled@example.com' })).body.id;
      expect((await deferred.scim(other, 'POST', '/Groups', { displayName: 'U1', members: [{ value: id }] })).status).toBe(201);
      deferred.runRelay();
      const rows = () => outboxRows(deferred, id);
      await eventually(async () => {
        const r = await rows();
        return r.length === 2 && r[0]!.delivered && r[1]!.deferred;
      });
      // While seq 1 is with the workflow and unapplied, the row stays deferred past its time.
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect((await rows())[1]).toEqual({ seq: 2, delivered: false, deferred: true });
      await deferred.owner.query(sql.unsafe`UPDATE users SET applied_seq = 1 WHERE id = ${id}`);
      await eventually(async () => (await rows())[1]!.delivered, 10_000);
      deferred.runWorker();
      const handle = deferred.client!.workflow.getHandle(identityWorkflowId(other.id, id));
      await eventually(async () => (await handle.query(identityStatusQuery)).appliedSeq === 2, 60_000);
      const events = (await handle.fetchHistory()).events ?? [];
      expect(events.filter((e) => e.workflowExecutionSignaledEventAttributes)).toHaveLength(2);
    } finally {
      await deferred.close();
    }
  });

  it("a group's member changes reach each member's workflow, and the group has its own", async () => {
    const ids: string[] = [];
    for (const n of ['m1', 'm2', 'm3']) ids.push((await stack.scim(tenant, 'POST', '/Users', { userName: `${n}@example.com` })).body.id);
    const group = await stack.scim(tenant, 'POST', '/Groups', { displayName: 'Engineering', members: ids.map((value) => ({ value })) });
    expect(group.status).toBe(201);
    const remove = await stack.scim(tenant, 'PATCH', `/Groups/${group.body.id}`, {
      schemas: [PATCH],
      Operations: [{ op: 'remove', path: `members[value eq "${ids[0]}"]` }],
    });
    expect(remove.status).toBe(204);
    for (const [i, id] of ids.entries()) {
      const expected = i === 0 ? 3 : 2; // created, membership.added (+ membership.removed)
      await eventually(async () => (await stateOf(id)).applied_seq === expected);
    }
    const trail = await lifecycleTrail(ids[0]!);
    expect(trail.map((t) => t.event)).toEqual(['user.created', 'membership.added', 'membership.removed']);
    const gHandle = stack.client!.workflow.getHandle(groupWorkflowId(tenant.id, group.body.id));
    await eventually(async () => (await gHandle.query(groupStatusQuery)).appliedSeq === 2);
    await maybeRecord(identityWorkflowId(tenant.id, ids[0]!), 'identity-membership');
    expect((await stack.scim(tenant, 'DELETE', `/Groups/${group.body.id}`)).status).toBe(204);
    await gHandle.result();
    await maybeRecord(groupWorkflowId(tenant.id, group.body.id), 'group-lifecycle');
  });
});
