import fc from 'fast-check';
import { sql } from 'slonik';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { transactionRetryCounts } from '../../core/db/pool.js';
import { appClient } from '../helpers/app-api.js';
import { APP_API_CHANGE_KINDS, applyAtOnce } from '../helpers/approvals.js';
import { chunks, type Dialect, idp, inFlight, type ScimRequest } from '../helpers/idp.js';
import { eventually, type ScimResponse, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/**
 * Real IdPs send 10–20 requests at once that overlap on the same users and groups. These tests
 * replay such runs in both the Okta and the Entra dialect against the real app, worker and
 * PostgreSQL, and compare the result with a model of the directory the IdP believes in.
 *
 * Requests sent at the same moment are always ones whose effects commute (a batch never both adds
 * and removes one member, never patches a user it deletes, …), so the model can apply them in any
 * order and the expected directory is exact, while the server sees them truly concurrently.
 */

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack({ worker: true });
});
afterAll(async () => {
  await stack?.close();
  // Backends flush their statistics when they exit: with every pool closed, PostgreSQL's own count
  // of the deadlocks it broke in this file's database is final.
  const admin = new pg.Client({ connectionString: inject('pgAdminUrl') });
  await admin.connect();
  try {
    const database = new URL(stack.databaseUrl).pathname.slice(1);
    const row = await eventually(async () => {
      await admin.query('SELECT pg_stat_clear_snapshot()');
      const r = await admin.query<{ deadlocks: string; backends: number }>(
        'SELECT deadlocks, numbackends AS backends FROM pg_stat_database WHERE datname = $1',
        [database],
      );
      return r.rows[0]?.backends === 0 && r.rows[0];
    }, 60_000);
    expect(Number(row.deadlocks), 'deadlocks PostgreSQL detected in this database').toBe(0);
  } finally {
    await admin.end();
  }
});

// ---------------------------------------------------------------------------------------------
// The model

interface ModelUser {
  id: string;
  userName: string;
  externalId: string;
  displayName: string;
  active: boolean;
  deleted: boolean;
}

class Directory {
  users = new Map<string, ModelUser>();
  groups = new Map<string, Set<string>>();
  live = (id: string) => this.users.get(id)?.deleted === false;
}

type MemberOp = { d: Dialect; group: string; users: string[] };
type Op =
  | ({ kind: 'add' } & MemberOp)
  | ({ kind: 'remove' } & MemberOp)
  | { kind: 'replace'; group: string; users: string[] }
  | { kind: 'active'; d: Dialect; user: string; value: boolean }
  | { kind: 'rename'; d: Dialect; user: string; name: string }
  | { kind: 'delete'; user: string };

/** Applies an op to the model and says which status the server must answer. */
function applyToModel(m: Directory, op: Op): number {
  switch (op.kind) {
    case 'add':
      for (const u of op.users) if (m.live(u)) m.groups.get(op.group)!.add(u);
      return 204;
    case 'remove':
      for (const u of op.users) m.groups.get(op.group)!.delete(u);
      return 204;
    case 'replace':
      m.groups.set(op.group, new Set(op.users.filter((u) => m.live(u))));
      return 204;
    case 'active':
    case 'rename': {
      const u = m.users.get(op.user)!;
      if (u.deleted) return 404;
      if (op.kind === 'active') u.active = op.value;
      else u.displayName = op.name;
      return 200;
    }
    case 'delete': {
      const u = m.users.get(op.user)!;
      if (u.deleted) return 404;
      u.deleted = true;
      for (const members of m.groups.values()) members.delete(op.user);
      return 204;
    }
  }
}

function toRequest(m: Directory, op: Op): ScimRequest {
  switch (op.kind) {
    case 'add':
      return idp.addMembers(op.d, op.group, op.users);
    case 'remove':
      return idp.removeMembers(op.d, op.group, op.users);
    case 'replace':
      return idp.replaceMembers(op.group, op.users);
    case 'active':
      return idp.setActive(op.d, op.user, op.value);
    case 'rename': {
      const u = m.users.get(op.user)!;
      return idp.rename(op.d, op.user, { userName: u.userName, externalId: u.externalId, active: u.active }, op.name);
    }
    case 'delete':
      return { method: 'DELETE', path: `/Users/${op.user}` };
  }
}

/**
 * Keeps, in order, the ops that commute with every op kept before them: per group, either one full
 * replace or any partial changes; per (group, user) one direction; per user one attribute write.
 */
