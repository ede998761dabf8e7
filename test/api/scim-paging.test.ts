import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { compactCounts, maintainedCount } from '../../core/repositories/list-page.js';
import { loadSecretsKey } from '../../core/secret-box.js';
import { createScimPaging, encodeCursor, querySignature } from '../../core/scim/paging.js';
import { LIST, USER, enc, expectScimError } from '../helpers/scim.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/**
 * Listing at scale (issue 6): startIndex paging served from keyset positions, RFC 9865 cursor
 * paging, and totalResults from the maintained count. Real HTTP, real PostgreSQL.
 */

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.close());

type Listed = { id: string; userName?: string; displayName?: string };

async function createUser(t: TestTenant, userName: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await stack.scim(t, 'POST', '/Users', { schemas: [USER], userName, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

async function deleteUser(t: TestTenant, id: string): Promise<void> {
  expect((await stack.scim(t, 'DELETE', `/Users/${id}`)).status).toBe(204);
}

async function total(t: TestTenant, path = '/Users'): Promise<number> {
  const res = await stack.scim(t, 'GET', `${path}?count=0`);
  expect(res.status).toBe(200);
  return res.body.totalResults as number;
}

/** Walks a list with cursors; `between` runs after each page (writes between pages). */
async function walkCursors(t: TestTenant, path: string, query: string, between?: (page: number) => Promise<void>) {
  const seen: Listed[] = [];
  const pages: { next?: string; previous?: string; ids: string[] }[] = [];
  let cursor = '';
  for (let page = 0; page < 100; page++) {
    const res = await stack.scim(t, 'GET', `${path}?${query}&cursor=${cursor}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.schemas).toEqual([LIST]);
    expect(res.body.startIndex).toBeUndefined();
    const resources = (res.body.Resources ?? []) as Listed[];
    seen.push(...resources);
    pages.push({ next: res.body.nextCursor, previous: res.body.previousCursor, ids: resources.map((r) => r.id) });
    if (page === 0) expect(res.body.previousCursor).toBeUndefined();
    if (res.body.nextCursor === undefined) return { seen, pages };
    // RFC 9865 §2: only RFC 3986 unreserved characters.
    expect(res.body.nextCursor).toMatch(/^[A-Za-z0-9._~-]+$/);
    cursor = res.body.nextCursor as string;
    await between?.(page);
  }
  throw new Error('cursor walk did not end');
}

describe('startIndex paging over a changing list', () => {
  it('returns every resource exactly once when resources are created and deleted between pages', async () => {
    const t = await stack.createTenant();
    const initial: string[] = [];
    for (let i = 0; i < 30; i++) initial.push(await createUser(t, `idx-${String(i).padStart(2, '0')}@example.com`));
    const deleted = new Set<string>();
    const created: string[] = [];
    const seen: string[] = [];
    let start = 1;
    for (let page = 0; page < 20; page++) {
      const res = await stack.scim(t, 'GET', `/Users?startIndex=${start}&count=7`);
      expect(res.status).toBe(200);
      expect(res.body.startIndex).toBe(start);
      const ids = (res.body.Resources as Listed[]).map((r) => r.id);
      seen.push(...ids);
      if (ids.length === 0) break;
      start += ids.length;
      if (page === 0) {
        // Two already served and one not yet served disappear; plain OFFSET would now skip two
        // resources (everything shifts forward) and never show them.
        for (const id of [initial[0]!, initial[3]!, initial[20]!]) {
          await deleteUser(t, id);
          deleted.add(id);
        }
      }
      if (page === 1) for (let i = 0; i < 3; i++) created.push(await createUser(t, `idx-new-${i}@example.com`));
    }
    expect(new Set(seen).size).toBe(seen.length);
    const expected = [...initial.filter((id) => id !== initial[20]), ...created];
    expect([...seen].sort()).toEqual([...expected].sort());
    expect(await total(t)).toBe(30 - 3 + 3);
  });

  it('positions are shared state in the database (any API process continues), and expire', async () => {
    const t = await stack.createTenant();
    const ids: string[] = [];
    for (let i = 0; i < 9; i++) ids.push(await createUser(t, `pos-${i}@example.com`));
    const Rows = z.object({ n: z.number() });
    const positions = () => stack.owner.oneFirst(sql.type(Rows)`SELECT count(*)::int AS n FROM list_positions WHERE tenant_id = ${t.id}`);
    expect((await stack.scim(t, 'GET', '/Users?startIndex=1&count=3')).body.Resources.map((r: Listed) => r.id)).toEqual(ids.slice(0, 3));
    expect(await positions()).toBe(1);
    await deleteUser(t, ids[0]!);
    // With the recorded position, page 2 continues after the third user ...
    expect((await stack.scim(t, 'GET', '/Users?startIndex=4&count=3')).body.Resources.map((r: Listed) => r.id)).toEqual(ids.slice(3, 6));
    // ... without it (purged: older than its TTL), it is plain OFFSET, which skips one.
    expect(await stack.app.oneFirst(sql.type(Rows)`SELECT purge_list_positions(0) AS n`)).toBeGreaterThanOrEqual(2);
    expect(await positions()).toBe(0);
    expect((await stack.scim(t, 'GET', '/Users?startIndex=4&count=3')).body.Resources.map((r: Listed) => r.id)).toEqual(ids.slice(4, 7));
  });

  it('a page whose predecessor was never served (a cache miss) is the OFFSET page', async () => {
    const t = await stack.createTenant();
    for (let i = 0; i < 12; i++) await createUser(t, `miss-${String(i).padStart(2, '0')}@example.com`, i % 3 ? { displayName: `D ${i % 4}` } : {});
    for (const sort of ['', '&sortBy=displayName', '&sortBy=displayName&sortOrder=descending', '&sortOrder=descending']) {
      const all = ((await stack.scim(t, 'GET', `/Users?count=100${sort}`)).body.Resources as Listed[]).map((r) => r.id);
      expect(all).toHaveLength(12);
      const deep = await stack.scim(t, 'GET', `/Users?startIndex=6&count=4${sort}`);
      expect(deep.body.Resources.map((r: Listed) => r.id), sort).toEqual(all.slice(5, 9));
      // ... and the next one continues from where that page ended (a cache hit).
      const next = await stack.scim(t, 'GET', `/Users?startIndex=10&count=4${sort}`);
      expect(next.body.Resources.map((r: Listed) => r.id), sort).toEqual(all.slice(9));
    }
  });
});

describe('RFC 9865 cursor paging', () => {
  let t: TestTenant;
  const ids: string[] = [];
  beforeAll(async () => {
    t = await stack.createTenant();
    // Some users without displayName: sorting by it puts them last (nulls) and the keyset must
    // step across the null boundary in both directions.
    for (let i = 0; i < 23; i++) {
      ids.push(await createUser(t, `cur-${String(i).padStart(2, '0')}@example.com`, i % 4 === 0 ? {} : { displayName: `Name ${i % 5}`, title: i % 2 ? 'odd' : 'even' }));
    }
  });

  it('walks the whole list with nextCursor, then back with previousCursor, page for page', async () => {
    const { seen, pages } = await walkCursors(t, '/Users', 'count=5');
    expect(seen.map((r) => r.id)).toEqual(ids);
    expect(pages.map((p) => p.ids.length)).toEqual([5, 5, 5, 5, 3]);
    // Backwards from the last page: each previousCursor gives exactly the page before.
    let back = pages[pages.length - 1]!.previous;
    for (let i = pages.length - 2; i >= 0; i--) {
      expect(back, `page ${i}`).toBeDefined();
      const res = await stack.scim(t, 'GET', `/Users?count=5&cursor=${back}`);
      expect(res.status).toBe(200);
      expect(res.body.totalResults).toBe(23);
      expect(res.body.Resources.map((r: Listed) => r.id)).toEqual(pages[i]!.ids);
      expect(res.body.nextCursor).toBeDefined();
      back = res.body.previousCursor;
    }
    expect(back).toBeUndefined();
    // RFC 9865 §2's own example: a bare `cursor` (no value) asks for the first page.
    const bare = await stack.scim(t, 'GET', '/Users?cursor&count=5');
    expect(bare.body.Resources.map((r: Listed) => r.id)).toEqual(pages[0]!.ids);
    expect(bare.body.nextCursor).toBeDefined();
  });

  it('keeps sortBy (with nulls), sortOrder and filter across pages, also through POST .search', async () => {
    const queries = [
      'sortBy=displayName',
      'sortBy=displayName&sortOrder=descending',
      'sortOrder=descending',
      'sortBy=userName&sortOrder=descending',
      `filter=${enc('title eq "odd"')}&sortBy=userName`,
    ];
    for (const query of queries) {
      const whole = ((await stack.scim(t, 'GET', `/Users?count=100&${query}`)).body.Resources as Listed[]).map((r) => r.id);
      const { seen, pages } = await walkCursors(t, '/Users', `count=4&${query}`);
      expect(seen.map((r) => r.id), query).toEqual(whole);
      // and backwards, across the null boundary of displayName too
      let back = pages[pages.length - 1]!.previous;
      for (let i = pages.length - 2; i >= 0; i--) {
        const res = await stack.scim(t, 'GET', `/Users?count=4&${query}&cursor=${back}`);
        expect(res.body.Resources.map((r: Listed) => r.id), `${query} page ${i}`).toEqual(pages[i]!.ids);
        back = res.body.previousCursor;
      }
      expect(back, query).toBeUndefined();
    }
    const first = await stack.scim(t, 'POST', '/Users/.search', { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], cursor: '', count: 10, sortBy: 'userName' });
    expect(first.status).toBe(200);
    expect(first.body.Resources).toHaveLength(10);
    const second = await stack.scim(t, 'POST', '/Users/.search', { cursor: first.body.nextCursor, count: 10, sortBy: 'userName' });
    expect(second.body.Resources[0].userName > first.body.Resources[9].userName).toBe(true);
  });

  it('returns every resource exactly once when resources are created and deleted between pages', async () => {
    const u = await stack.createTenant();
    const initial: string[] = [];
    for (let i = 0; i < 20; i++) initial.push(await createUser(u, `chg-${String(i).padStart(2, '0')}@example.com`));
    const created: string[] = [];
    const { seen } = await walkCursors(u, '/Users', 'count=6', async (page) => {
      if (page === 0) {
        await deleteUser(u, initial[1]!); // already served
        await deleteUser(u, initial[5]!); // the page's boundary row itself
        await deleteUser(u, initial[15]!); // not yet served
      }
      if (page === 1) for (let i = 0; i < 4; i++) created.push(await createUser(u, `chg-new-${i}@example.com`));
    });
    const got = seen.map((r) => r.id);
    expect(new Set(got).size).toBe(got.length);
    expect(got).toEqual([...initial.filter((id) => id !== initial[15]), ...created]);
  });

  it('works for Groups too', async () => {
    const g = await stack.createTenant();
    const groups: string[] = [];
    for (let i = 0; i < 11; i++) {
      const res = await stack.scim(g, 'POST', '/Groups', { displayName: `Group ${String(i).padStart(2, '0')}` });
      groups.push(res.body.id as string);
    }
    const { seen } = await walkCursors(g, '/Groups', 'count=3&excludedAttributes=members');
    expect(seen.map((r) => r.id)).toEqual(groups);
    const sorted = await walkCursors(g, '/Groups', 'count=4&sortBy=displayName&sortOrder=descending');
    expect(sorted.seen.map((r) => r.id)).toEqual([...groups].reverse());
  });

  it('rejects forged, altered, foreign-query and malformed cursors with 400 invalidCursor', async () => {
    const first = await stack.scim(t, 'GET', '/Users?count=5&cursor=');
    const cursor = first.body.nextCursor as string;
    const [payload, mac] = cursor.split('.') as [string, string];
    const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { k: [string | null, string, string] };
    decoded.k[2] = ids[0]!; // move the position back to the start
    const moved = `${Buffer.from(JSON.stringify(decoded)).toString('base64url')}.${mac}`;
    const flipped = `${payload}.${mac.slice(0, -2)}${mac.endsWith('AA') ? 'BB' : 'AA'}`;
    for (const bad of ['garbage', 'a.b', moved, flipped, `${cursor}x`, '%00', 'x'.repeat(5000)]) {
      expectScimError(await stack.scim(t, 'GET', `/Users?count=5&cursor=${enc(bad)}`), 400, 'invalidCursor');
    }
    // A cursor belongs to its query: another filter, sort or resource type cannot use it.
    expectScimError(await stack.scim(t, 'GET', `/Users?count=5&cursor=${cursor}&sortBy=userName`), 400, 'invalidCursor');
    expectScimError(await stack.scim(t, 'GET', `/Users?count=5&cursor=${cursor}&filter=${enc('userName pr')}`), 400, 'invalidCursor');
    expectScimError(await stack.scim(t, 'GET', `/Groups?count=5&cursor=${cursor}`), 400, 'invalidCursor');
    expectScimError(await stack.scim(t, 'POST', '/Users/.search', { cursor: 42 }), 400, 'invalidCursor');
    // The original still works: nothing above consumed or changed it.
    expect((await stack.scim(t, 'GET', `/Users?count=5&cursor=${cursor}`)).body.Resources[0].id).toBe(ids[5]);
  });

  it('an expired cursor is 400 expiredCursor', async () => {
    const key = createScimPaging(loadSecretsKey(stack.config)).cursorKey;
    const expired = encodeCursor(key, {
      tenantId: t.id,
      signature: querySignature('User', undefined, undefined, false),
      position: { direction: 'after', boundary: { sortKey: null, createdAt: '2026-01-01 00:00:00+00', id: ids[0]! } },
      ttlSeconds: -1,
    });
    expectScimError(await stack.scim(t, 'GET', `/Users?count=5&cursor=${expired}`), 400, 'expiredCursor');
  });

  it('count must be positive with cursors (invalidCount); cursor and startIndex together are refused', async () => {
    for (const c of ['0', '-3']) expectScimError(await stack.scim(t, 'GET', `/Users?cursor=&count=${c}`), 400, 'invalidCount');
    expectScimError(await stack.scim(t, 'GET', '/Users?cursor=&startIndex=2'), 400, 'invalidValue');
    const capped = await stack.scim(t, 'GET', '/Users?cursor=&count=100000');
    expect(capped.status).toBe(200);
    expect(capped.body.Resources).toHaveLength(23);
    expect(capped.body.nextCursor).toBeUndefined();
  });

  it("a cursor from tenant A is useless to tenant B: same error as a forged one, B's data unchanged", async () => {
    const b = await stack.createTenant();
    await createUser(b, 'b-only@example.com');
    const fromA = (await stack.scim(t, 'GET', '/Users?count=5&cursor=')).body.nextCursor as string;
    const res = await stack.scim(b, 'GET', `/Users?count=5&cursor=${fromA}`);
    expectScimError(res, 400, 'invalidCursor');
    const garbage = await stack.scim(b, 'GET', '/Users?count=5&cursor=garbage');
    expect(res.body.detail).toBe(garbage.body.detail);
    const own = await stack.scim(b, 'GET', '/Users?cursor=');
    expect(own.body.Resources.map((r: Listed) => r.userName)).toEqual(['b-only@example.com']);
  });

  it('/.search over Users then Groups pages by startIndex and refuses cursors', async () => {
    const s = await stack.createTenant();
    for (let i = 0; i < 4; i++) await createUser(s, `s-${i}@example.com`);
    for (let i = 0; i < 3; i++) await stack.scim(s, 'POST', '/Groups', { displayName: `S ${i}` });
    const seen: string[] = [];
    for (let start = 1; start <= 7; start += 3) {
      const res = await stack.scim(s, 'POST', '/.search', { startIndex: start, count: 3 });
      expect(res.body.totalResults).toBe(7);
      seen.push(...res.body.Resources.map((r: Listed) => r.id));
    }
    expect(new Set(seen).size).toBe(7);
    expectScimError(await stack.scim(s, 'POST', '/.search', { cursor: '' }), 400, 'invalidValue');
  });
});

describe('totalResults from the maintained count', () => {
  const Rows = z.object({ n: z.number() });
  const deltaRows = (tenantId: string) =>
    stack.owner.oneFirst(sql.type(Rows)`SELECT count(*)::int AS n FROM resource_count_deltas WHERE tenant_id = ${tenantId}`);

  it('follows creates, SCIM deletes, restores and group deletes, before and after compaction', async () => {
    const t = await stack.createTenant();
    const a = await createUser(t, 'cnt-a@example.com', { externalId: 'ext-a' });
    await createUser(t, 'cnt-b@example.com');
    const c = await createUser(t, 'cnt-c@example.com');
    expect(await total(t)).toBe(3);
    await deleteUser(t, a);
    await deleteUser(t, c);
    expect(await total(t)).toBe(1);
    // A deleted user's PATCH is a 404 and changes nothing, also not the count.
    expect((await stack.scim(t, 'PATCH', `/Users/${a}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] })).status).toBe(404);
    // Re-POST of the same externalId inside the grace period restores the same identity.
    const restored = await stack.scim(t, 'POST', '/Users', { schemas: [USER], userName: 'cnt-a@example.com', externalId: 'ext-a' });
    expect(restored.status).toBe(201);
    expect(restored.body.id).toBe(a);
    expect(await total(t)).toBe(2);
    // Updates that do not change liveness add no delta rows.
    const before = await deltaRows(t.id);
    expect((await stack.scim(t, 'PATCH', `/Users/${a}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] })).status).toBe(200);
    expect(await deltaRows(t.id)).toBe(before);
    expect(await total(t)).toBe(2);

    const g1 = (await stack.scim(t, 'POST', '/Groups', { displayName: 'cnt-g1' })).body.id as string;
    await stack.scim(t, 'POST', '/Groups', { displayName: 'cnt-g2' });
    expect(await total(t, '/Groups')).toBe(2);
    expect((await stack.scim(t, 'DELETE', `/Groups/${g1}`)).status).toBe(204);
    expect(await total(t, '/Groups')).toBe(1);

    // Compaction (the worker's loop runs the same function as the app role) folds the rows into
    // one per resource type and changes no total.
    expect(await deltaRows(t.id)).toBeGreaterThan(2);
    await compactCounts(stack.app, 0);
    expect(await deltaRows(t.id)).toBe(2);
    expect(await total(t)).toBe(2);
    expect(await total(t, '/Groups')).toBe(1);
    // ... and agrees with counting the rows.
    const live = await stack.owner.oneFirst(sql.type(Rows)`SELECT count(*)::int AS n FROM users WHERE tenant_id = ${t.id} AND scim_deleted_at IS NULL`);
    expect(live).toBe(2);
  });

  it('stays exact under concurrent creates and deletes, with compaction running meanwhile', async () => {
    const t = await stack.createTenant();
    const ids = await Promise.all(Array.from({ length: 24 }, (_, i) => createUser(t, `conc-${i}@example.com`)));
    const compacting = (async () => {
      for (let i = 0; i < 10; i++) await compactCounts(stack.app, 0);
    })();
    await Promise.all([
      ...ids.slice(0, 10).map((id) => deleteUser(t, id)),
      ...Array.from({ length: 10 }, (_, i) => createUser(t, `conc-more-${i}@example.com`)),
      compacting,
    ]);
    expect(await total(t)).toBe(24);
    await withTenant(stack.app, t.id, async (tx) => expect(await maintainedCount(tx, t.id, 'User')).toBe(24));
  });

  it("a tenant's count rows go with the tenant", async () => {
    // Written directly (no audit rows, which are append-only and would keep the tenant alive).
    const t = await stack.createTenant();
    await stack.owner.query(sql.unsafe`INSERT INTO users (tenant_id, user_name, user_name_key) VALUES (${t.id}, 'gone', 'gone')`);
    await stack.owner.query(sql.unsafe`INSERT INTO groups (tenant_id, display_name, display_name_key) VALUES (${t.id}, 'gone', 'gone')`);
    expect(await deltaRows(t.id)).toBe(2);
    await stack.owner.query(sql.unsafe`DELETE FROM tenants WHERE id = ${t.id}`);
    expect(await deltaRows(t.id)).toBe(0);
  });

  it('filtered lists count their matches', async () => {
    const t = await stack.createTenant();
    for (let i = 0; i < 5; i++) await createUser(t, `f-${i}@example.com`, { title: i < 2 ? 'x' : 'y' });
    const res = await stack.scim(t, 'GET', `/Users?filter=${enc('title eq "x"')}&count=1`);
    expect(res.body.totalResults).toBe(2);
    expect(res.body.Resources).toHaveLength(1);
  });

  it('another tenant never sees the count rows (RLS), and the app role cannot write them', async () => {
    const t = await stack.createTenant();
    const other = await stack.createTenant();
    await createUser(t, 'rls@example.com');
    await withTenant(stack.app, other.id, async (tx) => {
      expect(await maintainedCount(tx, t.id, 'User')).toBe(0);
    });
    await expect(
      withTenant(stack.app, t.id, (tx) => tx.query(sql.unsafe`INSERT INTO resource_count_deltas (tenant_id, resource_type, delta) VALUES (${t.id}, 'User', 1000)`)),
    ).rejects.toThrow(/permission denied/);
    expect(await total(t)).toBe(1);
  });
});

describe('discovery', () => {
  it('ServiceProviderConfig advertises both paging methods (RFC 9865 §4)', async () => {
    const t = await stack.createTenant();
    const res = await stack.scim(t, 'GET', '/ServiceProviderConfig');
    expect(res.body.pagination).toEqual({
      cursor: true,
      index: true,
      defaultPaginationMethod: 'index',
      defaultPageSize: stack.config.SCIM_DEFAULT_PAGE_SIZE,
      maxPageSize: stack.config.SCIM_MAX_PAGE_SIZE,
      cursorTimeout: stack.config.SCIM_CURSOR_TIMEOUT_SECONDS,
    });
  });
});

describe("the worker's background loops fold the count rows", () => {
  let withWorker: TestStack;
  beforeAll(async () => {
    withWorker = await startStack({ worker: true });
  });
  afterAll(async () => withWorker?.close());

  it('a burst of creates is folded (past 16 rows a tenant\'s rows become one), with the same total', async () => {
    const t = await withWorker.createTenant();
    const Rows = z.object({ n: z.number() });
    const rows = () => withWorker.owner.oneFirst(sql.type(Rows)`SELECT count(*)::int AS n FROM resource_count_deltas WHERE tenant_id = ${t.id}`);
    // One create at a time: each adds a row; the loop only folds tenants past 16 rows.
    for (let i = 0; i < 30; i++) expect((await withWorker.scim(t, 'POST', '/Users', { schemas: [USER], userName: `fold-${i}@example.com` })).status).toBe(201);
    await eventually(async () => (await rows()) <= 16);
    const res = await withWorker.scim(t, 'GET', '/Users?count=0');
    expect(res.body.totalResults).toBe(30);
  });
});
