import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMaintenanceActivities } from '../../activities/maintenance.js';
import { loadConfig, retentionDays } from '../../core/config.js';
import { createMetrics, registerDatabaseGauges } from '../../core/metrics.js';
import { maintenanceScheduleId } from '../../workflows/ids.js';
import { ensureMaintenanceSchedule } from '../../worker/maintenance-schedule.js';
import { maybeRecordHistory } from '../helpers/histories.js';
import { consoleClient, portalClient } from '../helpers/portal.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/**
 * Bounded growth: the maintenance schedule prunes rows past their retention, keeps those within it,
 * leaves the audit log alone and reports its size (console, metrics).
 */
let stack: TestStack;
let a: TestTenant;
let b: TestTenant;
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const N = z.object({ n: z.number() });
const count = (query: ReturnType<typeof sql.unsafe>) => stack.owner.oneFirst(sql.type(N)`SELECT count(*)::int AS n FROM (${query}) q`);
const daysAgo = (days: number) => sql.fragment`now() - make_interval(days => ${days})`;

beforeAll(async () => {
  stack = await startStack({ worker: true });
  a = await stack.createTenant();
  b = await stack.createTenant();
});
afterAll(async () => {
  await stack?.client?.schedule.getHandle(maintenanceScheduleId(stack.taskQueue)).delete().catch(() => {});
  await stack?.close();
});

