import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { createTenant, fleetHealth, listTenants, tenantDetail } from '../../core/fleet/service.js';
import { listAudit } from '../../core/repositories/audit.js';
import { insertConnectionWithToken, revokeConnectionRows } from '../../core/connections/queries.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

// The fleet queries against a stack without a worker: nothing drains the outbox, so every
// accepted SCIM change stays undelivered and its identity unapplied.
let stack: TestStack;
let quiet: TestTenant;
let busy: TestTenant;
let busyUserId: string;
let heldUserId: string;

const operator = { type: 'operator' as const, id: '6f1d0a52-95a4-4a4e-9b0e-3f3f3f3f3f3f' };

beforeAll(async () => {
  stack = await startStack({ env: { SCIM_ACTIVITY_FLUSH_MS: '100' } });
  quiet = await stack.createTenant();
  busy = await stack.createTenant();
  busyUserId = (await stack.scim(busy, 'POST', '/Users', { userName: 'fleet-stuck@example.com' })).body.id;
  heldUserId = (await stack.scim(busy, 'POST', '/Users', { userName: 'fleet-held@example.com' })).body.id;
  expect((await stack.scim(busy, 'POST', '/Users', { userName: 'fleet-stuck@example.com' })).status).toBe(409);
  await stack.owner.query(sql.unsafe`INSERT INTO deprovision_holds (tenant_id, user_id) VALUES (${busy.id}, ${heldUserId})`);
});
afterAll(async () => stack?.close());

