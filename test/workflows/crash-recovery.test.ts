import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DevServer, startDevServer } from '../../scripts/lib/temporal-dev-server.js';
import { type AppClient, appClient } from '../helpers/app-api.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { APP_API_CHANGE_KINDS, applyAtOnce } from '../helpers/approvals.js';
import { kill9, spawnWorkerProcess } from '../helpers/worker-process.js';

const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const n = z.object({ n: z.number() });

/** The vendor's webhook receiver: records every delivery (duplicates included) in arrival order. */
let receiver: Server;
const received: { id: string; type: string; subject: string }[] = [];

let dir: string;
let temporal: DevServer;
let stack: TestStack;
let tenant: TestTenant;
let app: AppClient;
let worker: ChildProcess | undefined;
const taskQueue = `crash-${randomBytes(4).toString('hex')}`;

const startWorker = () =>
  spawnWorkerProcess({ databaseUrl: stack.databaseUrl, temporalAddress: temporal.address, taskQueue, env: { RELAY_POLL_MS: '20' } });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'roster-crash-'));
  temporal = await startDevServer({ cli: inject('temporalCli'), dbFile: join(dir, 'temporal.sqlite') });
  stack = await startStack();
  tenant = await stack.createTenant();
  await applyAtOnce(stack, tenant.id, APP_API_CHANGE_KINDS);
  await stack.owner.query(sql.unsafe`UPDATE tenants SET guard_max_share = 1, default_role = 'member' WHERE id = ${tenant.id}`);
  app = await appClient(stack, tenant);
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { id: string; type: string; subject: { id: string } };
      received.push({ id: body.id, type: body.type, subject: body.subject.id });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hook = await app.call('POST', '/api/v1/webhooks', { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks` });
  expect(hook.status, JSON.stringify(hook.body)).toBe(201);
  worker = startWorker();
});

afterAll(async () => {
  await kill9(worker);
  await stack?.close();
  await temporal?.stop();
  receiver?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function provisionWithCredentials(count: number) {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await stack.scim(tenant, 'POST', '/Users', { userName: `crash-${randomBytes(3).toString('hex')}@example.com` });
    expect(res.status).toBe(201);
    ids.push(res.body.id);
  }
  await eventually(async () => {
    const active = await stack.owner.oneFirst(sql.type(n)`
      SELECT count(*)::int AS n FROM users WHERE id = ANY(${sql.array(ids, 'uuid')}) AND lifecycle_state = 'active'`);
    return active === count;
  }, 120_000, 250);
  for (const id of ids) {
    await app.call('POST', `/api/v1/users/${id}/sessions`, {});
    await app.call('POST', `/api/v1/users/${id}/tokens`, { name: 'pat', scopes: ['read'] });
    await app.call('POST', `/api/v1/users/${id}/oauth-grants`, { clientId: 'github', scopes: ['repo'] });
  }
  return ids;
}

async function deactivate(ids: string[]) {
  for (const id of ids) {
    const res = await stack.scim(tenant, 'PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] });
    expect(res.status).toBe(200);
  }
}

/** Every leaver finished exactly once in effect: nothing live, one report, one event, one audit row per revocation. */
async function expectLeaversDone(ids: string[]) {
  const list = sql.array(ids, 'uuid');
  await eventually(async () => {
    const reports = await stack.owner.oneFirst(sql.type(n)`SELECT count(DISTINCT user_id)::int AS n FROM exposure_reports WHERE user_id = ANY(${list})`);
    const suspendedEvents = await stack.owner.oneFirst(sql.type(n)`SELECT count(*)::int AS n FROM events WHERE subject_id = ANY(${list}) AND type = 'user.suspended'`);
    return reports === ids.length && suspendedEvents === ids.length;
  }, 120_000, 250);
  expect(await stack.owner.oneFirst(sql.type(n)`SELECT count(*)::int AS n FROM credentials WHERE user_id = ANY(${list}) AND revoked_at IS NULL`)).toBe(0);
  expect(await stack.owner.oneFirst(sql.type(n)`SELECT count(*)::int AS n FROM oauth_grants WHERE user_id = ANY(${list}) AND revoked_at IS NULL`)).toBe(0);
  const reports = await stack.owner.any(sql.type(z.object({ user_id: z.string(), live_credentials: z.number(), c: z.number() }))`
    SELECT user_id::text, max(live_credentials)::int AS live_credentials, count(*)::int AS c FROM exposure_reports WHERE user_id = ANY(${list}) GROUP BY user_id`);
  for (const r of reports) expect(r).toMatchObject({ live_credentials: 0, c: 1 });
  // One audit row per credential revoked: a replayed or retried step revoked nothing twice.
  const audits = await stack.owner.any(sql.type(z.object({ target_id: z.string().nullable(), c: z.number() }))`
    SELECT target_id, count(*)::int AS c FROM audit_events
     WHERE tenant_id = ${tenant.id} AND action IN ('credential.revoked', 'oauth_grant.revoked') GROUP BY target_id`);
  expect(audits.length).toBeGreaterThanOrEqual(ids.length * 3);
  for (const a of audits) expect(a.c, a.target_id ?? '').toBe(1);
  const events = await stack.owner.any(sql.type(z.object({ subject_id: z.string(), type: z.string(), c: z.number() }))`
    SELECT subject_id::text, type, count(*)::int AS c FROM events WHERE subject_id = ANY(${list}) GROUP BY subject_id, type`);
  for (const e of events) if (e.type !== 'role.granted') expect(e.c, `${e.type} ${e.subject_id}`).toBe(1);
}

/** Each subject's webhooks arrived in emission order; duplicates (at-least-once) share the event id. */
async function expectWebhooksInOrder(ids: string[]) {
  for (const id of ids) {
    const emitted = await stack.owner.anyFirst(sql.type(z.object({ id: z.string() }))`
      SELECT id::text FROM events WHERE subject_id = ${id} ORDER BY created_at, id`);
    await eventually(async () => new Set(received.filter((r) => r.subject === id).map((r) => r.id)).size === emitted.length, 120_000, 250);
    const firstSeen = [...new Set(received.filter((r) => r.subject === id).map((r) => r.id))];
    expect(firstSeen).toEqual(emitted);
  }
}

describe('crash recovery (kill -9)', () => {
  it('the worker killed mid-leaver: every sequence finishes, every side effect once in effect, no event lost or reordered', async () => {
    const ids = await provisionWithCredentials(4);
    await deactivate(ids);
    await new Promise((r) => setTimeout(r, 150));
    await kill9(worker);
    worker = startWorker();
    await new Promise((r) => setTimeout(r, 2500));
    await kill9(worker); // and once more, whatever it was doing
    worker = startWorker();
    await expectLeaversDone(ids);
    await expectWebhooksInOrder(ids);
  });

  it('the Temporal server killed mid-leaver (persisted): sequences resume after restart', async () => {
    const ids = await provisionWithCredentials(3);
    await deactivate(ids);
    await new Promise((r) => setTimeout(r, 100));
    await temporal.stop('SIGKILL');
    temporal = await startDevServer({ cli: inject('temporalCli'), dbFile: join(dir, 'temporal.sqlite'), port: temporal.port });
    await expectLeaversDone(ids);
    await expectWebhooksInOrder(ids);
  });

  it('the worker killed mid-joiner, mid-mover and mid-delete: each sequence completes once in effect', async () => {
    await stack.owner.query(sql.unsafe`UPDATE tenants SET deletion_grace_seconds = 2 WHERE id = ${tenant.id}`);
    const group = await stack.scim(tenant, 'POST', '/Groups', { displayName: `crash-admins-${randomBytes(3).toString('hex')}` });
    expect((await app.call('PUT', `/api/v1/role-mappings/${group.body.id}`, { roles: ['admin'] })).status).toBe(200);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await stack.scim(tenant, 'POST', '/Users', { userName: `jm-${randomBytes(3).toString('hex')}@example.com` })).body.id);
    await kill9(worker); // joiners in flight
    worker = startWorker();
    const list = sql.array(ids, 'uuid');
    await eventually(async () => (await stack.owner.oneFirst(sql.type(n)`
      SELECT count(*)::int AS n FROM events WHERE subject_id = ANY(${list}) AND type = 'user.provisioned'`)) === 3, 120_000, 250);

    await stack.scim(tenant, 'PATCH', `/Groups/${group.body.id}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: ids.map((value) => ({ value })) }] });
    await kill9(worker); // movers in flight
    worker = startWorker();
    await eventually(async () => (await stack.owner.oneFirst(sql.type(n)`
      SELECT count(*)::int AS n FROM user_roles WHERE user_id = ANY(${list}) AND role = 'admin'`)) === 3, 120_000, 250);

    for (const id of ids) expect((await stack.scim(tenant, 'DELETE', `/Users/${id}`)).status).toBe(204);
    await kill9(worker); // leavers and grace timers in flight
    worker = startWorker();
    await eventually(async () => (await stack.owner.oneFirst(sql.type(n)`
      SELECT count(*)::int AS n FROM users WHERE id = ANY(${list}) AND lifecycle_state = 'deleted'`)) === 3, 120_000, 250);
    await eventually(async () => (await stack.owner.oneFirst(sql.type(n)`
      SELECT count(*)::int AS n FROM events WHERE subject_id = ANY(${list}) AND type = 'user.deleted'`)) === 3, 60_000, 250);

    // Once in effect: one event per step and subject, one grant audit per role.
    const events = await stack.owner.any(sql.type(z.object({ subject_id: z.string(), type: z.string(), c: z.number() }))`
      SELECT subject_id::text, type, count(*)::int AS c FROM events WHERE subject_id = ANY(${list}) GROUP BY 1, 2`);
    const perSubject = (type: string) => events.filter((e) => e.type === type).map((e) => e.c);
    expect(perSubject('user.provisioned')).toEqual([1, 1, 1]);
    expect(perSubject('user.suspended')).toEqual([1, 1, 1]);
    expect(perSubject('user.deleted')).toEqual([1, 1, 1]);
    expect(perSubject('role.granted')).toEqual([2, 2, 2]); // member (default) + admin
    const grants = await stack.owner.any(sql.type(z.object({ target_id: z.string(), role: z.string(), c: z.number() }))`
      SELECT target_id, data->>'role' AS role, count(*)::int AS c FROM audit_events
       WHERE tenant_id = ${tenant.id} AND action = 'role.granted' AND target_id = ANY(${sql.array(ids, 'text')}) GROUP BY 1, 2`);
    expect(grants).toHaveLength(6);
    for (const g of grants) expect(g.c).toBe(1);
    await expectWebhooksInOrder(ids);
  });
});