/** A user whose joiner and one update were applied (two outbox rows, two stored steps). */
async function appliedUser(t: TestTenant): Promise<string> {
  const created = await stack.scim(t, 'POST', '/Users', { userName: `u-${randomBytes(4).toString('hex')}@example.com` });
  expect(created.status).toBe(201);
  const id: string = created.body.id;
  await stack.scim(t, 'PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'displayName', value: 'Renamed' }] });
  await eventually(async () => (await stack.owner.oneFirst(sql.type(N)`SELECT applied_seq::int AS n FROM users WHERE id = ${id}`)) >= 2);
  await eventually(async () => (await count(sql.unsafe`SELECT 1 FROM outbox WHERE stream_id = ${id} AND delivered_at IS NOT NULL`)) === 2);
  return id;
}

/** A delivery record of an event for a new endpoint, last touched `days` ago. */
async function oldDelivery(t: TestTenant, days: number): Promise<string> {
  const endpointId = randomUUID();
  const eventId = randomUUID();
  await stack.owner.query(sql.unsafe`
    INSERT INTO webhook_endpoints (id, tenant_id, url, secret_ciphertext, secret_prefix) VALUES (${endpointId}, ${t.id}, 'https://example.com/h', '\\x00', 'whsec_x')`);
  await stack.owner.query(sql.unsafe`INSERT INTO events (id, tenant_id, type, subject_type, subject_id) VALUES (${eventId}, ${t.id}, 'user.updated', 'user', ${randomUUID()})`);
  await stack.owner.query(sql.unsafe`
    INSERT INTO webhook_deliveries (tenant_id, event_id, endpoint_id, attempts, last_status, last_attempt_at, delivered_at, created_at)
    VALUES (${t.id}, ${eventId}, ${endpointId}, 1, 200, ${daysAgo(days)}, ${daysAgo(days)}, ${daysAgo(days)})`);
  return eventId;
}

describe('maintenance schedule', () => {
  it('prunes rows past retention in batches, keeps those within it and other tenants’ rows; the audit log stays and is measured', async () => {
    const retention = retentionDays(loadConfig({}));
    // Outbox and stored steps: A's user moved on long ago; B's user is recent.
    const oldUser = await appliedUser(a);
    const recentUser = await appliedUser(b);
    await stack.owner.query(sql.unsafe`UPDATE outbox SET created_at = ${daysAgo(retention.outbox + 1)} WHERE stream_id = ${oldUser}`);
    await stack.owner.query(sql.unsafe`UPDATE activity_steps SET created_at = ${daysAgo(retention.activity_steps + 1)} WHERE step_key LIKE ${`identity/${a.id}/${oldUser}:%`}`);
    // A stuck stream keeps its unapplied delivered row however old (seq 2); its applied one (seq 1) may go.
    const stuckUser = await appliedUser(a);
    await stack.owner.query(sql.unsafe`UPDATE users SET applied_seq = 1 WHERE id = ${stuckUser}`);
    await stack.owner.query(sql.unsafe`UPDATE outbox SET created_at = ${daysAgo(retention.outbox + 1)} WHERE stream_id = ${stuckUser}`);

    // Sessions and setup links: one expired long ago, one live, per tenant.
    const admin = await portalClient(stack, a, { roles: ['admin'] });
    const other = await portalClient(stack, b, { roles: ['admin'] });
    const operator = await consoleClient(stack);
    for (const [t, user] of [[a, admin.userId], [b, other.userId]] as const) {
      await stack.owner.query(sql.unsafe`
        INSERT INTO portal_sessions (tenant_id, user_id, token_hash, created_at, expires_at)
        VALUES (${t.id}, ${user}, ${sql.binary(randomBytes(32))}, ${daysAgo(30)}, ${daysAgo(retention.portal_sessions + 1)}),
               (${t.id}, ${user}, ${sql.binary(randomBytes(32))}, ${daysAgo(1)}, ${daysAgo(1)})`);
      await stack.owner.query(sql.unsafe`
        INSERT INTO portal_setup_links (tenant_id, user_id, token_hash, purpose, created_by_type, expires_at, used_at)
        VALUES (${t.id}, ${user}, ${sql.binary(randomBytes(32))}, 'invite', 'operator', ${daysAgo(20)}, ${daysAgo(retention.portal_setup_links + 2)})`);
    }
    await stack.owner.query(sql.unsafe`
      INSERT INTO operator_sessions (operator_id, token_hash, created_at, expires_at, revoked_at)
      VALUES (${operator.operatorId}, ${sql.binary(randomBytes(32))}, ${daysAgo(40)}, ${daysAgo(30)}, ${daysAgo(retention.operator_sessions + 3)})`);
    // Webhook delivery records: A uses the default, B keeps them for 90 days.
    await stack.owner.query(sql.unsafe`UPDATE tenants SET delivery_log_retention_days = 90 WHERE id = ${b.id}`);
    const aOld = await oldDelivery(a, retention.webhook_deliveries + 5);
    const aRecent = await oldDelivery(a, 1);
    const bOld = await oldDelivery(b, retention.webhook_deliveries + 5);
    // SCIM activity: an old minute bucket and error, and current ones.
    for (const at of [daysAgo(retention.scim_activity + 1), sql.fragment`now() - interval '1 hour'`]) {
      await stack.owner.query(sql.unsafe`
        INSERT INTO scim_activity_buckets (tenant_id, connection_id, bucket, requests, errors) VALUES (${a.id}, ${a.connectionId}, date_trunc('minute', ${at}), 3, 1)`);
      await stack.owner.query(sql.unsafe`
        INSERT INTO scim_request_errors (tenant_id, connection_id, occurred_at, method, path, status) VALUES (${a.id}, ${a.connectionId}, ${at}, 'POST', '/Users', 409)`);
    }
    // An API process's flush leaves old buckets to the schedule (it used to cut them at 7 days, whatever the retention).
    await stack.owner.query(sql.unsafe`SELECT scim_activity_flush('[]'::jsonb, '[]'::jsonb)`);
    expect(await count(sql.unsafe`SELECT 1 FROM scim_activity_buckets WHERE tenant_id = ${a.id} AND bucket < now() - interval '1 day'`)).toBe(1);
    const auditBefore = await count(sql.unsafe`SELECT 1 FROM audit_events WHERE tenant_id = ${a.id}`);

    // Every worker replica ensures the schedule: the first creates it, the others find it.
    expect(await ensureMaintenanceSchedule(stack.client!, { taskQueue: stack.taskQueue, interval: '1h' })).toBe('created');
    expect(await Promise.all([1, 2].map(() => ensureMaintenanceSchedule(stack.client!, { taskQueue: stack.taskQueue, interval: '1h' })))).toEqual(['exists', 'exists']);
    const handle = stack.client!.schedule.getHandle(maintenanceScheduleId(stack.taskQueue));
    await handle.trigger();
    const run = await eventually(async () => (await handle.describe()).info.recentActions.at(-1), 30_000, 200);
    const result = await stack.client!.workflow.getHandle(run.action.workflow.workflowId, run.action.workflow.firstExecutionRunId).result();
    expect(result, JSON.stringify(result)).toMatchObject({ outbox: 3, portal_sessions: 2, portal_setup_links: 2, operator_sessions: 1, webhook_deliveries: 1, scim_activity: 2 });
    expect(result.activity_steps).toBeGreaterThanOrEqual(1);
    await maybeRecordHistory(stack.client!, run.action.workflow.workflowId, 'maintenance');

    // Past retention: gone. Within it, or another tenant's longer retention, or a stuck stream: kept.
    expect(await count(sql.unsafe`SELECT 1 FROM outbox WHERE stream_id = ${oldUser}`)).toBe(0);
    expect(await count(sql.unsafe`SELECT 1 FROM outbox WHERE stream_id = ${recentUser}`)).toBe(2);
    expect(await stack.owner.anyFirst(sql.type(N)`SELECT seq::int AS n FROM outbox WHERE stream_id = ${stuckUser}`)).toEqual([2]);
    // The step of the last applied event stays (a retry of it must still find its result).
    const oldSteps = await stack.owner.anyFirst(sql.type(z.object({ k: z.string() }))`SELECT step_key AS k FROM activity_steps WHERE step_key LIKE ${`identity/${a.id}/${oldUser}:%`}`);
    expect(oldSteps.length).toBeGreaterThan(0);
    expect(oldSteps.every((k) => k.startsWith(`identity/${a.id}/${oldUser}:2:`))).toBe(true);
    expect(await count(sql.unsafe`SELECT 1 FROM activity_steps WHERE step_key LIKE ${`identity/${b.id}/${recentUser}:%`}`)).toBeGreaterThanOrEqual(2);
    for (const t of [a, b]) {
      expect(await count(sql.unsafe`SELECT 1 FROM portal_sessions WHERE tenant_id = ${t.id} AND expires_at < now() - interval '2 days'`)).toBe(0);
      expect(await count(sql.unsafe`SELECT 1 FROM portal_sessions WHERE tenant_id = ${t.id}`)).toBe(2); // the live one and yesterday's
      expect(await count(sql.unsafe`SELECT 1 FROM portal_setup_links WHERE tenant_id = ${t.id} AND used_at < now() - interval '2 days'`)).toBe(0);
    }
    expect((await admin.request('GET', '/account/sessions')).status).toBe(200); // the live session still works
    expect((await operator.request('GET', '/tenants')).status).toBe(200);
    expect(await count(sql.unsafe`SELECT 1 FROM webhook_deliveries WHERE event_id = ${aOld}`)).toBe(0);
    expect(await count(sql.unsafe`SELECT 1 FROM webhook_deliveries WHERE event_id = ANY(${sql.array([aRecent, bOld], 'uuid')})`)).toBe(2);
    expect(await count(sql.unsafe`SELECT 1 FROM scim_activity_buckets WHERE tenant_id = ${a.id}`)).toBeGreaterThanOrEqual(1);
    expect(await count(sql.unsafe`SELECT 1 FROM scim_activity_buckets WHERE tenant_id = ${a.id} AND bucket < now() - interval '2 days'`)).toBe(0);
    expect(await count(sql.unsafe`SELECT 1 FROM scim_request_errors WHERE tenant_id = ${a.id} AND occurred_at < now() - interval '2 days'`)).toBe(0);
    expect(await count(sql.unsafe`SELECT 1 FROM audit_events WHERE tenant_id = ${a.id}`)).toBeGreaterThanOrEqual(auditBefore);
  });

  it('reports each tenant’s audit log size in the console and as metrics, counting each sealed row once', async () => {
    await eventually(async () => (await count(sql.unsafe`SELECT 1 FROM audit_events WHERE tenant_id = ${a.id} AND seq IS NULL`)) === 0);
    const activities = createMaintenanceActivities({ db: stack.app, retention: retentionDays(loadConfig({})), batchSize: 1000 });
    await activities.refreshAuditSizes();
    await activities.refreshAuditSizes(); // a second pass adds nothing
    const sealed = await count(sql.unsafe`SELECT 1 FROM audit_events WHERE tenant_id = ${a.id} AND seq IS NOT NULL`);
    const bytes = await stack.owner.oneFirst(sql.type(N)`SELECT sum(pg_column_size(a.*))::int AS n FROM audit_events a WHERE tenant_id = ${a.id} AND seq IS NOT NULL`);
    expect(sealed).toBeGreaterThan(0);

    const operator = await consoleClient(stack);
    const detail = await operator.request('GET', `/tenants/${a.id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.auditLog).toEqual({ rows: sealed, bytes, measuredAt: expect.any(String) });

    const metrics = createMetrics({ process: 'worker' });
    registerDatabaseGauges(metrics, stack.app);
    const text = await metrics.registry.metrics();
    expect(text).toContain(`roster_audit_rows{tenant="${a.id}",process="worker"} ${sealed}`);
    expect(text).toContain(`roster_audit_bytes{tenant="${a.id}",process="worker"} ${bytes}`);
  });

  it('deletes in batches of the configured size and counts what it pruned', async () => {
    const t = await stack.createTenant();
    for (let i = 0; i < 5; i++) await oldDelivery(t, 400);
    const metrics = createMetrics({ process: 'worker' });
    const activities = createMaintenanceActivities({ db: stack.app, retention: retentionDays(loadConfig({})), batchSize: 2, metrics });
    const batches: { deleted: number; more: boolean }[] = [];
    for (let r = await activities.pruneBatch({ kind: 'webhook_deliveries' }); ; r = await activities.pruneBatch({ kind: 'webhook_deliveries' })) {
      batches.push(r);
      if (!r.more) break;
    }
    // Other tests' old rows may go in the same batches: each batch is at most 2, the last one short.
    const total = batches.reduce((sum, x) => sum + x.deleted, 0);
    expect(batches.length).toBeGreaterThanOrEqual(3);
    expect(batches.every((x) => x.deleted <= 2)).toBe(true);
    expect(batches.at(-1)!.deleted).toBeLessThan(2);
    expect(total).toBeGreaterThanOrEqual(5);
    expect(await count(sql.unsafe`SELECT 1 FROM webhook_deliveries WHERE tenant_id = ${t.id}`)).toBe(0);
    expect(await metrics.registry.getSingleMetricAsString('roster_pruned_rows_total')).toContain(`roster_pruned_rows_total{kind="webhook_deliveries",process="worker"} ${total}`);
  });
});
