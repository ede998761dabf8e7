import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleClient, portalClient, type ConsoleTestClient } from '../helpers/portal.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/** Parked identity streams in the operator console: listed (ids only), retried and skipped through the same Update as the CLI. */
let stack: TestStack;
let tenant: TestTenant;
let other: TestTenant;
let operator: ConsoleTestClient;

beforeAll(async () => {
  stack = await startStack({ worker: true });
  tenant = await stack.createTenant();
  other = await stack.createTenant();
  operator = await consoleClient(stack);
});
afterAll(async () => stack?.close());

const appliedSeq = (userId: string) => stack.owner.oneFirst(sql.type(z.object({ applied_seq: z.number() }))`SELECT applied_seq FROM users WHERE id = ${userId}`);

/** Puts an event on the user's stream the way SCIM does (next seq under the row, outbox row). */
async function injectEvent(t: TestTenant, userId: string, type: string): Promise<number> {
  return stack.owner.transaction(async (tx) => {
    const seq = await tx.oneFirst(sql.type(z.object({ event_seq: z.number() }))`
      UPDATE users SET event_seq = event_seq + 1 WHERE id = ${userId} RETURNING event_seq`);
    await tx.query(sql.unsafe`INSERT INTO outbox (tenant_id, stream_type, stream_id, seq, event_type) VALUES (${t.id}, 'user', ${userId}, ${seq}, ${type})`);
    return seq;
  });
}

async function parkedUser(t: TestTenant, userName: string): Promise<{ userId: string; seq: number }> {
  const created = await stack.scim(t, 'POST', '/Users', { userName, active: true });
  expect(created.status).toBe(201);
  const userId: string = created.body.id;
  await eventually(async () => (await appliedSeq(userId)) === 1);
  const seq = await injectEvent(t, userId, 'user.teleported');
  await eventually(async () => (await operator.request('GET', `/tenants/${t.id}`)).body.parkedStreams.some((p: any) => p.identityId === userId));
  return { userId, seq };
}

const operatorAudit = (operatorId: string) =>
  stack.owner.any(sql.type(z.object({ action: z.string(), data: z.record(z.unknown()) }))`
    SELECT action, data FROM operator_audit WHERE operator_id = ${operatorId} AND action LIKE 'stream.%' ORDER BY id`);

describe('parked streams in the operator console', () => {
  it('lists parks per tenant in fleet health and tenant detail, ids and types only', async () => {
    const { userId, seq } = await parkedUser(tenant, 'parked.one@example.com');
    const detail = await operator.request('GET', `/tenants/${tenant.id}`);
    expect(detail.body.parkedStreams).toEqual([
      { tenantId: tenant.id, tenantSlug: tenant.slug, identityId: userId, seq, eventType: 'user.teleported', failureType: 'EventInvalid', attempts: 1, since: expect.any(String) },
    ]);
    expect((await operator.request('GET', `/tenants/${other.id}`)).body.parkedStreams).toEqual([]);
    const fleet = await operator.request('GET', '/fleet');
    expect(fleet.body.parkedStreams).toContainEqual(expect.objectContaining({ tenantId: tenant.id, identityId: userId, seq }));
    // No person's data and no failure message (it can quote the person's data).
    expect(JSON.stringify([detail.body, fleet.body])).not.toMatch(/parked\.one@example\.com|"message"/);
  });

  it('retries (answered synchronously: still parked) and skips with a reason; both audited; the stream moves on', async () => {
    const { userId, seq } = await parkedUser(tenant, 'parked.two@example.com');
    const base = `/tenants/${tenant.id}/streams/${userId}`;
    const retried = await operator.request('POST', `${base}/retry`, {});
    expect(retried.status).toBe(200);
    expect(retried.body).toEqual({ outcome: 'parked', seq, failureType: 'EventInvalid' });
    expect((await operator.request('POST', `${base}/skip`, {})).status).toBe(400); // a skip needs a reason
    expect((await operator.request('POST', `${base}/skip`, { reason: ' ' })).status).toBe(400);
    const skipped = await operator.request('POST', `${base}/skip`, { reason: 'unknown event type' });
    expect(skipped.body).toEqual({ outcome: 'skipped', seq });
    await eventually(async () => (await appliedSeq(userId)) === seq);
    expect((await operator.request('GET', `/tenants/${tenant.id}`)).body.parkedStreams.some((p: any) => p.identityId === userId)).toBe(false);

    expect(await operatorAudit(operator.operatorId)).toEqual([
      { action: 'stream.retry', data: { tenantId: tenant.id, identityId: userId, seq, outcome: 'parked' } },
      { action: 'stream.skip', data: { tenantId: tenant.id, identityId: userId, seq, outcome: 'skipped', reason: 'unknown event type' } },
    ]);
    // The tenant's own log has the skip with the operator as actor (written by the workflow).
    const trail = await stack.owner.any(sql.type(z.object({ actor_type: z.string(), actor_id: z.string(), data: z.record(z.unknown()) }))`
      SELECT actor_type, actor_id, data FROM audit_events WHERE tenant_id = ${tenant.id} AND target_id = ${userId} AND action = 'stream.event_skipped'`);
    expect(trail).toEqual([{ actor_type: 'operator', actor_id: operator.operatorId, data: { seq, outcome: 'skipped', reason: 'unknown event type' } }]);
  });

  it('refuses a stream that is not parked, another tenant’s identity, and callers who are not operators; nothing changes', async () => {
    const created = await stack.scim(tenant, 'POST', '/Users', { userName: 'healthy@example.com', active: true });
    const healthy: string = created.body.id;
    await eventually(async () => (await appliedSeq(healthy)) === 1);
    const notParked = await operator.request('POST', `/tenants/${tenant.id}/streams/${healthy}/skip`, { reason: 'x' });
    expect(notParked.status).toBe(409);
    expect(notParked.body.error).toBe('not_parked');
    // A parked identity of one tenant addressed under another tenant: not parked there.
    const { userId } = await parkedUser(other, 'parked.other@example.com');
    expect((await operator.request('POST', `/tenants/${tenant.id}/streams/${userId}/retry`, {})).status).toBe(409);
    expect((await operator.request('POST', `/tenants/00000000-0000-4000-8000-000000000000/streams/${userId}/retry`, {})).status).toBe(404);
    // The tenant's own admin has no way in: the console's routes answer only an operator session.
    await portalClient(stack, other, { roles: ['admin'] });
    const anonymous = await fetch(`${stack.url}/console/api/tenants/${other.id}/streams/${userId}/skip`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'x' }),
    });
    expect(anonymous.status).toBe(401);
    expect(await appliedSeq(healthy)).toBe(1);
    expect((await operator.request('GET', `/tenants/${other.id}`)).body.parkedStreams).toEqual([expect.objectContaining({ identityId: userId, attempts: 1 })]);
  });
});
