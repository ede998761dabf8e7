import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findUserByNameKey } from '../../core/repositories/users.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { USER } from '../helpers/scim.js';

/**
 * The one-statement `userName eq` lookup (scim_user_by_name_key) sets the tenant for its own
 * implicit transaction. It must see exactly that tenant's rows under row-level security, leave
 * nothing behind on the pooled connection, and answer over SCIM exactly as the general path does.
 */

let stack: TestStack;
let a: TestTenant;
let b: TestTenant;
let aShared: string;
let bShared: string;

beforeAll(async () => {
  stack = await startStack();
  a = await stack.createTenant();
  b = await stack.createTenant();
  aShared = (await stack.scim(a, 'POST', '/Users', { schemas: [USER], userName: 'Shared@Example.com' })).body.id;
  bShared = (await stack.scim(b, 'POST', '/Users', { schemas: [USER], userName: 'shared@example.com' })).body.id;
  await stack.scim(a, 'POST', '/Users', { schemas: [USER], userName: 'only-a@example.com' });
  const g = await stack.scim(a, 'POST', '/Groups', { displayName: 'A team', members: [{ value: aShared }] });
  expect(g.status).toBe(201);
});
afterAll(async () => stack?.close());

const lookup = (path: string, t: TestTenant) => stack.scim(t, 'GET', `/Users?${path}`);
const eqFilter = (name: string) => `filter=${encodeURIComponent(`userName eq "${name}"`)}`;

describe('one-statement userName lookup', () => {
  it('is SECURITY INVOKER (as is the one-statement create), so the app role meets row-level security inside it', async () => {
    const definers = await stack.owner.any(sql.type(z.object({ proname: z.string(), prosecdef: z.boolean() }))`
      SELECT proname, prosecdef FROM pg_proc WHERE proname IN ('scim_user_by_name_key', 'scim_create_user') ORDER BY proname`);
    expect(definers).toEqual([
      { proname: 'scim_create_user', prosecdef: false },
      { proname: 'scim_user_by_name_key', prosecdef: false },
    ]);
  });

  it("sees only the named tenant's rows (on the API's lean statement executor)", async () => {
    const ofA = await findUserByNameKey(stack.app.statements, a.id, 'shared@example.com');
    expect(ofA.map((r) => [r.id, r.tenant_id])).toEqual([[aShared, a.id]]);
    const ofB = await findUserByNameKey(stack.app.statements, b.id, 'shared@example.com');
    expect(ofB.map((r) => [r.id, r.tenant_id])).toEqual([[bShared, b.id]]);
    expect(await findUserByNameKey(stack.app.statements, b.id, 'only-a@example.com')).toEqual([]);
    // A tenant that does not exist sees nothing either.
    expect(await findUserByNameKey(stack.app.statements, '00000000-0000-4000-8000-000000000000', 'shared@example.com')).toEqual([]);
  });

  it('leaves no tenant behind on the connection: the next statement sees nothing', async () => {
    await stack.app.connect(async (conn) => {
      expect((await findUserByNameKey(conn, a.id, 'shared@example.com')).length).toBe(1);
      const setting = await conn.oneFirst(sql.type(z.object({ s: z.string().nullable() }))`SELECT current_setting('app.tenant_id', true) AS s`);
      expect(setting === null || setting === '').toBe(true);
      expect(await conn.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM users`)).toBe(0);
    });
  });

  it('answers over SCIM like the general path: case fold, groups, projection, totalResults', async () => {
    const hit = await lookup(eqFilter('SHARED@example.COM'), a);
    expect(hit.status).toBe(200);
    expect(hit.body.totalResults).toBe(1);
    expect(hit.body.itemsPerPage).toBe(1);
    expect(hit.body.Resources[0].id).toBe(aShared);
    expect(hit.body.Resources[0].groups.map((g: { display: string }) => g.display)).toEqual(['A team']);
    expect(hit.body.Resources[0].meta.location).toMatch(new RegExp(`/Users/${aShared}$`));

    const projected = await lookup(`${eqFilter('shared@example.com')}&attributes=userName`, b);
    expect(projected.body.Resources).toEqual([{ schemas: [USER], id: bShared, userName: 'shared@example.com' }]);

    const miss = await lookup(eqFilter('only-a@example.com'), b);
    expect(miss.body).toMatchObject({ totalResults: 0, itemsPerPage: 0, Resources: [] });

    // Same query through the general path (a second page, a count of 0): the same total.
    const page2 = await lookup(`${eqFilter('shared@example.com')}&startIndex=2`, a);
    expect(page2.body).toMatchObject({ totalResults: 1, startIndex: 2, Resources: [] });
    const counted = await lookup(`${eqFilter('shared@example.com')}&count=0`, a);
    expect(counted.body).toMatchObject({ totalResults: 1, Resources: [] });
  });

  it('a SCIM-deleted user is not found; a bad sortBy is still refused', async () => {
    const c = await stack.scim(a, 'POST', '/Users', { schemas: [USER], userName: 'gone@example.com' });
    expect((await stack.scim(a, 'DELETE', `/Users/${c.body.id}`)).status).toBe(204);
    expect((await lookup(eqFilter('gone@example.com'), a)).body.totalResults).toBe(0);
    const bad = await lookup(`${eqFilter('shared@example.com')}&sortBy=emails`, a);
    expect(bad.status).toBe(400);
  });
});