function commutingBatch(ops: readonly Op[]): Op[] {
  const full = new Set<string>();
  const partial = new Set<string>();
  const pairs = new Map<string, 'add' | 'remove'>();
  const users = new Set<string>();
  const kept: Op[] = [];
  for (const op of ops) {
    if (op.kind === 'add' || op.kind === 'remove') {
      if (full.has(op.group) || op.users.some((u) => (pairs.get(`${op.group}:${u}`) ?? op.kind) !== op.kind)) continue;
      partial.add(op.group);
      for (const u of op.users) pairs.set(`${op.group}:${u}`, op.kind);
    } else if (op.kind === 'replace') {
      if (full.has(op.group) || partial.has(op.group)) continue;
      full.add(op.group);
    } else {
      if (users.has(op.user)) continue;
      users.add(op.user);
    }
    kept.push(op);
  }
  return kept;
}

/** Sends a batch with `limit` requests in flight; returns every response next to what the model expected. */
async function runBatch(tenant: TestTenant, m: Directory, ops: readonly Op[], limit: number) {
  const requests = ops.map((op) => toRequest(m, op));
  const expected = ops.map((op) => applyToModel(m, op));
  const responses = await inFlight(requests, limit, (r) => stack.scim(tenant, r.method, r.path, r.body));
  return responses.map((res, i) => ({ op: ops[i]!, res, expected: expected[i]! }));
}

function expectStatuses(results: { op: Op; res: ScimResponse; expected: number }[]) {
  const wrong = results.filter((r) => r.res.status !== r.expected).map((r) => ({ op: r.op.kind, got: r.res.status, want: r.expected, body: r.res.body }));
  expect(wrong, JSON.stringify(wrong.slice(0, 3))).toEqual([]);
}

// ---------------------------------------------------------------------------------------------
// Reading back what the server holds

const GroupMembers = z.object({ group_id: z.string(), user_id: z.string() });

/** SCIM reads of every group and every user equal the model (members, groups, active, displayName, 404s). */
async function expectDirectory(tenant: TestTenant, m: Directory) {
  for (const [groupId, members] of m.groups) {
    const res = await stack.scim(tenant, 'GET', `/Groups/${groupId}`);
    expect(res.status).toBe(200);
    const got = ((res.body.members ?? []) as { value: string }[]).map((x) => x.value).sort();
    expect(got, `members of group ${groupId}`).toEqual([...members].sort());
  }
  const groupsOf = new Map<string, string[]>();
  for (const [g, members] of m.groups) for (const u of members) groupsOf.set(u, [...(groupsOf.get(u) ?? []), g]);
  await inFlight([...m.users.values()], 10, async (u) => {
    const res = await stack.scim(tenant, 'GET', `/Users/${u.id}`);
    if (u.deleted) {
      expect(res.status, `deleted user ${u.id}`).toBe(404);
      return;
    }
    expect(res.status).toBe(200);
    expect(res.body.active, `active of ${u.id}`).toBe(u.active);
    expect(res.body.displayName).toBe(u.displayName);
    const groups = ((res.body.groups ?? []) as { value: string }[]).map((g) => g.value).sort();
    expect(groups, `groups of ${u.id}`).toEqual((groupsOf.get(u.id) ?? []).sort());
  });
  // And the rows themselves: no member left behind that reads hide (a deleted user in a group).
  const rows = await stack.owner.any(sql.type(GroupMembers)`
    SELECT group_id::text, user_id::text FROM group_members WHERE tenant_id = ${tenant.id}`);
  const expectedRows = [...m.groups].flatMap(([g, members]) => [...members].map((u) => `${g}:${u}`)).sort();
  expect(rows.map((r) => `${r.group_id}:${r.user_id}`).sort()).toEqual(expectedRows);
}

const StreamEvent = z.object({ stream_id: z.string(), seq: z.number(), event_type: z.string(), group_id: z.string().nullable() });

/**
 * Every accepted change is on its member's stream exactly once and in order: each user's stream is
 * gapless from 1, and per group its membership events alternate added/removed, ending in the
 * membership SCIM shows.
 */
