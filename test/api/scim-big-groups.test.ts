import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { transactionRetryCounts } from '../../core/db/pool.js';
import { chunks, idp, inFlight } from '../helpers/idp.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/**
 * Group push at the size real tenants have: a 10,000-member group arrives as 40 PATCHes of 256
 * (Okta and Entra batch their writes), or as one `replace members` with the whole list (Okta's
 * "push now"). Both must finish well inside any IdP timeout, and the per-member events must still
 * land on each member's own stream.
 */

const MEMBERS = 10_000;
let stack: TestStack;
let tenant: TestTenant;
let userIds: string[];

beforeAll(async () => {
  stack = await startStack();
  tenant = await stack.createTenant();
  // 10,000 users straight into the table (what 10,000 SCIM POSTs would leave, minus their own
  // events): the group writes are what is under test, and this keeps the suite fast.
  userIds = [
    ...(await stack.owner.anyFirst(sql.type(z.object({ id: z.string() }))`
      INSERT INTO users (tenant_id, user_name, user_name_key)
      SELECT ${tenant.id}, 'big-' || i || '@example.com', 'big-' || i || '@example.com' FROM generate_series(1, ${MEMBERS}) AS i
      RETURNING id::text`)),
  ].sort();
  // What autovacuum does within a minute of a real initial sync: without it the planner trusts
  // the empty-table statistics of a fresh database and joins 10,000 members by scanning.
  await stack.owner.query(sql.unsafe`ANALYZE users`);
}, 120_000);
afterAll(async () => stack?.close());

const MembershipEvents = z.object({ stream_id: z.string(), seq: z.number(), event_type: z.string() });
const membershipEvents = (groupId: string) =>
  stack.owner.any(sql.type(MembershipEvents)`
    SELECT stream_id::text, seq, event_type FROM outbox
     WHERE tenant_id = ${tenant.id} AND stream_type = 'user' AND payload->>'groupId' = ${groupId}`);
const memberCount = async (groupId: string) => {
  const res = await stack.scim(tenant, 'GET', `/Groups/${groupId}`);
  expect(res.status).toBe(200);
  return (res.body.members ?? []).length as number;
};

async function newGroup(name: string) {
  const res = await stack.scim(tenant, 'POST', '/Groups', { displayName: name });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

describe('a 10,000-member group', () => {
  it('pushed as 40 PATCHes of 256, several in flight, in both dialects', async () => {
    const deadlocksBefore = transactionRetryCounts().deadlock;
    const group = await newGroup('All staff');
    const batches = chunks(userIds, 256);
    expect(batches).toHaveLength(40);
    const results = await inFlight(batches, 8, (batch, i) => {
      const r = idp.addMembers(i % 2 ? 'okta' : 'entra', group, batch);
      return stack.scim(tenant, r.method, r.path, r.body);
    });
    expect(results.map((r) => r.status)).toEqual(batches.map(() => 204));
    expect(await memberCount(group)).toBe(MEMBERS);

    const events = await membershipEvents(group);
    expect(events).toHaveLength(MEMBERS);
    expect(new Set(events.map((e) => e.stream_id)).size).toBe(MEMBERS);
    expect(events.every((e) => e.event_type === 'membership.added' && e.seq === 1)).toBe(true);
    expect(transactionRetryCounts().deadlock).toBe(deadlocksBefore);
  }, 300_000);

  it('replaced in one PATCH with 10,000 values, then cut to half', async () => {
    const group = await newGroup('Everyone (push now)');
    const full = idp.replaceMembers(group, userIds);
    const res = await stack.scim(tenant, full.method, full.path, full.body);
    expect(res.status, String(JSON.stringify(res.body)).slice(0, 300)).toBe(204);
    expect(await memberCount(group)).toBe(MEMBERS);

    const half = idp.replaceMembers(group, userIds.slice(0, MEMBERS / 2));
    expect((await stack.scim(tenant, half.method, half.path, half.body)).status).toBe(204);
    expect(await memberCount(group)).toBe(MEMBERS / 2);

    const events = await membershipEvents(group);
    const added = events.filter((e) => e.event_type === 'membership.added');
    const removed = events.filter((e) => e.event_type === 'membership.removed');
    expect(added).toHaveLength(MEMBERS);
    expect(removed.map((e) => e.stream_id).sort()).toEqual(userIds.slice(MEMBERS / 2));
    // Each member's events are the next seqs of its own stream, after the previous test's group.
    const seqOf = new Map(events.map((e) => [`${e.stream_id}:${e.event_type}`, e.seq]));
    for (const id of userIds.slice(MEMBERS / 2)) {
      expect(seqOf.get(`${id}:membership.removed`)).toBe((seqOf.get(`${id}:membership.added`) ?? 0) + 1);
    }
  }, 300_000);
});