describe('fleet health (console queries)', () => {
  it('creates a tenant with its first audit row naming the operator, and refuses a taken slug', async () => {
    const tenant = await createTenant(stack.app, operator, { slug: 'acme-fleet', name: 'Acme Fleet' });
    expect(tenant).toMatchObject({ slug: 'acme-fleet', name: 'Acme Fleet' });
    const audit = await withTenant(stack.app, tenant.id, (tx) => listAudit(tx));
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_type: 'operator', actor_id: operator.id, action: 'tenant.created', target_type: 'tenant', target_id: tenant.id, data: { slug: 'acme-fleet', name: 'Acme Fleet' } });
    await expect(createTenant(stack.app, operator, { slug: 'acme-fleet', name: 'Again' })).rejects.toMatchObject({ status: 409, code: 'tenant_exists' });
    await expect(createTenant(stack.app, operator, { slug: 'Not A Slug', name: 'x' })).rejects.toThrow();
    const n = await stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM tenants WHERE slug = 'acme-fleet'`);
    expect(n).toBe(1);
  });

  it('lists tenants with connection counts, last request, error rate, backlog, stuck and held', async () => {
    const list = await eventually(async () => {
      const l = await listTenants(stack.app, 0);
      return l.tenants.find((t) => t.id === busy.id)?.requests1h === 3 ? l : undefined;
    }, 60_000);
    const b = list.tenants.find((t) => t.id === busy.id)!;
    expect(b).toMatchObject({ slug: busy.slug, connections: 1, requests1h: 3, errors1h: 1, outboxBacklog: 2, stuck: 2, held: 1 });
    expect(b.errorRate1h).toBeCloseTo(1 / 3);
    expect(b.lastRequestAt).not.toBeNull();
    expect(b.oldestUndeliveredAt).not.toBeNull();
    const q = list.tenants.find((t) => t.id === quiet.id)!;
    expect(q).toMatchObject({ connections: 1, lastRequestAt: null, requests1h: 0, errorRate1h: 0, outboxBacklog: 0, stuck: 0, held: 0 });
    // A long threshold: nothing has been waiting that long.
    expect((await listTenants(stack.app, 60)).tenants.find((t) => t.id === busy.id)).toMatchObject({ stuck: 0, held: 1 });
  });

  it('shows one tenant with its connections (revoked ones marked) and 404s an unknown one', async () => {
    const second = await withTenant(stack.owner, busy.id, (tx) => insertConnectionWithToken(tx, busy.id, 'okta-old'));
    await withTenant(stack.owner, busy.id, (tx) => revokeConnectionRows(tx, busy.id, second.connectionId));
    const detail = await tenantDetail(stack.app, busy.id, 0);
    expect(detail.tenant).toMatchObject({ id: busy.id, connections: 1, stuck: 2, held: 1 });
    expect(detail.connections).toHaveLength(2);
    expect(detail.connections[0]).toMatchObject({ id: busy.connectionId, revokedAt: null, liveTokens: 1, requests1h: 3, errors1h: 1 });
    expect(detail.connections[1]).toMatchObject({ id: second.connectionId, name: 'okta-old', liveTokens: 0, lastRequestAt: null });
    expect(detail.connections[1]!.revokedAt).not.toBeNull();
    await expect(tenantDetail(stack.app, '00000000-0000-4000-8000-000000000000', 0)).rejects.toMatchObject({ status: 404 });
  });

  it('reports the outbox backlog, the relay as lagging or failing, and stuck and held identities by id only', async () => {
    let fleet = await fleetHealth(stack.app, 0);
    expect(fleet.outbox).toMatchObject({ backlog: 2, failing: 0, lastError: null });
    expect(fleet.relay.status).toBe('healthy');
    expect(fleet.tenants).toEqual([{ id: busy.id, slug: busy.slug, outboxBacklog: 2, stuck: 2, held: 1 }]);
    expect(fleet.identities.map((i) => [i.kind, i.identityId]).sort()).toEqual(
      [['held', heldUserId], ['stuck', busyUserId], ['stuck', heldUserId]].sort(),
    );
    expect(fleet.identities.find((i) => i.identityId === busyUserId)).toMatchObject({ tenantSlug: busy.slug, eventSeq: 1, appliedSeq: 0 });
    expect(JSON.stringify(fleet)).not.toContain('@example.com');

    // The oldest undelivered row is two minutes old: lagging. Then a failed delivery: failing.
    await stack.owner.query(sql.unsafe`UPDATE outbox SET created_at = now() - interval '2 minutes' WHERE tenant_id = ${busy.id}`);
    fleet = await fleetHealth(stack.app, 1);
    expect(fleet.relay.status).toBe('lagging');
    expect(fleet.outbox.oldestAgeSeconds).toBeGreaterThanOrEqual(119);
    expect(fleet.identities.filter((i) => i.kind === 'stuck')).toHaveLength(2);
    await stack.owner.query(sql.unsafe`SELECT outbox_mark_failed(array(SELECT id FROM outbox WHERE tenant_id = ${busy.id}), 'temporal unavailable')`);
    fleet = await fleetHealth(stack.app, 1);
    expect(fleet.relay).toMatchObject({ status: 'failing' });
    expect(fleet.outbox).toMatchObject({ failing: 2, lastError: 'temporal unavailable' });

    // Delivered and applied: nothing stuck, nothing waiting.
    await stack.owner.query(sql.unsafe`UPDATE outbox SET delivered_at = now() WHERE tenant_id = ${busy.id}`);
    await stack.owner.query(sql.unsafe`UPDATE users SET applied_seq = event_seq WHERE tenant_id = ${busy.id}`);
    fleet = await fleetHealth(stack.app, 0);
    expect(fleet.outbox).toMatchObject({ backlog: 0, oldestUndeliveredAt: null, oldestAgeSeconds: 0 });
    expect(fleet.relay.status).toBe('healthy');
    expect(fleet.identities.map((i) => i.kind)).toEqual(['held']);
  });

  it('the console functions are the only way in: the app role alone sees no tenant', async () => {
    expect(await stack.app.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM tenants`)).toBe(0);
    await expect(stack.app.query(sql.unsafe`SELECT * FROM fleet_identity_alerts(interval '0')`)).rejects.toThrow(/permission denied/);
  });
});
