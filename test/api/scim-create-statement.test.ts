import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { openPersonalData, SealedPersonalData } from '../../core/repositories/personal-data.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { USER } from '../helpers/scim.js';

/**
 * POST /Users writes the user, its personal-data key, its audit event and its outbox event in one
 * statement (scim_create_user, its own implicit transaction). What that statement writes must be what the step-by-step path wrote: sealed audit
 * values that open under the identity's key, seq 1 on the user's stream, nothing on a 409, and a
 * restore (not a new identity) for a SCIM-deleted externalId inside the grace period.
 */

let stack: TestStack;
let tenant: TestTenant;
beforeAll(async () => {
  stack = await startStack();
  tenant = await stack.createTenant();
});
afterAll(async () => stack?.close());

const Audit = z.object({ action: z.string(), actor_type: z.string(), actor_id: z.string().nullable(), target_id: z.string().nullable(), data: z.record(z.unknown()) });
const Outbox = z.object({ seq: z.number(), event_type: z.string(), payload: z.record(z.unknown()) });

async function written(userId: string) {
  const audit = await stack.owner.any(sql.type(Audit)`
    SELECT action, actor_type, actor_id, target_id, data FROM audit_events WHERE tenant_id = ${tenant.id} AND target_id = ${userId} ORDER BY id`);
  const outbox = await stack.owner.any(sql.type(Outbox)`
    SELECT seq, event_type, payload FROM outbox WHERE tenant_id = ${tenant.id} AND stream_id = ${userId} ORDER BY seq`);
  return { audit, outbox };
}

const counts = async () => ({
  users: await stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM users WHERE tenant_id = ${tenant.id}`),
  audit: await stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM audit_events WHERE tenant_id = ${tenant.id}`),
  outbox: await stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM outbox WHERE tenant_id = ${tenant.id}`),
  keys: await stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM personal_data_keys WHERE tenant_id = ${tenant.id}`),
});

describe('the one-statement create', () => {
  it('writes the user, a sealed audit event that opens under its key, and seq 1 on its stream', async () => {
    const body = { schemas: [USER], userName: 'one.statement@example.com', name: { givenName: 'One' }, active: true };
    const res = await stack.scim(tenant, 'POST', '/Users', body);
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    expect(res.headers.get('location')).toMatch(new RegExp(`/Users/${id}$`));
    expect(res.body).toMatchObject({ userName: 'one.statement@example.com', groups: [], meta: { version: 'W/"1"' } });

    const { audit, outbox } = await written(id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: 'user.created', actor_type: 'scim', actor_id: tenant.connectionId, target_id: id });
    expect(audit[0]!.data.changed).toEqual(expect.arrayContaining(['userName', 'name', 'active']));
    // Personal values are not readable in the log itself…
    expect(JSON.stringify(audit[0]!.data)).not.toContain('one.statement@example.com');
    // …but open under the identity's key.
    const sealed = SealedPersonalData.parse(audit[0]!.data.personal);
    const opened = (await withTenant(stack.owner, tenant.id, (tx) => openPersonalData(tx, tenant.id, sealed))) as { before: unknown; after: Record<string, unknown> };
    expect(opened.before).toBeNull();
    expect(opened.after).toMatchObject({ userName: 'one.statement@example.com', name: { givenName: 'One' } });

    expect(outbox).toEqual([{ seq: 1, event_type: 'user.created', payload: { active: true } }]);
  });

  it('leaves no tenant behind on the pooled connections', async () => {
    for (let i = 0; i < 3; i++) expect((await stack.scim(tenant, 'POST', '/Users', { schemas: [USER], userName: `pooled-${i}@example.com` })).status).toBe(201);
    // The app pool's connections (10) now each start a statement with the tenant unset.
    const seen = await Promise.all(
      Array.from({ length: 10 }, () => stack.app.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM users`)),
    );
    expect(seen.every((n) => n === 0)).toBe(true);
  });

  it('a taken userName (case-folded) is a 409 and writes nothing', async () => {
    expect((await stack.scim(tenant, 'POST', '/Users', { schemas: [USER], userName: 'taken@example.com' })).status).toBe(201);
    const before = await counts();
    const dup = await stack.scim(tenant, 'POST', '/Users', { schemas: [USER], userName: 'TAKEN@example.com' });
    expect(dup.status).toBe(409);
    expect(dup.body).toMatchObject({ scimType: 'uniqueness' });
    expect(await counts()).toEqual(before);
  });

  it('an externalId of a SCIM-deleted identity inside its grace period restores that identity', async () => {
    const first = await stack.scim(tenant, 'POST', '/Users', { schemas: [USER], userName: 'comes.back@example.com', externalId: 'ext-back' });
    expect(first.status).toBe(201);
    expect((await stack.scim(tenant, 'DELETE', `/Users/${first.body.id}`)).status).toBe(204);
    const before = await counts();
    const again = await stack.scim(tenant, 'POST', '/Users', { schemas: [USER], userName: 'comes.back@example.com', externalId: 'ext-back' });
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(first.body.id);
    const after = await counts();
    expect(after.users).toBe(before.users);
    expect(after.keys).toBe(before.keys);
    const { audit, outbox } = await written(first.body.id);
    expect(audit.map((a) => a.action)).toEqual(['user.created', 'user.deleted', 'user.restored']);
    expect(outbox.map((o) => [o.seq, o.event_type])).toEqual([
      [1, 'user.created'],
      [2, 'user.deleted'],
      [3, 'user.restored'],
    ]);
    // A different externalId is a new identity.
    const other = await stack.scim(tenant, 'POST', '/Users', { schemas: [USER], userName: 'someone.else@example.com', externalId: 'ext-other' });
    expect(other.status).toBe(201);
    expect(other.body.id).not.toBe(first.body.id);
  });
});