async function expectStreams(tenant: TestTenant, m: Directory) {
  const events = await stack.owner.any(sql.type(StreamEvent)`
    SELECT stream_id::text, seq, event_type, payload->>'groupId' AS group_id FROM outbox
     WHERE tenant_id = ${tenant.id} AND stream_type = 'user' ORDER BY stream_id, seq`);
  const byUser = new Map<string, (typeof events)[number][]>();
  for (const e of events) byUser.set(e.stream_id, [...(byUser.get(e.stream_id) ?? []), e]);
  const seqs = await stack.owner.any(sql.type(z.object({ id: z.string(), event_seq: z.number() }))`
    SELECT id::text, event_seq FROM users WHERE tenant_id = ${tenant.id}`);
  for (const { id, event_seq } of seqs) {
    const stream = byUser.get(id) ?? [];
    expect(stream.map((e) => e.seq), `stream of ${id}`).toEqual(Array.from({ length: event_seq }, (_, i) => i + 1));
    const last = new Map<string, string>();
    for (const e of stream) {
      if (!e.event_type.startsWith('membership.')) continue;
      const before = last.get(e.group_id!) ?? 'membership.removed';
      expect(e.event_type, `membership events of ${id} in ${e.group_id} alternate`).not.toBe(before);
      last.set(e.group_id!, e.event_type);
    }
    if (!m.live(id)) continue;
    for (const [g, members] of m.groups) {
      expect(last.get(g) === 'membership.added', `stream of ${id} ends ${members.has(id) ? 'in' : 'out of'} ${g}`).toBe(members.has(id));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Fixtures

async function newTenant() {
  const tenant = await stack.createTenant();
  // Many leavers in one small tenant are intended here; the guard has its own tests.
  await stack.owner.query(sql.unsafe`UPDATE tenants SET guard_max_share = 1, guard_max_suspensions = 100000 WHERE id = ${tenant.id}`);
  // Role mappings apply at once here: their approval has its own tests.
  await applyAtOnce(stack, tenant.id, APP_API_CHANGE_KINDS);
  return tenant;
}

/** The initial sync an IdP runs: look the user up, create it when missing, 20 at a time. */
async function syncUsers(tenant: TestTenant, m: Directory, count: number, prefix: string) {
  const created = await inFlight(Array.from({ length: count }, (_, i) => i), 20, async (i) => {
    const d: Dialect = i % 2 ? 'okta' : 'entra';
    const userName = `${prefix}-${i}@example.com`;
    const externalId = `${prefix}-ext-${i}`;
    const lookup = idp.lookupUser(d, userName, externalId);
    const found = await stack.scim(tenant, lookup.method, lookup.path);
    expect(found.status).toBe(200);
    expect(found.body.totalResults).toBe(0);
    const create = idp.createUser(d, userName, externalId, `User ${i}`);
    const res = await stack.scim(tenant, create.method, create.path, create.body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return { id: res.body.id as string, userName, externalId, displayName: `User ${i}`, active: true, deleted: false };
  });
  for (const u of created) m.users.set(u.id, u);
  return created.map((u) => u.id);
}

async function createGroups(tenant: TestTenant, m: Directory, count: number, prefix: string) {
  const ids = await inFlight(Array.from({ length: count }, (_, i) => i), 20, async (i) => {
    const res = await stack.scim(tenant, 'POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: `${prefix} group ${i}` });
    expect(res.status).toBe(201);
    return res.body.id as string;
  });
  for (const id of ids) m.groups.set(id, new Set());
  return ids;
}

// A deterministic pseudo-random sequence, so a failure reproduces.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// ---------------------------------------------------------------------------------------------

describe('concurrent IdP writers on shared users and groups', () => {
  it('an Okta- and Entra-style run at 20 in flight: no error, no deadlock, SCIM equals the IdP, every change once and in order', async () => {
    const retriesBefore = transactionRetryCounts();
    const tenant = await newTenant();
    const app = await appClient(stack, tenant);
    const m = new Directory();
    const random = rng(6);
    const users = await syncUsers(tenant, m, 96, 'run');
    const groups = await createGroups(tenant, m, 8, 'run');
    const roles = ['viewer', 'member', 'admin', 'billing-admin'];
    for (const [i, g] of groups.entries()) {
      expect((await app.call('PUT', `/api/v1/role-mappings/${g}`, { roles: [roles[i % roles.length]] })).status).toBe(200);
    }

    // Group push: each user in ~3 groups, PATCHes of 16 members, half the groups in each dialect,
    // interleaved with profile updates of the same users (Okta's PUT with groups: []).
    const push: Op[] = [];
    for (const [gi, g] of groups.entries()) {
      const members = users.filter(() => random() < 0.3);
      for (const batch of chunks(members, 16)) push.push({ kind: 'add', d: gi % 2 ? 'okta' : 'entra', group: g, users: batch });
    }
    for (const [i, u] of users.entries()) if (i % 4 === 0) push.push({ kind: 'rename', d: i % 8 ? 'okta' : 'entra', user: u, name: `Renamed ${i}` });
    push.sort(() => random() - 0.5);
    expectStatuses(await runBatch(tenant, m, commutingBatch(push), 20));

    // Churn: member removals and re-adds, deactivations and deletes of users that are members of
    // the groups being patched at the same moment.
    const churn: Op[] = [];
    for (const [gi, g] of groups.entries()) {
      const current = [...m.groups.get(g)!];
      const leaving = current.filter(() => random() < 0.25);
      const joining = users.filter((u) => !m.groups.get(g)!.has(u) && random() < 0.1);
      for (const batch of chunks(leaving, 8)) churn.push({ kind: 'remove', d: gi % 2 ? 'entra' : 'okta', group: g, users: batch });
      for (const batch of chunks(joining, 8)) churn.push({ kind: 'add', d: gi % 2 ? 'okta' : 'entra', group: g, users: batch });
    }
    for (const [i, u] of users.entries()) {
      if (i % 7 === 1) churn.push({ kind: 'active', d: i % 2 ? 'okta' : 'entra', user: u, value: false });
      else if (i % 11 === 2) churn.push({ kind: 'delete', user: u });
    }
    churn.sort(() => random() - 0.5);
    expectStatuses(await runBatch(tenant, m, commutingBatch(churn), 20));

    // Reactivations, Okta "push now" (full member replace) of two groups, more removals elsewhere.
    const third: Op[] = [];
    for (const [i, u] of users.entries()) if (i % 7 === 1 && i % 14 !== 1) third.push({ kind: 'active', d: i % 2 ? 'entra' : 'okta', user: u, value: true });
    third.push({ kind: 'replace', group: groups[0]!, users: users.filter(() => random() < 0.2) });
    third.push({ kind: 'replace', group: groups[1]!, users: [] });
    for (const g of groups.slice(2)) {
      const leaving = [...m.groups.get(g)!].filter(() => random() < 0.2);
      if (leaving.length) third.push({ kind: 'remove', d: 'okta', group: g, users: leaving });
    }
    third.sort(() => random() - 0.5);
    expectStatuses(await runBatch(tenant, m, commutingBatch(third), 20));

    await expectDirectory(tenant, m);
    await expectStreams(tenant, m);

    // The worker applies every stream to its end, and access follows the groups: every active user
    // holds exactly the roles its groups map to.
    await eventually(async () => {
      const behind = await stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*)::int AS n FROM users WHERE tenant_id = ${tenant.id} AND applied_seq < event_seq`);
      return behind === 0;
    }, 240_000, 250);
    const held = await stack.owner.any(sql.type(z.object({ user_id: z.string(), role: z.string() }))`
      SELECT user_id::text, role FROM user_roles WHERE tenant_id = ${tenant.id}`);
    const rolesOf = new Map<string, string[]>();
    for (const r of held) rolesOf.set(r.user_id, [...(rolesOf.get(r.user_id) ?? []), r.role]);
    for (const u of m.users.values()) {
      if (u.deleted || !u.active) continue;
      const want = [...new Set(groups.flatMap((g, i) => (m.groups.get(g)!.has(u.id) ? [roles[i % roles.length]!] : [])))].sort();
      expect((rolesOf.get(u.id) ?? []).sort(), `roles of ${u.id}`).toEqual(want);
    }

    const retries = transactionRetryCounts();
    expect(retries.deadlock - retriesBefore.deadlock, 'deadlocks PostgreSQL had to break').toBe(0);
    expect(retries.exhausted - retriesBefore.exhausted).toBe(0);
  }, 300_000);

  it('random concurrent schedules against a model directory (fast-check)', async () => {
    const retriesBefore = transactionRetryCounts();
    const USERS = 10;
    const GROUPS = 3;
    const dialect = fc.constantFrom<Dialect>('okta', 'entra');
    const someUsers = fc.uniqueArray(fc.nat(USERS - 1), { minLength: 1, maxLength: 5 });
    const op = fc.oneof(
      fc.record({ kind: fc.constantFrom('add' as const, 'remove' as const), d: dialect, group: fc.nat(GROUPS - 1), users: someUsers }),
      fc.record({ kind: fc.constant('replace' as const), group: fc.nat(GROUPS - 1), users: fc.uniqueArray(fc.nat(USERS - 1), { maxLength: USERS }) }),
      fc.record({ kind: fc.constant('active' as const), d: dialect, user: fc.nat(USERS - 1), value: fc.boolean() }),
      fc.record({ kind: fc.constant('rename' as const), d: dialect, user: fc.nat(USERS - 1), name: fc.constantFrom('Ann', 'Bo', 'Cy') }),
      fc.record({ kind: fc.constant('delete' as const), user: fc.nat(USERS - 1) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { minLength: 1, maxLength: 14 }), { minLength: 1, maxLength: 3 }), async (schedule) => {
        const tenant = await newTenant();
        const m = new Directory();
        const users = await syncUsers(tenant, m, USERS, 'prop');
        const groups = await createGroups(tenant, m, GROUPS, 'prop');
        for (const batch of schedule) {
          const ops = commutingBatch(
            batch.map((o): Op => {
              if ('group' in o) return { ...o, group: groups[o.group]!, users: o.users.map((u) => users[u]!) };
              return { ...o, user: users[o.user]! };
            }),
          );
          // Every request of a batch at once.
          expectStatuses(await runBatch(tenant, m, ops, ops.length));
        }
        await expectDirectory(tenant, m);
        await expectStreams(tenant, m);
      }),
      { numRuns: 12, seed: 606, endOnFailure: true },
    );
    expect(transactionRetryCounts().deadlock - retriesBefore.deadlock).toBe(0);
  }, 300_000);
});

describe('when contention outlasts the retries', () => {
  // A trigger that fails updates the way PostgreSQL aborts a transaction it cannot serialise: the
  // retry loop sees exactly what a real deadlock or serialisation failure would give it.
  beforeAll(async () => {
    await stack.owner.query(sql.unsafe`CREATE SEQUENCE forced_failures`);
    await stack.owner.query(sql.unsafe`GRANT USAGE ON SEQUENCE forced_failures TO roster_app`);
    await stack.owner.query(sql.unsafe`
      CREATE FUNCTION force_serialization_failure() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.display_name = 'always conflicting' THEN
          RAISE EXCEPTION 'could not serialize access (forced by the test)' USING ERRCODE = '40001';
        END IF;
        IF NEW.display_name = 'conflicting twice' THEN
          IF nextval('forced_failures') <= 2 THEN
            RAISE EXCEPTION 'could not serialize access (forced by the test)' USING ERRCODE = '40001';
          END IF;
        END IF;
        RETURN NEW;
      END $$`);
    await stack.owner.query(sql.unsafe`
      CREATE TRIGGER force_serialization_failure BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION force_serialization_failure()`);
  });
  afterAll(async () => {
    await stack?.owner.query(sql.unsafe`DROP TRIGGER IF EXISTS force_serialization_failure ON users`);
  });

  const outboxOf = (userId: string) =>
    stack.owner.anyFirst(sql.type(z.object({ event_type: z.string() }))`SELECT event_type FROM outbox WHERE stream_id = ${userId} ORDER BY seq`);
  const auditOf = (userId: string) =>
    stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM audit_events WHERE target_id = ${userId} AND actor_type = 'scim'`);

  it('the IdP gets 503 with Retry-After and the SCIM error schema, and nothing is half-written', async () => {
    const tenant = await newTenant();
    const created = await stack.scim(tenant, 'POST', '/Users', { userName: 'contended@example.com', displayName: 'Before' });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const [outboxBefore, auditBefore] = [await outboxOf(id), await auditOf(id)];
    const exhaustedBefore = transactionRetryCounts().exhausted;

    const res = await stack.scim(tenant, 'PATCH', `/Users/${id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: 'always conflicting' }] });
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(res.body.schemas).toEqual(['urn:ietf:params:scim:api:messages:2.0:Error']);
    expect(res.body.status).toBe('503');
    expect(transactionRetryCounts().exhausted).toBe(exhaustedBefore + 1);

    const after = await stack.scim(tenant, 'GET', `/Users/${id}`);
    expect(after.body.displayName).toBe('Before');
    expect(after.body.meta.version).toBe(created.body.meta.version);
    expect(await outboxOf(id)).toEqual(outboxBefore);
    expect(await auditOf(id)).toBe(auditBefore);
  });

  it('a transaction aborted twice succeeds on its third attempt and is written exactly once', async () => {
    const tenant = await newTenant();
    const created = await stack.scim(tenant, 'POST', '/Users', { userName: 'retried@example.com', displayName: 'Before' });
    const id = created.body.id as string;
    const before = transactionRetryCounts().serialization;
    const res = await stack.scim(tenant, 'PATCH', `/Users/${id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: 'conflicting twice' }] });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.displayName).toBe('conflicting twice');
    expect(transactionRetryCounts().serialization).toBe(before + 2);
    expect(await outboxOf(id)).toEqual(['user.created', 'user.updated']);
  });
});
