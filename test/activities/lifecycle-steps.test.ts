import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import * as credentials from '../../core/repositories/credentials.js';
import { applyIdentityEvent, completeLeaver, type IdentityEventInput } from '../../core/repositories/lifecycle.js';
import { identityWorkflowId } from '../../workflows/ids.js';
import { api, type AppTenant, appTenant, introspect } from '../helpers/app-api-fixtures.js';
import { startStack, type TestStack } from '../helpers/stack.js';
import { APP_API_CHANGE_KINDS, applyAtOnce } from '../helpers/approvals.js';

/**
 * The lifecycle's steps without a worker: what one event's single transaction does, that a retry
 * (the same workflow id + seq) gets the stored outcome and changes nothing, and that a fresh run's
 * first step reports the stream position instead of applying an event out of order.
 */

const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const n = z.object({ n: z.number() });

let stack: TestStack;
let t: AppTenant;

beforeAll(async () => {
  stack = await startStack();
  t = await appTenant(stack);
  // These tests are about lifecycle steps: the app API's changes apply at once (no approval).
  await applyAtOnce(stack, t.id, APP_API_CHANGE_KINDS);
  expect((await api(stack, t.appKey, 'PUT', '/api/v1/default-role', { role: 'member' })).status).toBe(200);
});
afterAll(async () => stack?.close());

const step = (userId: string, seq: number, type: string, extra: Partial<IdentityEventInput> = {}): IdentityEventInput => ({
  tenantId: t.id,
  userId,
  workflowId: identityWorkflowId(t.id, userId),
  seq,
  type,
  leaverDone: false,
  fromStart: false,
  catalogue: stack.config.APP_ROLES,
  ...extra,
});
const apply = (input: IdentityEventInput) => withTenant(stack.app, t.id, (tx) => applyIdentityEvent(tx, input));
const leave = (userId: string, seq: number) =>
  withTenant(stack.app, t.id, (tx) => completeLeaver(tx, { tenantId: t.id, userId, workflowId: identityWorkflowId(t.id, userId), seq }));

const row = (userId: string) =>
  stack.owner.one(sql.type(z.object({ lifecycle_state: z.string(), applied_seq: z.number() }))`
    SELECT lifecycle_state, applied_seq FROM users WHERE id = ${userId}`);
const events = (userId: string) =>
  stack.owner.anyFirst(sql.type(z.object({ type: z.string() }))`SELECT type FROM events WHERE subject_id = ${userId} ORDER BY created_at, id`);
const auditActions = (userId: string) =>
  stack.owner.anyFirst(sql.type(z.object({ action: z.string() }))`
    SELECT action FROM audit_events WHERE target_id = ${userId} AND actor_type = 'system' ORDER BY id`);

