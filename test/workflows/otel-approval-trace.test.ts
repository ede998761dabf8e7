import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTelemetry, type Telemetry } from '../../core/telemetry.js';
import { approvalWorkflowId } from '../../workflows/ids.js';
import { setApprovalPolicy } from '../helpers/approvals.js';
import { portalClient } from '../helpers/portal.js';
import { eventually, startStack, type TestStack } from '../helpers/stack.js';

/**
 * Issue 10, the API's own Temporal client: a portal request that starts a workflow or sends it an
 * Update is the parent of the client span (the API's Client carries the OpenTelemetry client
 * interceptors), and the workflow's side continues that trace from the Temporal headers. Without
 * the interceptors on the API's Client there is no client span and the workflow spans start
 * traces of their own. The app, a worker (which bundles the workflow interceptors itself) and the
 * relay run in this process, exporting to memory.
 */

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let stack: TestStack;

beforeAll(async () => {
  telemetry = (await startTelemetry({ serviceName: 'roster-test', spanProcessor: new SimpleSpanProcessor(exporter) }))!;
  stack = await startStack({ worker: true, telemetry });
}, 240_000);

afterAll(async () => {
  await stack?.close();
  await telemetry?.shutdown();
});

/** The one finished span named `name` in the trace `traceId` (fails the test on none or several). */
function only(name: string, traceId?: string): ReadableSpan {
  const found = exporter.getFinishedSpans().filter((s) => s.name === name && (traceId === undefined || s.spanContext().traceId === traceId));
  expect(found.map((s) => s.name), `spans named ${name}`).toEqual([name]);
  return found[0]!;
}

/** Asserts `child` is `parent`'s child in the same trace. */
function expectChild(child: ReadableSpan, parent: ReadableSpan): void {
  expect(child.spanContext().traceId, `${child.name} in ${parent.name}'s trace`).toBe(parent.spanContext().traceId);
  expect(child.parentSpanId, `${child.name}'s parent is ${parent.name}`).toBe(parent.spanContext().spanId);
}

describe('OpenTelemetry traces through the API\'s Temporal client', () => {
  it('a portal approval decision: the HTTP request span → the client\'s StartWorkflowUpdate:decide → the workflow\'s ValidateUpdate/HandleUpdate:decide and its activity; the submit likewise through StartWorkflow:approval', async () => {
    const tenant = await stack.createTenant();
    const admin = await portalClient(stack, tenant, { roles: ['admin'] });
    const approver = await portalClient(stack, tenant, { roles: ['approver'] });
    await setApprovalPolicy(stack, tenant.id, { 'scim_connection.rotate': { approvals: 1 } });

    const submitted = await admin.request('POST', '/approvals', { kind: 'scim_connection.rotate', payload: { connectionId: tenant.connectionId, overlapSeconds: 1 }, reason: 'traced' });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const request = submitted.body.request as { id: string; changeHash: string };
    const decided = await approver.request('POST', `/approvals/${request.id}/decide`, { verdict: 'approve', changeHash: request.changeHash });
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    expect(decided.body.outcome).toBe('approved');

    // Workflow spans reach the exporter as they end (through the worker's sink); the run ends once
    // the approved change is applied and verified.
    await eventually(async () => {
      const seen = new Set(exporter.getFinishedSpans().map((s) => s.name));
      return seen.has('HandleUpdate:decide') && seen.has('RunWorkflow:approval') && seen.has('RunActivity:verifyAppliedChange');
    }, 60_000);

    // The decision: one trace from the portal request to the activity that records it.
    const decide = only('POST /portal/api/approvals/:id/decide');
    expect(decide.kind).toBe(SpanKind.SERVER);
    expect(decide.parentSpanId).toBeUndefined();
    expect(decide.attributes['http.route']).toBe('/portal/api/approvals/:id/decide');
    expect(decide.attributes['http.response.status_code']).toBe(200);
    const traceId = decide.spanContext().traceId;
    const update = only('StartWorkflowUpdate:decide', traceId);
    expectChild(update, decide);
    expect(update.attributes['temporalWorkflowId']).toBe(approvalWorkflowId(tenant.id, request.id));
    expectChild(only('ValidateUpdate:decide', traceId), update);
    const handler = only('HandleUpdate:decide', traceId);
    expectChild(handler, update);
    const startRecord = only('StartActivity:recordApprovalDecision', traceId);
    expectChild(startRecord, handler);
    expectChild(only('RunActivity:recordApprovalDecision', traceId), startRecord);

    // The submit: the portal request started the workflow, whose run (apply and verify) continues that trace.
    const submit = only('POST /portal/api/approvals');
    expect(submit.kind).toBe(SpanKind.SERVER);
    expect(submit.parentSpanId).toBeUndefined();
    expect(submit.spanContext().traceId).not.toBe(traceId);
    const start = only('StartWorkflow:approval', submit.spanContext().traceId);
    expectChild(start, submit);
    const run = only('RunWorkflow:approval', submit.spanContext().traceId);
    expectChild(run, start);
    const startApply = only('StartActivity:applyApprovedChange', submit.spanContext().traceId);
    expectChild(startApply, run);
    expectChild(only('RunActivity:applyApprovedChange', submit.spanContext().traceId), startApply);
  });
});
