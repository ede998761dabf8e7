import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/** Every table with a tenant_id column, read from the catalogue so a new table cannot be forgotten. */
let TENANT_TABLES: string[] = [];

let stack: TestStack;
let a: TestTenant;
let b: TestTenant;
let bUserId: string;
let bGroupId: string;

beforeAll(async () => {
  stack = await startStack();
  TENANT_TABLES = [
    ...(await stack.owner.anyFirst(sql.type(z.object({ table_name: z.string() }))`
      SELECT table_name FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name = 'tenant_id' AND table_name <> 'pgmigrations' ORDER BY table_name`)),
  ];
  expect(TENANT_TABLES.length).toBeGreaterThanOrEqual(25);
  a = await stack.createTenant();
  b = await stack.createTenant();
  await stack.scim(a, 'POST', '/Users', { userName: 'shared-name@example.com' });
  const bu = await stack.scim(b, 'POST', '/Users', { userName: 'shared-name@example.com', externalId: 'b-ext' });
  bUserId = bu.body.id;
  const bg = await stack.scim(b, 'POST', '/Groups', { displayName: 'B only', members: [{ value: bUserId }] });
  bGroupId = bg.body.id;
});
afterAll(async () => stack?.close());

const count = z.object({ n: z.number() });

describe('tenant isolation in the database (app role, RLS forced)', () => {
  it('every tenant table has RLS enabled and forced, and the app role cannot bypass it', async () => {
    const rows = await stack.owner.any(sql.type(z.object({ relname: z.string(), relrowsecurity: z.boolean(), relforcerowsecurity: z.boolean() }))`
      SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
       WHERE relname = ANY(${sql.array([...TENANT_TABLES, 'tenants'], 'text')}) AND relkind = 'r'`);
    expect(rows).toHaveLength(TENANT_TABLES.length + 1);
    for (const r of rows) expect(r, r.relname).toMatchObject({ relrowsecurity: true, relforcerowsecurity: true });
    const role = await stack.owner.one(sql.type(z.object({ rolsuper: z.boolean(), rolbypassrls: z.boolean() }))`
      SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'roster_app'`);
    expect(role).toEqual({ rolsuper: false, rolbypassrls: false });
    const owned = await stack.owner.oneFirst(sql.type(count)`
      SELECT count(*)::int AS n FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = 'roster_app'`);
    expect(owned).toBe(0);
  });

  it('without a tenant set, the app role sees nothing at all (fails closed)', async () => {
    for (const table of TENANT_TABLES) {
      const n = await stack.app.oneFirst(sql.type(count)`SELECT count(*)::int AS n FROM ${sql.identifier([table])}`);
      expect(n, table).toBe(0);
    }
    expect(await stack.app.oneFirst(sql.type(count)`SELECT count(*)::int AS n FROM tenants`)).toBe(0);
  });

  it("tenant A's transaction never returns tenant B's rows", async () => {
    await withTenant(stack.app, a.id, async (tx) => {
      for (const table of TENANT_TABLES) {
        const foreign = await tx.oneFirst(sql.type(count)`
          SELECT count(*)::int AS n FROM ${sql.identifier([table])} WHERE tenant_id <> ${a.id}`);
        expect(foreign, table).toBe(0);
      }
      expect(await tx.oneFirst(sql.type(count)`SELECT count(*)::int AS n FROM users WHERE id = ${bUserId}`)).toBe(0);
      expect(await tx.oneFirst(sql.type(count)`SELECT count(*)::int AS n FROM tenants`)).toBe(1);
    });
  });

  it("tenant A cannot change or delete tenant B's rows, nor write rows into tenant B", async () => {
    await withTenant(stack.app, a.id, async (tx) => {
      const updated = await tx.query(sql.unsafe`UPDATE users SET display_name = 'pwned' WHERE id = ${bUserId}`);
      expect(updated.rowCount).toBe(0);
      const deleted = await tx.query(sql.unsafe`DELETE FROM groups WHERE id = ${bGroupId}`);
      expect(deleted.rowCount).toBe(0);
    });
    await expect(
      withTenant(stack.app, a.id, (tx) =>
        tx.query(sql.unsafe`INSERT INTO users (tenant_id, user_name, user_name_key) VALUES (${b.id}, 'intruder', 'intruder')`),
      ),
    ).rejects.toThrow(/row-level security/);
    const name = await stack.owner.oneFirst(sql.type(z.object({ display_name: z.string().nullable() }))`
      SELECT display_name FROM users WHERE id = ${bUserId}`);
    expect(name).toBeNull();
    expect(await stack.owner.oneFirst(sql.type(count)`SELECT count(*)::int AS n FROM groups WHERE id = ${bGroupId}`)).toBe(1);
  });

  it("tenant A cannot reveal tenant B's data through constraint errors (uniqueness is per tenant)", async () => {
    const again = await stack.scim(a, 'POST', '/Users', { userName: 'only-in-b@example.com' });
    expect(again.status).toBe(201);
    await stack.scim(b, 'POST', '/Users', { userName: 'only-in-b-2@example.com' });
    const taken = await stack.scim(a, 'POST', '/Users', { userName: 'only-in-b-2@example.com' });
    expect(taken.status).toBe(201);
  });

  it("the SCIM API answers 404 for another tenant's resources and never lists them", async () => {
    expect((await stack.scim(a, 'GET', `/Users/${bUserId}`)).status).toBe(404);
    expect((await stack.scim(a, 'GET', `/Groups/${bGroupId}`)).status).toBe(404);
    expect((await stack.scim(a, 'PATCH', `/Users/${bUserId}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] })).status).toBe(404);
    expect((await stack.scim(a, 'DELETE', `/Groups/${bGroupId}`)).status).toBe(404);
    const list = await stack.scim(a, 'GET', `/Users?filter=${encodeURIComponent('externalId eq "b-ext"')}`);
    expect(list.body.totalResults).toBe(0);
    const all = await stack.scim(a, 'GET', '/Users?count=1000');
    expect(all.body.Resources.map((r: { id: string }) => r.id)).not.toContain(bUserId);
    const members = await stack.scim(a, 'POST', '/Groups', { displayName: 'steal', members: [{ value: bUserId }] });
    expect(members.status).toBe(201);
    expect(members.body.members ?? []).toHaveLength(0);
  });

  it('the app role cannot modify or delete audit events, even its own tenant\'s', async () => {
    await withTenant(stack.app, a.id, async (tx) => {
      await expect(tx.query(sql.unsafe`UPDATE audit_events SET action = 'forged'`)).rejects.toThrow(/permission denied/);
    });
    await withTenant(stack.app, a.id, async (tx) => {
      await expect(tx.query(sql.unsafe`DELETE FROM audit_events`)).rejects.toThrow(/permission denied/);
    });
    // Even the owner is stopped by the trigger.
    await expect(stack.owner.query(sql.unsafe`DELETE FROM audit_events`)).rejects.toThrow(/append-only/);
    await expect(stack.owner.query(sql.unsafe`TRUNCATE audit_events`)).rejects.toThrow(/append-only/);
  });
});