async function scimUser(userName: string): Promise<string> {
  const res = await stack.scim(t, 'POST', '/Users', { userName });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

describe('one transaction per lifecycle event', () => {
  it('joiner: activation, roles, audit, both events and the stream position commit together; a retry returns the stored outcome and writes nothing', async () => {
    const id = await scimUser('steps.joiner@example.com');
    const session = (await api(stack, t.appKey, 'POST', `/api/v1/users/${id}/sessions`, {})).body.token as string;
    expect((await introspect(stack, t.appKey, session)).active).toBe(false);

    const first = await apply(step(id, 1, 'user.created', { fromStart: true }));
    expect(first).toMatchObject({ kind: 'applied', state: 'active', becameActive: true, leaver: 'none', finished: true, deliver: [] });
    expect(await row(id)).toEqual({ lifecycle_state: 'active', applied_seq: 1 });
    expect(await events(id)).toEqual(['role.granted', 'user.provisioned']);
    expect(await auditActions(id)).toEqual(['lifecycle.active', 'role.granted']);
    expect((await introspect(stack, t.appKey, session)).active).toBe(true);

    expect(await apply(step(id, 1, 'user.created'))).toEqual(first);
    // The same step as a fresh run's first: already applied, so the run moves to the position.
    expect(await apply(step(id, 1, 'user.created', { fromStart: true }))).toEqual({ kind: 'position', appliedSeq: 1, state: 'active', deletionPending: false, deliver: [] });
    expect(await events(id)).toEqual(['role.granted', 'user.provisioned']);
    expect(await auditActions(id)).toEqual(['lifecycle.active', 'role.granted']);
  });

  it("a fresh run's first step reports the database's position when its event is not the next one", async () => {
    const id = await scimUser('steps.position@example.com');
    expect(await apply(step(id, 3, 'user.updated', { fromStart: true }))).toEqual({ kind: 'position', appliedSeq: 0, state: 'provisioned', deletionPending: false, deliver: [] });
    expect(await row(id)).toEqual({ lifecycle_state: 'provisioned', applied_seq: 0 });
    expect(await events(id)).toEqual([]);
    // Nothing was stored for seq 3: once it is the next event, it applies.
    await apply(step(id, 1, 'user.created', { fromStart: true }));
    await apply(step(id, 2, 'user.updated'));
    expect(await apply(step(id, 3, 'user.updated', { changed: ['displayName'] }))).toMatchObject({ kind: 'applied', finished: true });
    expect(await row(id)).toMatchObject({ applied_seq: 3 });
    expect(await events(id)).toEqual(['role.granted', 'user.provisioned', 'user.updated', 'user.updated']);
    expect(await apply(step(id, 2, 'user.updated', { fromStart: true }))).toMatchObject({ kind: 'position', appliedSeq: 3 });
  });

  it('leaver: the guard decides with the transition; the revocations, report and user.suspended are one more step, once', async () => {
    const id = await scimUser('steps.leaver@example.com');
    await apply(step(id, 1, 'user.created', { fromStart: true }));
    const token = await withTenant(stack.app, t.id, (tx) => credentials.issuePersonalToken(tx, t.id, { userId: id, name: 'pat', scopes: ['read'] }, { type: 'system', id: 'test' }));
    expect((await stack.scim(t, 'PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] })).status).toBe(200);

    const decided = await apply(step(id, 2, 'user.deactivated'));
    expect(decided).toMatchObject({ kind: 'applied', state: 'suspended', leaver: 'proceed', finished: false });
    expect(await row(id)).toMatchObject({ applied_seq: 1 });
    const live = () => stack.owner.oneFirst(sql.type(n)`SELECT count(*)::int AS n FROM credentials WHERE user_id = ${id} AND revoked_at IS NULL`);
    expect(await live()).toBe(1);

    const done = await leave(id, 2);
    expect(done).toEqual({ finished: true, deliver: [] });
    expect(await live()).toBe(0);
    expect(await row(id)).toMatchObject({ applied_seq: 2 });
    expect(await events(id)).toEqual(['role.granted', 'user.provisioned', 'user.suspended']);
    const reports = () => stack.owner.oneFirst(sql.type(n)`SELECT count(*)::int AS n FROM exposure_reports WHERE user_id = ${id}`);
    expect(await reports()).toBe(1);
    const trail = await auditActions(id);
    expect(trail.slice(-2)).toEqual(['lifecycle.user.deactivated', 'exposure_report.recorded']);
    const revokedAudits = () => stack.owner.oneFirst(sql.type(n)`
      SELECT count(*)::int AS n FROM audit_events WHERE action = 'credential.revoked' AND target_id = ${token.credential.id} AND data->>'reason' = 'user_left'`);
    expect(await revokedAudits()).toBe(1);

    // Retried (the completion never reached Temporal): the stored result, nothing written twice.
    expect(await leave(id, 2)).toEqual(done);
    expect(await apply(step(id, 2, 'user.deactivated'))).toEqual(decided);
    expect(await events(id)).toEqual(['role.granted', 'user.provisioned', 'user.suspended']);
    expect(await reports()).toBe(1);
    expect(await auditActions(id)).toEqual(trail);
    expect(await revokedAudits()).toBe(1);
    expect((await introspect(stack, t.appKey, token.token)).active).toBe(false);
  });

  it('a run of membership events applies as one step: an audit row each, the roles once, the stream through the last; a retry writes nothing', async () => {
    const admins = (await stack.scim(t, 'POST', '/Groups', { displayName: 'Steps admins' })).body.id as string;
    expect((await api(stack, t.appKey, 'PUT', `/api/v1/role-mappings/${admins}`, { roles: ['admin'] })).status).toBe(200);
    const id = await scimUser('steps.batch@example.com');
    await apply(step(id, 1, 'user.created', { fromStart: true }));
    const addTo = async (group: string) =>
      expect((await stack.scim(t, 'PATCH', `/Groups/${group}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: id }] }] })).status).toBe(204);
    await addTo(admins);
    for (const name of ['Steps one', 'Steps two']) {
      expect((await stack.scim(t, 'POST', '/Groups', { displayName: name, members: [{ value: id }] })).status).toBe(201);
    }
    expect((await stack.scim(t, 'PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'displayName', value: 'Batch' }] })).status).toBe(200);
    const stream = await stack.owner.any(sql.type(z.object({ seq: z.number(), type: z.string() }))`
      SELECT seq, event_type AS type FROM outbox WHERE stream_type = 'user' AND stream_id = ${id} ORDER BY seq`);
    expect(stream.map((e) => e.type)).toEqual(['user.created', 'membership.added', 'membership.added', 'membership.added', 'user.updated']);

    // The user.updated that follows the three memberships is not theirs to apply.
    const batch = await apply(step(id, 2, 'membership.added', { then: stream.slice(2) }));
    expect(batch).toMatchObject({ kind: 'applied', state: 'active', leaver: 'none', finished: true, through: 4 });
    expect(await row(id)).toEqual({ lifecycle_state: 'active', applied_seq: 4 });
    expect(await events(id)).toEqual(['role.granted', 'user.provisioned', 'role.granted']);
    const trail = await stack.owner.any(sql.type(z.object({ action: z.string(), seq: z.number().nullable() }))`
      SELECT action, (data->>'seq')::int AS seq FROM audit_events WHERE target_id = ${id} AND actor_type = 'system' ORDER BY id`);
    expect(trail).toEqual([
      { action: 'lifecycle.active', seq: 1 },
      { action: 'role.granted', seq: null },
      { action: 'lifecycle.membership.added', seq: 2 },
      { action: 'lifecycle.membership.added', seq: 3 },
      { action: 'lifecycle.membership.added', seq: 4 },
      { action: 'role.granted', seq: null },
    ]);

    // A retry (its completion never reached Temporal) gets the stored outcome, even with more
    // events behind it now; the events it covered are behind the stream position.
    expect(await apply(step(id, 2, 'membership.added', { then: stream.slice(2, 4) }))).toEqual(batch);
    expect(await apply(step(id, 3, 'membership.added'))).toEqual({ kind: 'skip', deletionPending: false });
    expect(await apply(step(id, 5, 'user.updated', { changed: ['displayName'] }))).toMatchObject({ kind: 'applied', finished: true });
    expect((await row(id)).applied_seq).toBe(5);
    expect(await events(id)).toEqual(['role.granted', 'user.provisioned', 'role.granted', 'user.updated']);
    expect(await auditActions(id)).toHaveLength(7);
  });

  it('pulling: a membership step takes the waiting rows behind it into its batch and hands the rest over; a joiner pulls at its close; a retry hands them over again', async () => {
    const id = await scimUser('steps.pull@example.com');
    for (const name of ['Pull one', 'Pull two', 'Pull three']) {
      expect((await stack.scim(t, 'POST', '/Groups', { displayName: name, members: [{ value: id }] })).status).toBe(201);
    }
    expect((await stack.scim(t, 'PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'displayName', value: 'Pulled' }] })).status).toBe(200);
    // No relay runs here: every row is undelivered. The joiner pulls what follows it at its close
    // (it never batches): seq 2..5, marked delivered.
    const undelivered = () =>
      stack.owner.anyFirst(sql.type(z.object({ seq: z.number() }))`
        SELECT seq FROM outbox WHERE stream_type = 'user' AND stream_id = ${id} AND delivered_at IS NULL ORDER BY seq`);
    const joiner = await apply(step(id, 1, 'user.created', { fromStart: true, pull: true }));
    expect(joiner.kind === 'applied' && joiner.pulled?.map((e) => [e.seq, e.type])).toEqual([
      [2, 'membership.added'],
      [3, 'membership.added'],
      [4, 'membership.added'],
      [5, 'user.updated'],
    ]);
    expect(await undelivered()).toEqual([1]); // its own row: no relay runs here
    // The retry of a fresh run's first step (its answer never reached Temporal) hands them over again.
    const retried = await apply(step(id, 1, 'user.created', { fromStart: true, pull: true }));
    expect(retried).toMatchObject({ kind: 'position', appliedSeq: 1 });
    expect(retried.kind === 'position' && retried.pulled?.map((e) => e.seq)).toEqual([2, 3, 4, 5]);

    // Two more memberships wait undelivered behind the user.updated (seq 6, 7); seq 2 without
    // `then` pulls nothing new before seq 6 (2..5 are delivered), so it batches 3 and 4 from what
    // the workflow has, and pulls 6 and 7 for later.
    for (const name of ['Pull four', 'Pull five']) {
      expect((await stack.scim(t, 'POST', '/Groups', { displayName: name, members: [{ value: id }] })).status).toBe(201);
    }
    const second = await apply(step(id, 2, 'membership.added', { then: [{ seq: 3, type: 'membership.added' }, { seq: 4, type: 'membership.added' }], pull: true }));
    expect(second).toMatchObject({ kind: 'applied', through: 4 });
    expect(second.kind === 'applied' && second.pulled?.map((e) => e.seq)).toEqual([6, 7]);
    expect(await undelivered()).toEqual([1]);
    expect(await apply(step(id, 5, 'user.updated', { changed: ['displayName'], pull: true }))).toMatchObject({ kind: 'applied', finished: true });
    // Seq 6 takes 7, which only the pull of seq 2 brought: as the workflow passes it in `then`.
    expect(await apply(step(id, 6, 'membership.added', { then: [{ seq: 7, type: 'membership.added' }], pull: true }))).toMatchObject({ kind: 'applied', through: 7 });
    expect((await row(id)).applied_seq).toBe(7);
  });

  it('pulling: a finished leaver pulls what waits behind it (the IdP removing the leaver from a group)', async () => {
    const id = await scimUser('steps.pullleaver@example.com');
    const group = (await stack.scim(t, 'POST', '/Groups', { displayName: 'Leaver pull', members: [{ value: id }] })).body.id as string;
    await apply(step(id, 1, 'user.created', { fromStart: true }));
    await apply(step(id, 2, 'membership.added'));
    expect((await stack.scim(t, 'PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] })).status).toBe(200);
    expect(await apply(step(id, 3, 'user.deactivated', { pull: true }))).toMatchObject({ kind: 'applied', leaver: 'proceed', finished: false });
    const removal = await stack.scim(t, 'PATCH', `/Groups/${group}`, { schemas: [PATCH], Operations: [{ op: 'remove', path: `members[value eq "${id}"]` }] });
    expect(removal.status).toBe(204);
    const finish = () => withTenant(stack.app, t.id, (tx) => completeLeaver(tx, { tenantId: t.id, userId: id, workflowId: identityWorkflowId(t.id, id), seq: 3, pull: true }));
    const done = await finish();
    expect(done.finished).toBe(true);
    expect(done.pulled?.map((e) => [e.seq, e.type])).toEqual([[4, 'membership.removed']]);
    expect((await row(id)).applied_seq).toBe(3);
    // A retry hands it over again.
    expect((await finish()).pulled?.map((e) => e.seq)).toEqual([4]);
  });

  it('pulling first: the waiting memberships behind a membership event apply in its step', async () => {
    const id = await scimUser('steps.pullfirst@example.com');
    await apply(step(id, 1, 'user.created', { fromStart: true }));
    for (const name of ['First one', 'First two', 'First three']) {
      expect((await stack.scim(t, 'POST', '/Groups', { displayName: name, members: [{ value: id }] })).status).toBe(201);
    }
    // The workflow has only seq 2 (signalled); 3 and 4 wait in the outbox (deferred by a relay).
    const first = await apply(step(id, 2, 'membership.added', { pull: true }));
    expect(first).toMatchObject({ kind: 'applied', finished: true, through: 4 });
    expect(first.kind === 'applied' && first.pulled?.map((e) => e.seq)).toEqual([3, 4]);
    expect((await row(id)).applied_seq).toBe(4);
    const trail = await stack.owner.anyFirst(sql.type(z.object({ seq: z.number() }))`
      SELECT (data->>'seq')::int AS seq FROM audit_events WHERE target_id = ${id} AND action = 'lifecycle.membership.added' ORDER BY id`);
    expect(trail).toEqual([2, 3, 4]);
    // A retry gets the stored outcome, pulled events included.
    expect(await apply(step(id, 2, 'membership.added', { pull: true }))).toEqual(first);
  });

  it('a batch never spans a gap, another kind of event, or a fresh run\'s first step', async () => {
    const id = await scimUser('steps.nobatch@example.com');
    // A fresh run's first step applies its own event only, whatever follows.
    expect(await apply(step(id, 1, 'user.created', { fromStart: true, then: [{ seq: 2, type: 'membership.added' }] }))).not.toHaveProperty('through');
    expect((await row(id)).applied_seq).toBe(1);
    // Seq 4 does not follow 2: only seq 2 applies.
    const gap = await apply(step(id, 2, 'membership.added', { then: [{ seq: 4, type: 'membership.added' }] }));
    expect(gap).toMatchObject({ kind: 'applied', finished: true });
    expect(gap).not.toHaveProperty('through');
    expect((await row(id)).applied_seq).toBe(2);
    // A leaver is never folded into a membership batch.
    expect(await apply(step(id, 3, 'membership.removed', { then: [{ seq: 4, type: 'user.deactivated' }] }))).not.toHaveProperty('through');
    expect((await row(id)).applied_seq).toBe(3);
  });

  it('events a webhook takes are reported for delivery, in emission order', async () => {
    const hook = await api(stack, t.appKey, 'POST', '/api/v1/webhooks', { url: 'https://app.example.com/hooks', eventTypes: ['user.provisioned', 'role.granted'] });
    expect(hook.status).toBe(201);
    try {
      const id = await scimUser('steps.webhook@example.com');
      const out = await apply(step(id, 1, 'user.created', { fromStart: true }));
      const ids = await stack.owner.anyFirst(sql.type(z.object({ id: z.string() }))`SELECT id::text FROM events WHERE subject_id = ${id} ORDER BY created_at, id`);
      expect(ids).toHaveLength(2);
      expect(out).toMatchObject({ kind: 'applied', deliver: [...ids] });
      // A fresh run's retry of that step hands the same events over again (delivery drops repeats).
      expect(await apply(step(id, 1, 'user.created', { fromStart: true }))).toMatchObject({ kind: 'position', appliedSeq: 1, deliver: [...ids] });
    } finally {
      expect((await api(stack, t.appKey, 'DELETE', `/api/v1/webhooks/${hook.body.id}`)).status).toBe(204);
    }
  });
});
