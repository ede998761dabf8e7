import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { GROUP, SCIM_JSON, USER, enc, expectScimError, patchBody } from '../helpers/scim.js';

/** SCIM /Groups conformance: members, fan-out to user streams, concurrency, IdP lookups. */


let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.close());



async function createUsers(t: TestTenant, n: number, prefix = 'm'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await stack.scim(t, 'POST', '/Users', { schemas: [USER], userName: `${prefix}-${i}-${randomUUID().slice(0, 8)}@example.com` });
    expect(res.status).toBe(201);
    ids.push(res.body.id);
  }
  return ids;
}

/** Creates users directly in the database (fast, for the large-membership tests). */
async function seedUsers(t: TestTenant, n: number): Promise<string[]> {
  const rows = await stack.owner.anyFirst(sql.unsafe`
    INSERT INTO users (tenant_id, user_name, user_name_key, lifecycle_state, emails, phone_numbers, attributes, event_seq)
    SELECT ${t.id}, 'seed-' || i || '-' || ${randomUUID()}, 'seed-' || i || '-' || ${randomUUID()}, 'provisioned', '[]', '[]', '{}', 0
      FROM generate_series(1, ${n}) AS i
    RETURNING id`);
  return (rows as string[]).sort();
}

async function createGroup(t: TestTenant, body: Record<string, unknown>) {
  const res = await stack.scim(t, 'POST', '/Groups', { schemas: [GROUP], ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; displayName: string; members?: { value: string }[]; meta: { version: string } };
}

async function memberIds(t: TestTenant, groupId: string): Promise<string[]> {
  const res = await stack.scim(t, 'GET', `/Groups/${groupId}`);
  expect(res.status).toBe(200);
  return ((res.body.members ?? []) as { value: string }[]).map((m) => m.value).sort();
}

async function dbMemberIds(groupId: string): Promise<string[]> {
  return [...(await stack.owner.anyFirst(sql.unsafe`SELECT user_id FROM group_members WHERE group_id = ${groupId}`))].sort() as string[];
}

async function writeCounts(t: TestTenant) {
  const audit = await stack.owner.oneFirst(sql.unsafe`SELECT count(*)::int FROM audit_events WHERE tenant_id = ${t.id}`);
  const outbox = await stack.owner.oneFirst(sql.unsafe`SELECT count(*)::int FROM outbox WHERE tenant_id = ${t.id}`);
  return { audit: Number(audit), outbox: Number(outbox) };
}

/** Every user stream of the tenant has seq 1..n with no gaps, and users.event_seq is its head. */
async function expectGaplessUserStreams(t: TestTenant) {
  const rows = await stack.owner.any(sql.unsafe`
    SELECT u.id, u.event_seq::int AS head, coalesce(array_agg(o.seq::int ORDER BY o.seq) FILTER (WHERE o.seq IS NOT NULL), '{}') AS seqs
      FROM users u LEFT JOIN outbox o ON o.stream_type = 'user' AND o.stream_id = u.id
     WHERE u.tenant_id = ${t.id}
     GROUP BY u.id, u.event_seq`);
  for (const r of rows as readonly { id: string; head: number; seqs: number[] }[]) {
    const offset = r.seqs.length ? r.seqs[0]! : 0;
    expect(r.seqs, `stream of ${r.id}`).toEqual(r.seqs.map((_, i) => offset + i));
    if (r.seqs.length) expect(r.seqs.at(-1), `head of ${r.id}`).toBe(r.head);
  }
}

async function outboxTypes(userId: string): Promise<string[]> {
  return [...(await stack.owner.anyFirst(sql.unsafe`SELECT event_type FROM outbox WHERE stream_type = 'user' AND stream_id = ${userId} ORDER BY seq`))] as string[];
}

describe('create and read', () => {
  it('POST with members: 201, Location, ETag, members with value/$ref/type/display', async () => {
    const t = await stack.createTenant();
    const [a, b] = await createUsers(t, 2);
    const res = await stack.scim(t, 'POST', '/Groups', { schemas: [GROUP], displayName: 'Engineering', externalId: 'g-ext', members: [{ value: a }, { value: b, type: 'User' }] });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(SCIM_JSON);
    expect(res.headers.get('location')).toBe(`${stack.scimUrl}/Groups/${res.body.id}`);
    expect(res.headers.get('etag')).toBe(res.body.meta.version);
    expect(res.body).toMatchObject({ schemas: [GROUP], displayName: 'Engineering', externalId: 'g-ext', meta: { resourceType: 'Group' } });
    expect(res.body.members).toHaveLength(2);
    for (const m of res.body.members) {
      expect(m).toEqual({ value: expect.any(String), display: expect.any(String), type: 'User', $ref: `${stack.scimUrl}/Users/${m.value}` });
    }
    expect(res.body.members.map((m: { value: string }) => m.value).sort()).toEqual([a, b].sort());
    const got = await stack.scim(t, 'GET', `/Groups/${res.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(res.body);
    expect(await outboxTypes(a!)).toEqual(['user.created', 'membership.added']);
    await expectGaplessUserStreams(t);
  });

  it('excludedAttributes=members leaves members out (list and one)', async () => {
    const t = await stack.createTenant();
    const [a] = await createUsers(t, 1);
    const g = await createGroup(t, { displayName: 'NoMembersShown', members: [{ value: a }] });
    const one = await stack.scim(t, 'GET', `/Groups/${g.id}?excludedAttributes=members`);
    expect(one.body.members).toBeUndefined();
    expect(one.body.displayName).toBe('NoMembersShown');
    const list = await stack.scim(t, 'GET', `/Groups?excludedAttributes=members`);
    expect(list.body.Resources[0].members).toBeUndefined();
    const attrs = await stack.scim(t, 'GET', `/Groups/${g.id}?attributes=displayName`);
    expect(Object.keys(attrs.body).sort()).toEqual(['displayName', 'id', 'schemas']);
  });

  it('duplicate displayName (also case variant) is 409 uniqueness and writes nothing', async () => {
    const t = await stack.createTenant();
    const g = await createGroup(t, { displayName: 'Admins' });
    const other = await createGroup(t, { displayName: 'Others' });
    const before = await writeCounts(t);
    expectScimError(await stack.scim(t, 'POST', '/Groups', { displayName: 'Admins' }), 409, 'uniqueness');
    expectScimError(await stack.scim(t, 'POST', '/Groups', { displayName: 'ADMINS' }), 409, 'uniqueness');
    expectScimError(await stack.scim(t, 'PATCH', `/Groups/${other.id}`, patchBody({ op: 'replace', path: 'displayName', value: 'admins' })), 409, 'uniqueness');
    expectScimError(await stack.scim(t, 'PUT', `/Groups/${other.id}`, { displayName: 'Admins' }), 409, 'uniqueness');
    expect(await writeCounts(t)).toEqual(before);
    expect((await stack.scim(t, 'GET', `/Groups/${g.id}`)).body.displayName).toBe('Admins');
  });

  it('a group without displayName is 400', async () => {
    const t = await stack.createTenant();
    expectScimError(await stack.scim(t, 'POST', '/Groups', { schemas: [GROUP] }), 400, 'invalidValue');
  });
});

describe('PATCH members', () => {
  it('add and remove members: 204, membership.added / membership.removed on each user stream, gapless', async () => {
    const t = await stack.createTenant();
    const [a, b, c] = await createUsers(t, 3);
    const g = await createGroup(t, { displayName: 'Patchers', members: [{ value: a }] });
    const add = await stack.scim(t, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'add', path: 'members', value: [{ value: b }, { value: c }] }));
    expect(add.status).toBe(204);
    expect(add.headers.get('etag')).toBeTruthy();
    expect(await memberIds(t, g.id)).toEqual([a, b, c].sort());

    const rm = await stack.scim(t, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'remove', path: `members[value eq "${a}"]` }));
    expect(rm.status).toBe(204);
    expect(await memberIds(t, g.id)).toEqual([b, c].sort());
    expect(await outboxTypes(a!)).toEqual(['user.created', 'membership.added', 'membership.removed']);
    expect(await outboxTypes(b!)).toEqual(['user.created', 'membership.added']);
    const payloads = await stack.owner.anyFirst(sql.unsafe`SELECT payload FROM outbox WHERE stream_id = ${a!} AND event_type LIKE 'membership.%'`);
    expect(payloads).toEqual([{ groupId: g.id }, { groupId: g.id }]);
    await expectGaplessUserStreams(t);
  });

  it('asking for attributes gets 200 with the group', async () => {
    const t = await stack.createTenant();
    const [a] = await createUsers(t, 1);
    const g = await createGroup(t, { displayName: 'WithBody' });
    const res = await stack.scim(t, 'PATCH', `/Groups/${g.id}?attributes=members,displayName`, patchBody({ op: 'add', path: 'members', value: [{ value: a }] }));
    expect(res.status).toBe(200);
    expect(res.body.members.map((m: { value: string }) => m.value)).toEqual([a]);
  });

  it('replace members with a list, then with []', async () => {
    const t = await stack.createTenant();
    const [a, b, c] = await createUsers(t, 3);
    const g = await createGroup(t, { displayName: 'Replaced', members: [{ value: a }, { value: b }] });
    let res = await stack.scim(t, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'replace', path: 'members', value: [{ value: b }, { value: c }] }));
    expect(res.status).toBe(204);
    expect(await memberIds(t, g.id)).toEqual([b, c].sort());
    expect(await outboxTypes(a!)).toEqual(['user.created', 'membership.added', 'membership.removed']);
    expect(await outboxTypes(b!)).toEqual(['user.created', 'membership.added']);
    res = await stack.scim(t, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'replace', path: 'members', value: [] }));
    expect(res.status).toBe(204);
    expect(await memberIds(t, g.id)).toEqual([]);
    expect(await dbMemberIds(g.id)).toEqual([]);
    await expectGaplessUserStreams(t);
  });

  it('rename keeps members (PATCH and PUT without members)', async () => {
    const t = await stack.createTenant();
    const [a] = await createUsers(t, 1);
    const g = await createGroup(t, { displayName: 'Old', members: [{ value: a }] });
    let res = await stack.scim(t, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'replace', path: 'displayName', value: 'New' }));
    expect(res.status).toBe(204);
    let got = await stack.scim(t, 'GET', `/Groups/${g.id}`);
    expect(got.body.displayName).toBe('New');
    expect(got.body.members.map((m: { value: string }) => m.value)).toEqual([a]);
    res = await stack.scim(t, 'PUT', `/Groups/${g.id}`, { schemas: [GROUP], displayName: 'Newer' });
    expect(res.status).toBe(200);
    got = await stack.scim(t, 'GET', `/Groups/${g.id}`);
    expect(got.body.displayName).toBe('Newer');
    expect(got.body.members.map((m: { value: string }) => m.value)).toEqual([a]);
    const outbox = await stack.owner.anyFirst(sql.unsafe`SELECT event_type FROM outbox WHERE stream_id = ${g.id} ORDER BY seq`);
    expect(outbox).toEqual(['group.created', 'group.updated', 'group.updated']);
  });

  it('a whole Group with its schemas as the value of a no-path add / replace (PATCH), and in POST / PUT', async () => {
    const t = await stack.createTenant();
    const [a, b] = await createUsers(t, 2);
    const g = await createGroup(t, { schemas: [GROUP], displayName: 'Whole', members: [{ value: a }] });
    let res = await stack.scim(t, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'replace', value: { schemas: [GROUP], displayName: 'Whole 2' } }));
    expect(res.status, JSON.stringify(res.body)).toBe(204);
    res = await stack.scim(t, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'add', value: { schemas: [GROUP], members: [{ value: b }] } }));
    expect(res.status, JSON.stringify(res.body)).toBe(204);
    const got = await stack.scim(t, 'GET', `/Groups/${g.id}`);
    expect(got.body.displayName).toBe('Whole 2');
    expect(got.body.schemas).toEqual([GROUP]);
    expect(await memberIds(t, g.id)).toEqual([a, b].sort());
    const put = await stack.scim(t, 'PUT', `/Groups/${g.id}`, { schemas: [GROUP], displayName: 'Whole 3', members: [{ value: b }] });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toMatchObject({ schemas: [GROUP], displayName: 'Whole 3', members: [{ value: b }] });
  });

  it('PUT with members replaces the member list', async () => {
    const t = await stack.createTenant();
    const [a, b] = await createUsers(t, 2);
    const g = await createGroup(t, { displayName: 'PutMembers', members: [{ value: a }] });
    const res = await stack.scim(t, 'PUT', `/Groups/${g.id}`, { displayName: 'PutMembers', members: [{ value: b }] });
    expect(res.status).toBe(200);
    expect(res.body.members.map((m: { value: string }) => m.value)).toEqual([b]);
    expect(await dbMemberIds(g.id)).toEqual([b]);
  });

  it('unknown member ids are kept in unresolved_members; the valid ones applied; 2xx', async () => {
    const t = await stack.createTenant();
    const other = await stack.createTenant();
    const [a, b] = await createUsers(t, 2);
    const [foreign] = await createUsers(other, 1);
    const ghost = randomUUID();
    const g = await createGroup(t, { displayName: 'Partial', members: [{ value: a }, { value: 'not-a-uuid' }] });
    expect(g.members!.map((m) => m.value)).toEqual([a]);
    const res = await stack.scim(
      t,
      'PATCH',
      `/Groups/${g.id}`,
      patchBody({ op: 'add', path: 'members', value: [{ value: ghost }, { value: b }, { value: foreign }] }),
    );
    expect(res.status).toBeGreaterThanOrEqual(200);
    expect(res.status).toBeLessThan(300);
    expect(await memberIds(t, g.id)).toEqual([a, b].sort());
    const unresolved = await stack.owner.anyFirst(sql.unsafe`SELECT member_value FROM unresolved_members WHERE group_id = ${g.id} ORDER BY member_value`);
    expect([...unresolved].sort()).toEqual(['not-a-uuid', ghost, foreign].sort());
    // the foreign tenant's user is untouched
    expect(await outboxTypes(foreign!)).toEqual(['user.created']);
  });

  it('a member removed and added back in one PATCH stays, with no event; the others change', async () => {
    const t = await stack.createTenant();
    const [a, b, c] = await createUsers(t, 3);
    const g = await createGroup(t, { displayName: 'ClearAndAdd', members: [{ value: a }, { value: b }] });
    const res = await stack.scim(
      t,
      'PATCH',
      `/Groups/${g.id}`,
      patchBody({ op: 'remove', path: 'members' }, { op: 'add', path: 'members', value: [{ value: a }, { value: c }] }),
    );
    expect(res.status).toBe(204);
    expect(await memberIds(t, g.id)).toEqual([a, c].sort());
    expect(await outboxTypes(a!)).toEqual(['user.created', 'membership.added']);
    expect(await outboxTypes(b!)).toEqual(['user.created', 'membership.added', 'membership.removed']);
    expect(await outboxTypes(c!)).toEqual(['user.created', 'membership.added']);
    const audit = await stack.owner.oneFirst(sql.unsafe`
      SELECT data FROM audit_events WHERE tenant_id = ${t.id} AND action = 'group.updated' AND target_id = ${g.id}`);
    expect(audit).toMatchObject({ membersAdded: [c], membersRemoved: [b] });
    await expectGaplessUserStreams(t);
  });

  it('a member SCIM-deleted while the PATCH waits for its lock is withdrawn: unresolved, no row, no event', async () => {
    const t = await stack.createTenant();
    const [a, b] = await createUsers(t, 2);
    const g = await createGroup(t, { displayName: 'Withdrawn' });
    // What a concurrent SCIM DELETE of b has done when it holds b's lock and has not committed yet.
    const deleter = new pg.Client({ connectionString: stack.databaseUrl });
    await deleter.connect();
    let patch: ReturnType<typeof stack.scim> | undefined;
    try {
      await deleter.query('BEGIN');
      await deleter.query('UPDATE users SET scim_deleted_at = now(), active = false WHERE id = $1', [b]);
      patch = stack.scim(t, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'add', path: 'members', value: [{ value: a }, { value: b }] }));
      // The PATCH wrote its membership rows (b was live in its snapshot) and now waits for b's lock.
      await eventually(async () =>
        Number(await stack.owner.oneFirst(sql.unsafe`
          SELECT count(*)::int FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FOR NO KEY UPDATE%'`)) > 0,
      );
      await deleter.query('COMMIT');
    } finally {
      await deleter.end();
    }
    const res = await patch;
    expect(res.status).toBe(204);
    expect(await dbMemberIds(g.id)).toEqual([a]);
    expect(await outboxTypes(a!)).toEqual(['user.created', 'membership.added']);
    expect(await outboxTypes(b!)).toEqual(['user.created']);
    expect(await stack.owner.anyFirst(sql.unsafe`SELECT member_value FROM unresolved_members WHERE group_id = ${g.id}`)).toEqual([b]);
    const audit = await stack.owner.oneFirst(sql.unsafe`
      SELECT data FROM audit_events WHERE tenant_id = ${t.id} AND action = 'group.updated' AND target_id = ${g.id}`);
    expect(audit).toMatchObject({ membersAdded: [a], membersRemoved: [], unresolvedMembers: [b] });
  });

  it('adding an existing member is an idempotent success that writes nothing', async () => {
    const t = await stack.createTenant();
    const [a] = await createUsers(t, 1);
    const g = await createGroup(t, { displayName: 'Idem', members: [{ value: a }] });
    const before = await writeCounts(t);
    const res = await stack.scim(t, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'add', path: 'members', value: [{ value: a }] }));
    expect(res.status).toBe(204);
    expect(await writeCounts(t)).toEqual(before);
    expect(await memberIds(t, g.id)).toEqual([a]);
  });

  it('a 300-member PATCH works in one request', async () => {
    const t = await stack.createTenant();
    const ids = await seedUsers(t, 300);
    const g = await createGroup(t, { displayName: 'Big' });
    const res = await stack.scim(t, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'add', path: 'members', value: ids.map((value) => ({ value })) }));
    expect(res.status).toBe(204);
    expect(await dbMemberIds(g.id)).toEqual(ids);
    expect(await memberIds(t, g.id)).toEqual(ids);
    const events = await stack.owner.oneFirst(sql.unsafe`SELECT count(*)::int FROM outbox WHERE tenant_id = ${t.id} AND event_type = 'membership.added'`);
    expect(Number(events)).toBe(300);
    await expectGaplessUserStreams(t);
    // and removing them all in one request
    const rm = await stack.scim(t, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'remove', path: 'members', value: ids.map((value) => ({ value })) }));
    expect(rm.status).toBe(204);
    expect(await dbMemberIds(g.id)).toEqual([]);
    await expectGaplessUserStreams(t);
  });

  it('20 concurrent PATCHes adding different members to one group lose nobody', async () => {
    const t = await stack.createTenant();
    const ids = await seedUsers(t, 40);
    const g = await createGroup(t, { displayName: 'Concurrent' });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        stack.scim(t, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'add', path: 'members', value: [{ value: ids[2 * i] }, { value: ids[2 * i + 1] }] })),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(204));
    expect(await dbMemberIds(g.id)).toEqual(ids);
    const version = await stack.owner.oneFirst(sql.unsafe`SELECT version::int FROM groups WHERE id = ${g.id}`);
    expect(Number(version)).toBe(21);
    await expectGaplessUserStreams(t);
  });

  it('concurrent PATCHes to two groups sharing members keep every user stream gapless', async () => {
    const t = await stack.createTenant();
    const ids = await seedUsers(t, 10);
    const g1 = await createGroup(t, { displayName: 'Shared1' });
    const g2 = await createGroup(t, { displayName: 'Shared2' });
    const refs = ids.map((value) => ({ value }));
    const results = await Promise.all([
      stack.scim(t, 'PATCH', `/Groups/${g1.id}`, patchBody({ op: 'add', path: 'members', value: refs })),
      stack.scim(t, 'PATCH', `/Groups/${g2.id}`, patchBody({ op: 'add', path: 'members', value: [...refs].reverse() })),
      stack.scim(t, 'PATCH', `/Groups/${g1.id}`, patchBody({ op: 'remove', path: 'members', value: refs.slice(0, 5) })),
    ]);
    expect(results.map((r) => r.status)).toEqual([204, 204, 204]);
    expect(await dbMemberIds(g2.id)).toEqual(ids);
    await expectGaplessUserStreams(t);
  });
});

