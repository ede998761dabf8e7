import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { z } from 'zod';
import { identityWorkflowId } from '../../workflows/ids.js';
import { identityStatusQuery, resolveStreamUpdate } from '../../workflows/messages.js';
import { maybeRecordHistory } from '../helpers/histories.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

const run = promisify(execFile);
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

let stack: TestStack;
let tenant: TestTenant;
beforeAll(async () => {
  stack = await startStack({ worker: true });
  tenant = await stack.createTenant();
});
afterAll(async () => stack?.close());

async function roster(...args: string[]): Promise<any> {
  const { stdout } = await run(process.execPath, ['scripts/roster.mjs', ...args], {
    env: { ...process.env, DATABASE_URL: stack.databaseUrl, PUBLIC_URL: stack.url, TEMPORAL_ADDRESS: inject('temporalAddress'), LOG_LEVEL: 'silent' },
  });
  return JSON.parse(stdout);
}

const appliedSeq = (userId: string) => stack.owner.oneFirst(sql.type(z.object({ applied_seq: z.number() }))`SELECT applied_seq FROM users WHERE id = ${userId}`);

/** Puts an event on the user's stream the way SCIM does (next seq under the row, outbox row). */
async function injectEvent(userId: string, type: string): Promise<number> {
  return stack.owner.transaction(async (tx) => {
    const seq = await tx.oneFirst(sql.type(z.object({ event_seq: z.number() }))`
      UPDATE users SET event_seq = event_seq + 1 WHERE id = ${userId} RETURNING event_seq`);
    await tx.query(sql.unsafe`INSERT INTO outbox (tenant_id, stream_type, stream_id, seq, event_type) VALUES (${tenant.id}, 'user', ${userId}, ${seq}, ${type})`);
    return seq;
  });
}

async function createActiveUser(userName: string): Promise<string> {
  const created = await stack.scim(tenant, 'POST', '/Users', { userName, active: true });
  expect(created.status).toBe(201);
  await eventually(async () => (await appliedSeq(created.body.id)) === 1);
  return created.body.id as string;
}

describe('an event that cannot be applied parks its stream', () => {
  it('parks with an alert and an audit row, waits (events behind it queue), answers retry and skip synchronously', async () => {
    const userId = await createActiveUser('parked@example.com');
    const handle = stack.client!.workflow.getHandle(identityWorkflowId(tenant.id, userId));

    const bad = await injectEvent(userId, 'user.teleported');
    // A real change behind it must wait: the stream applies in order.
    expect((await stack.scim(tenant, 'PATCH', `/Users/${userId}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'displayName', value: 'Parked' }] })).status).toBe(200);

    const status = await eventually(async () => {
      const s = await handle.query(identityStatusQuery);
      return s.parked && s;
    });
    expect(status.parked).toMatchObject({ seq: bad, eventType: 'user.teleported', failureType: 'EventInvalid', attempts: 1 });
    expect(status.parked!.message).toContain('user.teleported');
    expect(status.pendingSeqs).toEqual([bad, bad + 1]);
    expect(await appliedSeq(userId)).toBe(bad - 1);

    // Not retried on its own: the attempt count stays at 1 (the activity failed non-retryably).
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await handle.query(identityStatusQuery)).parked?.attempts).toBe(1);

    const alerts = await stack.owner.any(sql.type(z.object({ kind: z.string(), data: z.record(z.unknown()), resolved_at: z.string().nullable() }))`
      SELECT kind, data, resolved_at::text FROM tenant_alerts WHERE tenant_id = ${tenant.id} AND kind = 'stream_parked'`);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ resolved_at: null, data: { userId, seq: bad, failureType: 'EventInvalid' } });
    expect((await roster('stream', 'list', '--tenant', tenant.slug, '--json')).parked).toEqual([expect.objectContaining({ userId, seq: bad, eventType: 'user.teleported' })]);

    // Retry: the same event fails again, synchronously reported, still parked.
    const retried = await handle.executeUpdate(resolveStreamUpdate, { args: [{ action: 'retry', by: 'test' }] });
    expect(retried).toMatchObject({ outcome: 'parked', seq: bad, failureType: 'EventInvalid' });
    expect((await handle.query(identityStatusQuery)).parked?.attempts).toBe(2);

    // Skip through the CLI: the stream moves past it, the queued change applies, audited.
    const skipped = await roster('stream', 'skip', '--tenant', tenant.slug, '--user', 'parked@example.com', '--reason', 'unknown event type', '--json');
    expect(skipped).toEqual({ outcome: 'skipped', seq: bad });
    await eventually(async () => (await appliedSeq(userId)) === bad + 1);
    expect((await handle.query(identityStatusQuery)).parked).toBeNull();

    const trail = await stack.owner.any(sql.type(z.object({ action: z.string(), actor_type: z.string(), data: z.record(z.unknown()) }))`
      SELECT action, actor_type, data FROM audit_events WHERE target_id = ${userId} AND action LIKE 'stream.%' ORDER BY id`);
    expect(trail.map((t) => t.action)).toEqual(['stream.parked', 'stream.parked', 'stream.event_skipped']);
    expect(trail[2]).toMatchObject({ actor_type: 'operator', data: { seq: bad, reason: 'unknown event type' } });
    const open = await stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int AS n FROM tenant_alerts WHERE tenant_id = ${tenant.id} AND kind = 'stream_parked' AND resolved_at IS NULL`);
    expect(open).toBe(0);
    // A replay fixture with the park, retry and skip path (test/workflows/replay.test.ts).
    await maybeRecordHistory(stack.client!, handle.workflowId, 'identity-parked');
  });

  it('refuses a decision when nothing is parked (the validator), and the CLI says so', async () => {
    const userId = await createActiveUser('healthy@example.com');
    const handle = stack.client!.workflow.getHandle(identityWorkflowId(tenant.id, userId));
    await expect(handle.executeUpdate(resolveStreamUpdate, { args: [{ action: 'skip', by: 'test' }] })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    await expect(roster('stream', 'skip', '--tenant', tenant.slug, '--user', 'healthy@example.com', '--json')).rejects.toThrow(/not parked/);
    expect(await appliedSeq(userId)).toBe(1);
  });
});
