import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabasePool, withTenant } from '../../core/db/pool.js';
import { connectionActivity, RECENT_ERRORS_KEPT, recentScimErrors } from '../../core/connections/activity.js';
import { insertConnectionWithToken } from '../../core/connections/queries.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

let stack: TestStack;
let a: TestTenant;
let b: TestTenant;

beforeAll(async () => {
  stack = await startStack({ env: { SCIM_ACTIVITY_FLUSH_MS: '100' } });
  a = await stack.createTenant();
  b = await stack.createTenant();
});
afterAll(async () => stack?.close());

const activityOf = (tenant: TestTenant) => withTenant(stack.app, tenant.id, (tx) => connectionActivity(tx, tenant.id));
const errorsOf = (tenant: TestTenant, connectionId = tenant.connectionId, limit?: number) =>
  withTenant(stack.app, tenant.id, (tx) => recentScimErrors(tx, tenant.id, connectionId, limit));

describe('SCIM connection activity', () => {
  it('counts good and bad requests per connection and keeps the errors without query strings', async () => {
    const before = Date.now();
    expect(await activityOf(a)).toEqual([{ connectionId: a.connectionId, lastRequestAt: null, requests1h: 0, errors1h: 0, errorRate1h: 0 }]);

    const created = await stack.scim(a, 'POST', '/Users', { userName: 'activity-alice@example.com' });
    expect(created.status).toBe(201);
    expect((await stack.scim(a, 'GET', '/Users?filter=userName%20eq%20%22activity-alice%40example.com%22')).status).toBe(200);
    const dup = await stack.scim(a, 'POST', '/Users', { userName: 'activity-alice@example.com' });
    expect(dup.status).toBe(409);
    const badFilter = await stack.scim(a, 'GET', '/Users?filter=userName%20zz%20%22secret-filter%40example.com%22');
    expect(badFilter.status).toBe(400);
    expect((await stack.scim(a, 'GET', '/Users/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    // Unauthenticated requests belong to no connection: not counted anywhere.
    expect((await stack.scim('scim_not-a-token', 'GET', '/Users')).status).toBe(401);

    const [activity] = await eventually(async () => {
      const rows = await activityOf(a);
      return rows[0]!.requests1h === 5 ? rows : undefined;
    }, 60_000);
    expect(activity).toMatchObject({ connectionId: a.connectionId, requests1h: 5, errors1h: 3, errorRate1h: 3 / 5 });
    expect(Date.parse(activity!.lastRequestAt!)).toBeGreaterThanOrEqual(before - 1000);

    const errors = await eventually(async () => {
      const rows = await errorsOf(a);
      return rows.length === 3 ? rows : undefined;
    }, 60_000);
    // Newest first, each with what the IdP was told.
    expect(errors.map((e) => [e.method, e.path, e.status, e.scimType])).toEqual([
      ['GET', '/scim/v2/Users/00000000-0000-4000-8000-000000000000', 404, null],
      ['GET', '/scim/v2/Users', 400, 'invalidFilter'],
      ['POST', '/scim/v2/Users', 409, 'uniqueness'],
    ]);
    expect(errors[1]!.detail).toEqual(badFilter.body.detail);
    expect(errors[2]!.detail).toEqual(dup.body.detail);
    expect(JSON.stringify(errors)).not.toContain('secret-filter');

    // Tenant B saw none of it, and cannot read A's connection through its own transaction.
    expect((await activityOf(b))[0]).toMatchObject({ requests1h: 0, lastRequestAt: null });
    expect(await withTenant(stack.app, b.id, (tx) => recentScimErrors(tx, b.id, a.connectionId))).toEqual([]);
  });

  it('keeps per-connection counts apart and only the last errors of each connection', async () => {
    const second = await withTenant(stack.owner, a.id, (tx) => insertConnectionWithToken(tx, a.id, 'second'));
    const before = (await activityOf(a)).find((r) => r.connectionId === a.connectionId)!;
    const n = RECENT_ERRORS_KEPT + 5;
    for (let i = 0; i < n; i++) {
      const r = await stack.scim(second.token, 'GET', `/Users/not-a-user-${i}`);
      expect(r.status).toBe(404);
    }
    expect((await stack.scim(second.token, 'GET', '/ServiceProviderConfig')).status).toBe(200);
    const rows = await eventually(async () => {
      const all = await activityOf(a);
      const s = all.find((r) => r.connectionId === second.connectionId);
      return s && s.requests1h === n + 1 ? all : undefined;
    }, 60_000);
    expect(rows.find((r) => r.connectionId === second.connectionId)).toMatchObject({ requests1h: n + 1, errors1h: n, errorRate1h: n / (n + 1) });
    expect(rows.find((r) => r.connectionId === a.connectionId)).toEqual(before);

    const errors = await errorsOf(a, second.connectionId, 1000);
    expect(errors).toHaveLength(RECENT_ERRORS_KEPT);
    expect(errors[0]!.path).toBe(`/scim/v2/Users/not-a-user-${n - 1}`);
    expect(errors.at(-1)!.path).toBe(`/scim/v2/Users/not-a-user-${n - RECENT_ERRORS_KEPT}`);
    const stored = await stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int AS n FROM scim_request_errors WHERE connection_id = ${second.connectionId}`);
    expect(stored).toBe(RECENT_ERRORS_KEPT);
  });

  it('ignores rows that name another tenant\'s connection (the flush function trusts nothing)', async () => {
    await stack.app.query(sql.unsafe`SELECT scim_activity_flush(
      ${sql.jsonb([{ tenant: b.id, connection: a.connectionId, bucket: new Date().toISOString(), requests: 7, errors: 7, last: new Date().toISOString() }])},
      ${sql.jsonb([{ tenant: b.id, connection: a.connectionId, at: new Date().toISOString(), method: 'GET', path: '/x', status: 500, scimType: null, detail: 'forged' }])})`);
    const n = await stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT (SELECT count(*) FROM scim_activity_buckets WHERE tenant_id = ${b.id})
           + (SELECT count(*) FROM scim_request_errors WHERE tenant_id = ${b.id})
           + (SELECT count(*) FROM scim_connection_activity WHERE tenant_id = ${b.id}) AS n`);
    expect(n).toBe(0);
  });

  it('never fails a request when the activity cannot be written, and keeps the counts for the next flush', async () => {
    const c = await stack.createTenant();
    await stack.owner.query(sql.unsafe`REVOKE EXECUTE ON FUNCTION scim_activity_flush(jsonb, jsonb) FROM roster_app`);
    try {
      expect((await stack.scim(c, 'POST', '/Users', { userName: 'activity-outage@example.com' })).status).toBe(201);
      expect((await stack.scim(c, 'GET', '/Users/not-there')).status).toBe(404);
      // Several flush intervals pass, each failing.
      await new Promise((r) => setTimeout(r, 500));
      expect((await activityOf(c))[0]).toMatchObject({ requests1h: 0, lastRequestAt: null });
    } finally {
      await stack.owner.query(sql.unsafe`GRANT EXECUTE ON FUNCTION scim_activity_flush(jsonb, jsonb) TO roster_app`);
    }
    const [row] = await eventually(async () => {
      const rows = await activityOf(c);
      return rows[0]!.requests1h > 0 ? rows : undefined;
    }, 60_000);
    expect(row).toMatchObject({ requests1h: 2, errors1h: 1 });
    expect((await errorsOf(c)).map((e) => [e.status, e.path])).toEqual([[404, '/scim/v2/Users/not-there']]);
  });
});

describe('SCIM connection activity on shutdown', () => {
  it('is written when the API process stops, however long the flush interval', async () => {
    const quiet = await startStack({ env: { SCIM_ACTIVITY_FLUSH_MS: '600000' } });
    const t = await quiet.createTenant();
    expect((await quiet.scim(t, 'GET', '/Users')).status).toBe(200);
    expect((await quiet.scim(t, 'GET', '/Groups/nope')).status).toBe(404);
    const owner = await createDatabasePool(quiet.databaseUrl, { maximumPoolSize: 1 });
    try {
      const count = () => owner.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT coalesce(sum(requests), 0)::int AS n FROM scim_activity_buckets WHERE tenant_id = ${t.id}`);
      expect(await count()).toBe(0);
      await quiet.close();
      expect(await count()).toBe(2);
    } finally {
      await owner.end();
    }
  });
});
