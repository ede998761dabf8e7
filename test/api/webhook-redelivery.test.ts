import { EVENT_TYPES } from '../../core/events/schema.js';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signalEventDelivery } from '../../activities/events.js';
import { withTenant } from '../../core/db/pool.js';
import { createAppKey } from '../../core/repositories/app-keys.js';
import { eventIdFor, type EventType, recordEvents, sealEventFeed } from '../../core/repositories/events.js';
import { EVENT_ID_HEADER, SIGNATURE_HEADER } from '../../core/webhook-signature.js';
import { eventDeliveryWorkflowId } from '../../workflows/ids.js';
import { APP_API_CHANGE_KINDS, applyAtOnce, PORTAL_DIRECT_KINDS } from '../helpers/approvals.js';
import { maybeRecordHistory } from '../helpers/histories.js';
import { portalClient } from '../helpers/portal.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/** The vendor app's receiver: records every POST (path, event id, signature) and answers 200. */
class Receiver {
  readonly requests: { path: string; eventId: string; signature: string }[] = [];
  private server!: Server;
  url = '';
  async start() {
    this.server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        this.requests.push({ path: req.url ?? '/', eventId: String(req.headers[EVENT_ID_HEADER.toLowerCase()]), signature: String(req.headers[SIGNATURE_HEADER.toLowerCase()]) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  ids(path: string) {
    return this.requests.filter((r) => r.path === path).map((r) => r.eventId);
  }
  async stop() {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

type Tenant = TestTenant & { appKey: string };
let stack: TestStack;
let receiver: Receiver;
let a: Tenant;
let b: Tenant;

async function tenantWithKey(): Promise<Tenant> {
  const t = await stack.createTenant();
  // Endpoints are added at once here: their approval has its own tests.
  await applyAtOnce(stack, t.id, [...new Set([...APP_API_CHANGE_KINDS, ...PORTAL_DIRECT_KINDS])]);
  const { appKey } = await withTenant(stack.owner, t.id, (tx) => createAppKey(tx, t.id));
  return { ...t, appKey };
}

async function api(key: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${stack.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** The identity events these tests emit: the endpoint's own change request events (approval.*, change.applied) stay out of its log. */
const IDENTITY_EVENTS = EVENT_TYPES.filter((t) => t.startsWith('user.') || t.startsWith('role.'));

async function addEndpoint(t: Tenant, url: string): Promise<string> {
  const res = await api(t.appKey, 'POST', '/webhooks', { url, eventTypes: IDENTITY_EVENTS });
  expect(res.status).toBe(201);
  return res.body.id;
}

/** Records a subject's events and hands them to its delivery workflow, as the emitting activity does. */
async function emit(t: Tenant, subjectId: string, types: EventType[]): Promise<string[]> {
  const events = types.map((type, i) => ({ id: eventIdFor(`identity/${t.id}/${subjectId}`, `${randomUUID()}:${i}`), type, subjectType: 'user' as const, subjectId, data: { i } }));
  await withTenant(stack.app, t.id, (tx) => recordEvents(tx, t.id, events));
  await signalEventDelivery(stack.client!, stack.taskQueue, { tenantId: t.id, subjectType: 'user', subjectId }, events.map((e) => e.id));
  return events.map((e) => e.id);
}

async function auditActions(t: Tenant, action: string) {
  return stack.owner.any(
    sql.type(z.object({ target_id: z.string(), actor_id: z.string(), data: z.record(z.unknown()) }))`
      SELECT target_id, actor_id, data FROM audit_events WHERE tenant_id = ${t.id} AND action = ${action} ORDER BY id`,
  );
}

async function positions(t: Tenant, ids: string[]): Promise<number[]> {
  await sealEventFeed(stack.app, t.id);
  const rows = await stack.owner.any(sql.type(z.object({ id: z.string(), position: z.number() }))`SELECT id, position FROM events WHERE id = ANY(${sql.array(ids, 'uuid')})`);
  return ids.map((id) => rows.find((r) => r.id === id)!.position);
}

beforeAll(async () => {
  stack = await startStack({ worker: true });
  receiver = new Receiver();
  await receiver.start();
  a = await tenantWithKey();
  b = await tenantWithKey();
});
afterAll(async () => {
  await stack?.close();
  await receiver?.stop();
});

describe('webhook delivery log and redelivery (app API)', () => {
  it('logs each delivery with status, HTTP code, latency and attempts, newest first, keyset paged', async () => {
    const path = `/log/${a.id}`;
    const endpointId = await addEndpoint(a, `${receiver.url}${path}`);
    const alice = randomUUID();
    const ids = await emit(a, alice, ['user.provisioned', 'role.granted', 'user.updated']);
    await eventually(async () => receiver.ids(path).length === 3, 30_000, 100);
    expect(receiver.ids(path)).toEqual(ids);

    const all = await eventually(async () => {
      const res = await api(a.appKey, 'GET', `/webhooks/${endpointId}/deliveries`);
      return res.body.data.length === 3 && res.body.data.every((d: any) => d.status === 'delivered') && res.body;
    });
    expect(all.nextCursor).toBeNull();
    expect(all.data.map((d: any) => d.eventId)).toEqual([...ids].reverse());
    expect(all.data[2]).toMatchObject({ eventType: 'user.provisioned', status: 'delivered', httpStatus: 200, attempts: 1, lastError: null, redeliveries: 0 });
    expect(all.data.every((d: any) => typeof d.latencyMs === 'number' && d.latencyMs >= 0)).toBe(true);

    const first = await api(a.appKey, 'GET', `/webhooks/${endpointId}/deliveries?limit=2`);
    expect(first.body.data.map((d: any) => d.eventId)).toEqual([ids[2], ids[1]]);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await api(a.appKey, 'GET', `/webhooks/${endpointId}/deliveries?limit=2&before=${first.body.nextCursor}`);
    expect(second.body).toMatchObject({ data: [{ eventId: ids[0] }], nextCursor: null });
    expect((await api(a.appKey, 'GET', `/webhooks/${endpointId}/deliveries?before=garbage`)).status).toBe(400);
    expect((await api(a.appKey, 'GET', `/webhooks/${endpointId}/deliveries?limit=1000`)).status).toBe(400);
  });

  it('redelivers one event with the same id and a fresh signature; the log and the audit show it', async () => {
    const path = `/one/${a.id}`;
    const endpointId = await addEndpoint(a, `${receiver.url}${path}`);
    const subjectId = randomUUID();
    const [eventId] = await emit(a, subjectId, ['user.provisioned']);
    await eventually(async () => receiver.ids(path).length === 1, 30_000, 100);
    const res = await api(a.appKey, 'POST', `/webhooks/${endpointId}/redeliver`, { eventId });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ endpointId, eventIds: [eventId], hasMore: false, nextFrom: null });
    await eventually(async () => receiver.ids(path).length === 2, 30_000, 100);
    expect(receiver.ids(path)).toEqual([eventId, eventId]);
    const log = await eventually(async () => {
      const page = await api(a.appKey, 'GET', `/webhooks/${endpointId}/deliveries`);
      return page.body.data[0]?.status === 'delivered' && page.body.data[0].attempts === 2 && page.body.data[0];
    });
    expect(log).toMatchObject({ eventId, redeliveries: 1, httpStatus: 200, redeliveryRequestedAt: expect.any(String) });
    await maybeRecordHistory(stack.client!, eventDeliveryWorkflowId(a.id, 'user', subjectId), 'event-delivery-redelivery');
    const audit = await auditActions(a, 'webhook.redelivery_requested');
    expect(audit.at(-1)).toMatchObject({ target_id: endpointId, data: { eventId, count: 1 } });
    expect(audit.at(-1)!.actor_id).toMatch(/^app-key:/);
  });

  it('redelivers a range by feed position and by time, in order per subject, only what the endpoint takes', async () => {
    const path = `/range/${a.id}`;
    const endpointId = await addEndpoint(a, `${receiver.url}${path}`);
    const alice = randomUUID();
    const bob = randomUUID();
    const aliceIds = await emit(a, alice, ['user.provisioned', 'role.granted', 'role.revoked']);
    const bobIds = await emit(a, bob, ['user.provisioned', 'user.suspended']);
    await eventually(async () => receiver.ids(path).length === 5, 30_000, 100);
    const pos = await positions(a, [...aliceIds, ...bobIds]);

    const byPosition = await api(a.appKey, 'POST', `/webhooks/${endpointId}/redeliver`, { from: pos[1], to: pos[4] });
    expect(byPosition.status).toBe(202);
    expect(byPosition.body.eventIds).toEqual([aliceIds[1], aliceIds[2], bobIds[0], bobIds[1]]);
    await eventually(async () => receiver.ids(path).length === 9, 30_000, 100);
    const again = receiver.ids(path).slice(5);
    expect(again.filter((id) => aliceIds.includes(id))).toEqual([aliceIds[1], aliceIds[2]]);
    expect(again.filter((id) => bobIds.includes(id))).toEqual([bobIds[0], bobIds[1]]);

    const times = await stack.owner.any(sql.type(z.object({ id: z.string(), at: z.string() }))`
      SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at FROM events WHERE id = ANY(${sql.array(aliceIds, 'uuid')})`);
    const at = (id: string) => times.find((t) => t.id === id)!.at;
    const byTime = await api(a.appKey, 'POST', `/webhooks/${endpointId}/redeliver`, { from: at(aliceIds[0]!), to: at(aliceIds[1]!) });
    expect(byTime.status).toBe(202);
    expect(byTime.body.eventIds).toEqual([aliceIds[0], aliceIds[1]]);
    await eventually(async () => receiver.ids(path).length === 11, 30_000, 100);

    // An endpoint created later does not take the earlier events.
    const late = await addEndpoint(a, `${receiver.url}/late/${a.id}`);
    expect((await api(a.appKey, 'POST', `/webhooks/${late}/redeliver`, { from: pos[0], to: pos[4] })).body.eventIds).toEqual([]);
    expect((await api(a.appKey, 'POST', `/webhooks/${late}/redeliver`, { eventId: aliceIds[0] })).status).toBe(400);
  });

  it('bounds a range at 500 events and says where to continue', async () => {
    const t = await tenantWithKey();
    // Nothing listens on port 9: the redelivered events wait in one lane; only the answer matters here.
    const endpointId = await addEndpoint(t, 'http://127.0.0.1:9/hook');
    const subjectId = randomUUID();
    const events = Array.from({ length: 502 }, (_, i) => ({ id: randomUUID(), type: 'user.updated' as const, subjectType: 'user' as const, subjectId, data: { i } }));
    await withTenant(stack.app, t.id, (tx) => recordEvents(tx, t.id, events));
    const res = await api(t.appKey, 'POST', `/webhooks/${endpointId}/redeliver`, { from: 1, to: 10_000 });
    expect(res.status).toBe(202);
    expect(res.body.eventIds).toEqual(events.slice(0, 500).map((e) => e.id));
    expect(res.body.hasMore).toBe(true);
    const rest = await api(t.appKey, 'POST', `/webhooks/${endpointId}/redeliver`, { from: res.body.nextFrom, to: 10_000 });
    expect(rest.body).toMatchObject({ eventIds: events.slice(500).map((e) => e.id), hasMore: false, nextFrom: null });
  });

  it('refuses bad input and other tenants with a clear error, changing nothing', async () => {
    const endpointId = await addEndpoint(a, `${receiver.url}/bad/${a.id}`);
    const [eventId] = await emit(a, randomUUID(), ['user.provisioned']);
    const before = (await auditActions(a, 'webhook.redelivery_requested')).length;
    for (const body of [{}, { from: 3, to: 1 }, { from: 1, to: '2026-01-01T00:00:00Z' }, { eventId: 'nope' }, { eventId, from: 1, to: 2 }, { from: 0, to: 2 }]) {
      const res = await api(a.appKey, 'POST', `/webhooks/${endpointId}/redeliver`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error_description).toEqual(expect.any(String));
    }
    expect((await api(a.appKey, 'POST', `/webhooks/${endpointId}/redeliver`, { eventId: randomUUID() })).status).toBe(404);
    expect((await api(a.appKey, 'POST', `/webhooks/${randomUUID()}/redeliver`, { eventId })).status).toBe(404);
    // Tenant B sees neither A's endpoint nor A's events.
    expect((await api(b.appKey, 'POST', `/webhooks/${endpointId}/redeliver`, { eventId })).status).toBe(404);
    expect((await api(b.appKey, 'GET', `/webhooks/${endpointId}/deliveries`)).status).toBe(404);
    const bEndpoint = await addEndpoint(b, `${receiver.url}/b/${b.id}`);
    expect((await api(b.appKey, 'POST', `/webhooks/${bEndpoint}/redeliver`, { eventId })).status).toBe(404);
    expect((await api(b.appKey, 'POST', `/webhooks/${bEndpoint}/redeliver`, { from: 1, to: 10_000 })).body.eventIds).toEqual([]);
    expect((await fetch(`${stack.url}/api/v1/webhooks/${endpointId}/deliveries`)).status).toBe(401);
    expect((await auditActions(a, 'webhook.redelivery_requested')).length).toBe(before);
    const redelivered = await stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM webhook_deliveries WHERE tenant_id = ${a.id} AND redeliveries > 0 AND endpoint_id = ${endpointId}`);
    expect(redelivered).toBe(0);
  });
});

describe('webhook delivery log and redelivery (portal API)', () => {
  it('admins redeliver and read the log, auditors read it, others and other tenants are refused; audited with the user', async () => {
    const admin = await portalClient(stack, a, { roles: ['admin'] });
    const auditor = await portalClient(stack, a, { roles: ['auditor'] });
    const reviewer = await portalClient(stack, a, { roles: ['reviewer'] });
    const otherAdmin = await portalClient(stack, b, { roles: ['admin'] });
    const path = `/portal/${a.id}`;
    const created = await admin.request('POST', '/settings/webhooks', { url: `${receiver.url}${path}`, eventTypes: IDENTITY_EVENTS });
    expect(created.status).toBe(201);
    const endpointId: string = created.body.id;
    const [eventId] = await emit(a, randomUUID(), ['user.provisioned']);
    await eventually(async () => receiver.ids(path).length === 1, 30_000, 100);

    expect((await reviewer.request('GET', `/settings/webhooks/${endpointId}/deliveries`)).status).toBe(403);
    expect((await auditor.request('POST', `/settings/webhooks/${endpointId}/redeliver`, { eventId })).status).toBe(403);
    expect((await otherAdmin.request('GET', `/settings/webhooks/${endpointId}/deliveries`)).status).toBe(404);
    expect((await otherAdmin.request('POST', `/settings/webhooks/${endpointId}/redeliver`, { eventId })).status).toBe(404);
    expect((await admin.request('POST', `/settings/webhooks/${endpointId}/redeliver`, { from: 2, to: 1 })).status).toBe(400);

    const res = await admin.request('POST', `/settings/webhooks/${endpointId}/redeliver`, { eventId });
    expect(res.status).toBe(202);
    expect(res.body.eventIds).toEqual([eventId]);
    await eventually(async () => receiver.ids(path).length === 2, 30_000, 100);
    const log = await eventually(async () => {
      const page = await auditor.request('GET', `/settings/webhooks/${endpointId}/deliveries?limit=10`);
      return page.body.data[0]?.attempts === 2 && page.body;
    });
    expect(log.data).toEqual([expect.objectContaining({ eventId, status: 'delivered', httpStatus: 200, redeliveries: 1 })]);
    const audit = await auditActions(a, 'webhook.redelivery_requested');
    expect(audit.at(-1)).toMatchObject({ target_id: endpointId, actor_id: admin.userId, data: { eventId, count: 1 } });
  });
});

describe('delivery log retention (portal settings)', () => {
  it('an admin sets the tenant’s own retention (audited), auditors read it, bad values change nothing, other tenants keep the default', async () => {
    const admin = await portalClient(stack, a, { roles: ['admin'] });
    const auditor = await portalClient(stack, a, { roles: ['auditor'] });
    const otherAdmin = await portalClient(stack, b, { roles: ['admin'] });
    expect((await auditor.request('GET', '/settings/webhook-delivery-log')).body).toEqual({ days: null, defaultDays: 30 });
    expect((await auditor.request('PUT', '/settings/webhook-delivery-log', { days: 90 })).status).toBe(403);
    for (const days of [0, 3651, 1.5, '90']) expect((await admin.request('PUT', '/settings/webhook-delivery-log', { days })).status).toBe(400);
    expect(await auditActions(a, 'webhook.delivery_log_retention_changed')).toEqual([]);
    const set = await admin.request('PUT', '/settings/webhook-delivery-log', { days: 90 });
    expect(set.body).toEqual({ days: 90, defaultDays: 30 });
    expect((await otherAdmin.request('GET', '/settings/webhook-delivery-log')).body.days).toBeNull();
    expect(await stack.owner.oneFirst(sql.type(z.object({ d: z.number().nullable() }))`SELECT delivery_log_retention_days AS d FROM tenants WHERE id = ${a.id}`)).toBe(90);
    expect((await admin.request('PUT', '/settings/webhook-delivery-log', { days: null })).body).toEqual({ days: null, defaultDays: 30 });
    const audit = await auditActions(a, 'webhook.delivery_log_retention_changed');
    expect(audit.map((x) => x.data)).toEqual([{ before: null, after: 90 }, { before: 90, after: null }]);
    expect(audit[0]!.actor_id).toBe(admin.userId);
  });
});
