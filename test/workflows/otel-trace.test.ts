import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { createAppKey } from '../../core/repositories/app-keys.js';
import { startTelemetry, type Telemetry } from '../../core/telemetry.js';
import { eventDeliveryWorkflowId, identityWorkflowId } from '../../workflows/ids.js';
import { eventDeliveryStatusQuery } from '../../workflows/messages.js';
import { APP_API_CHANGE_KINDS, applyAtOnce } from '../helpers/approvals.js';
import { eventually, startStack, type TestStack } from '../helpers/stack.js';

/**
 * Issue 10: one trace follows a SCIM create from the HTTP request through its transaction, the
 * outbox row, the relay's signal, the identity workflow and its activity, the delivery workflow
 * and its activity, to the webhook POST, whose receiver gets that trace's `traceparent`. The app,
 * the relay and a worker (which bundles the workflow interceptors itself) run in this process,
 * exporting to memory.
 */

interface Hit {
  path: string;
  traceparent: string | undefined;
  eventType: string | undefined;
}

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let stack: TestStack;
let receiver: Server;
let receiverUrl = '';
const hits: Hit[] = [];

beforeAll(async () => {
  telemetry = (await startTelemetry({ serviceName: 'roster-test', spanProcessor: new SimpleSpanProcessor(exporter) }))!;
  stack = await startStack({ worker: true, telemetry });
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      hits.push({ path: req.url ?? '/', traceparent: req.headers.traceparent as string | undefined, eventType: req.headers['roster-event-type'] as string | undefined });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
}, 240_000);

afterAll(async () => {
  await stack?.close();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  await telemetry?.shutdown();
});

/** The span's ancestors, nearest first, as far as they were exported. */
function ancestry(span: ReadableSpan, byId: Map<string, ReadableSpan>): ReadableSpan[] {
  const chain: ReadableSpan[] = [];
  for (let parent = span.parentSpanId ? byId.get(span.parentSpanId) : undefined; parent; parent = parent.parentSpanId ? byId.get(parent.parentSpanId) : undefined) {
    chain.push(parent);
  }
  return chain;
}

