import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, makeTelemetryFilterString, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createEventActivities, type EmitEventInput, type EventActivities } from '../../activities/events.js';
import { withTenant } from '../../core/db/pool.js';
import { createAppKey } from '../../core/repositories/app-keys.js';
import { webhookTargets } from '../../core/config.js';
import { loadSecretsKey } from '../../core/secret-box.js';
import { EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, verifySignature } from '../../core/webhook-signature.js';
import { eventDeliveryWorkflowId } from '../../workflows/ids.js';
import type { EventDeliveryInput } from '../../workflows/event-delivery.js';
import { deliverEventSignal, eventDeliveryStatusQuery } from '../../workflows/messages.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { APP_API_CHANGE_KINDS, applyAtOnce } from '../helpers/approvals.js';

/** One request as the receiver saw it. */
interface Received {
  path: string;
  eventId: string;
  eventType: string;
  signature: string;
  body: string;
  status: number;
  at: number;
}

/**
 * A vendor app's webhook receiver on 127.0.0.1: `/flaky/*` answers 500 to the first two attempts of
 * every event and 200 to the third, `/gone/*` answers 410, anything else 200.
 */
class Receiver {
  readonly requests: Received[] = [];
  private readonly attempts = new Map<string, number>();
  private server!: Server;
  url = '';

  async start() {
    this.server = createServer((req, res) => void this.handle(req).then((status) => res.writeHead(status).end()));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async handle(req: IncomingMessage): Promise<number> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = req.url ?? '/';
    const eventId = String(req.headers[EVENT_ID_HEADER.toLowerCase()]);
    const key = `${path} ${eventId}`;
    const attempt = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, attempt);
    const status = path.startsWith('/flaky') ? (attempt <= 2 ? 500 : 200) : path.startsWith('/gone') ? 410 : 200;
    this.requests.push({
      path,
      eventId,
      eventType: String(req.headers[EVENT_TYPE_HEADER.toLowerCase()]),
      signature: String(req.headers[SIGNATURE_HEADER.toLowerCase()]),
      body: Buffer.concat(chunks).toString('utf8'),
      status,
      at: this.requests.length,
    });
    return status;
  }

  on(path: string) {
    return this.requests.filter((r) => r.path === path);
  }

  /** Accepted deliveries to `path`, deduplicated by Roster-Event-Id as a receiver would. */
  accepted(path: string) {
    return this.on(path).filter((r) => r.status >= 200 && r.status < 300);
  }

  async stop() {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let stack: TestStack;
let receiver: Receiver;
let client: Client;
let connection: Connection;
let nativeConnection: NativeConnection;
let worker: Worker;
let workerRun: Promise<void>;
let activities: EventActivities;
const taskQueue = `webhooks-${randomBytes(6).toString('hex')}`;

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'ERROR', other: 'ERROR' }) } } });
  } catch {
    // installed already in this process
  }
  stack = await startStack();
  receiver = new Receiver();
  await receiver.start();
  const address = inject('temporalAddress');
  connection = await Connection.connect({ address });
  client = new Client({ connection });
  nativeConnection = await NativeConnection.connect({ address });
  // The same key the app's router encrypted the secrets with (test: generated once in DATA_DIR).
  activities = createEventActivities({ db: stack.app, client, taskQueue, secretKey: loadSecretsKey(stack.config), targets: webhookTargets(stack.config) });
  worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    workflowBundle: { code: inject('workflowCode') },
    activities,
  });
  workerRun = worker.run();
});

afterAll(async () => {
  if (worker) {
    worker.shutdown();
    await workerRun;
  }
  await connection?.close();
  await nativeConnection?.close();
  await receiver?.stop();
  await stack?.close();
});

async function tenantWithKey(): Promise<TestTenant & { appKey: string }> {
  const t = await stack.createTenant();
  await applyAtOnce(stack, t.id, APP_API_CHANGE_KINDS);
  const { appKey } = await withTenant(stack.owner, t.id, (tx) => createAppKey(tx, t.id));
  return { ...t, appKey };
}

