import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { setApprovalPolicy } from '../helpers/approvals.js';
import { portalClient, type PortalTestClient } from '../helpers/portal.js';
import { eventually, startStack, type TestStack } from '../helpers/stack.js';
import { kill9, spawnWorkerProcess } from '../helpers/worker-process.js';

/**
 * A change request survives its worker: the approval workflow runs in a real worker process
 * (worker/main.ts) that is killed with SIGKILL while a request waits for its second approval, and
 * while the approved change is being applied; the request carries on in a new worker process and
 * the change is applied exactly once.
 */

const taskQueue = `approval-crash-${randomBytes(4).toString('hex')}`;
let stack: TestStack;
let worker: ChildProcess | undefined;

const startWorker = () =>
  spawnWorkerProcess({
    databaseUrl: stack.databaseUrl,
    temporalAddress: inject('temporalAddress'),
    taskQueue,
    env: { DATA_DIR: stack.config.DATA_DIR, RELAY_POLL_MS: '50', APPROVAL_HOUR_MS: '1000' },
  });

beforeAll(async () => {
  stack = await startStack({ worker: true, env: { TEMPORAL_TASK_QUEUE: taskQueue, APPROVAL_HOUR_MS: '1000' } });
  worker = startWorker();
});
afterAll(async () => {
  await kill9(worker);
  await stack?.close();
});

const Count = z.object({ n: z.number() });

async function team() {
  const tenant = await stack.createTenant();
  const admin = await portalClient(stack, tenant, { roles: ['admin'] });
  const a = await portalClient(stack, tenant, { roles: ['approver'] });
  const b = await portalClient(stack, tenant, { roles: ['approver'] });
  await setApprovalPolicy(stack, tenant.id, { 'scim_connection.rotate': { approvals: 2 } });
  return { tenant, admin, a, b };
}

async function decide(client: PortalTestClient, request: { id: string; changeHash: string }) {
  return client.request('POST', `/approvals/${request.id}/decide`, { verdict: 'approve', changeHash: request.changeHash });
}

async function applied(client: PortalTestClient, id: string, timeoutMs: number) {
  return eventually(async () => {
    const r = (await client.request('GET', `/approvals/${id}`)).body;
    return r.state === 'applied' ? r : null;
  }, timeoutMs, 200);
}

async function tokensOf(tenantId: string, connectionId: string): Promise<number> {
  return withTenant(stack.owner, tenantId, (tx) => tx.oneFirst(sql.type(Count)`SELECT count(*)::int AS n FROM scim_tokens WHERE tenant_id = ${tenantId} AND connection_id = ${connectionId}`));
}

async function appliedAudits(tenantId: string, requestId: string): Promise<number> {
  return withTenant(stack.owner, tenantId, (tx) =>
    tx.oneFirst(sql.type(Count)`SELECT count(*)::int AS n FROM audit_events WHERE tenant_id = ${tenantId} AND target_id = ${requestId} AND action = 'approval.applied'`),
  );
}

describe('approval workflow across worker crashes', () => {
  it('a worker killed while the request waits: the next worker takes the second approval and applies it', { timeout: 90_000 }, async () => {
    const { tenant, admin, a, b } = await team();
    const submitted = await admin.request('POST', '/approvals', { kind: 'scim_connection.rotate', payload: { connectionId: tenant.connectionId, overlapSeconds: 60 } });
    expect(submitted.status).toBe(202);
    const request = submitted.body.request;
    expect((await decide(a, request)).body.outcome).toBe('recorded');

    await kill9(worker);
    worker = startWorker();
    const second = await decide(b, request);
    expect(second.body.outcome).toBe('approved');
    await applied(admin, request.id, 30_000);
    expect(await tokensOf(tenant.id, tenant.connectionId)).toBe(2);
    expect(await appliedAudits(tenant.id, request.id)).toBe(1);
  });

  it('a worker killed while applying: the apply step runs again on the next worker and the change lands once', { timeout: 120_000 }, async () => {
    const { tenant, admin, a, b } = await team();
    const submitted = await admin.request('POST', '/approvals', { kind: 'scim_connection.rotate', payload: { connectionId: tenant.connectionId, overlapSeconds: 60 } });
    const request = submitted.body.request;
    expect((await decide(a, request)).body.outcome).toBe('recorded');

    // Hold the connection's tokens: the apply step (which expires them) blocks inside its transaction.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const holding = stack.owner.transaction(async (tx) => {
      await tx.query(sql.unsafe`SELECT set_config('app.tenant_id', ${tenant.id}, true)`);
      await tx.query(sql.unsafe`SELECT id FROM scim_tokens WHERE tenant_id = ${tenant.id} FOR UPDATE`);
      await released;
    });
    expect((await decide(b, request)).body.outcome).toBe('approved');
    await eventually(async () => {
      const waiting = await stack.owner.oneFirst(
        sql.type(Count)`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%UPDATE scim_tokens SET expires_at%'`,
      );
      return waiting > 0;
    }, 20_000);

    await kill9(worker);
    release();
    await holding;
    worker = startWorker();
    // The killed attempt's transaction died with its connection; Temporal retries the step after its timeout.
    await applied(admin, request.id, 90_000);
    expect(await tokensOf(tenant.id, tenant.connectionId)).toBe(2);
    expect(await appliedAudits(tenant.id, request.id)).toBe(1);
  });
});
