import { createRequire } from 'node:module';
import type { WorkerOptions } from '@temporalio/worker';
import type { Telemetry } from '../core/telemetry.js';

/**
 * Temporal's OpenTelemetry interceptors on the worker (docs/operations.md "Traces"). The client
 * ones (activities/client-tracing.ts, on the worker's Client and the API's) put the active trace
 * context in the headers of every start, signal and Update; the workflow ones (inside the bundle)
 * continue it in `RunWorkflow` / `HandleSignal` / `HandleUpdate` spans and pass it on to
 * activities; the activity ones make `RunActivity` the active span while an activity runs.
 * Workflow spans leave the sandbox through the `exporter` sink into this process's span processor.
 */

/** The workflow interceptor module, bundled with workflows/ when tracing is on. */
export const tracingWorkflowModules: readonly string[] = [createRequire(import.meta.url).resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')];

/** What the worker needs of core/telemetry.ts's Telemetry. */
export type WorkerTelemetry = Pick<Telemetry, 'spanProcessor' | 'resource' | 'tracer'>;

/**
 * Worker options for tracing. A prebuilt bundle must have been built with `tracingWorkflowModules`
 * as its `workflowInterceptorModules`; otherwise the worker bundles them itself. The interceptor
 * package (which loads parts of the OpenTelemetry SDK) is imported only here, so a worker with
 * tracing off never loads it.
 */
export async function tracingWorkerOptions(telemetry: WorkerTelemetry, prebuiltBundle: boolean): Promise<Pick<WorkerOptions, 'interceptors' | 'sinks'>> {
  const { makeWorkflowExporter, OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor } = await import('@temporalio/interceptors-opentelemetry');
  const options = { tracer: telemetry.tracer };
  return {
    interceptors: {
      ...(prebuiltBundle ? {} : { workflowModules: [...tracingWorkflowModules] }),
      activity: [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx, options), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) })],
    },
    sinks: { exporter: makeWorkflowExporter(telemetry.spanProcessor, telemetry.resource) },
  };
}