describe('OpenTelemetry traces', () => {
  it('one trace covers a SCIM create from the HTTP request to the webhook POST, and the receiver gets its traceparent', async () => {
    const t = await stack.createTenant();
    await applyAtOnce(stack, t.id, APP_API_CHANGE_KINDS);
    const { appKey } = await withTenant(stack.owner, t.id, (tx) => createAppKey(tx, t.id));
    const hook = `/hook/${t.id}`;
    const registered = await fetch(`${stack.url}/api/v1/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${appKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${receiverUrl}${hook}`, eventTypes: ['user.provisioned'] }),
    });
    expect(registered.status).toBe(201);

    const created = await stack.scim(t, 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'traced@example.com' });
    expect(created.status).toBe(201);
    const userId = created.body.id as string;
    const hit = await eventually(async () => hits.find((h) => h.path === hook), 90_000);
    expect(hit.eventType).toBe('user.provisioned');

    // Both workflows are long-lived entities: their RunWorkflow spans end (and are exported) only
    // when the run ends. Cancelling the runs ends them here, once the delivery workflow has seen its
    // activity complete: a cancel that lands while the POST's activity is still running cancels the
    // activity in the workflow, and the spans of that hop never end as the success they were.
    const client = stack.client!;
    const delivery = client.workflow.getHandle(eventDeliveryWorkflowId(t.id, 'user', userId));
    await eventually(async () => (await delivery.query(eventDeliveryStatusQuery)).delivered >= 1, 60_000);
    await client.workflow.getHandle(identityWorkflowId(t.id, userId)).cancel();
    await delivery.cancel();
    const names = (spans: readonly ReadableSpan[]) => new Set(spans.map((s) => s.name));
    await eventually(async () => {
      const seen = names(exporter.getFinishedSpans());
      return seen.has('RunWorkflow:identityLifecycle') && seen.has('RunWorkflow:eventDelivery');
    }, 30_000);

    const finished = exporter.getFinishedSpans();
    // Only Roster's spans: slonik's built-in query spans stay off (core/telemetry.ts keeps the provider private).
    expect(finished.filter((s) => s.name.startsWith('slonik.')).map((s) => s.name)).toEqual([]);
    const servers = finished.filter((s) => s.kind === SpanKind.SERVER && s.name === 'POST /scim/v2/Users');
    expect(servers).toHaveLength(1);
    const server = servers[0]!;
    const traceId = server.spanContext().traceId;
    expect(server.parentSpanId).toBeUndefined();
    expect(server.attributes['http.response.status_code']).toBe(201);
    const trace = finished.filter((s) => s.spanContext().traceId === traceId);
    const byId = new Map(trace.map((s) => [s.spanContext().spanId, s]));

    // The webhook POST is a client span whose traceparent the receiver got.
    const posts = trace.filter((s) => s.name === 'webhook POST');
    expect(posts).toHaveLength(1);
    const post = posts[0]!;
    expect(post.kind).toBe(SpanKind.CLIENT);
    expect(post.attributes['http.response.status_code']).toBe(200);
    expect(hit.traceparent).toBe(`00-${traceId}-${post.spanContext().spanId}-01`);

    // Walking up from the POST, parent by parent, reaches the SCIM request through every hop: the
    // delivery activity and workflow, the identity workflow's activity (which records the event
    // and signals the delivery workflow), the identity workflow the relay signalled, the relay,
    // and the transaction that wrote the outbox row.
    const chain = ancestry(post, byId);
    const chainNames = chain.map((s) => s.name);
    expect(chain.at(-1)).toBe(server);
    const expected = [
      'RunActivity:deliverWebhook',
      'StartActivity:deliverWebhook',
      'RunWorkflow:eventDelivery',
      'SignalWithStartWorkflow:eventDelivery',
      'RunActivity:applyIdentityEvent',
      'StartActivity:applyIdentityEvent',
      'RunWorkflow:identityLifecycle',
      'SignalWithStartWorkflow:identityLifecycle',
      'outbox.relay user.created',
      'db.transaction',
      'POST /scim/v2/Users',
    ];
    expect(chainNames).toEqual(expected);

    // Who made each hop: the relay a producer span, the SCIM transaction a database client span.
    const span = (name: string) => chain.find((s) => s.name === name)!;
    expect(span('outbox.relay user.created').kind).toBe(SpanKind.PRODUCER);
    expect(span('outbox.relay user.created').attributes['roster.workflow_type']).toBe('identityLifecycle');
    expect(span('db.transaction').kind).toBe(SpanKind.CLIENT);

    // What carried the context from the API to the relay: the outbox row's traceparent names the
    // transaction that wrote it.
    const row = await stack.owner.oneFirst(sql.unsafe`SELECT traceparent FROM outbox WHERE tenant_id = ${t.id} AND stream_id = ${userId} AND seq = 1`);
    const tx = chain.find((s) => s.name === 'db.transaction')!;
    expect(row).toBe(`00-${traceId}-${tx.spanContext().spanId}-01`);
  });

  it('a write inside a transaction (PATCH) stores the transaction span as its outbox row traceparent, and the relay continues that trace', async () => {
    const t = await stack.createTenant();
    const created = await stack.scim(t, 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'patched@example.com', active: true });
    expect(created.status).toBe(201);
    const userId = created.body.id as string;
    const patched = await stack.scim(t, 'PATCH', `/Users/${userId}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'active', value: false }],
    });
    expect(patched.status).toBe(200);

    const relay = await eventually(
      async () => exporter.getFinishedSpans().find((s) => s.attributes['roster.stream'] === `user/${userId}` && s.attributes['roster.seq'] === 2),
      30_000,
    );
    expect(relay.name).toBe('outbox.relay user.deactivated');
    const servers = exporter.getFinishedSpans().filter((s) => s.name === 'PATCH /scim/v2/Users' && s.spanContext().traceId === relay.spanContext().traceId);
    expect(servers).toHaveLength(1);
    const server = servers[0]!;
    const tx = exporter.getFinishedSpans().find((s) => s.spanContext().spanId === relay.parentSpanId)!;
    expect(tx.name).toBe('db.transaction');
    expect(tx.parentSpanId).toBe(server.spanContext().spanId);
    const row = await stack.owner.oneFirst(sql.unsafe`SELECT traceparent FROM outbox WHERE tenant_id = ${t.id} AND stream_id = ${userId} AND seq = 2`);
    expect(row).toBe(`00-${server.spanContext().traceId}-${tx.spanContext().spanId}-01`);
  });
});