describe('User.groups, filters and DELETE', () => {
  it("the user's groups attribute reflects membership and is read-only", async () => {
    const t = await stack.createTenant();
    const [a] = await createUsers(t, 1);
    const g1 = await createGroup(t, { displayName: 'G-One', members: [{ value: a }] });
    const g2 = await createGroup(t, { displayName: 'G-Two', members: [{ value: a }] });
    let u = await stack.scim(t, 'GET', `/Users/${a}`);
    expect(u.body.groups.map((x: { value: string }) => x.value).sort()).toEqual([g1.id, g2.id].sort());
    expect(u.body.groups.find((x: { value: string }) => x.value === g1.id)).toMatchObject({ display: 'G-One', $ref: `${stack.scimUrl}/Groups/${g1.id}` });
    // groups in a PUT is ignored, in either direction
    const put = await stack.scim(t, 'PUT', `/Users/${a}`, { userName: u.body.userName, groups: [] });
    expect(put.status).toBe(200);
    expect(put.body.groups).toHaveLength(2);
    // a user write answers with the groups too
    const patched = await stack.scim(t, 'PATCH', `/Users/${a}`, patchBody({ op: 'replace', path: 'title', value: 'Grouped' }));
    expect(patched.body.title).toBe('Grouped');
    expect(patched.body.groups.map((x: { value: string }) => x.value).sort()).toEqual([g1.id, g2.id].sort());
    await stack.scim(t, 'PATCH', `/Groups/${g1.id}`, patchBody({ op: 'remove', path: `members[value eq "${a}"]` }));
    u = await stack.scim(t, 'GET', `/Users/${a}`);
    expect(u.body.groups.map((x: { value: string }) => x.value)).toEqual([g2.id]);
  });

  it("a membership change changes the user's ETag and lastModified (groups is part of the user)", async () => {
    const t = await stack.createTenant();
    const [a] = await createUsers(t, 1);
    const before = await stack.scim(t, 'GET', `/Users/${a}`);
    const tag = before.headers.get('etag')!;
    expect((await stack.scim(t, 'GET', `/Users/${a}`, undefined, { 'if-none-match': tag })).status).toBe(304);
    const g = await createGroup(t, { displayName: 'Tagged', members: [{ value: a }] });
    const after = await stack.scim(t, 'GET', `/Users/${a}`, undefined, { 'if-none-match': tag });
    expect(after.status).toBe(200);
    expect(after.body.groups.map((x: { value: string }) => x.value)).toEqual([g.id]);
    expect(after.headers.get('etag')).not.toBe(tag);
    expect(Date.parse(after.body.meta.lastModified)).toBeGreaterThanOrEqual(Date.parse(before.body.meta.lastModified));
    // a write conditioned on the stale tag is refused
    const stale = await stack.scim(t, 'PATCH', `/Users/${a}`, patchBody({ op: 'replace', path: 'title', value: 'x' }), { 'if-match': tag });
    expectScimError(stale, 412);
  });

  it('filters: members.value eq, displayName eq (Entra lookup with excludedAttributes=members)', async () => {
    const t = await stack.createTenant();
    const [a, b] = await createUsers(t, 2);
    const g1 = await createGroup(t, { displayName: 'Sales Team', members: [{ value: a }] });
    const g2 = await createGroup(t, { displayName: 'Support', members: [{ value: a }, { value: b }] });
    const byMember = async (id: string) =>
      ((await stack.scim(t, 'GET', `/Groups?filter=${enc(`members.value eq "${id}"`)}`)).body.Resources as { id: string }[]).map((g) => g.id).sort();
    expect(await byMember(a!)).toEqual([g1.id, g2.id].sort());
    expect(await byMember(b!)).toEqual([g2.id]);
    expect(await byMember(randomUUID())).toEqual([]);
    const entra = await stack.scim(t, 'GET', `/Groups?excludedAttributes=members&filter=${enc('displayName eq "sales team"')}`);
    expect(entra.status).toBe(200);
    expect(entra.body.totalResults).toBe(1);
    expect(entra.body.Resources[0].id).toBe(g1.id);
    expect(entra.body.Resources[0].members).toBeUndefined();
    const none = await stack.scim(t, 'GET', `/Groups?filter=${enc('displayName eq "Nope"')}`);
    expect(none.status).toBe(200);
    expect(none.body.totalResults).toBe(0);
    expectScimError(await stack.scim(t, 'GET', `/Groups?filter=${enc('displayName eq')}`), 400, 'invalidFilter');
  });

  it('DELETE group: 204, then 404; members get membership.removed; users stay', async () => {
    const t = await stack.createTenant();
    const [a] = await createUsers(t, 1);
    const g = await createGroup(t, { displayName: 'Doomed', members: [{ value: a }] });
    const del = await stack.scim(t, 'DELETE', `/Groups/${g.id}`);
    expect(del.status).toBe(204);
    expectScimError(await stack.scim(t, 'GET', `/Groups/${g.id}`), 404);
    expectScimError(await stack.scim(t, 'DELETE', `/Groups/${g.id}`), 404);
    expectScimError(await stack.scim(t, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'replace', path: 'displayName', value: 'x' })), 404);
    expect(await outboxTypes(a!)).toEqual(['user.created', 'membership.added', 'membership.removed']);
    const u = await stack.scim(t, 'GET', `/Users/${a}`);
    expect(u.status).toBe(200);
    expect(u.body.groups).toEqual([]);
    expect(await stack.owner.anyFirst(sql.unsafe`SELECT event_type FROM outbox WHERE stream_id = ${g.id} ORDER BY seq`)).toEqual([
      'group.created',
      'group.deleted',
    ]);
    await expectGaplessUserStreams(t);
  });

  it("deleting a user removes it from its groups and moves those groups' ETags", async () => {
    const t = await stack.createTenant();
    const [a, b] = await createUsers(t, 2);
    const g = await createGroup(t, { displayName: 'Survivors', members: [{ value: a }, { value: b }] });
    const other = await createGroup(t, { displayName: 'Bystander', members: [{ value: b }] });
    const tag = (await stack.scim(t, 'GET', `/Groups/${g.id}`)).headers.get('etag')!;
    const otherTag = (await stack.scim(t, 'GET', `/Groups/${other.id}`)).headers.get('etag')!;
    expect((await stack.scim(t, 'DELETE', `/Users/${a}`)).status).toBe(204);
    expect(await memberIds(t, g.id)).toEqual([b]);
    const after = await stack.scim(t, 'GET', `/Groups/${g.id}`, undefined, { 'if-none-match': tag });
    expect(after.status).toBe(200);
    expect(after.body.members.map((m: { value: string }) => m.value)).toEqual([b]);
    expect((await stack.scim(t, 'GET', `/Groups/${other.id}`, undefined, { 'if-none-match': otherTag })).status).toBe(304);
    await expectGaplessUserStreams(t);
  });

  it('concurrent user DELETEs and group PATCHes on the same group do not deadlock', async () => {
    const t = await stack.createTenant();
    const ids = await seedUsers(t, 12);
    const g = await createGroup(t, { displayName: 'Churn', members: ids.map((value) => ({ value })) });
    const results = await Promise.all([
      ...ids.slice(0, 6).map((id) => stack.scim(t, 'DELETE', `/Users/${id}`)),
      stack.scim(t, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'remove', path: 'members', value: ids.slice(3, 9).map((value) => ({ value })) })),
      stack.scim(t, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'replace', path: 'displayName', value: 'Churned' })),
      stack.scim(t, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'add', path: 'members', value: ids.slice(0, 3).map((value) => ({ value })) })),
    ]);
    for (const r of results) expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
    expect(await memberIds(t, g.id)).toEqual(ids.slice(9).sort());
    await expectGaplessUserStreams(t);
  });

  it('another tenant cannot see or touch my group', async () => {
    const a = await stack.createTenant();
    const b = await stack.createTenant();
    const g = await createGroup(a, { displayName: 'Private' });
    expectScimError(await stack.scim(b, 'GET', `/Groups/${g.id}`), 404);
    expectScimError(await stack.scim(b, 'PATCH', `/Groups/${g.id}`, patchBody({ op: 'replace', path: 'displayName', value: 'Mine' })), 404);
    expectScimError(await stack.scim(b, 'DELETE', `/Groups/${g.id}`), 404);
    expect((await stack.scim(b, 'GET', '/Groups')).body.totalResults).toBe(0);
    // and the same displayName is free in the other tenant
    await createGroup(b, { displayName: 'Private' });
  });
});