async function addEndpoint(t: { appKey: string }, path: string, eventTypes?: string[]) {
  const res = await fetch(`${stack.url}/api/v1/webhooks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.appKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: `${receiver.url}${path}`, ...(eventTypes ? { eventTypes } : {}) }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; secret: string };
}

/** Emits one subject's events one after another, as the identity workflow does. */
async function emitAll(tenantId: string, subjectId: string, types: EmitEventInput['type'][]) {
  const workflowId = `identity/${tenantId}/${subjectId}`;
  const ids: string[] = [];
  for (const [i, type] of types.entries()) {
    const r = await activities.emitEvent({ tenantId, workflowId, step: `${i + 1}:${type}`, type, subjectType: 'user', subjectId, data: { step: i + 1 } });
    expect(r.signalled).toBe(true);
    ids.push(r.eventId);
  }
  return ids;
}

/** Saves the workflow's history as a replay fixture when RECORD_HISTORIES=1. */
async function maybeRecord(workflowId: string, name: string) {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  writeFileSync(`test/fixtures/histories/${name}.json`, historyToJSON(history));
}

const Delivery = z.object({ event_id: z.string(), endpoint_id: z.string(), attempts: z.number(), last_status: z.number().nullable(), delivered_at: z.string().nullable() });

describe('signed webhooks delivered by Temporal', () => {
  it('delivers every event exactly once per endpoint, in emission order per subject, signed, after retries; a 410 endpoint is given up without blocking others', async () => {
    const t = await tenantWithKey();
    const flaky = await addEndpoint(t, `/flaky/${t.id}`);
    const gone = await addEndpoint(t, `/gone/${t.id}`);
    const roles = await addEndpoint(t, `/roles/${t.id}`, ['role.granted', 'role.revoked']);
    const alice = randomUUID();
    const bob = randomUUID();
    const [aliceIds, bobIds] = await Promise.all([
      emitAll(t.id, alice, ['user.provisioned', 'role.granted', 'user.updated', 'role.revoked']),
      emitAll(t.id, bob, ['user.provisioned', 'user.suspended']),
    ]);
    const all = [...aliceIds, ...bobIds];

    const flakyPath = `/flaky/${t.id}`;
    await eventually(async () => receiver.accepted(flakyPath).length >= all.length, 90_000, 200);
    const accepted = receiver.accepted(flakyPath);
    // Exactly once each.
    expect(accepted.map((r) => r.eventId).sort()).toEqual([...all].sort());
    // In emission order per subject.
    const order = (ids: string[]) => accepted.filter((r) => ids.includes(r.eventId)).map((r) => r.eventId);
    expect(order(aliceIds)).toEqual(aliceIds);
    expect(order(bobIds)).toEqual(bobIds);
    // Event n + 1 was not even attempted before event n was accepted (per subject, per endpoint).
    for (const ids of [aliceIds, bobIds]) {
      for (let n = 1; n < ids.length; n++) {
        const acceptedPrev = accepted.find((r) => r.eventId === ids[n - 1])!.at;
        const firstNext = receiver.on(flakyPath).find((r) => r.eventId === ids[n])!.at;
        expect(firstNext).toBeGreaterThan(acceptedPrev);
      }
    }
    // Retried: two failures and a success per event.
    for (const id of all) expect(receiver.on(flakyPath).filter((r) => r.eventId === id).map((r) => r.status)).toEqual([500, 500, 200]);
    // Signed with the endpoint's secret; the body is the documented envelope.
    for (const r of accepted) {
      expect(verifySignature(r.signature, r.body, flaky.secret)).toMatchObject({ ok: true });
      expect(verifySignature(r.signature, r.body, gone.secret).ok).toBe(false);
      const body = JSON.parse(r.body);
      expect(body).toEqual({ id: r.eventId, type: r.eventType, createdAt: expect.any(String), tenantId: t.id, subject: { type: 'user', id: expect.any(String) }, data: expect.any(Object) });
    }

    // The 410 endpoint got each event once and was given up on at once (no retries).
    await eventually(async () => receiver.on(`/gone/${t.id}`).length >= all.length, 30_000, 200);
    expect(receiver.on(`/gone/${t.id}`).map((r) => r.eventId).sort()).toEqual([...all].sort());
    // The filtered endpoint got only role events, in order.
    await eventually(async () => receiver.accepted(`/roles/${t.id}`).length >= 2, 30_000, 200);
    expect(receiver.accepted(`/roles/${t.id}`).map((r) => r.eventType)).toEqual(['role.granted', 'role.revoked']);

    const rows = await stack.owner.any(sql.type(Delivery)`
      SELECT event_id, endpoint_id, attempts, last_status, delivered_at FROM webhook_deliveries WHERE tenant_id = ${t.id}`);
    const byEndpoint = (id: string) => rows.filter((r) => r.endpoint_id === id);
    expect(byEndpoint(flaky.id)).toHaveLength(all.length);
    expect(byEndpoint(flaky.id).every((r) => r.attempts === 3 && r.last_status === 200 && r.delivered_at !== null)).toBe(true);
    expect(byEndpoint(gone.id).every((r) => r.attempts === 1 && r.last_status === 410 && r.delivered_at === null)).toBe(true);
    expect(byEndpoint(roles.id)).toHaveLength(2);

    const handle = client.workflow.getHandle(eventDeliveryWorkflowId(t.id, 'user', alice));
    const status = await eventually(async () => {
      const s = await handle.query(eventDeliveryStatusQuery);
      return s.lanes.length === 0 && s;
    });
    expect(status).toMatchObject({ queuedEventIds: [], delivered: 4 + 2, givenUp: 4 });
    await maybeRecord(handle.workflowId, 'event-delivery');
  });

  it('is idempotent: a retried emit records and delivers nothing twice; a delivered pair is not posted again', async () => {
    const t = await tenantWithKey();
    const ep = await addEndpoint(t, `/ok/${t.id}`);
    const subject = randomUUID();
    const input: EmitEventInput = { tenantId: t.id, workflowId: `identity/${t.id}/${subject}`, step: '1:user.provisioned', type: 'user.provisioned', subjectType: 'user', subjectId: subject };
    const first = await activities.emitEvent(input);
    const again = await activities.emitEvent(input);
    expect(again.eventId).toBe(first.eventId);
    expect([first.recorded, again.recorded]).toEqual([true, false]);
    await eventually(async () => receiver.accepted(`/ok/${t.id}`).length === 1, 30_000, 100);
    // The receiver answered before the activity recorded the delivery: wait for the record.
    await eventually(async () =>
      stack.owner.maybeOneFirst(sql.type(z.object({ d: z.string().nullable() }))`
        SELECT delivered_at AS d FROM webhook_deliveries WHERE event_id = ${first.eventId} AND endpoint_id = ${ep.id}`),
    );
    const direct = await activities.deliverWebhook({ tenantId: t.id, eventId: first.eventId, endpointId: ep.id });
    expect(direct).toMatchObject({ delivered: true, alreadyDelivered: true });
    await new Promise((r) => setTimeout(r, 1500));
    expect(receiver.on(`/ok/${t.id}`)).toHaveLength(1);
    const count = await stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM events WHERE tenant_id = ${t.id} AND subject_id = ${subject}`);
    // (Adding the endpoint recorded its own approval.requested and change.applied events.)
    expect(count).toBe(1);
  });

  it('rotation: during the overlap two v1 signatures, and a receiver holding either secret verifies', async () => {
    const t = await tenantWithKey();
    const ep = await addEndpoint(t, `/rot/${t.id}`);
    const res = await fetch(`${stack.url}/api/v1/webhooks/${ep.id}/rotate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.appKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ overlapSeconds: 600 }),
    });
    expect(res.status).toBe(200);
    const { secret: newSecret } = (await res.json()) as { secret: string };
    const subject = randomUUID();
    await emitAll(t.id, subject, ['user.updated']);
    const [r] = await eventually(async () => {
      const got = receiver.accepted(`/rot/${t.id}`);
      return got.length === 1 && got;
    });
    expect(r!.signature.match(/v1=/g)).toHaveLength(2);
    expect(verifySignature(r!.signature, r!.body, newSecret).ok).toBe(true);
    expect(verifySignature(r!.signature, r!.body, ep.secret).ok).toBe(true);

    // Rotating again without overlap: only the newest secret signs.
    const res2 = await fetch(`${stack.url}/api/v1/webhooks/${ep.id}/rotate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.appKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ overlapSeconds: 0 }),
    });
    const { secret: newest } = (await res2.json()) as { secret: string };
    await emitAll(t.id, randomUUID(), ['user.updated']);
    const got = await eventually(async () => {
      const list = receiver.accepted(`/rot/${t.id}`);
      return list.length === 2 && list;
    });
    expect(got[1]!.signature.match(/v1=/g)).toHaveLength(1);
    expect(verifySignature(got[1]!.signature, got[1]!.body, newest).ok).toBe(true);
    expect(verifySignature(got[1]!.signature, got[1]!.body, newSecret).ok).toBe(false);
  });

  it('a deleted endpoint fails non-retryably with EndpointGone; tenants without endpoints start no workflow', async () => {
    const t = await tenantWithKey();
    const ep = await addEndpoint(t, `/del/${t.id}`);
    const subject = randomUUID();
    const [eventId] = await emitAll(t.id, subject, ['user.provisioned']);
    await eventually(async () => receiver.accepted(`/del/${t.id}`).length === 1);
    const del = await fetch(`${stack.url}/api/v1/webhooks/${ep.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${t.appKey}` } });
    expect(del.status).toBe(204);
    const newEvent = await activities.emitEvent({ tenantId: t.id, workflowId: `identity/${t.id}/${subject}`, step: '2:user.updated', type: 'user.updated', subjectType: 'user', subjectId: subject });
    expect(newEvent.signalled).toBe(false);
    const failure = await activities.deliverWebhook({ tenantId: t.id, eventId: newEvent.eventId, endpointId: ep.id }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'EndpointGone', nonRetryable: true });
    // The endpoint was deleted after the first event: it is no longer listed for it either.
    expect(await activities.listEndpointsForEvent({ tenantId: t.id, eventId: eventId! })).toEqual({ endpointIds: [] });

    const quiet = await tenantWithKey();
    const r = await activities.emitEvent({ tenantId: quiet.id, workflowId: `identity/${quiet.id}/x`, step: '1', type: 'user.provisioned', subjectType: 'user', subjectId: randomUUID() });
    expect(r.signalled).toBe(false);
  });

  it('continues as new when its history grows, carrying queued and undelivered events in order', async () => {
    const t = await tenantWithKey();
    await addEndpoint(t, `/flaky/can-${t.id}`);
    await addEndpoint(t, `/steady/${t.id}`);
    const subject = randomUUID();
    const workflowId = eventDeliveryWorkflowId(t.id, 'user', subject);
    // Start the workflow first with a tiny history limit; emitEvent then signals the running one.
    const handle = await client.workflow.signalWithStart<(input: EventDeliveryInput) => Promise<void>, [{ eventId: string }]>('eventDelivery', {
      workflowId,
      taskQueue,
      args: [{ tenantId: t.id, subjectType: 'user', subjectId: subject, historyLimit: 25 }],
      signal: deliverEventSignal,
      signalArgs: [{ eventId: randomUUID() }],
    });
    const firstRun = handle.signaledRunId;
    const ids = await emitAll(t.id, subject, ['user.provisioned', 'role.granted', 'role.granted', 'user.updated', 'role.revoked', 'user.suspended']);
    await eventually(async () => receiver.accepted(`/flaky/can-${t.id}`).length >= ids.length, 90_000, 200);
    await eventually(async () => receiver.accepted(`/steady/${t.id}`).length >= ids.length, 30_000, 200);
    expect(receiver.accepted(`/flaky/can-${t.id}`).map((r) => r.eventId)).toEqual(ids);
    expect(receiver.accepted(`/steady/${t.id}`).map((r) => r.eventId)).toEqual(ids);
    const { runId } = await client.workflow.getHandle(workflowId).describe();
    expect(runId).not.toBe(firstRun);
  });
});
